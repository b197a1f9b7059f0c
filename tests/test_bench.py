"""The benchmark harness's pure parts (benchmarks/_bench.py): statistics, ForwardMsg parsing, the digit
strokes. No browser, no server, no timing assertions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks import _bench as B  # noqa: E402
from core.paths import REPO_ROOT

# --- statistics ---

def test_percentile_known_answers():
    assert B.percentile([1, 2, 3, 4], 50) == 2.5
    assert B.percentile([3, 1, 2], 50) == 2
    assert B.percentile(range(1, 21), 95) == pytest.approx(19.05)  # rank 18.05 between 19 and 20
    assert B.percentile([7.0], 95) == 7.0
    assert B.percentile([1, 2], 0) == 1 and B.percentile([1, 2], 100) == 2
    assert math.isnan(B.percentile([], 50))
    with pytest.raises(ValueError):
        B.percentile([1, 2], 101)


def test_percentile_matches_numpy_linear():
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 37):
        data = rng.exponential(1.0, n)
        for q in (0, 5, 50, 90, 95, 99, 100):
            assert B.percentile(data, q) == pytest.approx(float(np.percentile(data, q)))


def test_summary():
    assert B.summary([0.3, 0.1, 0.2, 0.4]) == {"n": 4, "median": pytest.approx(0.25), "p95": pytest.approx(0.385),
                                              "min": 0.1, "max": 0.4}
    assert B.summary([]) == {"n": 0, "median": None, "p95": None, "min": None, "max": None}
    assert B.summary([1.0, None, float("nan"), 3.0])["n"] == 2  # missing samples are left out


def test_samples_row_keeps_errors_and_extras():
    s = B.Samples("g", values=[1.0, 2.0, 3.0], errors=["TimeoutError: x"], extra={"latest shown": "yes"})
    row = s.as_row()
    assert row["gesture"] == "g" and row["n"] == 3 and row["median"] == 2.0
    assert row["errors"] == 1 and row["error_messages"] == ["TimeoutError: x"] and row["latest shown"] == "yes"


def test_markdown_table():
    table = B.markdown_table([{"a": "x|y", "b": 1.23456, "c": None}], [("a", "A"), ("b", "B"), ("c", "C")])
    assert table.splitlines() == ["| A | B | C |", "|---|---|---|", "| x\\|y | 1.23 | — |"]


# --- ForwardMsg parsing ---

def _msg(kind: str, run_id: str = "", fragments=(), status=None) -> bytes:
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    msg = ForwardMsg()
    if kind == "script_finished":
        msg.script_finished = status if status is not None else ForwardMsg.FINISHED_SUCCESSFULLY
    elif kind == "new_session":
        msg.new_session.page_script_hash = "page"
    elif kind == "delta":
        msg.delta.new_element.markdown.body = "hello"
    if run_id:
        msg.metadata.run.script_run_id = run_id
        msg.metadata.run.fragment_ids.extend(fragments)
    return msg.SerializeToString()


def test_parse_frame_script_finished():
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    ev = B.parse_frame(_msg("script_finished", "run-1", ["frag"], ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY), t=5.0)
    assert (ev.kind, ev.run_id, ev.fragment, ev.status, ev.t) == (
        "script_finished", "run-1", True, "FINISHED_FRAGMENT_RUN_SUCCESSFULLY", 5.0)
    assert B.is_final(ev)
    early = B.parse_frame(_msg("script_finished", "run-2", status=ForwardMsg.FINISHED_EARLY_FOR_RERUN))
    assert early.status == "FINISHED_EARLY_FOR_RERUN" and not early.fragment and not B.is_final(early)
    # a status of 0 (FINISHED_SUCCESSFULLY) is still a script_finished message
    assert B.parse_frame(_msg("script_finished", "run-3")).status == "FINISHED_SUCCESSFULLY"


def test_parse_frame_other_messages():
    ev = B.parse_frame(_msg("new_session", "run-1"), t=1.0)
    assert (ev.kind, ev.run_id, ev.fragment) == ("new_session", "run-1", False)
    assert B.parse_frame(_msg("delta")) is None
    assert B.parse_frame("a text frame") is None
    assert B.parse_frame(b"\xff\xff\xff\xff") is None  # not a ForwardMsg


def test_finished_after_takes_the_run_the_gesture_started():
    E = B.Event
    events = [
        E(0.0, "new_session", "old", True), E(1.5, "script_finished", "old", True, "FINISHED_FRAGMENT_RUN_SUCCESSFULLY"),
        E(2.1, "new_session", "cut", True), E(2.3, "script_finished", "cut", True, "FINISHED_EARLY_FOR_RERUN"),
        E(2.4, "new_session", "mine", True), E(2.9, "script_finished", "mine", True, "FINISHED_FRAGMENT_RUN_SUCCESSFULLY"),
    ]
    # the gesture at t = 1.0: "old" started before it; "cut" was replaced by a rerun
    assert B.finished_after(events, 1.0).run_id == "mine"
    assert B.finished_after(events, 3.0) is None
    assert B.finished_after(events[:4], 1.0) is None
    assert B.finished_count(events, 0.0, 3.0) == 2  # runs cut short are not refreshes
    # a script_finished without a run id counts once a run started after the gesture
    anonymous = [E(1.0, "new_session", "x", False), E(1.2, "script_finished", "", False, "FINISHED_SUCCESSFULLY")]
    assert B.finished_after(anonymous, 0.5) is anonymous[1]
    assert B.finished_after(anonymous[1:], 0.5) is None


def test_is_local_url():
    for url in ("http://localhost:8501", "http://127.0.0.1:8501/draw", "https://127.1.2.3", "http://[::1]:8501"):
        assert B.is_local_url(url), url
    for url in ("http://example.com:8501", "http://192.168.1.2:8501", "ftp://localhost", "localhost:8501",
                "http://localhost.evil.com"):
        assert not B.is_local_url(url), url


# --- the digit strokes ---

def test_strokes_stay_inside_the_canvas():
    strokes = B.digit_strokes()
    assert sorted(strokes) == list(range(10))
    for digit, parts in strokes.items():
        assert parts and all(len(s) >= 2 for s in parts), digit
        assert all(0.05 <= x <= 0.95 and 0.05 <= y <= 0.95 for s in parts for x, y in s), digit
    assert all(0 <= x <= 1 and 0 <= y <= 1 for x, y in B.slow_stroke())


def test_rasterize_draws_white_ink_on_black():
    image = B.rasterize([[(0.5, 0.2), (0.5, 0.8)]])
    assert image.shape == (280, 280) and image.dtype == np.float32
    assert image[140, 140] == 1.0 and image[140, 20] == 0.0
    assert 18 <= int((image[140] > 0.5).sum()) <= 21  # brush width 20


def test_the_judge_reads_every_digit_stroke():
    """The strokes the benchmarks draw are recognisable: the shipped judge reads each one right."""
    judge = REPO_ROOT / "checkpoints" / "judge-s0"
    readings = B.judge_readings(judge)
    wrong = {d: r for d, r in readings.items() if r[0] != d}
    assert not wrong, f"misread strokes (digit: (read as, probability)): {wrong}"
    assert min(p for _, p in readings.values()) > 0.9, readings
