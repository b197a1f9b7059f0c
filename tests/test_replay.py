"""Replay of a training (issue 24, point 3): snapshots read back (core/explore/replay.py), projections aligned
from epoch to epoch, and the Replay sections of the Loss curves, Latent space and Generation grids pages
(dashboard/replay.py), driven with AppTest on a tiny run trained with snapshots in a temporary checkpoints
folder. No test sleeps: Play is stepped by rerunning the page, as its timer would."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from core.explore.replay import (
    align_to,
    aligned_pca,
    frame_movement,
    grid_picture,
    metrics_table,
    replay_frames,
    replay_positions,
)
from core.runs.format import CheckpointError
from core.runs.snapshots import Probe, Snapshot, epoch_file, write_probe, write_snapshot
from dashboard.replay import NO_REPLAY
from tests.test_dashboard import open_page

RUN = "cvae-tiny"
EPOCHS = [0, 1, 2, 3]


def rotation(angle: float) -> np.ndarray:
    return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])


# --- 1. alignment ------------------------------------------------------------------------------------------

def test_a_rotated_or_reflected_copy_of_a_cloud_aligns_back():
    rng = np.random.default_rng(0)
    cloud = rng.standard_normal((500, 2)) * [3.0, 1.0] + [5.0, -2.0]
    centred = cloud - cloud.mean(axis=0)
    for turn in (rotation(0.7), rotation(2.5) @ np.diag([1.0, -1.0])):
        moved = cloud @ turn + [10.0, 4.0]
        assert np.abs(moved - moved.mean(axis=0) - centred).max() > 1.0  # really moved
        assert np.abs(align_to(moved, cloud) - centred).max() < 1e-6


def test_aligned_pca_turns_each_frame_to_the_previous_one_and_keeps_one_scale():
    rng = np.random.default_rng(1)
    codes = rng.standard_normal((400, 6)) * [4.0, 2.0, 1.0, 0.5, 0.2, 0.1]
    q, _ = np.linalg.qr(rng.standard_normal((6, 6)))  # an orthogonal map of the code space (a reflection too)
    frames = aligned_pca([codes, codes @ q, -codes, 2.0 * codes])
    assert all(f.shape == (400, 2) and f.dtype == np.float32 for f in frames)
    scale = np.abs(frames[0]).max()
    assert np.abs(frames[1] - frames[0]).max() < 1e-6 * scale
    assert np.abs(frames[2] - frames[0]).max() < 1e-6 * scale
    assert np.abs(frames[3] - 2.0 * frames[0]).max() < 1e-6 * scale  # one scale: no frame is rescaled
    # without the alignment the flipped codes' frame jumps
    plain = [(c - c.mean(0)) @ np.linalg.eigh((c - c.mean(0)).T @ (c - c.mean(0)))[1][:, ::-1][:, :2]
             for c in (codes, -codes)]
    assert np.abs(plain[1] - plain[0]).max() > 1.0


def test_aligned_pca_refuses_what_it_cannot_project_in_words():
    codes = np.zeros((10, 3))
    with pytest.raises(ValueError, match="no epochs"):
        aligned_pca([])
    with pytest.raises(ValueError, match="shape"):
        aligned_pca([codes, np.zeros((9, 3))])
    bad = codes.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="not all finite"):
        aligned_pca([codes, bad])


def test_grid_picture_tiles_a_snapshot_grid_ten_by_ten():
    grid = np.arange(100, dtype=np.uint8)[:, None, None].repeat(28, 1).repeat(28, 2)
    picture = grid_picture(grid)
    assert picture.shape == (291, 291) and picture.dtype == np.uint8
    assert picture[1, 1] == 0 and picture[1 + 29 * 9, 1 + 29 * 9] == 99 and picture[0, 0] == 89
    assert picture[1 + 29 * 3, 1 + 29 * 7] == 37  # row = digit 3, column = sample 7


# --- 2. a tiny run trained with snapshots ------------------------------------------------------------------

@pytest.fixture(scope="module")
def root(mnist_splits, tmp_path_factory):
    """A checkpoints folder: a tiny CVAE trained 3 epochs with snapshots, the shipped judge, and a shipped
    run without snapshots."""
    from core.paths import SHIPPED_CHECKPOINTS
    from core.training.snapshots import SnapshotTaker, find_judge
    from core.training.trainer import TrainConfig, train

    folder = tmp_path_factory.mktemp("replay") / "checkpoints"
    small = mnist_splits.subset(2048, 200, 600)
    taker = SnapshotTaker(small.test_x, small.test_y, find_judge(SHIPPED_CHECKPOINTS), points=300, fid_samples=200)
    cfg = TrainConfig.for_model("cvae", {"latent_dim": 8}, epochs=EPOCHS[-1], seed=0)
    train(cfg, small, out_dir=folder / RUN, progress=False, snapshots=taker)
    for name in ("judge-s0", "cae-z8-s0"):
        shutil.copytree(SHIPPED_CHECKPOINTS / name, folder / name)
    return folder


def test_the_loader_reads_every_epoch_and_the_aligned_frames_move_less(root):
    frames = replay_frames(root / RUN)
    assert frames.epochs == EPOCHS and frames.labels.shape == (300,) and frames.has_codes and frames.has_grids
    assert all(c.shape == (300, 8) and c.dtype == np.float16 for c in frames.codes)
    assert all(g.shape == (100, 28, 28) and g.dtype == np.uint8 for g in frames.grids)
    assert [m["epoch"] for m in frames.metrics] == EPOCHS
    table = metrics_table(frames)
    assert table["epoch"] == EPOCHS and all(0 <= a <= 1 for a in table["judge_accuracy"])
    assert frames.frame_at(2) == 2 and frames.frame_at(99) == 3 and frames.frame_at(-1) == 0

    aligned = aligned_pca(frames.codes)
    raw = []  # each epoch's own PCA, as a page without alignment would draw it
    for codes in frames.codes:
        centred = codes.astype(np.float64) - codes.mean(axis=0)
        raw.append(centred @ np.linalg.eigh(centred.T @ centred)[1][:, ::-1][:, :2])
    for a, b, ra, rb in zip(aligned, aligned[1:], raw, raw[1:]):  # never more, pair by pair
        assert frame_movement([a, b]) <= frame_movement([ra, rb]) + 1e-5
    assert frame_movement(aligned) < 0.95 * frame_movement(raw)
    positions = replay_positions(frames)
    assert positions.shape == (4, 300, 2) and np.allclose(positions, np.stack(aligned))


def test_a_damaged_snapshot_file_is_refused_in_a_sentence(root, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(root / RUN, run)
    epoch_file(run, 1).write_bytes(b"not a snapshot")
    with pytest.raises(CheckpointError) as caught:
        replay_frames(run)
    assert caught.value.kind == "a snapshot file is damaged"

    odd = tmp_path / "odd"  # codes of another size at one epoch
    write_probe(odd, Probe(np.arange(5), np.arange(5), {}))
    write_snapshot(odd, Snapshot(0, np.zeros((5, 2)), None, {}))
    write_snapshot(odd, Snapshot(1, np.zeros((5, 3)), None, {}))
    with pytest.raises(CheckpointError, match="do not fit together"):
        replay_frames(odd)
    with pytest.raises(CheckpointError, match="no snapshots"):
        replay_frames(tmp_path / "nothing")

    diverged = tmp_path / "diverged"  # readable, but nothing to project: said in words, by epoch
    write_probe(diverged, Probe(np.arange(5), np.arange(5), {}))
    write_snapshot(diverged, Snapshot(0, np.zeros((5, 3)), None, {}))
    write_snapshot(diverged, Snapshot(1, np.full((5, 3), np.inf), None, {}))
    with pytest.raises(ValueError, match="codes of epoch 1 are not all finite"):
        replay_positions(replay_frames(diverged))


# --- 3. the pages --------------------------------------------------------------------------------------------

@pytest.fixture
def pages(root, dashboard_ready, monkeypatch):
    monkeypatch.setenv("DIGITLAB_CHECKPOINTS", str(root))
    return root


def captions(at) -> list[str]:
    return [c.value for c in at.caption]


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def marked_epochs(spec: dict) -> set:
    return {shape["x0"] for shape in spec["layout"].get("shapes", [])}


def replay_opened(at, key: str) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert [h.value for h in at.subheader if h.value == "Replay"] == ["Replay"]
    slider = at.select_slider(key=f"{key}_epoch")
    assert [int(o) for o in slider.options] == EPOCHS and slider.value == EPOCHS[-1]  # the trained model first
    assert NO_REPLAY not in captions(at)


def test_loss_curves_mark_the_epoch_and_show_the_judge_metrics_and_play(pages):
    at = open_page("loss_curves", runs=[RUN])
    replay_opened(at, "loss_replay")
    loss, judge = charts(at)
    assert marked_epochs(loss) == {3} and marked_epochs(judge) == {3}
    assert {t["name"] for t in judge["data"]} == {"CVAE (z=8) · seed 0"}
    frames = replay_frames(pages / RUN)
    last = frames.metrics[3]
    words = (f"at epoch 3: the judge reads {100 * last['judge_accuracy']:.1f} % of 200 samples as their digit; "
             f"judge FID {last['judge_fid']:.2f}.")
    assert any(c.endswith(words) for c in captions(at)), captions(at)

    at.select_slider(key="loss_replay_epoch").set_value(1).run()
    assert not at.exception
    loss, judge = charts(at)
    assert marked_epochs(loss) == {1} and marked_epochs(judge) == {1}
    assert any(c.endswith(f"judge FID {frames.metrics[1]['judge_fid']:.2f}.") for c in captions(at))

    # Play from the last epoch starts again at the first and steps to the end, then stops
    at.select_slider(key="loss_replay_epoch").set_value(3).run()
    at.button(key="loss_replay_play").click().run()
    seen = [at.select_slider(key="loss_replay_epoch").value]
    assert at.button(key="loss_replay_play").label == "Pause" and seen == [0]
    for _ in range(4):  # what the fragment's timer does: run it again
        at.run()
        assert not at.exception
        seen.append(at.select_slider(key="loss_replay_epoch").value)
        assert marked_epochs(charts(at)[0]) == {seen[-1]}
    assert seen == [0, 1, 2, 3, 3]
    assert at.button(key="loss_replay_play").label == "Play" and not at.session_state["loss_replay_playing"]


def test_latent_space_replays_the_aligned_codes_coloured_by_digit(pages):
    from dashboard.common import DIGIT_COLOURS

    at = open_page("latent_space", runs=[RUN])
    replay_opened(at, "lat_replay")
    frames = replay_frames(pages / RUN)
    positions = np.stack(aligned_pca(frames.codes))

    def drawn() -> dict:
        (spec,) = charts(at)
        traces = {t["name"]: t for t in spec["data"]}
        assert sorted(traces) == [str(d) for d in range(10)]
        assert [traces[str(d)]["marker"]["color"] for d in range(10)] == list(DIGIT_COLOURS)
        return spec

    def xs(spec, digit: int) -> np.ndarray:
        trace = next(t for t in spec["data"] if t["name"] == str(digit))
        x = trace["x"]
        return np.asarray(x if isinstance(x, list) else decode(x), dtype=np.float64)

    spec = drawn()
    zeros = np.flatnonzero(frames.labels == 0)
    assert np.allclose(xs(spec, 0), positions[3][zeros, 0], atol=1e-5)
    ranges = spec["layout"]["xaxis"]["range"], spec["layout"]["yaxis"]["range"]
    assert any(c.startswith("300 test codes at epoch 3") for c in captions(at))

    at.select_slider(key="lat_replay_epoch").set_value(1).run()
    assert not at.exception
    spec = drawn()
    assert np.allclose(xs(spec, 0), positions[1][zeros, 0], atol=1e-5)
    assert not np.allclose(positions[1][zeros, 0], positions[3][zeros, 0], atol=1e-3)
    assert (spec["layout"]["xaxis"]["range"], spec["layout"]["yaxis"]["range"]) == ranges  # the axes stay put
    assert any(c.startswith("300 test codes at epoch 1") for c in captions(at))


def decode(packed: dict) -> np.ndarray:
    """A Plotly typed array (``{"dtype": "f4", "bdata": base64}``) as numpy."""
    import base64

    return np.frombuffer(base64.b64decode(packed["bdata"]), dtype=np.dtype(packed["dtype"]))


def test_generation_grids_replay_the_grid_of_the_chosen_epoch(pages):
    from dashboard.common import png_data_uri

    at = open_page("generation", runs=[RUN])
    replay_opened(at, "gen_replay")
    frames = replay_frames(pages / RUN)

    def grid_src(epoch: int) -> str:
        return png_data_uri(grid_picture(frames.grids[epoch]))

    def replayed() -> list[str]:
        return [m.value for m in at.markdown if "grid at epoch" in m.value]

    (shown,) = replayed()
    assert grid_src(3) in shown and 'class="dl-img"' in shown
    mode, last = frames.metrics[3]["grid_mode"], frames.metrics[3]
    assert (f"Epoch 3, generation mode {mode}. The judge reads {100 * last['judge_accuracy']:.1f} % of 200 samples "
            f"as their digit; judge FID {last['judge_fid']:.2f}.") in captions(at), captions(at)
    at.select_slider(key="gen_replay_epoch").set_value(0).run()
    assert not at.exception
    (shown,) = replayed()
    assert grid_src(0) in shown and grid_src(3) not in shown and grid_src(0) != grid_src(3)
    assert any(c.startswith(f"Epoch 0, generation mode {mode}.") for c in captions(at))


def test_runs_without_snapshots_get_one_line_and_damaged_ones_a_sentence(pages, tmp_path, monkeypatch):
    at = open_page("loss_curves", runs=["cae-z8-s0"])
    assert NO_REPLAY in captions(at) and not at.select_slider and len(charts(at)) == 1
    assert not marked_epochs(charts(at)[0]) and "Replay" not in [h.value for h in at.subheader]

    at = open_page("generation", runs=["cae-z8-s0", RUN])
    assert not at.exception
    assert "Not in the replay: **CAE \\(z\\=8\\) · seed 0** (trained without snapshots)." in captions(at)
    assert [int(o) for o in at.select_slider(key="gen_replay_epoch").options] == EPOCHS

    root = tmp_path / "checkpoints"  # the tiny run twice, one copy with a damaged snapshot
    shutil.copytree(pages, root)
    shutil.copytree(pages / RUN, root / "cvae-broken")
    epoch_file(root / "cvae-broken", 2).write_bytes(b"damaged")
    monkeypatch.setenv("DIGITLAB_CHECKPOINTS", str(root))
    at = open_page("latent_space", runs=["cvae-broken", RUN])
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1 and "is not shown: a snapshot file is damaged." in warnings[0], warnings
    assert len(charts(at)) == 1  # the other run's replay goes on


@pytest.mark.slow
def test_aligned_umap_is_seeded_and_moves_less_than_umaps_drawn_anew(root):
    import warnings

    import umap

    from core.explore.replay import aligned_umap

    frames = replay_frames(root / RUN)
    first, again = aligned_umap(frames.codes, seed=0), aligned_umap(frames.codes, seed=0)
    assert all(f.shape == (300, 2) and f.dtype == np.float32 for f in first)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        anew = [umap.UMAP(random_state=seed).fit_transform(codes) for seed, codes in enumerate(frames.codes)]
    anew = [xy - xy.mean(axis=0) for xy in anew]
    assert frame_movement(first) < 0.6 * frame_movement(anew)


@pytest.mark.slow
def test_latent_space_offers_an_aligned_umap_for_a_small_run(pages):
    at = open_page("latent_space", runs=[RUN])
    assert at.radio(key="lat_replay_method").options == ["PCA", "UMAP"]
    pca = charts(at)[0]["data"]
    at.radio(key="lat_replay_method").set_value("UMAP").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("UMAP of each epoch" in c for c in captions(at))
    assert charts(at)[0]["data"] != pca and charts(at)[0]["layout"]["xaxis"]["title"]["text"] == "UMAP 1"
    at.select_slider(key="lat_replay_epoch").set_value(0).run()
    assert not at.exception and any(c.startswith("300 test codes at epoch 0") for c in captions(at))
