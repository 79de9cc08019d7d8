"""Data discovery in every layout, and ``prepare`` on good and broken input."""

import dataclasses
import io
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from toolkit.cli import cli
from toolkit.data.crops import load_crops
from toolkit.data.discovery import find_competition_data
from toolkit.data.prepare import (
    PrepareConfig,
    center_square,
    draft_scale,
    parse_annotation,
    prepare,
    square_from_box,
)
from toolkit.data.synthetic import LAYOUTS, Box, make_photos, voc_xml, write_dataset
from toolkit.errors import DogkitError


@pytest.fixture(scope="module")
def photos():
    return make_photos(24, seed=11)


def crops_by_hand(photo, box):
    """The reference crop: full decode, square from the box's corner, Lanczos to 64x64."""
    image = Image.open(io.BytesIO(photo.jpeg)).convert("RGB")
    side = min(box.xmax - box.xmin, box.ymax - box.ymin)
    square = (box.xmin, box.ymin, box.xmin + side, box.ymin + side)
    return np.asarray(image.crop(square).resize((64, 64), Image.Resampling.LANCZOS))


# ------------------------------------------------------------------ pure helpers


def test_square_from_box_uses_the_short_side_from_the_top_left_corner():
    assert square_from_box((10, 20, 110, 70), 500, 375) == ((10, 20, 60, 70), False)
    assert square_from_box((10, 20, 60, 220), 500, 375) == ((10, 20, 60, 70), False)


def test_square_from_box_clips_to_the_photo():
    assert square_from_box((-5, 300, 100, 400), 500, 375) == ((0, 300, 75, 375), True)
    assert square_from_box((450, 10, 600, 300), 500, 375) == ((450, 10, 500, 60), True)


def test_empty_boxes_give_no_square():
    assert square_from_box((50, 20, 50, 80), 500, 375)[0] is None
    assert square_from_box((60, 20, 40, 80), 500, 375)[0] is None
    assert square_from_box((600, 20, 700, 80), 500, 375)[0] is None


def test_center_square():
    assert center_square(500, 375) == (62, 0, 437, 375)
    assert center_square(300, 400) == (0, 50, 300, 350)


def test_draft_scale_keeps_crops_at_least_the_output_size():
    assert draft_scale(100) == 1
    assert draft_scale(128) == 2
    assert draft_scale(255) == 2
    assert draft_scale(256) == 4
    assert draft_scale(600) == 8
    assert draft_scale(5000) == 8


def test_a_smaller_draft_margin_decodes_smaller():
    assert draft_scale(128, margin=0.5) == 4
    assert draft_scale(100, margin=0.5) == 2
    assert draft_scale(255, margin=0.75) == 4
    with pytest.raises(ValueError, match="draft_margin"):
        PrepareConfig(src=Path("x"), draft_margin=0)


def test_parse_annotation(photos):
    photo = photos[0]
    assert parse_annotation(voc_xml(photo).encode()) == [(b.xmin, b.ymin, b.xmax, b.ymax) for b in photo.boxes]
    with pytest.raises(ValueError):
        parse_annotation(b"<annotation><object><bndbox><xmin>3</xmin></bndbox>")
    with pytest.raises(ValueError):
        parse_annotation(b"<annotation></annotation>")


# ------------------------------------------------------------------ discovery


# where the data has sat under /kaggle/input: 2019, until 2025, since (competitions/<slug>/)
INPUT_MOUNTS = ("", "generative-dog-images", "competitions/generative-dog-images")


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("mount", INPUT_MOUNTS)
def test_discovery_finds_every_layout_under_every_mount(tmp_path, photos, layout, mount):
    (tmp_path / "datasets" / "someone" / "gan-metric").mkdir(parents=True)  # other inputs beside it
    write_dataset(tmp_path / mount, photos, layout)
    data = find_competition_data(tmp_path)
    assert len(data.photos.names) == len(photos)
    assert data.annotations is not None and len(data.annotations.names) == len(photos)
    assert data.photos.in_zip == data.annotations.in_zip == (layout == "zips")
    assert data.photos.root.is_relative_to(tmp_path / mount)


