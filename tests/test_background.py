"""dashboard.background: slow pictures are made off the script thread and drawn when ready, quick ones at once;
latest wins; a stale torch job stops; in a real browser the placeholder turns into the picture by itself
(fragment reruns only) and stops polling."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import background

APP = Path(__file__).resolve().parent / "apps" / "background_app.py"


@pytest.fixture(autouse=True)
def fresh():
    background.clear()
    yield
    background.clear()
    background.settle(30)


def app(script, **kwargs) -> AppTest:
    """An AppTest of ``script`` (a function: the page), ``kwargs`` passed to it."""
    return AppTest.from_function(script, kwargs=kwargs, default_timeout=60)


def page(delay: float, threads: list | None = None):
    """A page drawing one picture (a text) that takes ``delay`` seconds, for the seed in the number input."""
    import threading
    import time

    import streamlit as st

    from dashboard import background

    seed = int(st.number_input("Seed", 0, 100, 0, key="seed"))

    def make():
        if threads is not None:
            threads.append(threading.current_thread().name)
        time.sleep(delay)
        return f"picture {seed}"

    background.draw("picture", ("test picture", seed), make, lambda text: st.markdown(text), "Making the picture")


def shown(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def test_a_quick_picture_never_measured_is_drawn_in_the_page_run_then_made_on_the_script_thread():
    threads = []
    at = app(page, delay=0.0, threads=threads).run()
    assert shown(at) == ["picture 0"] and not at.info
    assert threads[0].startswith("digitlab-probe")  # never measured: handed to a thread, waited for briefly
    assert background.last_seconds("picture") < background.FAST_SECONDS
    at.number_input(key="seed").set_value(1).run()
    assert shown(at) == ["picture 1"]
    assert not threads[1].startswith("digitlab-")  # measured quick: made in the page run itself


def test_a_slow_picture_leaves_a_placeholder_and_never_holds_the_page_run():
    at = app(page, delay=2.0).run()
    assert not shown(at) and [i.value for i in at.info] == ["Making the picture…"]  # the run did not wait 2 s
    assert background.settle(30)
    assert shown(at.run()) == ["picture 0"]  # kept: drawn at once
    assert background.last_seconds("picture") >= 2.0
    start = time.perf_counter()
    at.number_input(key="seed").set_value(1).run()  # measured slow: no wait at all
    assert time.perf_counter() - start < 1.5
    assert [i.value for i in at.info] == ["Making the picture… (the last one took 2.0 s)"]
    assert background.settle(30) and shown(at.run()) == ["picture 1"]


def progressive():
    import time

    import streamlit as st

    from dashboard import background

    def slow():
        time.sleep(1.5)
        return "full"

    def first_look():  # longer than draw's first wait (WAIT_SECONDS, 0.3 s): the page run shows the placeholder
        time.sleep(0.6)
        return "preview"

    background.draw("picture", "test full", slow, lambda text: st.markdown(text), "Making the picture",
                    preview=background.Preview("test preview", first_look, lambda text: st.markdown(f"{text} first")))


def test_the_preview_is_made_first_and_shown_until_the_picture_is_ready():
    at = app(progressive).run()
    assert [i.value for i in at.info] == ["Making the picture…"]
    deadline = time.monotonic() + 30
    while background._state("test preview") is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert background._state("test full") is None  # one job: the preview, then the picture
    assert shown(at.run()) == ["preview first"] and not at.info
    assert background.settle(30) and shown(at.run()) == ["full"]
    assert background.last_seconds("picture (preview)") < background.last_seconds("picture")


def torch_page(steps: int):
    """Seed 0's picture takes ``steps`` module calls, the others' 10."""
    import streamlit as st
    import torch

    from dashboard import background

    seed = int(st.number_input("Seed", 0, 100, 0, key="seed"))
    layer = torch.nn.Linear(8, 8)

    def make():
        x = torch.zeros(1, 8)
        for _ in range(steps if seed == 0 else 10):  # module calls, like a diffusion model's steps
            x = layer(x)
        return f"picture {seed}"

    background.draw("picture", ("test torch", seed, steps), make, lambda text: st.markdown(text), "Making the picture")


def test_latest_wins_a_stale_torch_job_stops_at_its_next_module_call_and_is_never_shown():
    import torch

    calls = []
    hook = torch.nn.modules.module.register_module_forward_pre_hook(
        lambda module, args: calls.append(threading.current_thread().name))
    try:
        at = app(torch_page, steps=10**9).run()  # would run for hours
        assert [i.value for i in at.info] == ["Making the picture…"]
        deadline = time.monotonic() + 30
        while len(calls) < 100 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(calls) >= 100  # it is running
        at.number_input(key="seed").set_value(1).run()  # a new seed: nobody wants seed 0 any more
        stopped = time.monotonic()
        assert background.settle(30), "the stale job did not stop"
        assert time.monotonic() - stopped < 5
    finally:
        hook.remove()
    assert background._state(("test torch", 0, 10**9)) is None and background.pending() == 0
    assert shown(at.run()) == ["picture 1"]


def test_two_slots_share_one_computation_and_a_failure_is_one_sentence():
    def failing():
        import streamlit as st

        from dashboard import background

        def make():
            raise ValueError("the weights are missing")

        background.draw("a", "test failing", make, st.markdown, "Making it")

    at = app(failing).run()
    assert [w.value for w in at.warning] == [
        "This picture could not be made: the weights are missing. The server log has the details."]
    made = []

    def twice(made: list):
        import streamlit as st

        from dashboard import background

        for slot in ("left", "right"):
            background.draw(slot, "test shared", lambda: made.append(1) or "shared", st.markdown, "Making it")

    at = app(twice, made=made).run()
    assert shown(at) == ["shared", "shared"] and len(made) == 1


# ------------------------------------------------------------------------------------------------
# in a real browser
# ------------------------------------------------------------------------------------------------

@pytest.mark.browser
@pytest.mark.parametrize("nested", [False, True], ids=["in the page", "in a fragment"])
def test_browser_the_placeholder_turns_into_the_picture_by_itself_and_a_new_seed_never_waits(nested):
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    from tests.browser import CHROMIUM_ARGS, FrameLog, chromium_path, running_app

    full_run = ForwardMsg.ScriptFinishedStatus.Value("FINISHED_SUCCESSFULLY")

    def full_runs(log, mark=0) -> int:
        return sum(m.WhichOneof("type") == "script_finished" and m.script_finished == full_run for m in log.since(mark))

    def quiet(log, seconds: float) -> bool:
        """No message from the server for ``seconds`` (the placeholder's timer is stopped)."""
        try:
            log.socket.wait_for_event("framereceived", timeout=seconds * 1000)
        except PlaywrightError:
            return True
        return False

    def seed(page, value: int) -> None:
        box = page.get_by_label("Seed", exact=True).first
        box.fill(str(value))
        box.press("Enter")

    with running_app(app=APP) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page()
        log = FrameLog(page)
        page.goto(url + "/?delay=3" + ("&nested=1" if nested else ""), wait_until="domcontentloaded")
        page.locator(".st-key-quick_0").wait_for(timeout=60_000)
        assert not page.locator(".st-key-slow_0").count()  # drawn first in the script, still being made
        page.locator(".st-key-preview_0").wait_for(timeout=30_000)  # then the preview, with no user action
        page.locator(".st-key-slow_0").wait_for(timeout=30_000)  # then the picture
        assert not page.locator(".st-key-preview_0").count()
        assert full_runs(log) == 1, "the page was rerun: only the placeholder's fragment should be"
        assert quiet(log, 4 * background.POLL_SECONDS), "the placeholder still polls after its picture is drawn"

        # a new seed while the slow picture is made: the quick picture does not wait, the stale one never shows
        seed(page, 1)
        page.locator(".st-key-quick_1").wait_for(timeout=30_000)
        page.evaluate("""() => { window.staleSeen = false;
            new MutationObserver(() => { if (document.body.innerText.includes('slow picture 1')) window.staleSeen = true; })
                .observe(document.body, {subtree: true, childList: true, characterData: true}); }""")
        seed(page, 2)
        page.locator(".st-key-quick_2").wait_for(timeout=30_000)
        assert not page.locator(".st-key-slow_2").count(), "the quick picture waited for the slow one"
        page.locator(".st-key-slow_2").wait_for(timeout=60_000)
        assert not page.evaluate("() => window.staleSeen"), "a stale picture was shown for a newer seed"
        assert quiet(log, 4 * background.POLL_SECONDS)
        assert full_runs(log) == (1 if nested else 3)  # the seed's fragment and the placeholders' reruns only
        browser.close()
