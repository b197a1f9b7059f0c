"""Training from the dashboard in a real headless Chromium: start a 2-epoch training of a tiny subset on the
Train page, see the live panel update by itself (no click) after each epoch, reload the page and find the
training again, and find the finished run in the sidebar's run picker as this browser's own."""

from __future__ import annotations

import pytest

from tests.browser import app_idle, running_app

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.usefixtures("dashboard_ready")]

#: what the page's live panel shows, gathered by a MutationObserver so that no update is missed between
#: two looks: the heading of the training (name, state, epoch) and the grid's alt text ("samples after epoch N")
WATCH = """() => {
    window.__seen = {heads: [], grids: []};
    const look = () => {
        for (const strong of document.querySelectorAll('[data-testid="stMain"] p > strong')) {
            const head = strong.parentElement.innerText;
            if (/^cae-z2-s0/.test(head) && window.__seen.heads.at(-1) !== head) window.__seen.heads.push(head);
        }
        for (const img of document.querySelectorAll('img.dl-img[alt^="samples after epoch"]'))
            if (!window.__seen.grids.includes(img.alt)) window.__seen.grids.push(img.alt);
    };
    new MutationObserver(look).observe(document.body, {subtree: true, childList: true, characterData: true});
    look();
}"""


def open_train_page(page, url: str) -> None:
    page.goto(f"{url}/train")
    page.get_by_role("button", name="Start training").wait_for(timeout=120_000)
    app_idle(page, timeout=120)


def test_a_training_started_in_the_browser_updates_live_survives_a_reload_and_joins_the_picker(
        browser, tmp_path, mnist_root):
    env = {"DIGITLAB_USER_RUNS": str(tmp_path / "user-runs"), "DIGITLAB_DATA": str(mnist_root)}
    with running_app(env=env) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        open_train_page(page, url)
        for label, value in (("latent dim", "2"), ("Epochs", "2"), ("Training images", "200")):
            field = page.get_by_label(label, exact=True)
            field.fill(value)
            field.press("Tab")
        page.evaluate(WATCH)
        page.get_by_role("button", name="Start training").click()
        # the first live update (the untrained model's snapshot) arrives by itself
        page.locator('img.dl-img[alt^="samples after epoch"]').first.wait_for(timeout=120_000)
        heads = page.evaluate("() => window.__seen.heads")
        name = heads[0].split(" · ")[0]
        assert name.startswith("cae-z2-s0-"), heads

        # a reload finds the same training (running, or finished if it was that quick) and keeps updating
        page.reload()
        page.evaluate("() => new Promise(done => document.readyState === 'complete' ? done() : "
                      "addEventListener('load', done))")
        page.evaluate(WATCH)
        page.get_by_text(f"{name} · finished · epoch 2 of 2").wait_for(timeout=180_000)
        seen = page.evaluate("() => window.__seen")
        assert all(h.startswith(name) for h in seen["heads"]), seen
        assert "samples after epoch 2" in seen["grids"], seen
        assert len(heads) + len(seen["heads"]) >= 3, (heads, seen)  # two live updates, then the end
        app_idle(page, timeout=120)

        # the finished run is in the picker, as this browser's own
        field = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"] input').first
        field.click()
        field.type("yours", delay=30)
        page.get_by_role("option", name="CAE (z=2) · seed 0 · yours").wait_for(timeout=30_000)
