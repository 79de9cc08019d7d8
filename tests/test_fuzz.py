"""Property-based tests: hostile input to each reader gives a result or its own one-line error, never
another exception. Kept small (tens of examples each) so that the file runs in seconds; under CI=true
the examples are derandomized, so a run there is repeatable."""

from __future__ import annotations

import io
import json
import os
import struct
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from submission import validate_zip
from toolkit.data.prepare import AnnotationError, parse_annotation
from toolkit.errors import DogkitError
from toolkit.kaggle import client
from toolkit.models.biggan.config import BigganConfig
from toolkit.models.dcgan.config import DcganConfig, RadfordConfig
from toolkit.models.memorizer.config import MemorizerConfig
from toolkit.train.options import OptionError, option_specs, parse_assignments

settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# ---------------------------------------------------------------- (a) the zip/PNG validator

COUNT = 3  # the validator is told to expect this many images, so a small zip can be valid


def _png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


PNGS = [_png(seed) for seed in range(COUNT)]


def _zip(names: list[str], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns of the duplicate names made on purpose
        for index, name in enumerate(names):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # the same bytes on every run
            info.compress_type = compression
            archive.writestr(info, PNGS[index % COUNT])
    return buffer.getvalue()


VALID = _zip([f"{i}.png" for i in range(COUNT)])
DEFLATED = _zip([f"{i}.png" for i in range(COUNT)], zipfile.ZIP_DEFLATED)
ZIPS = {"stored": VALID, "deflated": DEFLATED}
HEADERS = {b"PK\x03\x04": 30, b"PK\x01\x02": 46, b"PK\x05\x06": 22}  # signature -> fixed header length


def _header_fields(data: bytes) -> list[int]:
    """Offsets of every byte inside a local, central or end-of-directory header (past its signature)."""
    offsets = []
    for signature, length in HEADERS.items():
        start = data.find(signature)
        while start != -1:
            offsets += range(start + 4, min(start + length, len(data)))
            start = data.find(signature, start + 1)
    return offsets


def _check_report(data: bytes) -> None:
    """Validate ``data`` as a zip: valid, or problems that each name a member of it (or the whole zip)
    in one line. Any exception fails the property."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "submission.zip"
        path.write_bytes(data)
        report = validate_zip(path, COUNT)
    assert report.ok == (not report.problems)
    if report.ok:
        assert report.image_count == COUNT
    for problem in report.problems:
        assert problem.kind and problem.message
        assert "\n" not in problem.message and "\r" not in problem.message
        assert problem.member is None or isinstance(problem.member, str)


def test_the_unchanged_zips_are_valid():
    for data in (VALID, DEFLATED):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "submission.zip"
            path.write_bytes(data)
            report = validate_zip(path, COUNT)
        assert report.ok, report.problems


@FUZZ
@given(
    base=st.sampled_from(sorted(ZIPS)),
    flips=st.lists(st.tuples(st.integers(0, len(DEFLATED) - 1), st.integers(1, 255)), min_size=1, max_size=8),
)
def test_validator_on_flipped_bytes(base, flips):
    data = bytearray(ZIPS[base])
    for offset, mask in flips:
        data[offset % len(data)] ^= mask
    _check_report(bytes(data))


@FUZZ
@given(base=st.sampled_from(sorted(ZIPS)), keep=st.integers(0, len(VALID)))
def test_validator_on_truncated_zips(base, keep):
    _check_report(ZIPS[base][:keep])


@FUZZ
@given(
    base=st.sampled_from(sorted(ZIPS)),
    changes=st.lists(
        st.tuples(st.integers(0, 10_000), st.sampled_from(["<H", "<I"]), st.integers(0, 2**32 - 1)),
        min_size=1,
        max_size=4,
    ),
)
@example(base="stored", changes=[(1411, "<H", 16384)])  # found: a central directory claiming zip 6.4
@example(base="deflated", changes=[(117, "<I", 0)])  # found: a member name of length 0
def test_validator_on_changed_header_fields(base, changes):
    """Version, flags (encryption, data descriptor), compression method, sizes, CRCs, name lengths,
    offsets and entry counts overwritten with arbitrary values."""
    data = bytearray(ZIPS[base])
    fields = _header_fields(ZIPS[base])
    for index, form, value in changes:
        offset = fields[index % len(fields)]
        width = struct.calcsize(form)
        data[offset : offset + width] = struct.pack(form, value % (1 << (8 * width)))[: len(data) - offset]
    _check_report(bytes(data))


def test_a_name_flagged_utf8_that_is_not_is_a_problem():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("\xe9.png", PNGS[0])  # a name outside ASCII: stored as UTF-8, flagged so
    damaged = buffer.getvalue().replace("\xe9".encode(), b"\xff\xfe")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "submission.zip"
        path.write_bytes(damaged)
        report = validate_zip(path, 1)
    assert [problem.kind for problem in report.problems] == ["zip"]
    assert "not a readable zip archive (UnicodeDecodeError" in report.problems[0].message


def test_a_local_header_name_flagged_utf8_that_is_not_is_a_problem():
    """The central directory is sound; only the member's own header flags its name UTF-8 and holds
    a byte that is not (zipfile decodes it when the member is opened)."""
    data = bytearray(VALID)
    local = data.find(b"PK\x03\x04")
    data[local + 6 : local + 8] = struct.pack("<H", 0x800)
    data[local + 30] = 0x84
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "submission.zip"
        path.write_bytes(bytes(data))
        report = validate_zip(path, COUNT)
    assert [(problem.member, problem.kind) for problem in report.problems] == [("0.png", "corrupt")]
    assert "local header's name is not UTF-8" in report.problems[0].message


def test_a_member_with_an_empty_name_is_a_problem():
    """zipfile cuts a name at its first NUL: "\\0.png" in the central directory is read as ""."""
    data = _zip(["x.png"])
    directory = data.rindex(b"PK\x01\x02")
    data = data[:directory] + data[directory:].replace(b"x.png", b"\x00.png")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "submission.zip"
        path.write_bytes(data)
        report = validate_zip(path, 1)
    assert "'': member with an empty name" in [str(problem) for problem in report.problems]


MEMBER_NAME = st.one_of(
    st.sampled_from(["0.png", "a.PNG", "dir/", "sub/1.png", "/abs.png", "C:evil.png", "..\\x.png", "x.jpg", " "]),
    st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=40),
)


@FUZZ
@given(names=st.lists(MEMBER_NAME, min_size=0, max_size=5))
def test_validator_on_renamed_members(names):
    """Any member names (duplicates, folders, absolute or nested paths, other suffixes, control
    characters): the zip is valid only with COUNT distinct flat .png names, else each is named."""
    _check_report(_zip(names))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "submission.zip"
        path.write_bytes(_zip(names))
        report = validate_zip(path, COUNT)
    if not report.ok:
        return
    stored = [info.filename for info in zipfile.ZipFile(io.BytesIO(_zip(names))).infolist()]
    assert len(set(stored)) == COUNT and all(name.lower().endswith(".png") and "/" not in name for name in stored)


# ---------------------------------------------------------------- (b) the VOC annotation parser

NUMBER = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["inf", "-inf", "nan", "1e309", "-1e400", "1_000", "0x10", "", " 7 ", "١٢", "&amp;", "1e-400"]),
)


def _voc(values: list[str]) -> str:
    xmin, ymin, xmax, ymax = values
    return (
        "<annotation><size><width>500</width><height>375</height></size><object><name>dog</name><bndbox>"
        f"<xmin>{xmin}</xmin><ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax>"
        "</bndbox></object></annotation>"
    )


def _parse_or_refuse(data: bytes) -> None:
    try:
        boxes = parse_annotation(data)
    except AnnotationError as exc:
        assert "\n" not in str(exc)
        return
    assert boxes and all(len(box) == 4 and all(type(v) is int for v in box) for box in boxes)


@FUZZ
@given(values=st.lists(NUMBER.map(lambda s: s.replace("<", "").replace("&", "")), min_size=4, max_size=4))
@example(values=["inf", "0", "10", "10"])
@example(values=["nan", "0", "10", "10"])
@example(values=["1e309", "0", "10", "10"])
def test_annotation_numbers(values):
    _parse_or_refuse(_voc(values).encode())


HOSTILE_XML = [
    # billion laughs: expat refuses the amplification
    '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaaaaaaaa">'
    + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
    + "]><annotation><object><bndbox><xmin>&i;</xmin></bndbox></object></annotation>",
    '<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><annotation>&x;</annotation>',
    "<annotation>&undefined;</annotation>",
    "<annotation>" + "<o>" * 50_000 + "</o>" * 50_000 + "</annotation>",
    "<annotation>" + "<bndbox>" * 2_000 + "</bndbox>" * 2_000 + "</annotation>",
    "<annotation><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax><bndbox/></bndbox></annotation>",
    "\ufeff<annotation/>",
    "",
]


@pytest.mark.parametrize("text", HOSTILE_XML, ids=range(len(HOSTILE_XML)))
def test_hostile_annotations(text):
    _parse_or_refuse(text.encode())


XML_PIECE = st.one_of(
    st.sampled_from(
        [
            "<annotation>",
            "</annotation>",
            "<object>",
            "</object>",
            "<bndbox>",
            "</bndbox>",
            "<xmin>",
            "</xmin>",
            "<ymin>",
            "</ymin>",
            "<xmax>",
            "</xmax>",
            "<ymax>",
            "</ymax>",
            "&lt;",
            "&#0;",
            "&#xFFFF;",
            "<![CDATA[1]]>",
            "<?pi x?>",
            "<!-- c -->",
            '<!DOCTYPE a [<!ENTITY e "5">]>',
            "&e;",
        ]  # fmt: skip
    ),
    NUMBER,
    st.text(max_size=8),
)


@FUZZ
@given(pieces=st.lists(XML_PIECE, max_size=30), encoding=st.sampled_from(["utf-8", "utf-16", "latin-1"]))
def test_random_annotation_documents(pieces, encoding):
    _parse_or_refuse("".join(pieces).encode(encoding, "surrogatepass" if encoding != "latin-1" else "replace"))


@FUZZ
@given(data=st.binary(max_size=300))
def test_annotation_random_bytes(data):
    _parse_or_refuse(data)


# ---------------------------------------------------------------- (c) the --option NAME=VALUE layer

CONFIGS = [DcganConfig, RadfordConfig, BigganConfig, MemorizerConfig]
OPTION_NAMES = sorted({spec.name for config in CONFIGS for spec in option_specs(config)})
VALUE = st.one_of(
    NUMBER,
    st.sampled_from(["true", "False", "yes", "off", "none", "all", "budget", "1,2,4", "1,,2", ",", "bf16", "fp32"]),
    st.text(max_size=20),
    st.integers(1, 5000).map(lambda digits: "9" * digits),  # past Python's 4,300-digit int limit
)
KEY = st.one_of(
    st.sampled_from(OPTION_NAMES),
    st.sampled_from(OPTION_NAMES).map(lambda n: n.replace("_", "-")),
    st.text(max_size=12),
)
ITEM = st.one_of(st.tuples(KEY, VALUE).map("=".join), st.text(max_size=30))


@FUZZ
@given(config=st.sampled_from(CONFIGS), items=st.lists(ITEM, max_size=4), sampling_only=st.booleans())
@example(config=BigganConfig, items=["truncation=nan"], sampling_only=True)
@example(config=MemorizerConfig, items=["bottleneck=" + "9" * 5000], sampling_only=False)
@example(config=DcganConfig, items=["epochs=\n"], sampling_only=False)
def test_options_are_applied_or_refused_in_one_line(config, items, sampling_only):
    try:
        values = parse_assignments(config, items, sampling_only=sampling_only)
    except OptionError as exc:
        assert str(exc) and "\n" not in str(exc) and "\r" not in str(exc)
        return
    names = {spec.name: spec for spec in option_specs(config)}
    for name, value in values.items():
        assert name in names
        assert value is None or not isinstance(value, float) or np.isfinite(value)


# ---------------------------------------------------------------- (d) the Kaggle credential readers


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty HOME and no Kaggle variables: only what a test writes is there to read."""
    for name in list(os.environ):
        if name.startswith("KAGGLE"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    (tmp_path / ".kaggle").mkdir()
    return tmp_path


def _one_line_naming(exc: DogkitError, where: str) -> None:
    message = str(exc)
    assert "\n" not in message and "\r" not in message
    assert where in message, message


CONTENT = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=60).map(str.encode),
    st.dictionaries(st.text(max_size=8), st.one_of(st.text(max_size=8), st.integers(), st.none()), max_size=3).map(
        lambda d: json.dumps(d).encode()
    ),
    st.sampled_from([b'{"username": "u", "key": "k"}', b"[]", b"null", b'"x"', b"\xff\xfe", b'{"username": 1}']),
)


