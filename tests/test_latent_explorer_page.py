"""The Latent sliders & interpolation page through streamlit.testing.v1.AppTest, on the shipped runs:
sliders that change the image, the judge's reading beside every image, no empty column."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
#: "The judge reads a 3 (p = 0.97)." (the wording of the 2-D latent plane page)
READING = re.compile(r"The judge reads a \d \(p = [01]\.\d\d\)\.")
#: a frame with the judge's reading below it: digit, then probability (and both in its title, "judge: 3 (0.97)")
FRAME_READING = re.compile(r'<div class="dl-frame" title="judge: (\d) \(([01]\.\d\d)\)"><img [^>]*><br><b>\1</b><br>\2</div>')


#: MNIST present and a cache folder of each test's own (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("dashboard_ready")


def open_explorer(runs: list[str] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    if runs is not None:
        at.sidebar.multiselect[0].set_value(runs)
        at.run()
    at.switch_page("views/latent_explorer.py")
    at.run()
    return settled(at)


def settled(at: AppTest) -> AppTest:
    """The page run again once every picture a background thread was making is made (a first decode
    slower than 0.3 s is drawn when ready: dashboard/background.py)."""
    from dashboard import background

    assert not at.exception, [e.value for e in at.exception]
    assert background.settle(300)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def slider_images(at: AppTest) -> dict[str, np.ndarray]:
    """{run label: its decoded slider image (H, W) float in [0, 1]}, read back from the inline PNGs."""
    out, title = {}, None
    for m in at.markdown:
        heading = re.fullmatch(r"\*\*(.+?)\*\*", m.value)
        if heading:  # a run's column title; its picture follows in the next element
            title = heading.group(1)
            continue
        found = re.match(r'<img class="dl-img" alt="decoded code" [^>]*src="data:image/png;base64,([^"]+)"', m.value)
        if found and title is not None:
            image = Image.open(io.BytesIO(base64.b64decode(found.group(1))))
            out[title] = np.asarray(image, dtype=np.float64) / 255
    return out


def captions(at: AppTest, start: str = "") -> list[str]:
    return [c.value for c in at.caption if c.value.startswith(start)]


def test_default_sliders_move_principal_directions_that_change_each_image():
    """The default basis is the principal directions of the test codes; a full move of PC2 changes each
    default run's image (on the old z2 the CVAE's image did not change: its z2 is a collapsed coordinate)."""
    at = open_explorer()
    assert at.radio(key="sl_basis").value == "Principal directions"
    assert [at.slider(key=f"sl_{i}").label for i in range(4)] == [f"PC{i} (σ)" for i in range(1, 5)]
    moved = captions(at, "Digit 3:")
    assert len(moved) == 2 and all("moved along the principal directions of 2,000 test codes" in c for c in moved)
    assert all("One unit (σ) is the test codes' standard deviation σ along each direction." in c for c in moved)
    before = slider_images(at)
    settled(at.slider(key="sl_1").set_value(3.0).run())
    after = slider_images(at)
    assert len(before) == 2 and before.keys() == after.keys()
    change = {label: float(np.abs(after[label] - before[label]).mean()) for label in before}
    assert all(c >= 0.02 for c in change.values()), change
    assert all("PC2 +3.0σ" in c for c in captions(at, "Digit 3:"))


def test_the_judge_reads_every_slider_image_interpolation_frame_and_the_image_at_t():
    at = open_explorer()
    assert sum(bool(READING.fullmatch(c)) for c in captions(at, "The judge")) == 2  # one per slider image
    at_t = captions(at, "t = 0.50.")
    assert len(at_t) == 2 and all(READING.search(c) for c in at_t)
    strips = [m.value for m in at.markdown if 'class="dl-frames"' in m.value]
    assert len(strips) == 2 and all(len(FRAME_READING.findall(s)) == 9 for s in strips)


def test_most_active_coordinates_say_which_coordinates_move():
    """A CVAE leaves most coordinates unused: the active basis names the coordinates it moves, ranked by
    the test codes' variance, not z1..z4."""
    at = open_explorer(["cvae-z32-s0"])
    settled(at.radio(key="sl_basis").set_value("Most active coordinates").run())
    assert [at.slider(key=f"sl_{i}").label for i in range(2)] == ["Active 1 (σ)", "Active 2 (σ)"]
    (caption,) = captions(at, "Digit 3:")
    assert "moved along its most active coordinates, ranked by the variance of 2,000 test codes" in caption
    names = re.findall(r"\b(z\d+) \+0\.0σ", caption)
    assert len(names) == 4 and len(set(names)) == 4 and names != ["z1", "z2", "z3", "z4"], caption


