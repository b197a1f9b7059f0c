"""The Train page (dashboard/views/train.py) under AppTest: the form starts at the model's source values,
bad settings get a sentence and start nothing, and a tiny training runs in a worker, shows its live
epochs and joins this browser's run picker only."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from tests.test_dashboard import APP

pytestmark = pytest.mark.usefixtures("dashboard_ready")
MINE, OTHER = "1" * 32, "2" * 32


@pytest.fixture
def user_runs(tmp_path, monkeypatch, mnist_root):
    monkeypatch.setenv("DIGITLAB_USER_RUNS", str(tmp_path / "user-runs"))
    monkeypatch.setenv("DIGITLAB_DATA", str(mnist_root))
    monkeypatch.delenv("DIGITLAB_RAY_ADDRESS", raising=False)
    yield tmp_path / "user-runs"
    from dashboard.common import _training_manager

    manager = _training_manager(str(tmp_path / "user-runs"))
    for handle, _ in list(manager._running.values()):
        handle.kill()
    if hasattr(manager.launcher, "close"):
        manager.launcher.close()


def train_page(browser: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["browser_id"] = browser  # what the browser's cookie says (dashboard/components/browser_store.py)
    at.run()
    at.switch_page("views/train.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_form_starts_at_the_models_source_values_and_refuses_bad_settings_in_words(user_runs):
    at = train_page(MINE)
    assert at.selectbox(key="train_model").value == "cae"
    assert at.number_input(key="train_arg_cae_latent_dim").value == 32
    assert at.number_input(key="train_epochs_cae").value == 50 and at.number_input(key="train_lr_cae").value == 1e-3
    at.selectbox(key="train_model").set_value("cgan").run()
    assert at.number_input(key="train_arg_cgan_latent_dim").value == 100
    assert at.number_input(key="train_lr_cgan").value == 2e-4 and at.number_input(key="train_epochs_cgan").value == 30
    at.number_input(key="train_lr_cgan").set_value(0.0)
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["The learning rate must be above 0 and at most 1."]
    assert not user_runs.exists() or not any(user_runs.rglob("job.json"))
    assert any(c.value == "No training from this browser yet." for c in at.caption)


@pytest.mark.slow
def test_a_tiny_training_shows_live_epochs_and_joins_this_browsers_picker_only_until_shared(user_runs):
    at = train_page(MINE)
    at.number_input(key="train_arg_cae_latent_dim").set_value(2)
    at.number_input(key="train_epochs_cae").set_value(2)
    at.number_input(key="train_n").set_value(200)
    at.button[0].click().run()
    assert not at.error, [e.value for e in at.error]
    heads, deadline = [], time.monotonic() + 240
    while time.monotonic() < deadline:
        head = next(m.value for m in at.markdown if m.value.startswith("**cae"))
        if not heads or heads[-1] != head:
            heads.append(head)
        if "finished" in head:
            break
        at.run()  # what the fragment's timer does in a browser
    assert "finished · epoch 2 of 2" in heads[-1], heads
    assert any("training · epoch 1 of 2" in h for h in heads), heads
    assert len(at.get("plotly_chart")) == 2  # the losses and the latent scatter
    assert any('alt="samples after epoch 2"' in h.proto.body for h in at.get("html"))
    assert any(m.label == "Judge accuracy" for m in at.metric), ([m.label for m in at.metric], [c.value for c in at.caption])
    name = heads[-1].split("**")[1].replace("\\", "")
    assert "CAE (z=2) · seed 0 · yours" in at.sidebar.multiselect[0].options  # the picker shows labels
    at.button(key=f"add_{name}").click().run()
    assert name in at.sidebar.multiselect[0].value
    # another browser does not see it
    other = train_page(OTHER)
    assert not [o for o in other.sidebar.multiselect[0].options if "yours" in o]
    assert any(c.value == "No training from this browser yet." for c in other.caption)
    # until its owner shares it by link: then whoever opens the link sees it, labelled as shared
    at.button(key=f"share_{name}").click().run()
    link = at.code[0].value
    from urllib.parse import parse_qs, urlsplit

    asked = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
    assert urlsplit(link).path.endswith("/loss_curves") and asked["runs"] == name, link
    guest = AppTest.from_file(APP, default_timeout=180)
    guest.session_state["browser_id"] = OTHER
    guest.query_params.update(asked)
    guest.run()
    assert guest.sidebar.multiselect[0].value == [name]
    assert "CAE (z=2) · seed 0 · shared" in guest.sidebar.multiselect[0].options
