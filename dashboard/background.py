"""Slow pictures are computed off the script thread and drawn when they are ready, so they never hold the
fast ones, and a widget change never waits for them.

A page calls :func:`draw` where a picture goes, once per run::

    background.draw(
        slot=f"generation/{run.name}",                      # where on the page (one per run), per session
        key=("generation grid", run.name, per, seed, mode),   # what: the inputs that make the picture
        compute=lambda: explore.generation_grid(...),         # makes it (any thread; torch, no streamlit)
        render=lambda images: show_images(images, nrow=per),  # draws it (streamlit calls)
        waiting="Generating 100 images in mode DDIM 20 steps",   # said while it is being made
        preview=background.Preview(key=..., compute=..., render=...))  # optional: a cheap first look

What :func:`draw` does:

* the result of ``key`` is cached (process-wide, shared by every session; :data:`MAX_RESULTS` kept):
  drawn at once;
* the slot's last computation of that kind (``cost``, default the slot) took at most
  :data:`FAST_SECONDS`: computed here, on the script thread, and drawn (a fast model never queues);
* otherwise (it was slow last time, or it was never measured) it is handed to a background thread,
  the preview first (one job makes the preview, then the picture). If that is done within
  :data:`WAIT_SECONDS` the picture is drawn at once; if not, a placeholder saying what it waits for is
  drawn in a small fragment that reruns itself every :data:`POLL_SECONDS` (only that fragment: the
  page is not rerun), shows the preview when the preview is ready, and the picture when the picture
  is; then it stops rerunning. Nothing polls once nothing is pending.

Which pictures count as slow is measured, never a model's name: the time of the last computation of
the same ``cost`` (by default the slot). A kind never measured runs on the *probe* threads
(:data:`PROBE_WORKERS`), so a first request that turns out quick never queues behind a slow one; a
kind measured slow runs on the *slow* thread (:data:`SLOW_WORKERS`: one, so that on a 2-core machine
the script thread keeps a core). Torch runs one intra-op thread in each (the dashboard sets
``OMP_NUM_THREADS=1``).

Latest wins, per session and slot: a slot asked for a new ``key`` lets go of its old one. A job that
no session and slot wants any more is dropped from the queue, or, if it is running, stopped at its
next torch module call (a process-wide forward pre-hook that looks at a thread-local flag), so a
stale computation frees its thread within one layer and its result is never drawn for newer
settings. A placeholder always shows the result of the key its page run asked for.

Works nested in another fragment (e.g. a slider's fragment): the polling fragment is that fragment's
child, and disappears with it. Errors of ``compute`` are written to the server log and shown as one
sentence in the picture's place.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import streamlit as st

#: a computation that took at most this long (seconds) last time is run on the script thread
FAST_SECONDS = 0.15
#: how long (seconds) a page run waits for the worker before drawing a placeholder instead
WAIT_SECONDS = 0.3
#: how often (seconds) a placeholder looks for its picture
POLL_SECONDS = 0.25
#: threads for kinds of work never measured (a first request is probably quick: it never waits for a slow one)
PROBE_WORKERS = 2
#: threads for kinds of work measured slow: one, so that on a 2-core machine the script thread keeps a core
SLOW_WORKERS = 1
#: results kept (a 10×10 grid is 100 × 784 float32, 0.3 MB), least recently used dropped first
MAX_RESULTS = 128

SESSION_KEY = "_background_session"  # this session's token (st.session_state)
WANTS_KEY = "_background_wants"      # {slot: the key this session's slot waits for} (st.session_state)

log = logging.getLogger("digitlab.dashboard.background")


class Preview(NamedTuple):
    """A cheap first look drawn while the full picture is being made (e.g. fewer diffusion steps).

    Attributes:
        key: what the preview is (hashable, as :func:`draw`'s ``key``; distinct from it).
        compute: ``compute() -> result``, run by the background thread just before the full picture.
        render: ``render(result)`` draws the preview (say on screen that it is one).
    """

    key: Hashable
    compute: Callable[[], Any]
    render: Callable[[Any], None]


class Cancelled(Exception):
    """Raised inside a background job that nobody waits for any more (at its next torch module call)."""


class _Failure:
    """A computation that raised: its exception (the result cache never keeps these)."""

    def __init__(self, exc: BaseException):
        self.exc = exc


@dataclass(eq=False)
class _Job:
    key: Hashable
    cost: str
    wanted: set = field(default_factory=set)  # {(session token, slot)}
    cancel: threading.Event = field(default_factory=threading.Event)
    future: Future | None = None
    preview: Preview | None = None


_lock = threading.Lock()
_results: OrderedDict[Hashable, Any] = OrderedDict()
_failures: dict[Hashable, _Failure] = {}
_jobs: dict[Hashable, _Job] = {}
_seconds: dict[str, float] = {}
_executors: dict[str, ThreadPoolExecutor] = {}  # "probe" and "slow"
_probing: set[str] = set()  # costs whose first job is running (unmeasured yet)
_current = threading.local()  # .job: the _Job this worker thread runs
_hook_installed = False


def draw(slot: str, key: Hashable, compute: Callable[[], Any], render: Callable[[Any], None], waiting: str, *,
         preview: Preview | None = None, cost: str | None = None) -> None:
    """Draw the picture ``key`` here: now if it is cached or quick to make, else when the worker has it.

    Args:
        slot: where it is drawn, unique on the page for this session (e.g. ``f"generation/{run.name}"``);
            latest wins per session and slot.
        key: what is drawn: a hashable of every input of ``compute`` (results are shared by sessions, so
            name the kind of picture in it too, e.g. ``("generation grid", run, per, seed, mode)``).
        compute: ``compute() -> result`` (no streamlit calls: it may run on the worker thread).
        render: ``render(result)`` draws it (streamlit calls; on the script thread).
        waiting: what the placeholder says is being made, in the user's words, as Markdown (escape
            text from files with :func:`dashboard.common.plain`), e.g. "Generating 100 images".
        preview: a cheap first look shown until the picture is ready (see :class:`Preview`).
        cost: what the measured time is kept under (default ``slot``): one cost per kind of work,
            e.g. per run and mode, so a slow mode of a run does not make its quick ones wait.
    """
    cost = cost or slot
    who = (_session_token(), slot)
    _want(who, key)
    state = _state(key)
    if state is not None:
        _show(render, state, key)
        return
    last = _seconds.get(cost)
    if last is not None and last <= FAST_SECONDS:
        _show(render, _run_here(key, compute, cost), key)
        return
    future, new = _submit(key, compute, cost, who, preview)
    if new and last is None:  # never measured, perhaps quick: worth a short wait
        try:
            future.result(timeout=WAIT_SECONDS)
        except (FutureTimeout, Exception):  # not done yet, or failed or cancelled (_state says which)
            pass
        state = _state(key)
        if state is not None:
            _show(render, state, key)
            return

    def placeholder() -> None:
        # drawn in the page run, then every POLL_SECONDS by the browser's timer until the picture is in
        ready = _state(key)
        if ready is not None:
            _show(render, ready, key)
            _stop_polling()
            return
        _submit(key, compute, cost, who, preview)  # kept alive (a no-op while it is queued or running)
        shown = None if preview is None else _state(preview.key)
        if shown is not None and not isinstance(shown, _Failure):
            preview.render(shown)
        else:
            last = _seconds.get(cost)
            took = f" (the last one took {last:.1f} s)" if last is not None else ""
            st.info(f"{waiting}…{took}", icon=":material/hourglass_top:")

    st.fragment(placeholder, run_every=POLL_SECONDS)()


def pending() -> int:
    """How many background jobs are queued or running."""
    with _lock:
        return len(_jobs)


def settle(timeout: float = 60.0) -> bool:
    """Wait until no background job is queued or running (for tests and benchmarks); False on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        with _lock:
            futures = [job.future for job in _jobs.values() if job.future is not None]
        if not futures:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        try:
            futures[0].result(timeout=left)
        except Exception:  # noqa: S110  (failed or cancelled: it has left _jobs either way)
            pass