@pytest.mark.slow  # the diffusion model's directions take 49 DDIM decodes (about 20 s on 2 busy cores)
def test_a_model_without_an_encoder_interpolates_test_images_or_is_named_once():
    """The cGAN gets codes fitted to the two test images; the diffusion model (no encoder, no gradients) is
    left out of the columns and named once, saying why; under "Two digits" both are named, no empty column."""
    at = open_explorer(["cgan-z100-s0", "diffusion-z784-s0"])
    assert at.radio(key="in_source").value == "Two test images"
    # slider tab: both decoders shown, each moved along its decoder's principal directions
    moved = captions(at, "Digit 3:")
    assert len(moved) == 2 and all("principal directions of its decoder at this code" in c for c in moved)
    assert any("among its 32 low-frequency cosine patterns of the starting noise" in c for c in moved)
    # interpolation tab: the cGAN's column, with fitted codes; the diffusion model named below the columns
    strips = [m.value for m in at.markdown if 'class="dl-frames"' in m.value]
    assert len(strips) == 1 and len(FRAME_READING.findall(strips[0])) == 9
    assert len(captions(at, "It has no encoder: the codes of A and B were fitted")) == 1
    (left_out,) = captions(at, "Not shown:")
    assert "Diffusion" in left_out and "cGAN" not in left_out and "no code can be fitted to a test image" in left_out
    settled(at.radio(key="in_source").set_value("Two digits").run())
    assert not [m.value for m in at.markdown if 'class="dl-frames"' in m.value]  # no column at all, none empty
    (left_out,) = captions(at, "Not shown:")
    assert left_out.count("cGAN") == 1 and left_out.count("Diffusion") == 1
    assert "the digit goes to the decoder as a separate label" in left_out


def test_two_digits_for_an_image_only_vae_start_from_each_digits_mean_code():
    at = open_explorer(["conv-vae-z2-s0", "cvae-z8-s0"])
    settled(at.radio(key="in_source").set_value("Two digits").run())
    assert not captions(at, "Not shown:")
    assert captions(at, "A and B: the mean code of the digit's test images, for each digit.")
    assert captions(at, "A and B: the digit-only code, for each digit.")
    vae, cvae = captions(at, "Digit 3:")
    assert vae.endswith("Its latent has 2 dimensions: the sliders after PC2 do nothing here.")
    assert "do nothing" not in cvae


def test_a_run_that_cannot_decode_is_named_once_and_the_page_never_opens_empty(tmp_path, monkeypatch):
    """Chosen alone, a model without a decoder: the page shows a shipped run that decodes (saying so) and
    names the chosen one once below the columns of each tab."""
    import shutil

    import torch

    import core.models as models
    from core.models.base import DigitModel
    from core.models.capabilities import CLASSIFY
    from core.paths import SHIPPED_CHECKPOINTS
    from core.runs.store import save_run

    class Reader(DigitModel):
        """Reads digits; decodes nothing."""

        name, display_name, source = "reader", "Reader", "this test"
        capabilities = frozenset({CLASSIFY})
        input_modes = ()

        def __init__(self):
            super().__init__()
            self.model_args, self.latent_dim = {}, 1
            self.bias = torch.nn.Parameter(torch.zeros(10))

        def classify(self, x):
            return torch.log_softmax(self.bias.expand(x.shape[0], 10), dim=1)

    monkeypatch.setitem(models.REGISTRY, "reader", Reader)
    root = tmp_path / "runs"
    save_run(root / "reader-z1-s0", Reader(), {"split_seed": 0, "training": {"seed": 0}}, {"epoch": []}, {})
    shutil.copytree(SHIPPED_CHECKPOINTS / "cae-z8-s0", root / "cae-z8-s0")
    monkeypatch.setenv("DIGITLAB_CHECKPOINTS", str(root))
    at = open_explorer(["reader-z1-s0"])
    assert any("None of the chosen runs decodes a latent code" in i.value for i in at.info)
    assert [k.label.endswith(" to the comparison") for k in at.button if k.key == "explorer_add_cae-z8-s0"] == [True]
    assert len(slider_images(at)) == 1 and len(captions(at, "Digit 3:")) == 1
    left_out = captions(at, "Not shown:")
    assert len(left_out) == 2 and all("Reader" in c and "no decoder of latent codes" in c for c in left_out)
