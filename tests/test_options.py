"""Model options: parsing NAME=VALUE, checking JSON values, the --help block, and no heavy imports."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Optional

import pytest

from toolkit.train.options import (
    OptionError,
    OptionSpec,
    check_values,
    format_options,
    format_value,
    option,
    option_specs,
    parse_assignments,
    parse_value,
)

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ToyConfig:
    MODEL_NAME: ClassVar[str] = "toy model"

    memorize: int | None = option(10_000, "Crops memorized.", none_word="all", minimum=1)
    bottleneck: int = option(2048, "Width of the first layer.", minimum=64)
    mix: float = option(0.7, "Weight of the cycling code.", minimum=0.0, maximum=1.0, sampling=True)
    precision: str = option("auto", "Convolution precision.", choices=("auto", "float32", "bfloat16"))
    augment: bool = option(True, "Flip crops.")
    truncation: Optional[float] = option(None, "Truncate codes.", sampling=True)  # noqa: UP045 (tests Optional[X])
    channels: tuple[int, ...] = option((1, 2, 4), "Channel multipliers.", minimum=1)
    seed: int = 0  # a plain field: no help, no limits


def spec(name: str, config_class: type = ToyConfig) -> OptionSpec:
    return {s.name: s for s in option_specs(config_class)}[name]


def test_specs_follow_field_order_with_types_and_defaults():
    specs = option_specs(ToyConfig)
    assert [s.name for s in specs] == [f.name for f in dataclasses.fields(ToyConfig)]
    assert {s.name: s.type_name for s in specs} == {
        "memorize": "int|all",
        "bottleneck": "int",
        "mix": "float",
        "precision": "str",
        "augment": "bool",
        "truncation": "float|none",
        "channels": "int,...",
        "seed": "int",
    }
    assert {s.name: s.default_text() for s in specs} == {
        "memorize": "10000",
        "bottleneck": "2048",
        "mix": "0.7",
        "precision": "auto",
        "augment": "true",
        "truncation": "none",
        "channels": "1,2,4",
        "seed": "0",
    }
    assert [s.name for s in specs if s.sampling] == ["mix", "truncation"]


def test_default_text_parses_back_to_the_default():
    for s in option_specs(ToyConfig):
        assert parse_value(s, s.default_text()) == s.default


def test_plain_field_without_metadata():
    s = spec("seed")
    assert (s.help, s.choices, s.none_word, s.minimum, s.maximum, s.sampling) == ("", None, None, None, None, False)
    assert parse_value(s, "-3") == -3


@pytest.mark.parametrize(
    "name, text, expected",
    [
        ("memorize", "10000", 10000),
        ("memorize", "10_000", 10000),
        ("memorize", "all", None),
        ("memorize", "ALL", None),
        ("mix", "0.5", 0.5),
        ("mix", "1e-4", 1e-4),
        ("mix", "1", 1.0),
        ("precision", "bfloat16", "bfloat16"),
        ("truncation", "none", None),
        ("truncation", " 2.5 ", 2.5),
        ("channels", "1,2,4,8", (1, 2, 4, 8)),
        ("channels", "3", (3,)),
        ("channels", "1, 2", (1, 2)),
    ],
)
def test_parse_value(name, text, expected):
    value = parse_value(spec(name), text)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize("word", ["true", "TRUE", "yes", "1", "on", "On"])
def test_bool_true_words(word):
    assert parse_value(spec("augment"), word) is True


@pytest.mark.parametrize("word", ["false", "False", "no", "0", "off", "OFF"])
def test_bool_false_words(word):
    assert parse_value(spec("augment"), word) is False


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("bottleneck", "abc", "option bottleneck: expected an integer, got 'abc'"),
        ("bottleneck", "1e4", "option bottleneck: expected an integer, got '1e4'"),
        ("memorize", "every", "option memorize: expected an integer or all, got 'every'"),
        ("memorize", "none", "option memorize: expected an integer or all, got 'none'"),
        ("mix", "lots", "option mix: expected a finite number, got 'lots'"),
        ("mix", "nan", "option mix: expected a finite number, got 'nan'"),
        ("mix", "inf", "option mix: expected a finite number, got 'inf'"),
        ("mix", "-inf", "option mix: expected a finite number, got '-inf'"),
        ("mix", "1.5", "option mix: must be between 0 and 1, got 1.5"),
        ("mix", "-0.1", "option mix: must be between 0 and 1, got -0.1"),
        ("memorize", "0", "option memorize: must be at least 1, got 0"),
        ("precision", "fp16", "option precision: must be one of auto, float32, bfloat16, got 'fp16'"),
        ("augment", "maybe", "option augment: expected true or false (or yes/no, on/off, 1/0), got 'maybe'"),
        ("channels", "1,x", "option channels: expected comma-separated integers such as 1,2,4, got '1,x'"),
        ("channels", "", "option channels: expected comma-separated integers such as 1,2,4, got ''"),
        ("channels", "1,0", "option channels: each value must be at least 1, got 0"),
    ],
)
def test_parse_value_errors(name, text, message):
    with pytest.raises(OptionError) as caught:
        parse_value(spec(name), text)
    assert str(caught.value) == message


def test_option_error_is_a_value_error():
    with pytest.raises(ValueError, match=r"^option mix: must be between 0 and 1, got 1\.5$"):
        parse_value(spec("mix"), "1.5")


def test_parse_assignments():
    values = parse_assignments(ToyConfig, ["memorize=all", "mix=0.5", "channels=2,2", "augment=off", "seed=7"])
    assert values == {"memorize": None, "mix": 0.5, "channels": (2, 2), "augment": False, "seed": 7}
    config = dataclasses.replace(ToyConfig(), **values)
    assert config.memorize is None and config.channels == (2, 2)


def test_parse_assignments_dashes_last_wins_and_values_with_equals():
    @dataclass(frozen=True)
    class Config:
        batch_size: int = 256
        label: str = ""

    values = parse_assignments(Config, ["batch-size=64", "batch_size=32", "label=a=b"])
    assert values == {"batch_size": 32, "label": "a=b"}


@pytest.mark.parametrize("item", ["mix", "=0.5", " =1"])
def test_parse_assignments_needs_name_equals_value(item):
    with pytest.raises(OptionError, match=rf"^expected NAME=VALUE, got '{item}'$"):
        parse_assignments(ToyConfig, [item])


def test_unknown_option_lists_the_options():
    message = (
        "unknown option 'memorise' for toy model; its options: "
        "memorize, bottleneck, mix, precision, augment, truncation, channels, seed"
    )
    with pytest.raises(OptionError) as caught:
        parse_assignments(ToyConfig, ["memorise=5"])
    assert str(caught.value) == message


def test_unknown_option_names_the_class_without_model_name():
    @dataclass(frozen=True)
    class PlainConfig:
        lr: float = 0.1

    with pytest.raises(OptionError, match=r"^unknown option 'batch-size' for PlainConfig; its options: lr$"):
        parse_assignments(PlainConfig, ["batch-size=3"])


def test_sampling_only_refuses_training_options():
    assert parse_assignments(ToyConfig, ["mix=0.6", "truncation=2"], sampling_only=True) == {
        "mix": 0.6,
        "truncation": 2.0,
    }
    message = (
        r"^option bottleneck cannot change at sampling time \(it is fixed when training\); "
        r"sampling options: mix, truncation$"
    )
    with pytest.raises(OptionError, match=message):
        parse_assignments(ToyConfig, ["mix=0.6", "bottleneck=128"], sampling_only=True)


def test_check_values_on_json():
    stored = json.loads(json.dumps({"memorize": None, "mix": 1, "channels": [1, 2], "precision": "float32"}))
    checked = check_values(ToyConfig, stored)
    assert checked == {"memorize": None, "mix": 1.0, "channels": (1, 2), "precision": "float32"}
    assert type(checked["mix"]) is float and type(checked["channels"]) is tuple
    assert check_values(ToyConfig, {"mix": 0.25}, sampling_only=True) == {"mix": 0.25}


@pytest.mark.parametrize(
    "values, message",
    [
        ({"bottleneck": "abc"}, "option bottleneck: expected an integer, got 'abc'"),
        ({"bottleneck": 1.5}, "option bottleneck: expected an integer, got 1.5"),
        ({"bottleneck": True}, "option bottleneck: expected an integer, got True"),
        ({"bottleneck": None}, "option bottleneck: expected an integer, got None"),
        ({"mix": 1.5}, "option mix: must be between 0 and 1, got 1.5"),
        ({"mix": "0.5"}, "option mix: expected a finite number, got '0.5'"),
        ({"augment": 1}, "option augment: expected true or false (or yes/no, on/off, 1/0), got 1"),
        ({"precision": "fp16"}, "option precision: must be one of auto, float32, bfloat16, got 'fp16'"),
        ({"channels": [1, 0]}, "option channels: each value must be at least 1, got 0"),
        ({"channels": "1,2"}, "option channels: expected comma-separated integers such as 1,2,4, got '1,2'"),
        ({"channels": []}, "option channels: expected comma-separated integers such as 1,2,4, got []"),
        ({"mixx": 0.5}, "unknown option 'mixx' for toy model; its options: memorize, bottleneck, mix, precision,"),
    ],
)
def test_check_values_errors(values, message):
    with pytest.raises(OptionError) as caught:
        check_values(ToyConfig, values)
    assert str(caught.value).startswith(message)


def test_check_values_sampling_only():
    with pytest.raises(OptionError, match=r"^option seed cannot change at sampling time"):
        check_values(ToyConfig, {"seed": 1}, sampling_only=True)


def test_format_options_lists_every_option_with_its_default():
    text = format_options(ToyConfig)
    lines = text.splitlines()
    assert len(lines) == len(option_specs(ToyConfig))
    assert lines[0].startswith("  memorize=10000  ")
    assert "Crops memorized. (int|all; at least 1)" in lines[0]
    assert "mix=0.7" in text and "(float; between 0 and 1; also at pack time)" in text
    assert "(one of auto, float32, bfloat16)" in text
    assert "channels=1,2,4" in text and "truncation=none" in text
    assert lines[-1].split() == ["seed=0", "(int)"]
    assert len({re.match(r"  \S+\s+", line).end() for line in lines}) == 1  # help starts in one column


def test_format_options_takes_defaults_from_a_subclass():
    @dataclass(frozen=True)
    class Smaller(ToyConfig):
        mix: float = 0.5
        memorize: int | None = None

    text = format_options(Smaller)
    assert "  mix=0.5 " in text and "mix=0.7" not in text
    assert "  memorize=all " in text
    # the help, limits and sampling mark stay those the base class declared
    assert spec("mix", Smaller).sampling
    assert "Weight of the cycling code. (float; between 0 and 1; also at pack time)" in text
    with pytest.raises(OptionError, match="must be between 0 and 1"):
        parse_assignments(Smaller, ["mix=2"])


def test_format_options_wraps_long_help():
    @dataclass(frozen=True)
    class Wordy:
        short: int = option(1, "Short.")
        long_option_name: float = option(0.5, " ".join(["a rather long explanation"] * 12), sampling=True)

    text = format_options(Wordy, width=60)
    lines = text.splitlines()
    assert len(lines) > 3
    assert all(len(line) <= 60 for line in lines)
    column = lines[0].index("Short.")
    assert all(line.startswith(" " * column) and line[column] != " " for line in lines[2:])
    words = " ".join(text.split())
    assert words.endswith(" ".join(["a rather long explanation"] * 12) + " (float; also at pack time)")


def test_format_options_puts_help_under_a_very_long_entry():
    @dataclass(frozen=True)
    class Long:
        a: int = option(1, "First.")
        b: str = option("x" * 50, "Second.")

    lines = format_options(Long, width=60).splitlines()
    assert lines[1] == "  b=" + "x" * 50
    assert lines[2].strip() == "Second. (str)"
    assert lines[2].index("Second.") == lines[0].index("First.")


def test_format_options_without_fields():
    @dataclass(frozen=True)
    class Empty:
        pass

    assert format_options(Empty) == "  (no options)"


def test_format_value_round_trips_parsed_values():
    for name, text in [("memorize", "all"), ("mix", "0.0001"), ("augment", "false"), ("channels", "8,4")]:
        s = spec(name)
        assert format_value(s, parse_value(s, text)) == text


def test_defaults_are_normalised_and_default_factory_works():
    @dataclass(frozen=True)
    class Config:
        lr: float = 1
        mults: tuple[int, ...] = field(default_factory=lambda: (1, 2))
        hidden: int = field(default=3, init=False)

    specs = option_specs(Config)
    assert [(s.name, s.default) for s in specs] == [("lr", 1.0), ("mults", (1, 2))]  # init=False is no option
    assert type(specs[0].default) is float


@pytest.mark.parametrize("annotation", ["list[int]", "int | str", "tuple[int, int]", "tuple[float, ...]", "bytes"])
def test_unsupported_types_raise_at_spec_time(annotation):
    namespace: dict = {}
    exec(  # a string annotation, as under from __future__ import annotations
        f"from dataclasses import dataclass\n@dataclass(frozen=True)\nclass Odd:\n    weird: {annotation} = None\n",
        namespace,
    )
    with pytest.raises(TypeError, match=r"option Odd\.weird: unsupported type"):
        option_specs(namespace["Odd"])


def test_declaration_mistakes_raise_at_spec_time():
    @dataclass(frozen=True)
    class BadDefault:
        mix: float = option(2.0, "Weight.", maximum=1.0)

    @dataclass(frozen=True)
    class BadNoneWord:
        count: int = option(3, "Count.", none_word="all")

    @dataclass(frozen=True)
    class NoDefault:
        count: int

    with pytest.raises(TypeError, match=r"option BadDefault\.mix: its default 2\.0 breaks its own declaration"):
        option_specs(BadDefault)
    with pytest.raises(TypeError, match=r"option BadNoneWord\.count: none_word 'all' needs a type that allows None"):
        option_specs(BadNoneWord)
    with pytest.raises(TypeError, match=r"option NoDefault\.count: has no default"):
        option_specs(NoDefault)
    with pytest.raises(TypeError, match="must be a dataclass"):
        option_specs(dict)
    with pytest.raises(ValueError, match="minimum must not exceed maximum"):
        option(1, "x", minimum=2, maximum=1)
    with pytest.raises(ValueError, match="choices must name at least one value"):
        option("a", "x", choices=())


def test_parse_assignments_refuses_a_single_string():
    with pytest.raises(TypeError, match="not one string"):
        parse_assignments(ToyConfig, "mix=0.5")


def test_imports_no_heavy_modules():
    code = "import toolkit.train.options, sys; assert not {'numpy','click','tensorflow'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)


def test_an_infinite_float_value_is_refused_by_check_values():
    with pytest.raises(OptionError, match=r"^option mix: expected a finite number, got inf$"):
        check_values(ToyConfig, {"mix": float("inf")})


def test_the_cli_refuses_an_infinite_learning_rate_and_a_negative_seed(tmp_path):
    from tests.conftest import invoke

    data = tmp_path / "crops.npz"
    data.write_bytes(b"")
    result = invoke("train", "--data", data, "--run", tmp_path / "run", "--option", "learning_rate=inf",
                    "--model", "dcgan")  # fmt: skip
    assert result.exit_code == 1, result.output  # the option layer's refusals exit 1, as before
    assert "option learning_rate: expected a finite number, got 'inf'" in result.output
    for command in (["train", "--data", data, "--run", tmp_path / "r2"], ["pack", "--run", tmp_path]):
        result = invoke(*command, "--seed", "-1")
        assert result.exit_code == 2 and "Invalid value for '--seed'" in result.output, result.output
    assert not (tmp_path / "run").exists() and not (tmp_path / "r2").exists()