@FUZZ
@given(content=CONTENT)
def test_kaggle_json_is_read_or_refused_naming_it(home, content):
    path = home / ".kaggle" / "kaggle.json"
    path.write_bytes(content)
    try:
        client._check_kaggle_json(path)
    except DogkitError as exc:
        _one_line_naming(exc, str(path))
    else:
        assert {"username", "key"} <= set(json.loads(content))
    found = client.offline_username()  # the fallback reader: a name or None, never an error
    assert found is None or isinstance(found[0], str)
    assert isinstance(client.scrub("some text"), str)  # scrub reads kaggle.json too


@FUZZ
@given(content=CONTENT, name=st.sampled_from(["access_token", "access_token.txt"]))
def test_access_token_file_is_read_or_refused_naming_it(home, content, name):
    for old in ("access_token", "access_token.txt"):
        (home / ".kaggle" / old).unlink(missing_ok=True)
    path = home / ".kaggle" / name
    path.write_bytes(content)
    try:
        source = client._access_token_source()
    except DogkitError as exc:
        _one_line_naming(exc, str(path))
    else:
        assert source in (None, "~/.kaggle/access_token")
        assert (source is None) == (not content.decode().strip())
    client.scrub("some text")


ENV_TOKEN = st.one_of(
    st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\0"), min_size=1, max_size=60),
    st.sampled_from(["x" * 300, "/" * 5000, "a/" + "b" * 4000, "/etc", "~/.kaggle/access_token", "."]),
)


@FUZZ
@given(token=ENV_TOKEN)
@example(token="x" * 300)  # a name longer than a path may be: os.stat says ENAMETOOLONG
def test_kaggle_api_token_variable_is_read_or_refused_naming_it(home, monkeypatch, token):
    monkeypatch.setenv("KAGGLE_API_TOKEN", token)
    try:
        source = client._access_token_source()
    except DogkitError as exc:
        message = str(exc)
        assert "\n" not in message and "\r" not in message
        assert token in message or "KAGGLE_API_TOKEN" in message, message
    else:
        assert source in (None, "KAGGLE_API_TOKEN")
    client.scrub("some text")


def test_a_token_file_that_is_a_folder_is_refused_naming_it(home, monkeypatch):
    folder = home / "token-folder"
    folder.mkdir()
    monkeypatch.setenv("KAGGLE_API_TOKEN", str(folder))
    with pytest.raises(DogkitError) as caught:
        client._access_token_source()
    _one_line_naming(caught.value, str(folder))
