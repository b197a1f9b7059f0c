"""Every registered model against the one interface (core/models/base.py).

A model declares its capabilities; this checks that each declared capability works with the
shared tensor conventions and that each undeclared one raises UnsupportedCapability, so the
dashboard can ask ``model.can(...)`` instead of the model's name.
"""

from __future__ import annotations

import json

import pytest
import torch

from core.models import REGISTRY, UnsupportedCapability
from core.models.capabilities import (
    ALL_CAPABILITIES,
    CLASSIFY,
    DECODE,
    DIGIT_ONLY,
    ENCODE,
    GENERATE,
    IMAGE_ONLY,
    INPUT_MODES,
    JUDGE,
    MODEL,
    RECONSTRUCT,
    RESTYLE,
)
from core.models.modes import GenerationMode
from core.runs.store import load_run, save_run

NAMES = sorted(REGISTRY)
N = 6


def batch(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(N, 1, 28, 28, generator=gen), torch.randint(0, 10, (N,), generator=gen)


@pytest.fixture(params=[pytest.param(name, marks=pytest.mark.slow) if name == "diffusion" else name for name in NAMES])
def model(request):  # the diffusion model samples with 20-50 network passes per image: its cases are slow
    torch.manual_seed(0)
    m = REGISTRY[request.param]()
    x, y = batch(1)
    m.after_training(torch.cat([x] * 4), torch.arange(24) % 10)  # e.g. fits ex-post densities
    return m.eval()


def is_image_batch(t: torch.Tensor, n: int = N) -> bool:
    return t.shape == (n, 1, 28, 28) and t.dtype == torch.float32 and float(t.min()) >= 0 and float(t.max()) <= 1


def test_registry_names_are_unique_and_match():
    assert len({cls.name for cls in REGISTRY.values()}) == len(REGISTRY)
    assert all(name == cls.name for name, cls in REGISTRY.items())


@pytest.mark.parametrize("name", NAMES)
def test_declarations(name):
    cls = REGISTRY[name]
    assert cls.display_name and cls.source and cls.__doc__
    assert set(cls.capabilities) <= set(ALL_CAPABILITIES)
    assert cls.role in (MODEL, JUDGE)
    assert set(cls.input_modes) <= set(INPUT_MODES)
    assert bool(cls.generation_modes) == (GENERATE in cls.capabilities)
    for mode in cls.generation_modes:  # objects carrying their description and sampling, named uniquely
        assert isinstance(mode, GenerationMode) and mode.description and mode._sample is not None
    assert len(set(cls.generation_modes)) == len(cls.generation_modes)
    assert "loss" in cls.loss_components and set(cls.plotted_losses) <= set(cls.loss_components)
    assert set(cls.default_training) <= {"epochs", "batch_size", "lr"}


def test_constructor_arguments_rebuild_the_model(model):
    json.dumps(model.model_args)  # JSON-serialisable, goes into config.json
    twin = type(model)(**model.model_args)
    assert {k: v.shape for k, v in twin.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}


def test_every_declared_capability_works_and_the_others_refuse(model):
    x, y = batch(2)
    digits = torch.arange(N) % 10
    mode = model.input_modes[0] if model.input_modes else IMAGE_ONLY
    calls = {
        ENCODE: lambda: model.encode(None if mode == DIGIT_ONLY else x, None if mode == IMAGE_ONLY else y),
        DECODE: lambda: model.decode(torch.zeros(N, model.latent_dim), digits if model.decoder_needs_label else None),
        RECONSTRUCT: lambda: model.reconstruct(x, None if IMAGE_ONLY in model.input_modes else y),
        CLASSIFY: lambda: model.classify(x),
        GENERATE: lambda: model.generate(digits, generator=torch.Generator().manual_seed(0)),
        RESTYLE: lambda: model.restyle(x, y, torch.arange(10)),
    }
    for capability, call in calls.items():
        if not model.can(capability):
            with pytest.raises(UnsupportedCapability):
                call()
            continue
        with torch.no_grad():
            out = call()
        if capability == ENCODE:
            assert out.shape == (N, model.latent_dim)
        elif capability == CLASSIFY:
            assert out.shape == (N, 10) and torch.allclose(out.exp().sum(1), torch.ones(N), atol=1e-4)
        elif capability == RESTYLE:
            assert out.shape == (N, 10, 1, 28, 28) and float(out.min()) >= 0 and float(out.max()) <= 1
        else:
            assert is_image_batch(out), capability


def test_generation_modes_all_work(model):
    for mode in model.generation_modes:
        with torch.no_grad():
            assert is_image_batch(model.generate(torch.arange(N) % 10, torch.Generator().manual_seed(3), mode))


def test_training_step_and_validation_report_the_declared_components(model):
    x, y = batch(3)
    model.train()
    optimizer = model.configure_optimizer(1e-3)
    stats = model.train_step(x, y, optimizer, torch.Generator().manual_seed(0))
    assert set(stats) >= set(model.loss_components)
    # detached 0-d tensors (the trainer reads them once per epoch), no NaN
    assert all(isinstance(v, torch.Tensor) and v.ndim == 0 and not v.requires_grad and torch.isfinite(v)
               for v in stats.values())
    model.eval()
    with torch.no_grad():
        val = model.validation_loss(x, y, torch.Generator().manual_seed(0))
    assert set(val) >= set(model.loss_components)


def test_save_load_round_trip(model, tmp_path):
    save_run(tmp_path / "run", model, {"split_seed": 0, "training": {"seed": 0}}, {"epoch": []}, {})
    run = load_run(tmp_path / "run")
    assert type(run.model) is type(model) and run.model.model_args == model.model_args
    for key, value in model.state_dict().items():
        loaded = run.model.state_dict()[key]
        assert loaded.shape == value.shape
        if value.is_floating_point():
            assert torch.allclose(loaded, value.half().float(), atol=1e-3)