def test_discovery_searches_four_folders_down_and_no_further(tmp_path, photos):
    write_dataset(tmp_path / "a" / "b" / "c", photos, "nested")  # photos at a/b/c/all-dogs/all-dogs: depth 3
    assert len(find_competition_data(tmp_path).photos.names) == len(photos)
    write_dataset(tmp_path / "deep" / "a" / "b" / "c" / "d" / "e", photos, "zips")
    assert find_competition_data(tmp_path / "deep" / "a").photos.in_zip  # the zips' folder: 4 down
    with pytest.raises(DogkitError, match="no competition photos found"):
        find_competition_data(tmp_path / "deep")  # 5 down


def test_discovery_takes_annotations_from_another_input_when_the_photos_have_none(tmp_path, photos):
    write_dataset(
        tmp_path / "competitions" / "generative-dog-images",
        photos,
        "flat",
        without_annotation=frozenset(p.photo_id for p in photos),
    )
    write_dataset(tmp_path / "datasets" / "me" / "dog-annotations", photos, "double")
    data = find_competition_data(tmp_path)
    assert data.photos.root == tmp_path / "competitions" / "generative-dog-images" / "all-dogs"
    assert data.annotations.root == tmp_path / "datasets" / "me" / "dog-annotations" / "Annotation" / "Annotation"


def test_discovery_explains_what_it_looked_for(tmp_path):
    (tmp_path / "nothing").mkdir()
    with pytest.raises(DogkitError, match="no competition photos found .*all-dogs.*4 folders down.*dogkit fetch"):
        find_competition_data(tmp_path)


# ------------------------------------------------------------------ prepare on good data


@pytest.mark.parametrize("layout", LAYOUTS)
def test_prepare_crops_every_box_in_every_layout(tmp_path, photos, layout):
    src = write_dataset(tmp_path / "in" / "generative-dog-images", photos, layout)
    os.chmod(src, stat.S_IRUSR | stat.S_IXUSR)  # inputs are only read
    try:
        result = prepare(PrepareConfig(src=tmp_path / "in", out=tmp_path / "out" / "dogs64.npz", workers=2))
    finally:
        os.chmod(src, stat.S_IRWXU)
    n_boxes = sum(len(p.boxes) for p in photos)
    cache = load_crops(result.out)
    assert cache["images"].shape == (n_boxes, 64, 64, 3) and cache["images"].dtype == np.uint8
    assert cache["breeds"].dtype.kind == cache["sources"].dtype.kind == "U"
    assert cache["boxes"].shape == (n_boxes, 4)
    report = json.loads(result.report_path.read_text())
    assert report["photos"] == report["annotation_files"] == len(photos)
    assert report["boxes"] == report["crops"] == n_boxes
    assert report["skipped"] == {} and report["repaired"] == {}
    assert sum(report["crops_per_breed"].values()) == n_boxes
    assert report["breeds"] == len({p.breed for p in photos})
    assert set(report["photo_width"]) == {"min", "median", "max"}
    assert Image.open(result.sheet_path).size == (512, 512)


def test_crops_match_a_full_decode_reference(tmp_path):
    photos = make_photos(12, seed=3, large_every=4)  # some above 2000 px: decoded at a reduced scale
    result = prepare(PrepareConfig(src=write_dataset(tmp_path / "in", photos), out=tmp_path / "c.npz", workers=1))
    cache = load_crops(result.out)
    by_source = {p.photo_id + ".jpg": p for p in photos}
    diffs = []
    for k, (source, square) in enumerate(zip(cache["sources"], cache["boxes"])):
        photo = by_source[source]
        box = next(b for b in photo.boxes if (b.xmin, b.ymin) == tuple(square[:2]))
        diffs.append(np.abs(crops_by_hand(photo, box).astype(int) - cache["images"][k]).mean())
    # mean absolute difference per crop, in levels of 0..255: decoding at a reduced scale is close
    assert np.mean(diffs) < 0.6 and max(diffs) < 3.0, diffs


def test_center_crop_mode(tmp_path, photos):
    result = prepare(
        PrepareConfig(src=write_dataset(tmp_path / "in", photos), out=tmp_path / "c.npz", crop="center", workers=1)
    )
    cache = load_crops(result.out)
    assert len(cache["images"]) == len(photos)
    photo = photos[0]
    x0, y0, x1, y1 = center_square(photo.width, photo.height)
    assert tuple(cache["boxes"][0]) == (x0, y0, x1, y1)


def test_worker_count_does_not_change_the_result(tmp_path, photos):
    src = write_dataset(tmp_path / "in", photos)
    one = load_crops(prepare(PrepareConfig(src=src, out=tmp_path / "a" / "c.npz", workers=1)).out)
    two = load_crops(prepare(PrepareConfig(src=src, out=tmp_path / "b" / "c.npz", workers=2)).out)
    for key in one:
        np.testing.assert_array_equal(one[key], two[key])


