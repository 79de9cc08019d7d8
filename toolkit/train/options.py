"""Model options: the fields of a model's config dataclass, set as ``--option NAME=VALUE``.

Every model has a frozen config dataclass. Its fields are the model's options: the command line
parses ``NAME=VALUE`` items against them (:func:`parse_assignments`), a bundle's JSON is checked
against them (:func:`check_values`) and ``--help`` lists them with the dataclass's own defaults
(:func:`format_options`), so that adding a model never edits the CLI. A field declared with
:func:`option` carries its help text and limits; a plain field works too, with no help.

Supported field types: ``int``, ``float``, ``bool``, ``str``, ``tuple[int, ...]`` (written
``1,2,4``), and each of these ``| None`` (None written as the field's none word, else ``none``).
Parsed values are plain JSON types (a tuple becomes a list in JSON; :func:`check_values` turns it
back).

Only the standard library is imported: ``dogkit --help`` imports this module and must start at once.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import textwrap
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from toolkit.errors import DogkitError

__all__ = [
    "OptionError",
    "OptionSpec",
    "check_values",
    "format_options",
    "format_value",
    "option",
    "option_specs",
    "parse_assignments",
    "parse_value",
]

_METADATA_KEY = "dogkit.option"
SEED_MAX = 2**32 - 1  # NumPy's legacy seeding (np.random.seed, under keras.utils.set_random_seed) takes 0..2**32-1
_KINDS = {int: "int", float: "float", bool: "bool", str: "str"}
_INTS = "int,..."  # the type name of tuple[int, ...]
_NUMERIC = ("int", "float", _INTS)
_TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
_FALSE_WORDS = frozenset({"false", "no", "off", "0"})
_EXPECTED = {
    "int": "an integer",
    "float": "a finite number",
    "bool": "true or false (or yes/no, on/off, 1/0)",
    "str": "a string",
    _INTS: "comma-separated integers such as 1,2,4",
}


class OptionError(DogkitError, ValueError):
    """A model option that is unknown, malformed or out of range, stated for the user.

    A ``DogkitError`` so that the CLI prints it as one line, and a ``ValueError`` for library callers.
    """


@dataclass(frozen=True)
class _OptionMeta:
    """What :func:`option` stores in a field's metadata."""

    help: str = ""
    none_word: str | None = None
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    sampling: bool = False


@dataclass(frozen=True)
class OptionSpec:
    """One option of a model, as resolved from its config dataclass field."""

    name: str  # the field name; users may write dashes for its underscores
    type_name: str  # "int", "float", "bool", "str" or "int,...", plus "|<none word>" when None is allowed
    default: object  # the python value, as the dataclass declares it (an int default of a float field as float)
    help: str = ""
    choices: tuple | None = None
    none_word: str | None = None  # the word for None ("none" unless the field names one); None: not optional
    minimum: float | None = None  # inclusive; for int,... it bounds each element
    maximum: float | None = None
    sampling: bool = False  # may change at sampling/packing time without retraining

    @property
    def kind(self) -> str:
        """The type without its None part: "int", "float", "bool", "str" or "int,..."."""
        return self.type_name.partition("|")[0]

    @property
    def optional(self) -> bool:
        """Whether None is allowed."""
        return self.none_word is not None

    def default_text(self) -> str:
        """The default as a user would write it, e.g. "10000", "all", "auto", "true", "1,2,4"."""
        return format_value(self, self.default)


def option(
    default,
    help: str,
    *,
    none_word: str | None = None,
    choices: tuple | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    sampling: bool = False,
):
    """Declare a config field as a documented option.

    Args:
        default: The field's default value.
        help: One sentence for ``--help``.
        none_word: The word a user writes for None (e.g. "all"); the field's type must allow None.
            Without it an optional field takes "none".
        choices: The only values allowed (None aside).
        minimum: Inclusive lower bound of a numeric field (each element of a tuple field).
        maximum: Inclusive upper bound of a numeric field (each element of a tuple field).
        sampling: True when the option may change at sampling/packing time without retraining.

    Returns:
        A ``dataclasses.field`` with the default and the option's metadata.

    Raises:
        ValueError: If the limits contradict each other, ``choices`` is empty or ``none_word`` is blank.
    """
    if minimum is not None and maximum is not None and minimum > maximum:
        raise ValueError(f"option(): minimum must not exceed maximum, got minimum={minimum!r}, maximum={maximum!r}")
    if choices is not None:
        choices = tuple(choices)
        if not choices:
            raise ValueError("option(): choices must name at least one value, got an empty tuple")
    if none_word is not None and (not isinstance(none_word, str) or not none_word.strip() or "=" in none_word):
        raise ValueError(f"option(): none_word must be a non-blank word without '=', got {none_word!r}")
    meta = _OptionMeta(help, none_word, choices, minimum, maximum, bool(sampling))
    return dataclasses.field(default=default, metadata={_METADATA_KEY: meta})


