"""Kaggle-shaped synthetic dog data: procedural dog-like figures on textured backgrounds.

Used by ``dogkit demo`` and by the tests and benchmarks, which cannot download the competition's
photos. Writes JPEG photos named like the competition's (``n02085620_10074.jpg``) and PASCAL VOC
annotations foldered by breed (``Annotation/n02085620-Chihuahua/n02085620_10074``), one or two
dogs per photo, in any of the layouts the competition's data has had.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# (WordNet id, breed, coat colour, ear style): a handful of the competition's 120 breeds.
BREEDS = (
    ("n02085620", "Chihuahua", (200, 160, 110), "pointed"),
    ("n02088364", "beagle", (150, 95, 45), "floppy"),
    ("n02099601", "golden_retriever", (215, 165, 75), "floppy"),
    ("n02106662", "German_shepherd", (90, 65, 40), "pointed"),
    ("n02110185", "Siberian_husky", (170, 170, 180), "pointed"),
    ("n02111889", "Samoyed", (240, 238, 230), "pointed"),
    ("n02113799", "standard_poodle", (40, 35, 35), "floppy"),
    ("n02107142", "Doberman", (45, 30, 25), "pointed"),
)

LAYOUTS = (
    "zips",  # all-dogs.zip + Annotation.zip, unextracted
    "nested",  # all-dogs/all-dogs/ + annotation/Annotation/ (the kernel input of later years)
    "double",  # all-dogs/all-dogs/ + Annotation/Annotation/
    "flat",  # all-dogs/ + Annotation/
)


@dataclass(frozen=True)
class Box:
    xmin: int
    ymin: int
    xmax: int
    ymax: int


@dataclass(frozen=True)
class SyntheticPhoto:
    photo_id: str  # e.g. n02085620_1003
    wnid: str
    breed: str
    jpeg: bytes
    width: int
    height: int
    boxes: tuple[Box, ...]


def _background(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """Grass, floor or wall: a colour gradient with stripes and grain."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    top, bottom = rng.uniform(40, 220, size=(2, 3))
    t = (yy / max(height - 1, 1))[..., None]
    image = top * (1 - t) + bottom * t
    period = rng.uniform(8, 60)
    angle = rng.uniform(0, np.pi)
    stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)[..., None]
    image += stripes * rng.uniform(5, 25)
    image += rng.normal(0, rng.uniform(3, 12), size=(height, width, 3))
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))


def _draw_dog(draw: ImageDraw.ImageDraw, box: Box, colour, ears: str, rng: np.random.Generator) -> None:
    """A side view of a dog filling ``box``: body, legs, tail, head, ears, eye and nose."""
    w, h = box.xmax - box.xmin, box.ymax - box.ymin
    x, y = box.xmin, box.ymin
    shade = tuple(int(c * 0.7) for c in colour)
    facing_right = rng.random() < 0.5

    def fx(u: float) -> float:  # u in [0, 1] across the box, mirrored when facing left
        return x + (u if facing_right else 1 - u) * w

    def rect(u0, v0, u1, v1, fill):
        a, b = sorted((fx(u0), fx(u1)))
        draw.rectangle((a, y + v0 * h, b, y + v1 * h), fill=fill)

    def oval(u0, v0, u1, v1, fill):
        a, b = sorted((fx(u0), fx(u1)))
        draw.ellipse((a, y + v0 * h, b, y + v1 * h), fill=fill)

    for u in (0.12, 0.25, 0.55, 0.68):  # legs
        rect(u, 0.55, u + 0.08, 1.0, shade)
    oval(0.05, 0.35, 0.75, 0.75, colour)  # body
    draw.line((fx(0.08), y + 0.5 * h, fx(0.0), y + 0.2 * h), fill=shade, width=max(2, int(w * 0.04)))  # tail
    oval(0.6, 0.08, 0.98, 0.5, colour)  # head
    if ears == "pointed":
        draw.polygon(
            [(fx(0.66), y + 0.18 * h), (fx(0.72), y + 0.0 * h), (fx(0.78), y + 0.15 * h)],
            fill=shade,
        )
    else:
        oval(0.62, 0.12, 0.72, 0.42, shade)
    oval(0.82, 0.2, 0.86, 0.26, (20, 20, 20))  # eye
    oval(0.94, 0.3, 1.0, 0.36, (10, 10, 10))  # nose