def last_seconds(cost: str) -> float | None:
    """Seconds the last computation kept under ``cost`` took, or None if none was measured."""
    return _seconds.get(cost)


def clear() -> None:
    """Forget every result, failure and measured time, and stop the queued and running jobs (tests)."""
    with _lock:
        for key, job in list(_jobs.items()):
            job.wanted.clear()
            job.cancel.set()
            if job.future is not None and job.future.cancel():
                del _jobs[key]
        _probing.clear()
        _results.clear()
        _failures.clear()
        _seconds.clear()


# ------------------------------------------------------------------------------------------------

def _session_token() -> str:
    if SESSION_KEY not in st.session_state:
        st.session_state[SESSION_KEY] = uuid.uuid4().hex
    return st.session_state[SESSION_KEY]


def _want(who: tuple[str, str], key: Hashable) -> None:
    """Record that ``who`` (session, slot) now waits for ``key``; let go of what it waited for before."""
    wants = st.session_state.setdefault(WANTS_KEY, {})
    old = wants.get(who[1])
    wants[who[1]] = key
    if old is None or old == key:
        return
    with _lock:
        job = _jobs.get(old)
        if job is None:
            return
        job.wanted.discard(who)
        if not job.wanted:  # nobody waits for it: drop it from the queue, or stop it
            job.cancel.set()
            if job.future is not None and job.future.cancel():
                del _jobs[old]
                _probing.discard(job.cost)