# ------------------------------------------------------------------ prepare on broken data


def as_jpeg(photo, mode):
    image = Image.open(io.BytesIO(photo.jpeg)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def as_png(photo):
    buffer = io.BytesIO()
    Image.open(io.BytesIO(photo.jpeg)).save(buffer, "PNG")
    return buffer.getvalue()


def test_broken_input_is_skipped_or_repaired_and_counted(tmp_path, photos):
    ps = list(photos[:12])
    gray, cmyk, png, truncated = ps[0], ps[1], ps[2], ps[3]
    ps[0] = dataclasses.replace(gray, jpeg=as_jpeg(gray, "L"))
    ps[1] = dataclasses.replace(cmyk, jpeg=as_jpeg(cmyk, "CMYK"))
    ps[2] = dataclasses.replace(png, jpeg=as_png(png))
    ps[3] = dataclasses.replace(truncated, jpeg=truncated.jpeg[: len(truncated.jpeg) // 3])
    no_photo, no_annotation, past_border, malformed, flat_box = ps[4], ps[5], ps[6], ps[7], ps[8]
    overflowing = Box(past_border.width - 50, 10, past_border.width + 80, 120)
    annotations = {
        past_border.photo_id: voc_xml(past_border, (overflowing,)),
        malformed.photo_id: "<annotation><object><bndbox><xmin>12</xmin>",
        flat_box.photo_id: voc_xml(flat_box, (Box(200, 50, 150, 200), Box(10, 10, 90, 90))),
    }
    src = write_dataset(
        tmp_path / "in",
        ps,
        annotations=annotations,
        without_photo=frozenset({no_photo.photo_id}),
        without_annotation=frozenset({no_annotation.photo_id}),
    )
    result = prepare(PrepareConfig(src=src, out=tmp_path / "c.npz", workers=2))
    report = result.report
    assert report.skipped == {
        "annotation without photo": 1,
        "empty box (nothing left inside the photo)": 1,
        "malformed annotation": 1,
        "photo without annotation": 1,
        "unreadable photo (corrupt or truncated)": 1,
    }
    assert report.repaired == {
        "box clipped to the photo": 1,
        "photo converted from CMYK to RGB": 1,
        "photo converted from L to RGB": 1,
        "photo not a JPEG, read by its content": 1,
    }
    cache = load_crops(result.out)
    sources = list(cache["sources"])
    for kept in (gray, cmyk, png, past_border):
        assert kept.photo_id + ".jpg" in sources
    for dropped in (truncated, no_photo, no_annotation, malformed):
        assert dropped.photo_id + ".jpg" not in sources
    assert sources.count(flat_box.photo_id + ".jpg") == 1
    clipped = cache["boxes"][sources.index(past_border.photo_id + ".jpg")]
    assert tuple(clipped) == (past_border.width - 50, 10, past_border.width, 60)
    gray_crop = cache["images"][sources.index(gray.photo_id + ".jpg")]
    assert np.array_equal(gray_crop[..., 0], gray_crop[..., 1])  # grey stays grey, now in RGB
    expected = sum(len(p.boxes) for p in ps[:3] + ps[9:12]) + 1 + 1  # + clipped box + the good box
    assert report.crops == len(cache["images"]) == expected


def test_nothing_usable_is_an_error_and_writes_nothing(tmp_path, photos):
    broken = [dataclasses.replace(p, jpeg=p.jpeg[:100]) for p in photos[:3]]
    src = write_dataset(tmp_path / "in", broken)
    out = tmp_path / "out" / "c.npz"
    with pytest.raises(DogkitError, match="no usable crop in 3 photos"):
        prepare(PrepareConfig(src=src, out=out, workers=1))
    assert not out.exists() and not (tmp_path / "out" / "report.json").exists()


def test_bbox_without_annotations_says_to_use_center(tmp_path, photos):
    src = tmp_path / "in"
    write_dataset(src, photos[:3], "flat")
    for path in (src / "Annotation").rglob("*"):
        if path.is_file():
            path.unlink()
    with pytest.raises(DogkitError, match="--crop center"):
        prepare(PrepareConfig(src=src, out=tmp_path / "c.npz"))


def test_load_crops_rejects_other_files(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, images=np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(DogkitError, match="expected 'images' as uint8"):
        load_crops(bad)
    with pytest.raises(DogkitError, match="not found"):
        load_crops(tmp_path / "absent.npz")


# ------------------------------------------------------------------ the command


def test_prepare_command_prints_a_summary(tmp_path, photos):
    src = write_dataset(tmp_path / "data" / "generative-dog-images", photos, "zips")
    out = tmp_path / "data" / "dogs64.npz"
    result = CliRunner().invoke(cli, ["prepare", "--src", str(tmp_path / "data"), "--out", str(out), "--workers", "2"])
    assert result.exit_code == 0, result.output
    n_boxes = sum(len(p.boxes) for p in photos)
    assert f"{n_boxes} crops from {len(photos)} photos" in result.output
    assert out.exists() and (out.parent / "report.json").exists() and (out.parent / "contact_sheet.png").exists()
    assert src.exists()


def test_center_crop_takes_any_folder_of_images(tmp_path):
    """E.g. cat faces already at 64x64, in subfolders, mixed with other sizes and formats."""
    from tests.conftest import varied_images

    folder = tmp_path / "cats"
    (folder / "a").mkdir(parents=True)
    faces = varied_images(5, seed=4)
    for k, face in enumerate(faces):
        Image.fromarray(face).save(folder / "a" / f"cat_{k}.png")
    Image.fromarray(varied_images(1, seed=5, size=120)[0]).save(folder / "big.jpg", quality=95)
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "cats64.npz"
    result = CliRunner().invoke(
        cli, ["prepare", "--src", str(folder), "--out", str(out), "--crop", "center", "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    cache = load_crops(tmp_path / "cats64.npz")
    assert len(cache["images"]) == 6
    for k, face in enumerate(faces):  # 64x64 inputs come through unchanged
        np.testing.assert_array_equal(cache["images"][k], face)
    assert list(cache["sources"]) == [f"cat_{k}.png" for k in range(5)] + ["big.jpg"]


def test_a_folder_without_competition_data_needs_center_crops(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(folder / "x.png")
    with pytest.raises(DogkitError, match="no competition photos found"):
        prepare(PrepareConfig(src=folder, out=tmp_path / "c.npz"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DogkitError, match="neither the competition's data nor any image file"):
        prepare(PrepareConfig(src=tmp_path / "empty", out=tmp_path / "c.npz", crop="center"))


def test_an_infinite_coordinate_is_a_malformed_annotation_not_an_abort(tmp_path, photos):
    ps = list(photos[:4])
    bad = ps[1]
    infinite = voc_xml(bad).replace(f"<xmin>{bad.boxes[0].xmin}</xmin>", "<xmin>inf</xmin>", 1)
    assert "<xmin>inf</xmin>" in infinite
    with pytest.raises(ValueError):
        parse_annotation(infinite.encode())
    src = write_dataset(tmp_path / "in", ps, annotations={bad.photo_id: infinite})
    result = prepare(PrepareConfig(src=src, out=tmp_path / "c.npz", workers=1))
    assert result.report.skipped == {"malformed annotation": 1}
    assert bad.photo_id + ".jpg" not in list(load_crops(result.out)["sources"])


def test_a_fifo_among_the_photos_is_skipped_and_counted_not_waited_on(tmp_path, photos):
    import signal

    src = write_dataset(tmp_path / "in", photos[:4], "flat")
    victim = next((src / "all-dogs").glob("*.jpg"))
    victim.unlink()
    os.mkfifo(victim)

    def hung(signum, frame):
        raise AssertionError("prepare waited on the FIFO")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(120)
    try:
        result = prepare(PrepareConfig(src=src, out=tmp_path / "c.npz", workers=1))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert result.report.skipped == {"not a regular file (FIFO, device or socket)": 1}
    assert victim.name not in list(load_crops(result.out)["sources"])


def test_workers_are_capped_by_the_work_and_the_cores_and_the_lowering_is_said(caplog):
    from toolkit.data.prepare import MAX_WORKERS, _worker_count

    cores = os.cpu_count() or 1
    with caplog.at_level("WARNING", logger="dogkit"):
        assert _worker_count(1000, 2) == 2
    assert "prepare: 2 worker processes, not 1000" in caplog.text
    assert _worker_count(1000, 10_000) == min(4 * cores, MAX_WORKERS) <= 64
    assert _worker_count(0, 1) == 1
    assert _worker_count(3, 100) == 3