def make_photo(
    rng: np.random.Generator,
    index: int,
    breed_index: int | None = None,
    size: tuple[int, int] | None = None,
    dogs: int | None = None,
) -> SyntheticPhoto:
    """One synthetic photo with its boxes; sizes around 500x375 unless ``size`` is given."""
    wnid, breed, colour, ears = BREEDS[rng.integers(len(BREEDS)) if breed_index is None else breed_index]
    if size is None:
        width = int(rng.choice([500, 500, 375, 400, 333, 640]))
        height = int(rng.choice([375, 333, 500, 300, 480]))
    else:
        width, height = size
    image = _background(rng, width, height)
    draw = ImageDraw.Draw(image)
    dogs = dogs or (2 if rng.random() < 0.1 else 1)
    boxes = []
    for k in range(dogs):
        span = width / dogs
        bw = int(rng.uniform(0.45, 0.9) * span)
        bh = int(min(height * rng.uniform(0.5, 0.9), bw * rng.uniform(0.7, 1.3)))
        x0 = int(k * span + rng.uniform(0, span - bw))
        y0 = int(rng.uniform(0, height - bh))
        box = Box(x0, y0, x0 + bw, y0 + bh)
        tint = np.clip(np.array(colour) + rng.normal(0, 18, 3), 0, 255).astype(int)
        _draw_dog(draw, box, tuple(tint), ears, rng)
        boxes.append(box)
    image = image.filter(ImageFilter.GaussianBlur(0.6))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    photo_id = f"{wnid}_{1000 + index}"
    return SyntheticPhoto(photo_id, wnid, breed, buffer.getvalue(), width, height, tuple(boxes))


def voc_xml(photo: SyntheticPhoto, boxes: tuple[Box, ...] | None = None) -> str:
    """The photo's annotation in the Stanford Dogs flavour of PASCAL VOC."""
    objects = "".join(
        f"<object><name>{photo.breed}</name><pose>Unspecified</pose><truncated>0</truncated>"
        f"<difficult>0</difficult><bndbox><xmin>{b.xmin}</xmin><ymin>{b.ymin}</ymin>"
        f"<xmax>{b.xmax}</xmax><ymax>{b.ymax}</ymax></bndbox></object>"
        for b in (photo.boxes if boxes is None else boxes)
    )
    return (
        f"<annotation><folder>{photo.wnid}</folder><filename>{photo.photo_id}</filename>"
        "<source><database>ImageNet database</database></source>"
        f"<size><width>{photo.width}</width><height>{photo.height}</height><depth>3</depth></size>"
        f"<segment>0</segment>{objects}</annotation>"
    )


def breed_folder(photo: SyntheticPhoto) -> str:
    return f"{photo.wnid}-{photo.breed}"


def make_photos(n: int, seed: int = 0, large_every: int = 0) -> list[SyntheticPhoto]:
    """``n`` photos cycling through the breeds; every ``large_every``-th one above 2000 px wide."""
    rng = np.random.default_rng(seed)
    photos = []
    for k in range(n):
        size = (
            (int(rng.integers(2000, 2600)), int(rng.integers(1500, 2000)))
            if large_every and k % large_every == 0
            else None
        )
        photos.append(make_photo(rng, k, breed_index=k % len(BREEDS), size=size))
    return photos


def write_dataset(
    root: str | os.PathLike,
    photos: list[SyntheticPhoto],
    layout: str = "nested",
    annotations: dict[str, str] | None = None,
    without_photo: frozenset[str] = frozenset(),
    without_annotation: frozenset[str] = frozenset(),
) -> Path:
    """Write photos and annotations under ``root`` in one of ``LAYOUTS``; return ``root``.

    For broken-input tests: ``annotations`` overrides the XML text of chosen photo ids;
    ``without_photo`` / ``without_annotation`` leave out those ids' photo or annotation file.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    annotations = annotations or {}
    photo_files = {f"{p.photo_id}.jpg": p.jpeg for p in photos if p.photo_id not in without_photo}
    xml_files = {
        f"{breed_folder(p)}/{p.photo_id}": annotations.get(p.photo_id, voc_xml(p))
        for p in photos
        if p.photo_id not in without_annotation
    }
    if layout == "zips":
        with zipfile.ZipFile(root / "all-dogs.zip", "w") as archive:
            for name, data in photo_files.items():
                archive.writestr(f"all-dogs/{name}", data)
        with zipfile.ZipFile(root / "Annotation.zip", "w", zipfile.ZIP_DEFLATED) as archive:
            for name, text in xml_files.items():
                archive.writestr(f"Annotation/{name}", text)
        return root
    photo_dir = {"nested": "all-dogs/all-dogs", "double": "all-dogs/all-dogs", "flat": "all-dogs"}[layout]
    xml_dir = {"nested": "annotation/Annotation", "double": "Annotation/Annotation", "flat": "Annotation"}[layout]
    for name, data in photo_files.items():
        path = root / photo_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    for name, text in xml_files.items():
        path = root / xml_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def competition_archive(photos: list[SyntheticPhoto]) -> bytes:
    """The competition's download as Kaggle serves it: a zip holding all-dogs.zip and Annotation.zip."""
    inner = {}
    for name, prefix, entries in (
        ("all-dogs.zip", "all-dogs", {f"{p.photo_id}.jpg": p.jpeg for p in photos}),
        ("Annotation.zip", "Annotation", {f"{breed_folder(p)}/{p.photo_id}": voc_xml(p).encode() for p in photos}),
    ):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for member, data in entries.items():
                archive.writestr(f"{prefix}/{member}", data)
        inner[name] = buffer.getvalue()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in inner.items():
            archive.writestr(name, data)
    return buffer.getvalue()
