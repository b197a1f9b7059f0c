"""The per-browser archive kept on the server (core/explore/archive.ArchiveStore), true digits and
accuracy, the Draw page's noise (core/data/corruptions.DRAWING_NOISE_KINDS), and the Draw, Read a
number and Archive pages through AppTest with a browser id (a real browser's is tests/test_draw_browser.py)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import core.explore.archive as archive_module
from core.explore.archive import Archive, ArchiveEntry, ArchiveStore

ALICE = "0123456789abcdef0123456789abcdef"
BOB = "fedcba9876543210fedcba9876543210"


def entry(key: str, digit: int, p: float = 0.9, truth: int | None = None, labels=("CAE", "Judge")) -> ArchiveEntry:
    image = np.zeros((28, 28), np.float32)
    image[4:24, 13:15] = 1.0
    image[4, 4 + digit] = 1.0  # tell the pictures apart
    return ArchiveEntry(key=key, source="drawn", image=image, answers={lab: (digit, p) for lab in labels}, truth=truth)


# ------------------------------------------------------------------------------------------------
# the store
# ------------------------------------------------------------------------------------------------

def test_an_archive_survives_the_server_forgetting_it(tmp_path):
    """Written on every change; a new store (a restarted server, or the archive evicted from memory)
    reads the same entries, numbers, pictures and true digits, and numbering goes on."""
    store = ArchiveStore(tmp_path)
    archive = store.open(ALICE)
    archive.record(entry("drawn:a:0", 7, 0.4))
    archive.record(entry("drawn:a:0", 1, 0.95))  # the same drawing, answered again
    archive.record_group([entry("num:a:0", 4), entry("num:a:0", 2)])
    archive.set_truth(1, 1)
    assert (tmp_path / f"{ALICE}.json").is_file() and not list(tmp_path.glob("*.part"))

    again = ArchiveStore(tmp_path).open(ALICE)
    assert [n for n, _ in again.numbered()] == [1, 2, 3]
    assert [(e.key, e.answers["CAE"], e.truth) for e in again.entries] == [
        ("drawn:a:0", (1, 0.95), 1), ("num:a:0", (4, 0.9), None), ("num:a:0", (2, 0.9), None)]
    assert all(np.array_equal(a.image, b.image) and a.time == b.time for a, b in zip(archive.entries, again.entries))
    again.record(entry("drawn:a:1", 3))
    assert [n for n, _ in again.numbered()][-1] == 4
    assert again.to_csv() == ArchiveStore(tmp_path).open(ALICE).to_csv()


def test_two_browsers_are_isolated_and_clearing_one_leaves_the_other(tmp_path):
    store = ArchiveStore(tmp_path)
    store.open(ALICE).record(entry("drawn:a:0", 1))
    store.open(BOB).record(entry("drawn:b:0", 8))
    assert [e.answers["CAE"][0] for e in store.open(ALICE).entries] == [1]
    assert [e.answers["CAE"][0] for e in store.open(BOB).entries] == [8]
    store.clear(ALICE)
    assert len(store.open(ALICE)) == 0 and not (tmp_path / f"{ALICE}.json").exists()
    assert len(ArchiveStore(tmp_path).open(ALICE)) == 0
    assert [e.answers["CAE"][0] for e in ArchiveStore(tmp_path).open(BOB).entries] == [8]


@pytest.mark.parametrize("bad", ["", "../" + ALICE[3:], ALICE.upper(), ALICE[:-1], ALICE + "0", ALICE[:-1] + "/",
                                 ALICE[:-1] + "g", f"{ALICE[:16]}.{ALICE[17:]}", None, 12345, ALICE + "\n"])
def test_only_a_browser_id_names_a_file(tmp_path, bad):
    store = ArchiveStore(tmp_path)
    assert not store.valid_id(bad)
    with pytest.raises(ValueError, match="not a browser id"):
        store.open(bad)
    assert not list(tmp_path.iterdir())


def test_a_browser_id_is_128_random_bits_made_by_the_browser():
    """The component's script makes 16 random bytes with crypto.getRandomValues (never Math.random),
    and keeps them in localStorage and a cookie; the server only checks their form."""
    from dashboard.components import browser_store

    script = Path(browser_store.__file__).with_suffix(".js").read_text(encoding="utf-8")
    assert "crypto.getRandomValues" in script and "new Uint8Array(16)" in script and "Math.random" not in script
    assert "localStorage.setItem" in script and "document.cookie" in script and "SameSite=Strict" in script
    assert archive_module.BROWSER_ID.pattern == "[0-9a-f]{32}"  # 32 hex digits: 128 bits


def test_at_most_max_entries_per_browser_the_oldest_dropped(tmp_path, monkeypatch):
    monkeypatch.setattr(archive_module, "MAX_ENTRIES", 5)
    store = ArchiveStore(tmp_path)
    archive = store.open(ALICE)
    for i in range(8):
        archive.record(entry(f"drawn:a:{i}", i))
    assert [n for n, _ in ArchiveStore(tmp_path).open(ALICE).numbered()] == [4, 5, 6, 7, 8]
    stored = json.loads((tmp_path / f"{ALICE}.json").read_text(encoding="utf-8"))
    assert len(stored["entries"]) == 5


def _age(path: Path, days: float) -> None:
    when = time.time() - days * 86400
    os.utime(path, (when, when))


def test_too_many_browsers_the_least_recently_changed_go_first(tmp_path):
    ids = [f"{i:032x}" for i in range(1, 5)]
    store = ArchiveStore(tmp_path, max_browsers=3)
    for age, browser in zip((4, 3, 2), ids):  # three archives, the first changed longest ago
        store.open(browser).record(entry("drawn:x:0", 1))
        _age(tmp_path / f"{browser}.json", age)
    store.open(ids[3]).record(entry("drawn:x:0", 2))  # a fourth browser: the oldest archive goes
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == ids[1:]
    assert len(ArchiveStore(tmp_path).open(ids[0])) == 0


def test_too_many_bytes_or_too_old_the_oldest_go_first(tmp_path):
    ids = [f"{i:032x}" for i in range(1, 5)]
    big = ArchiveStore(tmp_path)
    for age, browser in zip((30, 20, 10), ids):
        big.open(browser).record(entry("drawn:x:0", 1))
        _age(tmp_path / f"{browser}.json", age)
    one = (tmp_path / f"{ids[0]}.json").stat().st_size
    ArchiveStore(tmp_path, max_bytes=int(2.5 * one)).open(ids[3]).record(entry("drawn:x:0", 2))
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == [ids[2], ids[3]]  # 4 files > 2.5 files' bytes
    _age(tmp_path / f"{ids[2]}.json", 100)
    ArchiveStore(tmp_path, max_age_days=90).open(ids[0]).record(entry("drawn:x:0", 3))  # a new one: pruned
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == [ids[0], ids[3]]


@pytest.mark.parametrize("damage", [b"{not json", b"", b'{"format": "digitlab-archive", "version": 1, "entries": [{}]}',
                                    b"\xff\xfe\x00", b'{"format": "other"}', b"[1, 2]"])
def test_a_damaged_archive_reads_as_empty_with_a_sentence_and_nothing_else_is_lost(tmp_path, damage):
    store = ArchiveStore(tmp_path)
    store.open(BOB).record(entry("drawn:b:0", 8))
    (tmp_path / f"{ALICE}.json").write_bytes(damage)
    fresh = ArchiveStore(tmp_path)
    broken = fresh.open(ALICE)
    assert len(broken) == 0 and "damaged" in broken.problem and "empty" in broken.problem
    assert "Traceback" not in broken.problem and str(tmp_path) not in broken.problem
    assert [e.answers["CAE"][0] for e in fresh.open(BOB).entries] == [8]  # the other browser's is intact
    assert (tmp_path / f"{ALICE}.json").read_bytes() == damage  # nothing rewritten until a change
    broken.record(entry("drawn:a:0", 3))
    assert broken.problem == "" and len(ArchiveStore(tmp_path).open(ALICE)) == 1


def test_an_archive_changed_by_another_process_is_read_again(tmp_path):
    store = ArchiveStore(tmp_path)
    store.open(ALICE).record(entry("drawn:a:0", 1))
    other = ArchiveStore(tmp_path)
    other.open(ALICE).record(entry("drawn:a:1", 2))
    assert [e.answers["CAE"][0] for e in store.open(ALICE).entries] == [1, 2]


# ------------------------------------------------------------------------------------------------
# one input, one entry; true digits and accuracy
# ------------------------------------------------------------------------------------------------

def test_an_input_answered_again_after_another_one_keeps_its_entry_and_its_true_digit():
    """Draw, upload, then back to the drawing (it is sent again): still two entries, the drawing's
    number and true digit kept."""
    archive = Archive()
    archive.record(entry("drawn:t:0", 7))
    archive.set_truth_of("drawn:t:0", 7)
    archive.record(entry("upload:t:f1", 3))
    archive.record(entry("drawn:t:0", 1))  # answered again (e.g. with another noise)
    assert [(n, e.key, e.answers["CAE"][0], e.truth) for n, e in archive.numbered()] == [
        (1, "drawn:t:0", 1, 7), (2, "upload:t:f1", 3, None)]
    archive.record_group([entry("num:t:0", 4), entry("num:t:0", 0)])
    archive.record(entry("drawn:t:1", 5))
    archive.record_group([entry("num:t:0", 4), entry("num:t:0", 0), entry("num:t:0", 7)])  # grew: now the newest
    assert [e.key for e in archive.entries] == ["drawn:t:0", "upload:t:f1", "drawn:t:1"] + ["num:t:0"] * 3
    assert [n for n, _ in archive.numbered()] == [1, 2, 5, 6, 7, 8]


def test_accuracy_counts_only_the_digits_with_a_true_digit():
    archive = Archive()
    archive.record(entry("a", 1, truth=1))
    archive.record(entry("b", 7, truth=1))
    archive.record(entry("c", 3))  # no true digit: not counted
    archive.record(entry("d", 2, truth=2, labels=("CVAE",)))
    assert archive.truth_tally() == [("CAE", 1, 2), ("Judge", 1, 2), ("CVAE", 1, 1)]
    archive.set_truth(2, 7)
    assert archive.truth_tally()[0] == ("CAE", 2, 2)
    rows = archive.to_csv().decode("utf-8").splitlines()
    assert rows[0].endswith(",true_digit") and rows[2].endswith(",7") and rows[3].endswith(",")
    with pytest.raises(ValueError, match="0–9"):
        archive.set_truth(1, 10)
    with pytest.raises(KeyError):
        archive.set_truth(99, 1)
    with pytest.raises(ValueError, match="0–9"):
        entry("e", 1, truth=True)


# ------------------------------------------------------------------------------------------------
# the Draw page's noise
# ------------------------------------------------------------------------------------------------

def _drawn_digits() -> torch.Tensor:
    from core.data.mnist import shared_mnist

    x, _ = shared_mnist(train=False)
    return x[:200]


def test_the_draw_pages_noise_always_reaches_the_digit():
    """Its square always hides ink (the study's random square often misses a digit), its salt and
    pepper flips pixels on the paper and on the ink (the study's black hits vanish on black paper)."""
    from core.data.corruptions import DRAWING_NOISE_KINDS, NOISE_KINDS

    x = _drawn_digits()
    kinds = {kind.name: kind for kind in DRAWING_NOISE_KINDS}
    square = kinds["occlusion_ink"](x, 8, seed=0)
    hidden = (x - square).clamp(min=0).flatten(1).sum(1)
    assert bool((hidden > 1.0).all()), "a square on the ink hid almost nothing"
    study = {kind.name: kind for kind in NOISE_KINDS}["occlusion"](x, 8, seed=0)
    assert bool(((x - study).clamp(min=0).flatten(1).sum(1) <= 1.0).any())  # what this fixes

    flipped = kinds["flip"](x, 0.1, seed=0)
    paper, ink = x == 0, x > 0.5
    assert bool((flipped[paper] == 1).any()) and bool((flipped[ink] < 0.5).any())
    changed = float((flipped != x).float().mean())
    assert 0.08 < changed < 0.12  # every hit shows
    for kind in DRAWING_NOISE_KINDS:
        assert torch.equal(kind(x[:3], kind.levels[2], seed=4), kind(x[:3], kind.levels[2], seed=4))
        assert not torch.equal(kind(x[:3], kind.levels[2], seed=4), x[:3])
        assert float(kind(x[:3], kind.levels[-1], seed=1).min()) >= 0 and float(kind(x[:3], kind.levels[-1], seed=1).max()) <= 1


def test_the_study_keeps_its_noise_kinds():
    """The Noise robustness study (checkpoints/noise_robustness.csv) is measured with NOISE_KINDS:
    the Draw page's kinds are extra objects, not changes to those."""
    import csv

    from core.data.corruptions import NOISE_KINDS
    from core.paths import SHIPPED_CHECKPOINTS

    with open(SHIPPED_CHECKPOINTS / "noise_robustness.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {row["kind"] for row in rows} == {k.name for k in NOISE_KINDS} == {"gaussian", "salt_pepper", "occlusion"}
    for kind in NOISE_KINDS:
        assert {float(row["level"]) for row in rows if row["kind"] == kind.name} == set(kind.levels)


# ------------------------------------------------------------------------------------------------
# the pages, through AppTest (no JavaScript runs there: the browser id is set as the component would)
# ------------------------------------------------------------------------------------------------

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("DIGITLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def digit_png(digit: int) -> bytes:
    """A scan-like PNG of a test digit: dark ink on white paper, 4× MNIST size."""
    import io

    from PIL import Image

    from core.data.mnist import shared_mnist

    x, y = shared_mnist(train=False)
    paper = np.zeros((40, 48), np.float32)
    paper[6:34, 10:38] = x[int((y == digit).nonzero()[0, 0]), 0].numpy()
    buffer = io.BytesIO()
    picture = Image.fromarray(((1.0 - paper) * 255).astype(np.uint8))
    picture.resize((picture.width * 4, picture.height * 4), Image.BILINEAR).save(buffer, "PNG")
    return buffer.getvalue()


def open_app(page: str, browser: str | None = ALICE):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=180)
    if browser is not None:
        at.session_state["browser_id"] = browser
    at.run()
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def stored(cache: Path, browser: str = ALICE) -> Archive:
    return ArchiveStore(cache / "archives").open(browser)


def shown_picture(at, testid: str) -> str | None:
    import re

    for m in at.markdown:
        found = re.search(rf'data-testid="{testid}"[^>]*src="([^"]+)"', m.value)
        if found:
            return found.group(1)
    return None


def test_an_upload_with_every_noise_is_one_entry_of_this_browsers_archive(cache):
    at = open_app("draw")
    at.radio(key="draw_source").set_value("Upload an image").run()
    at.file_uploader(key="draw_upload").set_value(("seven.png", digit_png(7), "image/png")).run()
    assert not at.exception and len(stored(cache)) == 1
    clean = shown_picture(at, "draw-clean")
    assert clean and shown_picture(at, "draw-noisy") is None
    seen = {clean}
    for kind in ("gaussian", "flip", "occlusion_ink"):
        at.selectbox(key="draw_noise_kind").set_value(kind).run()
        assert not at.exception
        noisy = shown_picture(at, "draw-noisy")
        assert noisy and noisy != clean and noisy not in seen  # the models see another picture
        seen.add(noisy)
        archive = stored(cache)
        assert len(archive) == 1, [e.noise for e in archive.entries]  # each noise change made an entry before
        assert archive.entries[0].noise.startswith(at.selectbox(key="draw_noise_kind").format_func(kind))
    at.number_input(key="draw_noise_seed").set_value(3).run()
    assert shown_picture(at, "draw-noisy") not in seen and len(stored(cache)) == 1
    assert len(stored(cache, BOB)) == 0


def test_the_true_digit_said_on_the_draw_page_gives_the_accuracy_on_the_archive_page(cache):
    at = open_app("draw")
    at.radio(key="draw_source").set_value("Upload an image").run()
    at.file_uploader(key="draw_upload").set_value(("three.png", digit_png(3), "image/png")).run()
    truth = next(s for s in at.selectbox if s.key and s.key.startswith("draw_truth_"))
    assert truth.value is None
    truth.set_value(3).run()
    assert not at.exception
    archive = stored(cache)
    assert [e.truth for e in archive.entries] == [3]
    at.selectbox(key="draw_noise_kind").set_value("gaussian").run()  # answered again: the true digit stays
    assert [e.truth for e in stored(cache).entries] == [3]
    assert next(s for s in at.selectbox if s.key and s.key.startswith("draw_truth_")).value == 3
    at.selectbox(key="draw_noise_kind").set_value("none").run()  # the clean digit again (the judge reads it)
    assert [(e.truth, e.noise) for e in stored(cache).entries] == [(3, "")]

    page = open_app("archive")  # a reload: another session of the same browser
    table = next(h.proto.body for h in page.get("html") if 'data-testid="archive-accuracy"' in h.proto.body)
    for label, (read, _) in stored(cache).entries[0].answers.items():  # n = 1: right or wrong
        right = int(read == 3)
        assert f'<tr data-label="{label}"><td>{label}</td><td>{right}</td><td>1</td><td>{100 * right} %</td></tr>' in table
    assert "n (digits with a true digit)" in table
    assert 'class="dl-truth">3<' in next(h.proto.body for h in page.get("html") if 'data-testid="archive-table"' in h.proto.body)
    other = open_app("archive", browser=BOB)
    assert any("Nothing classified yet" in i.value for i in other.info)


def test_an_upload_that_fails_shows_only_the_error(cache):
    at = open_app("draw")
    at.radio(key="draw_source").set_value("Upload an image").run()
    assert any("Upload a picture of one digit" in i.value for i in at.info)  # before an upload: the prompt
    at.file_uploader(key="draw_upload").set_value(("notes.png", b"just some text", "image/png")).run()
    assert not at.exception
    assert [e.value for e in at.error] and "notes" in at.error[0].value
    assert not [i.value for i in at.info if "Upload a picture" in i.value or "Draw a digit" in i.value]
    at.switch_page("views/read_number.py").run()
    at.radio(key="num_source").set_value("Upload a picture").run()
    at.file_uploader(key="num_upload").set_value(("notes.png", b"just some text", "image/png")).run()
    assert at.error and not [i.value for i in at.info if "Write a number" in i.value]


def test_the_restyle_section_never_opens_empty_with_the_default_runs(cache):
    at = open_app("draw")
    assert at.sidebar.multiselect[0].value == ["cae-z32-s0", "cvae-z32-s0"]
    at.radio(key="draw_source").set_value("Upload an image").run()
    at.file_uploader(key="draw_upload").set_value(("five.png", digit_png(5), "image/png")).run()
    assert not at.exception
    assert any("shown here with" in i.value for i in at.info)
    redrawn = [m.value for m in at.markdown if "(read as a" in m.value]
    assert redrawn and 'class="dl-img"' in redrawn[0]
    add = next(b for b in at.button if b.key and b.key.startswith("draw_restyle_add_"))
    name = add.key.removeprefix("draw_restyle_add_")
    add.click().run()
    assert not at.exception and name in at.sidebar.multiselect[0].value


def test_the_archive_page_says_what_is_kept_where_and_for_how_long_and_clears(cache):
    store = ArchiveStore(cache / "archives")
    store.open(ALICE).record(entry("drawn:a:0", 4, truth=4))
    at = open_app("archive")
    text = " ".join(c.value for c in at.caption)
    assert "server" in text and "only this browser" in text and "days" in text and "reload" in text
    assert "500" in text
    assert any("1 digit, newest first" in c.value for c in at.caption)
    at.button(key="archive_clear").click().run()
    assert any("Nothing classified yet" in i.value for i in at.info)
    assert len(stored(cache)) == 0 and not (cache / "archives" / f"{ALICE}.json").exists()


def test_a_damaged_archive_is_said_on_the_archive_page(cache):
    (cache / "archives").mkdir(parents=True)
    (cache / "archives" / f"{ALICE}.json").write_text("{half a file", encoding="utf-8")
    at = open_app("archive")
    assert any("damaged" in w.value for w in at.warning) and any("Nothing classified yet" in i.value for i in at.info)


def test_digits_of_a_session_before_the_browser_said_its_id_join_its_archive(cache):
    at = open_app("draw", browser=None)
    at.radio(key="draw_source").set_value("Upload an image").run()
    at.file_uploader(key="draw_upload").set_value(("two.png", digit_png(2), "image/png")).run()
    assert len(at.session_state["archive"]) == 1 and not (cache / "archives").exists()
    at.session_state["browser_id"] = ALICE  # what the component's answer does
    at.switch_page("views/archive.py").run()
    assert len(stored(cache)) == 1 and "archive" not in at.session_state


def test_a_drawing_keeps_its_key_until_the_canvas_is_cleared():
    """The canvas says "empty" once when it comes back after the input was switched to an upload: that
    is not a clear (each switch made a new entry before). Keys of two sessions differ."""
    from streamlit.testing.v1 import AppTest

    def script():
        import streamlit as st

        from dashboard.common import archive_key

        steps = st.session_state["steps"]
        st.session_state["keys"] = [archive_key("t", drawing, has) for drawing, has in steps]

    at = AppTest.from_function(script)
    # draw, draw on, switch to upload (nothing), back (empty once), drawing sent again, clear, new drawing
    at.session_state["steps"] = [(True, True), (True, True), (False, False), (True, False), (True, True),
                                 (True, False), (True, True)]
    at.run()
    keys = at.session_state["keys"]
    assert keys[0] == keys[1] == keys[4] and keys[6] != keys[0] and keys[0].startswith("drawn:")
    other = AppTest.from_function(script)
    other.session_state["steps"] = [(True, True)]
    other.run()
    assert other.session_state["keys"][0] != keys[0]  # another session's first drawing
