"""The validator on a good zip and on each way a zip can break the competition's rules."""

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from submission import encode_png, validate_zip, write_images_zip
from tests.conftest import varied_images

COUNT = 100


def png_bytes(image, fmt="PNG", mode=None):
    pil = Image.fromarray(image)
    if mode:
        pil = pil.convert(mode)
    buffer = io.BytesIO()
    pil.save(buffer, fmt)
    return buffer.getvalue()


def make_zip(path, members):
    """members: list of (name, bytes or None for a directory)."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members:
            if data is None:
                archive.mkdir(name)
            else:
                archive.writestr(name, data)
    return path


@pytest.fixture(scope="module")
def good_members():
    images = varied_images(COUNT, seed=3)
    return [(f"{k:05d}.png", encode_png(im)) for k, im in enumerate(images)]


def problems_of(report, kind):
    return [p for p in report.problems if p.kind == kind]


def test_good_zip_is_valid(tmp_path, good_members):
    report = validate_zip(make_zip(tmp_path / "ok.zip", good_members), count=COUNT)
    assert report.ok and report.problems == []
    assert report.image_count == COUNT
    assert "valid" in report.summary()


@pytest.mark.parametrize("n", [9_999, 10_001])
def test_member_count_must_be_exactly_10000(tmp_path, good_members, n):
    data = good_members[0][1]
    path = make_zip(tmp_path / "n.zip", [(f"{k:05d}.png", data) for k in range(n)])
    report = validate_zip(path)
    assert [p.message for p in report.problems] == [f"holds {n} images, expected exactly 10000"]


def replace_member(good_members, index, name=None, data=None):
    members = list(good_members)
    old_name, old_data = members[index]
    members[index] = (name or old_name, old_data if data is None else data)
    return members


def test_jpeg_inside_is_reported_by_content(tmp_path, good_members):
    jpeg = png_bytes(varied_images(1)[0], fmt="JPEG")
    report = validate_zip(make_zip(tmp_path / "j.zip", replace_member(good_members, 5, data=jpeg)), count=COUNT)
    [problem] = report.problems
    assert problem.member == "00005.png" and problem.kind == "not png" and "JPEG" in problem.message


def test_png_named_jpg_is_reported_by_name_only(tmp_path, good_members):
    report = validate_zip(make_zip(tmp_path / "n.zip", replace_member(good_members, 3, name="00003.jpg")), count=COUNT)
    assert [(p.member, p.kind) for p in report.problems] == [("00003.jpg", "name")]


def test_wrong_size_is_reported(tmp_path, good_members):
    wide = encode_png(np.zeros((64, 65, 3), np.uint8))
    report = validate_zip(make_zip(tmp_path / "s.zip", replace_member(good_members, 9, data=wide)), count=COUNT)
    [problem] = report.problems
    assert problem.kind == "size" and "65x64" in problem.message


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_mode_other_than_rgb_is_reported(tmp_path, good_members, mode):
    data = png_bytes(varied_images(1)[0], mode=mode)
    report = validate_zip(make_zip(tmp_path / "m.zip", replace_member(good_members, 0, data=data)), count=COUNT)
    [problem] = report.problems
    assert problem.kind == "mode" and f"mode {mode}" in problem.message


def test_directory_member_is_reported(tmp_path, good_members):
    report = validate_zip(make_zip(tmp_path / "d.zip", good_members + [("extra/", None)]), count=COUNT)
    assert [(p.member, p.kind) for p in report.problems] == [("extra/", "directory")]


def test_nested_path_is_reported(tmp_path, good_members):
    members = replace_member(good_members, 1, name="images/00001.png")
    report = validate_zip(make_zip(tmp_path / "p.zip", members), count=COUNT)
    assert [(p.member, p.kind) for p in report.problems] == [("images/00001.png", "nested path")]


def test_duplicate_name_is_reported(tmp_path, good_members):
    members = replace_member(good_members, 2, name="00001.png")
    with pytest.warns(UserWarning, match="Duplicate name"):
        path = make_zip(tmp_path / "dup.zip", members)
    report = validate_zip(path, count=COUNT)
    assert [(p.member, p.kind) for p in report.problems] == [("00001.png", "duplicate")]


def test_truncated_zip_is_reported(tmp_path, good_members):
    path = make_zip(tmp_path / "t.zip", good_members)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    report = validate_zip(path, count=COUNT)
    [problem] = report.problems
    assert problem.member is None and problem.kind == "zip"


def test_not_a_zip_and_missing_file_are_reported(tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"hello" * 100)
    assert [p.kind for p in validate_zip(junk).problems] == ["zip"]
    assert [p.message for p in validate_zip(tmp_path / "absent.zip").problems] == ["file not found"]


def test_corrupted_member_fails_its_crc_check(tmp_path, good_members):
    path = make_zip(tmp_path / "c.zip", good_members)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("00042.png")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    raw[start + 100] ^= 0xFF  # flip one byte inside the member's data
    path.write_bytes(bytes(raw))
    report = validate_zip(path, count=COUNT)
    [problem] = report.problems
    assert problem.member == "00042.png" and problem.kind == "corrupt" and "CRC" in problem.message


def test_undecodable_png_is_reported(tmp_path, good_members):
    broken = good_members[7][1][:60]  # signature and header, then the data stops
    report = validate_zip(make_zip(tmp_path / "u.zip", replace_member(good_members, 7, data=broken)), count=COUNT)
    assert [(p.member, p.kind) for p in report.problems] == [("00007.png", "undecodable")]


def test_every_problem_is_reported_not_just_the_first(tmp_path, good_members):
    members = replace_member(good_members, 0, data=png_bytes(varied_images(1)[0], mode="L"))
    members = replace_member(members, 1, data=png_bytes(varied_images(1)[0], fmt="JPEG"))
    members = members[:-1] + [("dir/", None)]
    report = validate_zip(make_zip(tmp_path / "many.zip", members), count=COUNT)
    assert sorted(p.kind for p in report.problems) == ["count", "directory", "mode", "not png"]
    assert "INVALID, 4 problems" in report.summary()


def test_writer_output_passes_validation(tmp_path):
    images = varied_images(COUNT, seed=9)
    assert validate_zip(write_images_zip(images, tmp_path / "w.zip", count=COUNT), count=COUNT).ok


def encrypt_flag(path, member_index=0):
    """Mark one member of the zip at ``path`` as encrypted (bit 0 of its general purpose flags, in the
    central directory, which zipfile trusts) without encrypting it."""
    data = bytearray(path.read_bytes())
    at = -1
    for _ in range(member_index + 1):
        at = data.index(b"PK\x01\x02", at + 1)
    data[at + 8] |= 0x01
    path.write_bytes(bytes(data))
    return path


def test_encrypted_member_is_a_listed_problem(tmp_path, good_members):
    path = encrypt_flag(make_zip(tmp_path / "enc.zip", good_members), member_index=2)
    report = validate_zip(path, COUNT)
    assert [(p.member, p.kind) for p in report.problems] == [("00002.png", "encrypted")]


def test_absolute_member_name_is_a_listed_problem(tmp_path, good_members):
    members = [("/00031.png" if name == "00031.png" else name, data) for name, data in good_members]
    with zipfile.ZipFile(tmp_path / "abs.zip", "w") as archive:
        for name, data in members:
            info = zipfile.ZipInfo("placeholder")
            info.filename = name  # ZipInfo() strips a leading "/"; a hostile zip need not
            archive.writestr(info, data)
    report = validate_zip(tmp_path / "abs.zip", COUNT)
    assert [(p.member, p.kind) for p in report.problems] == [("/00031.png", "absolute path")]