def option_specs(config_class: type) -> list[OptionSpec]:
    """The options of a config dataclass, in field order.

    Args:
        config_class: A dataclass (its annotations may be strings, as under ``from __future__ import annotations``).

    Returns:
        One :class:`OptionSpec` per field that the constructor takes.

    Raises:
        TypeError: If ``config_class`` is not a dataclass, or a field has an unsupported type, no default,
            a default that breaks its own limits, or limits that do not fit its type; the message names the field.
    """
    if not (isinstance(config_class, type) and dataclasses.is_dataclass(config_class)):
        raise TypeError(f"config_class must be a dataclass class, got {config_class!r}")
    try:
        hints = typing.get_type_hints(config_class)
    except Exception as exc:  # NameError above all: an annotation naming something the module does not import
        raise TypeError(f"cannot resolve the field types of {config_class.__name__}: {exc}") from exc
    # init=False fields cannot be passed to the constructor, so they are not options
    return [_spec(config_class, f, hints[f.name]) for f in dataclasses.fields(config_class) if f.init]


def parse_value(spec: OptionSpec, text: str):
    """Parse what a user wrote for one option.

    Args:
        spec: The option.
        text: The text after ``NAME=``; surrounding spaces are ignored.

    Returns:
        An int, float, bool, str, tuple of ints, or None (the option's none word, case-insensitive).

    Raises:
        OptionError: If the text is not of the option's type or breaks its limits or choices.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    word = text.strip()
    if spec.optional and word.lower() == spec.none_word.lower():
        return None
    try:
        value = _PARSERS[spec.kind](word)
    except ValueError:
        raise OptionError(f"option {spec.name}: expected {_expected(spec)}, got {text!r}") from None
    return _check_limits(spec, value)


def format_value(spec: OptionSpec, value) -> str:
    """Write a value of an option the way :func:`parse_value` reads it back.

    Args:
        spec: The option.
        value: A value of the option's type, or None.

    Returns:
        The text, e.g. "10000", "all", "0.7", "true", "1,2,4".
    """
    if value is None:
        return spec.none_word or "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return str(value)  # repr for floats: round-trips exactly


def parse_assignments(config_class: type, items: Iterable[str], *, sampling_only: bool = False) -> dict[str, object]:
    """Parse ``NAME=VALUE`` items (as from repeated ``--option``) against a config dataclass.

    Args:
        config_class: The model's config dataclass.
        items: Each "NAME=VALUE"; dashes in NAME stand for underscores. A name given twice: the last wins.
        sampling_only: Refuse options that are fixed when training (those not declared ``sampling=True``).

    Returns:
        Field name -> typed value, for ``config_class(**values)`` or ``dataclasses.replace``.

    Raises:
        OptionError: If an item has no "=", names an unknown option (or, with ``sampling_only``, a training
            option), or its value does not parse.
    """
    if isinstance(items, str):
        raise TypeError(f"items must be an iterable of 'NAME=VALUE' strings, not one string, got {items!r}")
    specs = _spec_map(config_class)
    values: dict[str, object] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise OptionError(f"expected NAME=VALUE, got {item!r}")
        spec = _lookup(config_class, specs, name, name.replace("-", "_"), sampling_only)
        values[spec.name] = parse_value(spec, text)
    return values


def check_values(config_class: type, values: Mapping[str, object], *, sampling_only: bool = False) -> dict[str, object]:
    """Check already-typed option values (e.g. read from a bundle's JSON) against a config dataclass.

    Args:
        config_class: The model's config dataclass.
        values: Field name -> value. An int is accepted for a float field, a list for a tuple field and
            None (JSON null) for an optional field.
        sampling_only: Refuse options that are fixed when training.

    Returns:
        Field name -> value, normalised: floats as float, tuples as tuple, all plain python types.

    Raises:
        OptionError: If a name is unknown (or, with ``sampling_only``, a training option), or a value has the
            wrong type or breaks its limits or choices.
    """
    specs = _spec_map(config_class)
    checked: dict[str, object] = {}
    for name, value in values.items():
        spec = _lookup(config_class, specs, name, name, sampling_only)
        checked[name] = _check(spec, value)
    return checked


def format_options(config_class: type, width: int = 100) -> str:
    """The options of a config dataclass as a help block, one ``  name=DEFAULT  help`` entry each.

    Args:
        config_class: The model's config dataclass; defaults come from it, so a subclass shows its own.
        width: Line width to wrap the help text to.

    Returns:
        The lines joined with newlines (no trailing newline); "  (no options)" for a config without fields.
    """
    specs = option_specs(config_class)
    if not specs:
        return "  (no options)"
    lefts = [f"  {spec.name}={spec.default_text()}" for spec in specs]
    # the help column never takes more than half the width; a longer entry puts its help on the next line
    column = min(max(len(left) for left in lefts) + 2, width // 2)
    lines = []
    for left, spec in zip(lefts, specs):
        text = _help_text(spec)
        if len(left) + 2 <= column:
            first = left.ljust(column)
        else:
            lines.append(left)
            first = " " * column
        wrapped = textwrap.wrap(
            text, width=width, initial_indent=first, subsequent_indent=" " * column, break_long_words=False
        )
        lines.extend(wrapped or [left])
    return "\n".join(lines)


def _spec(config_class: type, field: dataclasses.Field, hint) -> OptionSpec:
    where = f"{config_class.__name__}.{field.name}"
    resolved = _resolve_type(hint)
    if resolved is None:
        raise TypeError(
            f"option {where}: unsupported type {hint!r}; expected int, float, bool, str, tuple[int, ...]"
            " or one of these | None"
        )
    kind, optional = resolved
    meta = _find_meta(config_class, field.name)
    if meta.none_word is not None and not optional:
        raise TypeError(f"option {where}: none_word {meta.none_word!r} needs a type that allows None, got {hint!r}")
    if (meta.minimum is not None or meta.maximum is not None) and kind not in _NUMERIC:
        raise TypeError(f"option {where}: minimum/maximum need a numeric type, got {hint!r}")
    if field.default is not dataclasses.MISSING:
        default = field.default
    elif field.default_factory is not dataclasses.MISSING:
        default = field.default_factory()
    else:
        raise TypeError(f"option {where}: has no default; every option needs one")
    none_word = (meta.none_word or "none") if optional else None
    spec = OptionSpec(
        name=field.name,
        type_name=f"{kind}|{none_word}" if optional else kind,
        default=default,
        help=meta.help,
        choices=meta.choices,
        none_word=none_word,
        minimum=meta.minimum,
        maximum=meta.maximum,
        sampling=meta.sampling,
    )
    try:
        return dataclasses.replace(spec, default=_check(spec, default))
    except OptionError as exc:
        raise TypeError(f"option {where}: its default {default!r} breaks its own declaration ({exc})") from None


def _resolve_type(hint) -> tuple[str, bool] | None:
    """(kind, optional) of a field type, or None when it is not supported."""
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        rest = [arg for arg in args if arg is not type(None)]
        if len(rest) != 1 or len(args) != 2:
            return None
        hint, optional = rest[0], True
    if hint in _KINDS:
        return _KINDS[hint], optional
    if typing.get_origin(hint) is tuple and typing.get_args(hint) == (int, Ellipsis):
        return _INTS, optional
    return None


def _find_meta(config_class: type, name: str) -> _OptionMeta:
    # A subclass that only changes a default (``mix: float = 0.5``) replaces the field and drops its
    # metadata, so the help and limits come from the nearest class in the MRO that declared them.
    for klass in config_class.__mro__:
        field = klass.__dict__.get("__dataclass_fields__", {}).get(name)
        if field is not None and _METADATA_KEY in field.metadata:
            return field.metadata[_METADATA_KEY]
    return _OptionMeta()


def _spec_map(config_class: type) -> dict[str, OptionSpec]:
    return {spec.name: spec for spec in option_specs(config_class)}


def _lookup(config_class: type, specs: dict[str, OptionSpec], shown, name, sampling_only: bool) -> OptionSpec:
    spec = specs.get(name)
    if spec is None:
        description = getattr(config_class, "MODEL_NAME", None) or config_class.__name__
        raise OptionError(f"unknown option {shown!r} for {description}; its options: {', '.join(specs) or 'none'}")
    if sampling_only and not spec.sampling:
        sampling = ", ".join(s.name for s in specs.values() if s.sampling) or "none"
        raise OptionError(
            f"option {spec.name} cannot change at sampling time (it is fixed when training);"
            f" sampling options: {sampling}"
        )
    return spec


def _parse_int(word: str) -> int:
    return int(word)  # takes "10000", "10_000", "-3"; refuses "1e4" and "1.0"


def _parse_float(word: str) -> float:
    value = float(word)  # takes "0.7", "1e-4", "3"
    if not math.isfinite(value):  # NaN slips through every range check; no option means infinity
        raise ValueError(word)
    return value


def _parse_bool(word: str) -> bool:
    lowered = word.lower()
    if lowered in _TRUE_WORDS:
        return True
    if lowered in _FALSE_WORDS:
        return False
    raise ValueError(word)


def _parse_ints(word: str) -> tuple[int, ...]:
    return tuple(int(part) for part in word.split(","))  # int("") refuses empty items and empty text


_PARSERS = {"int": _parse_int, "float": _parse_float, "bool": _parse_bool, "str": str, _INTS: _parse_ints}


def _check(spec: OptionSpec, value):
    """Check a typed value against an option and return it normalised."""
    if value is None:
        if spec.optional:
            return None
    elif spec.kind == "bool":
        if isinstance(value, bool):
            return value
    elif spec.kind == "str":
        if isinstance(value, str):
            return _check_limits(spec, value)
    elif spec.kind == "int":
        if _is_int(value):
            return _check_limits(spec, int(value))
    elif spec.kind == "float":
        if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value):
            return _check_limits(spec, float(value))
    elif isinstance(value, (list, tuple)) and value and all(_is_int(v) for v in value):  # kind int,...
        return _check_limits(spec, tuple(int(v) for v in value))
    raise OptionError(f"option {spec.name}: expected {_expected(spec)}, got {value!r}")


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)  # bool is an int to Python


def _check_limits(spec: OptionSpec, value):
    if spec.kind in _NUMERIC and (spec.minimum is not None or spec.maximum is not None):
        each = "each value " if spec.kind == _INTS else ""
        for item in value if spec.kind == _INTS else (value,):
            if (spec.minimum is not None and item < spec.minimum) or (spec.maximum is not None and item > spec.maximum):
                raise OptionError(f"option {spec.name}: {each}must be {_range_text(spec)}, got {item!r}")
    if spec.choices is not None and value not in spec.choices:
        allowed = ", ".join(str(choice) for choice in spec.choices)
        raise OptionError(f"option {spec.name}: must be one of {allowed}, got {value!r}")
    return value


def _expected(spec: OptionSpec) -> str:
    expected = _EXPECTED[spec.kind]
    return f"{expected} or {spec.none_word}" if spec.optional else expected


def _range_text(spec: OptionSpec) -> str:
    if spec.minimum is not None and spec.maximum is not None:
        return f"between {_number(spec.minimum)} and {_number(spec.maximum)}"
    if spec.minimum is not None:
        return f"at least {_number(spec.minimum)}"
    return f"at most {_number(spec.maximum)}"


def _number(x) -> str:
    return str(int(x)) if isinstance(x, float) and x.is_integer() else str(x)  # "between 0 and 1", not "0.0"


def _help_text(spec: OptionSpec) -> str:
    notes = []
    if spec.choices is not None:
        allowed = ", ".join(format_value(spec, choice) for choice in spec.choices)
        notes.append(f"one of {allowed}" + (f" or {spec.none_word}" if spec.optional else ""))
    else:
        notes.append(spec.type_name)
    if spec.minimum is not None or spec.maximum is not None:
        notes.append(_range_text(spec))
    if spec.sampling:
        notes.append("also at pack time")
    note = f"({'; '.join(notes)})"
    return f"{spec.help} {note}" if spec.help else note