def _state(key: Hashable) -> Any:
    """The result of ``key`` (a :class:`_Failure` if its last computation raised), or None if it has none."""
    with _lock:
        if key in _results:
            _results.move_to_end(key)
            return _results[key]
        return _failures.get(key)


def _store(key: Hashable, value: Any, cost: str, seconds: float) -> None:
    with _lock:
        _failures.pop(key, None)
        _results[key] = value
        _results.move_to_end(key)
        while len(_results) > MAX_RESULTS:
            _results.popitem(last=False)
        _seconds[cost] = seconds


def _fail(key: Hashable, exc: BaseException) -> _Failure:
    log.error("computing %r failed", key, exc_info=exc)
    failure = _Failure(exc)
    with _lock:
        _failures[key] = failure
    return failure


def _run_here(key: Hashable, compute: Callable[[], Any], cost: str) -> Any:
    start = time.perf_counter()
    try:
        value = compute()
    except Exception as exc:
        return _fail(key, exc)
    _store(key, value, cost, time.perf_counter() - start)
    return value


def _show(render: Callable[[Any], None], state: Any, key: Hashable) -> None:
    if isinstance(state, _Failure):
        with _lock:
            _failures.pop(key, None)  # the next page run tries again
        from dashboard.common import plain

        st.warning(f"This picture could not be made: {plain(state.exc)}. The server log has the details.")
        return
    render(state)


def _submit(key: Hashable, compute: Callable[[], Any], cost: str, who: tuple[str, str],
            preview: Preview | None = None) -> tuple[Future, bool]:
    """The job making ``key`` (and its preview first), wanted by ``who``, and whether it was queued just now."""
    _install_cancel_hook()
    with _lock:
        job = _jobs.get(key)
        if job is not None and not job.cancel.is_set():
            job.wanted.add(who)
            return job.future, False
        if cost in _seconds or cost in _probing:
            lane, workers = "slow", SLOW_WORKERS
        else:
            lane, workers = "probe", PROBE_WORKERS
            _probing.add(cost)
        if lane not in _executors:
            _executors[lane] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"digitlab-{lane}")
        job = _Job(key, cost, {who}, preview=preview)
        _jobs[key] = job
        job.future = _executors[lane].submit(_work, job, compute)
        return job.future, True


def _work(job: _Job, compute: Callable[[], Any]) -> None:
    _current.job = job
    try:
        if job.preview is not None and _state(job.preview.key) is None:
            if not _timed(job.preview.key, job.preview.compute, f"{job.cost} (preview)"):
                return
        _timed(job.key, compute, job.cost)
    finally:
        _current.job = None
        with _lock:
            if _jobs.get(job.key) is job:
                del _jobs[job.key]
            _probing.discard(job.cost)


def _timed(key: Hashable, compute: Callable[[], Any], cost: str) -> bool:
    """Compute and keep ``key`` on this background thread; False when it was stopped or failed."""
    if _current.job.cancel.is_set():
        return False
    start = time.perf_counter()
    try:
        value = compute()
    except Cancelled:
        return False
    except Exception as exc:
        _fail(key, exc)
        return False
    _store(key, value, cost, time.perf_counter() - start)
    return True


def _cancel_check(module, args) -> None:
    job = getattr(_current, "job", None)
    if job is not None and job.cancel.is_set():
        raise Cancelled(f"nobody waits for {job.key!r} any more")


def _install_cancel_hook() -> None:
    """Register :func:`_cancel_check` as a torch forward pre-hook of every module, once per process (a
    thread-local look-up per module call; a thread that runs no job is never stopped)."""
    global _hook_installed
    if _hook_installed:
        return
    with _lock:
        if _hook_installed:
            return
        from torch.nn.modules.module import register_module_forward_pre_hook

        register_module_forward_pre_hook(_cancel_check)
        _hook_installed = True


def _stop_polling() -> None:
    """Tell the browser to stop rerunning the fragment that is running now (its picture is drawn).

    Streamlit 1.67 sends this message itself only for a nested ``run_every`` fragment that its parent
    no longer draws; a fragment's own rerun cannot stop its timer through the public API, and the
    alternative, a whole-page rerun, redraws every picture. Covered by tests/test_background.py.
    """
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    from streamlit.runtime.scriptrunner_utils.script_run_context import ThreadState

    ctx = get_script_run_ctx()
    fragment_id = ThreadState.get().fragment_id
    if ctx is None or fragment_id is None:
        return
    message = ForwardMsg()
    message.stop_auto_rerun.fragment_ids.append(fragment_id)
    ctx.enqueue(message)
