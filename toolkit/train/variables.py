"""Keras variables as checkpoint arrays, and back: what every model's ``state()`` and ``load()`` use."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any


def variables_state(prefix: str, variables) -> dict[str, Any]:
    """Checkpoint arrays of a list of Keras/TF variables, named ``prefix/000``, ``prefix/001``, ...

    The values are read now, as tensors that later training steps leave as they are (TensorFlow
    copies a variable's buffer before updating it while a read of it is held), and become arrays
    when written: a checkpoint writer thread can take them while training goes on, and the
    training thread pays nothing to copy them.
    """
    return {f"{prefix}/{k:03d}": _read(v) for k, v in enumerate(variables)}


def random_states(model) -> list:
    """The state variables of ``model``'s random-number generators (Keras seed generators: dropout's
    masks), which ``model.weights`` leaves out; saved, a resumed run draws what the unbroken one would."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _read(variable):
    inner = getattr(variable, "value", None)  # a Keras variable holds a tf.Variable; a tf.Variable reads itself
    if callable(inner):
        return inner()
    if inner is not None and hasattr(inner, "read_value"):
        return inner.read_value()
    return variable.numpy()


def load_variables(prefix: str, variables, arrays) -> None:
    """Assign what ``variables_state(prefix, ...)`` saved; a shape that differs is a ValueError."""
    for k, variable in enumerate(variables):
        key = f"{prefix}/{k:03d}"
        if key not in arrays:
            raise ValueError(f"checkpoint has no {key}: it was written for another model")
        value = arrays[key]
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(f"checkpoint {key} has shape {value.shape}, the model expects {variable.shape}")
        variable.assign(value)


def groups_state(groups: Mapping[str, Sequence]) -> dict[str, Any]:
    """``variables_state`` of each named group of variables, in one dict (a checkpoint part's arrays)."""
    return {
        key: value for prefix, variables in groups.items() for key, value in variables_state(prefix, variables).items()
    }


def load_groups(groups: Mapping[str, Sequence], arrays, optional: Collection[str] = ()) -> None:
    """``load_variables`` for each named group; a group named in ``optional`` may be absent from
    ``arrays`` (a checkpoint written before it was saved) and is then left as it is."""
    for prefix, variables in groups.items():
        if prefix in optional and variables and f"{prefix}/000" not in arrays:
            continue
        load_variables(prefix, variables, arrays)
