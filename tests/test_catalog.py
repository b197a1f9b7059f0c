"""core.runs.catalog: runs listed from their JSON files without torch, models loaded once on demand;
shipped UMAP projections (core.explore.projections)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest

from core.paths import SHIPPED_CHECKPOINTS
from core.runs.catalog import list_runs, read_run
from core.runs.format import CheckpointError

REPO = SHIPPED_CHECKPOINTS.parent


def test_listing_runs_needs_no_torch():
    code = ("import sys; from core.runs.catalog import list_runs; runs, errors = list_runs(); "
            "print(len(runs), len(errors), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    n_runs, n_errors, torch_loaded = out.stdout.split()
    assert int(n_runs) >= 13 and n_errors == "0" and torch_loaded == "False"


def test_every_shipped_card_says_what_its_model_class_says():
    """The cards let the first page be drawn without torch; they must never drift from the classes."""
    from core.runs.store import load_run

    runs, errors = list_runs()
    assert not errors
    for name, info in runs.items():
        assert "card" in info.config, f"{name}: config.json has no card"
        assert info.card == load_run(info.path).model.card(), name


def test_the_model_loads_once_even_when_threads_ask_together():
    runs, _ = list_runs()
    info = runs["cae-z8-s0"]
    assert not info.loaded
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(info.model)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert info.loaded and len({id(m) for m in seen}) == 1
    assert info.label == "CAE (z=8) · seed 0" and info.can("classify") and not info.can("restyle")


@pytest.mark.parametrize("damage, kind, when", [
    ("garbage", "its weights file is damaged", "listing"),
    ("missing", "its weights file is missing", "listing"),
    ("bad-json", "its configuration file is not valid JSON", "listing"),
    ("misfit", "its weights do not fit the model its configuration describes", "loading"),
])
def test_a_broken_run_says_what_is_wrong_in_words(tmp_path, damage, kind, when):
    run = tmp_path / "cae-z8-s0"
    shutil.copytree(SHIPPED_CHECKPOINTS / "cae-z8-s0", run)
    if damage == "garbage":
        (run / "weights.pt").write_bytes(b"not a checkpoint")
    elif damage == "missing":
        (run / "weights.pt").unlink()
    elif damage == "bad-json":
        (run / "config.json").write_text("{ not json")
    else:  # a config that asks for another latent size than the weights have
        config = json.loads((run / "config.json").read_text())
        config["model_args"]["latent_dim"] = 9
        (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError) as info:
        read_run(run).model
    assert info.value.kind == kind
    assert str(tmp_path) not in info.value.kind and str(tmp_path) in info.value.details
    runs, errors = list_runs(tmp_path)
    assert (("cae-z8-s0" in errors) if when == "listing" else ("cae-z8-s0" in runs))


def test_a_run_without_a_card_is_described_by_its_class(tmp_path):
    run = tmp_path / "cvae-z8-s0"
    shutil.copytree(SHIPPED_CHECKPOINTS / "cvae-z8-s0", run)
    config = json.loads((run / "config.json").read_text())
    card = config.pop("card")
    (run / "config.json").write_text(json.dumps(config))
    assert read_run(run).card == card


def test_every_shipped_run_that_encodes_ships_its_default_umap():
    """The Latent space page's first UMAP view reads these instead of computing for tens of seconds."""
    from core.explore.projections import read_shipped, shipped_key

    runs, _ = list_runs()
    for name, info in runs.items():
        if info.role == "judge" or not info.can("encode") or info.latent_dim <= 2:
            continue
        for mode in dict.fromkeys(m if m in info.card["input_modes"] else info.card["input_modes"][0]
                                  for m in ("image+digit", "image")):
            xy = read_shipped(info.path, shipped_key("UMAP", mode, 2000))
            assert xy is not None and xy.shape == (2000, 2) and np.isfinite(xy).all(), (name, mode)
        assert (info.path / "projections.npz").stat().st_size < 300_000  # every size the page offers, float16


def test_shipped_projections_are_dropped_when_the_weights_change(tmp_path):
    from core.explore.projections import read_shipped, shipped_key, write_shipped

    run = tmp_path / "run"
    run.mkdir()
    (run / "weights.pt").write_bytes(b"PK first weights")
    key = shipped_key("UMAP", "image", 5)
    write_shipped(run, {key: np.arange(10, dtype=np.float32).reshape(5, 2)})
    assert np.array_equal(read_shipped(run, key), np.arange(10).reshape(5, 2))
    assert read_shipped(run, shipped_key("UMAP", "image", 6)) is None
    (run / "weights.pt").write_bytes(b"PK retrained weights")
    assert read_shipped(run, key) is None
    (run / "projections.npz").write_bytes(b"garbage")
    assert read_shipped(run, key) is None


def test_new_codes_are_placed_among_their_nearest_reference_codes():
    from core.explore.projections import place_codes

    reference = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=np.float32)
    xy = reference * 3 + 1  # a known embedding
    placed = place_codes(reference, xy, np.array([[10, 10], [0.0, 0.0]]), k=1)
    assert np.allclose(placed, [[31, 31], [1, 1]], atol=1e-3)
    middle = place_codes(reference, xy, np.array([[5, 5]]), k=4)  # equidistant: the mean of all four
    assert np.allclose(middle, [[16, 16]], atol=1e-3)
    with pytest.raises(ValueError):
        place_codes(reference, xy, np.zeros((1, 3)))
