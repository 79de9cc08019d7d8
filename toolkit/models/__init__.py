"""The model registry: one line per model. ``dogkit train``, ``pack --run``, ``run``, ``bundle`` and
the kernel bundle's module list all read it, so adding a model is a folder here and a line below.

Entries name their config and model classes as ``module:Class`` and import them on demand: the
configs need only the standard library (``--help`` lists their options), the models TensorFlow.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from toolkit.errors import DogkitError


@dataclass(frozen=True)
class ModelEntry:
    name: str  # what --model takes
    summary: str  # one line for --help
    config: str  # "module:Class" of the config dataclass
    model: str  # "module:Class" of the model (see toolkit.models.base)

    def config_class(self) -> type:
        return _load(self.config)

    def model_class(self) -> type:
        return _load(self.model)

    @property
    def modules(self) -> tuple[str, ...]:
        """The modules that define it (the kernel bundle embeds them)."""
        return tuple(sorted({self.config.partition(":")[0], self.model.partition(":")[0]}))


def _load(target: str):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


MODELS = {
    entry.name: entry
    for entry in (
        ModelEntry(
            "memorizer",
            "the memorizer/generalizer GAN: a memory of the crops coaches a generator with a bottleneck",
            "toolkit.models.memorizer.config:MemorizerConfig",
            "toolkit.models.memorizer.model:Memorizer",
        ),
        ModelEntry(
            "dcgan",
            "the TensorFlow-tutorial DCGAN at 64x64 (2,733,507 + 242,561 parameters)",
            "toolkit.models.dcgan.config:DcganConfig",
            "toolkit.models.dcgan.model:Dcgan",
        ),
        ModelEntry(
            "dcgan-radford",
            "the DCGAN of Radford et al. (BatchNorm, LeakyReLU 0.2, Adam 2e-4 with beta_1 0.5, flips)",
            "toolkit.models.dcgan.config:RadfordConfig",
            "toolkit.models.dcgan.model:Dcgan",
        ),
        ModelEntry(
            "biggan",
            "class-conditional BigGAN at 64x64: SN, self-attention, hinge, DiffAugment, EMA G; trains to the budget",
            "toolkit.models.biggan.config:BigganConfig",
            "toolkit.models.biggan.model:Biggan",
        ),
    )
}
DEFAULT_MODEL = "memorizer"


def get(name: str) -> ModelEntry:
    """The registry entry of model ``name``.

    Raises:
        DogkitError: no such model (the message lists the models).
    """
    if name not in MODELS:
        raise DogkitError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name]
