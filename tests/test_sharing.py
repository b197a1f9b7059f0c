"""Sharing a dashboard-trained run by link (core/training/sharing.py): a share is a secret token that leads
to one finished run, read by anyone holding the link; it ends when stopped or when the run is deleted (by
its owner or the disk cap), and every link that leads nowhere gets a sentence. The dashboard part: a
shared run joins the picker of the browser that opens the link, labelled as shared, and nobody else's."""

from __future__ import annotations

import shutil
import time

import pytest
from streamlit.testing.v1 import AppTest

from core.paths import SHIPPED_CHECKPOINTS
from core.training.jobs import TrainingLimits, TrainingManager
from core.training.sharing import SHARES, ShareError, resolve, share, share_token, unshare

A, B = "a" * 32, "b" * 32
RUN = "cae-z8-s0-1205-120000"


def finished_run(root, owner=A, name=RUN):
    """A finished user run: a copy of a shipped run folder under the owner's folder."""
    path = root / owner / name
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(SHIPPED_CHECKPOINTS / "cae-z8-s0", path)
    return path


def test_a_share_leads_to_its_run_until_stopped(tmp_path):
    path = finished_run(tmp_path)
    assert share_token(tmp_path, A, RUN) is None
    token = share(tmp_path, A, RUN)
    assert len(token) == 32 and share(tmp_path, A, RUN) == token  # sharing twice gives the same link
    assert share_token(tmp_path, A, RUN) == token and resolve(tmp_path, token) == path
    assert resolve(tmp_path, token.upper()) == path  # a link typed in capitals
    unshare(tmp_path, A, RUN)
    with pytest.raises(ShareError, match="not shared any more"):
        resolve(tmp_path, token)
    assert share(tmp_path, A, RUN) != token  # a new share is a new secret


@pytest.mark.parametrize("token, words", [
    ("0" * 31, "should be 32 letters and digits"),
    ("../" + "a" * 29, "should be 32 letters and digits"),
    (None, "should be 32 letters and digits"),
    ("f" * 32, "not shared any more"),
])
def test_a_link_that_leads_nowhere_gets_a_sentence(tmp_path, token, words):
    finished_run(tmp_path)
    share(tmp_path, A, RUN)
    with pytest.raises(ShareError, match=words):
        resolve(tmp_path, token)


def test_only_a_finished_run_of_ones_own_can_be_shared(tmp_path):
    finished_run(tmp_path)
    (tmp_path / A / ".cae-z2-s0-x.inprogress").mkdir()
    for run in ("cae-z2-s0-x", ".cae-z2-s0-x.inprogress", "../" + B, "missing"):
        with pytest.raises(ShareError, match="Only a finished training"):
            share(tmp_path, A, run)
    with pytest.raises(ShareError):
        share(tmp_path, B, RUN)  # B has no such run
    with pytest.raises(ValueError, match="not a browser id"):
        share(tmp_path, "..", RUN)
    assert not (tmp_path / SHARES).exists()


def test_a_deleted_or_capped_run_ends_its_share(tmp_path):
    manager = TrainingManager(tmp_path, TrainingLimits(1, 3600, max_disk_mb=1000))
    finished_run(tmp_path)
    token = share(tmp_path, A, RUN)
    manager.delete(A, RUN)
    with pytest.raises(ShareError, match="not shared any more"):
        resolve(tmp_path, token)
    # the disk cap: the oldest run goes, and its share with it
    old, new = finished_run(tmp_path, A, "old"), finished_run(tmp_path, B, "new")
    time.sleep(0.01)
    (new / "config.json").touch()
    shared_old, shared_new = share(tmp_path, A, "old"), share(tmp_path, B, "new")
    capped = TrainingManager(tmp_path, TrainingLimits(1, 3600, max_disk_mb=1.2 * sum(
        p.stat().st_size for p in new.rglob("*") if p.is_file()) / 1e6))
    assert capped.enforce_disk_cap() == [old]
    with pytest.raises(ShareError):
        resolve(tmp_path, shared_old)
    assert resolve(tmp_path, shared_new) == new
    # a share whose run vanished another way says so
    shutil.rmtree(new)
    with pytest.raises(ShareError, match="has been deleted"):
        resolve(tmp_path, shared_new)


@pytest.mark.usefixtures("dashboard_ready")
def test_a_shared_run_joins_the_picker_of_whoever_opens_the_link_only(tmp_path, monkeypatch):
    from tests.test_dashboard import APP

    monkeypatch.setenv("DIGITLAB_USER_RUNS", str(tmp_path))
    finished_run(tmp_path)
    token = share(tmp_path, A, RUN)

    def opened(browser, **params):
        at = AppTest.from_file(APP, default_timeout=120)
        at.session_state["browser_id"] = browser
        for key, value in params.items():
            at.query_params[key] = value
        return at.run()

    guest = opened(B, shared=token, runs=RUN)
    assert not guest.exception, [e.value for e in guest.exception]
    picker = guest.sidebar.multiselect[0]
    assert picker.value == [RUN] and "CAE (z=8) · seed 0 · shared" in picker.options
    assert guest.query_params["shared"] == token  # kept in the address, so a reload keeps it
    owner = opened(A, shared=token, runs=RUN)  # the owner sees it as theirs
    assert owner.sidebar.multiselect[0].value == [RUN]
    assert "CAE (z=8) · seed 0 · yours" in owner.sidebar.multiselect[0].options
    stranger = opened("c" * 32)
    assert not [o for o in stranger.sidebar.multiselect[0].options if "shared" in o or "yours" in o]
    unshare(tmp_path, A, RUN)
    late = opened(B, shared=token, runs=RUN)
    assert [w.value for w in late.sidebar.warning if "not shared any more" in w.value]
    assert not [o for o in late.sidebar.multiselect[0].options if "shared" in o]
    assert "shared" not in late.query_params
