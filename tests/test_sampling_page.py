"""The "Watch it sample" page: a digit and a seed sampled by the diffusion reference, every step kept; a step
slider scrubs through x_t and the predicted clean image x̂₀ (under AppTest and in a real Chromium), with the
judge's reading and the haze beside the final image."""

from __future__ import annotations

import re

import pytest

from tests.test_dashboard import inline_images, open_page

#: MNIST present and a cache folder of each test's own (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("dashboard_ready")
DIFFUSION = "diffusion-z784-s0"


def frames(at) -> list[str]:
    """The alt texts of the pictures the step slider picks (the scrubbed x_t and x̂₀)."""
    return [alt for m in at.markdown for alt in re.findall(r'alt="([^"]*at (?:t =|step) [^"]*)"', m.value)]


def sources(at) -> list[str]:
    return [src for m in at.markdown for src in re.findall(r'src="(data:image/png[^"]+)"', m.value)]


def test_the_page_opens_on_the_diffusion_reference_and_a_step_picks_its_frames():
    at = open_page("sampling")  # the default runs (CAE, CVAE) cannot trace: the shipped diffusion run stands in
    assert any("shipped run that can" in i.value for i in at.info)
    assert at.button(key=f"sampling_add_{DIFFUSION}")
    assert frames(at) == ["x&#95;t at t = 49", "x̂₀ at step 20"]  # the last step first
    final = [m.value for m in at.markdown if m.value.startswith("Generated in ")][0]
    assert "the judge reads a 7" in final and re.search(r"Haze: \d+\.\d % of its pixels", final)
    assert "(the test digits: 1.7 %)" in final
    assert inline_images(at) == 2 + 3  # the two scrubbed frames; both rows of steps and the generated image
    before = sources(at)[:2]
    at.slider(key="sampling_step_20").set_value(1).run()
    assert not at.exception
    assert frames(at) == ["x&#95;t at t = 999", "x̂₀ at step 1"]
    assert sources(at)[:2] != before and sources(at)[2:] == sources(at.run())[2:]  # only the frames changed
    assert any(c.value == "Input of step 1: x_t at t = 999" for c in at.caption)


def test_each_sampler_setting_gives_a_new_trajectory():
    at = open_page("sampling", runs=[DIFFUSION])
    assert not at.info  # the chosen run can: no stand-in
    first = sources(at)
    at.number_input(key="sampling_seed").set_value(3).run()
    seeded = sources(at)
    assert seeded[-1] != first[-1]
    at.slider(key="sampling_eta").set_value(1.0).run()
    assert sources(at)[-1] != seeded[-1]
    at.select_slider(key="sampling_steps").set_value(5).run()
    assert not at.exception
    assert at.slider(key="sampling_step_5").value == 5 and frames(at) == ["x&#95;t at t = 199", "x̂₀ at step 5"]
    at.select_slider(key="sampling_guidance").set_value(1.0).run()
    at.toggle(key="sampling_clean_end").set_value(False).run()
    assert not at.exception and not at.error
    assert re.search(r"Generated in \d+\.\d\d s \(5 steps\)", " ".join(m.value for m in at.markdown))


def test_runs_that_draw_in_one_pass_are_named_once():
    at = open_page("sampling", runs=["cvae-z32-s0", DIFFUSION])
    notes = [c.value for c in at.caption if c.value.startswith("Not shown here")]
    assert len(notes) == 1 and "CVAE" in notes[0] and "Diffusion" not in notes[0]
    assert "cannot trace their sampling" in notes[0] and "draw an image in one pass" in notes[0]


def test_the_test_sets_haze_is_what_the_page_compares_with(mnist_raw):
    from core.data.mnist import shared_mnist
    from core.evaluation.metrics import TEST_SET_HAZE, pixel_statistics

    x, _ = shared_mnist(train=False)
    assert round(pixel_statistics(x)["haze"], 3) == TEST_SET_HAZE


@pytest.mark.browser
def test_browser_the_step_slider_swaps_the_frames(tmp_path):
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM_ARGS, app_idle, chromium_path, running_app

    frame = 'img[alt="x̂₀ at step 20"]'
    with running_app() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url + "/sampling", wait_until="domcontentloaded")
        page.locator(frame).wait_for(state="visible", timeout=120_000)
        app_idle(page, timeout=120)
        thumb = page.locator(".st-key-sampling_step_20").locator("[role='slider'], input[type='range']").first
        thumb.focus()
        page.keyboard.press("Home")  # step 1
        page.locator('img[alt="x̂₀ at step 1"]').wait_for(state="visible", timeout=60_000)
        app_idle(page)
        assert page.get_by_text("Input of step 1: x_t at t = 999").count() == 1
        page.keyboard.press("ArrowRight")
        page.locator('img[alt="x̂₀ at step 2"]').wait_for(state="visible", timeout=60_000)
        assert not errors
        browser.close()
