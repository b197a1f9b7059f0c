"""The latent pages (issue 22, points 3, 5, 6): Restyle and the 2-D latent plane never open empty,
the Latent space page's linked selection and live-UMAP progress, shipped projections of every size
on the page, and the β-VAE page's scatters (legend, axis titles, no warnings). AppTest, shipped
checkpoints."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import core.data.mnist
from tests.test_dashboard import inline_images, open_page


@pytest.fixture(scope="module", autouse=True)
def mnist_ready():
    core.data.mnist.ensure_mnist()


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITLAB_CACHE", str(tmp_path / "cache"))


# --- 1. pages that never open empty --------------------------------------------------------------------

def test_restyle_opens_with_images_for_the_default_runs():
    at = open_page("restyle")  # cae-z32-s0 and cvae-z32-s0: neither decoder takes the digit
    assert at.sidebar.multiselect[0].value == ["cae-z32-s0", "cvae-z32-s0"]
    notes = [i.value for i in at.info if "shown here with" in i.value]
    assert len(notes) == 1 and "can restyle" in notes[0], [i.value for i in at.info]
    assert inline_images(at) == 1  # the shipped run's rows: source, then 0-9
    assert any(c.value.startswith("Each row: the source image") for c in at.caption)
    why = [c.value for c in at.caption if c.value.startswith("Cannot restyle with")]
    assert len(why) == 2 and all("decoder takes no digit" in w for w in why)
    add = [b for b in at.button if b.key and b.key.startswith("restyle_add_")]
    assert len(add) == 1
    add[0].click().run()
    assert not at.exception
    added = add[0].key.removeprefix("restyle_add_")
    assert at.sidebar.multiselect[0].value == ["cae-z32-s0", "cvae-z32-s0", added]
    assert not [i.value for i in at.info if "shown here with" in i.value]  # now one of the chosen runs
    assert inline_images(at) == 1


def test_latent_plane_opens_with_images_for_the_default_runs():
    at = open_page("latent_plane")
    notes = [i.value for i in at.info if "shown here with" in i.value]
    assert len(notes) == 1 and "2-D latent" in notes[0]
    assert inline_images(at) == 1  # the decoded grid (the plane itself is a browser component)
    assert any(c.value.startswith("Decoded grid: z1 from") for c in at.caption)
    assert any(b.key == "plane_add_conv-vae-z2-s0" for b in at.button)
