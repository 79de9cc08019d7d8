"""The picture ``dogkit inspect`` writes: closest and typical images beside their nearest crops, and
a histogram of every image's distance with the threshold and the mean marked (Pillow only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from submission import atomic_path
from toolkit.metric.inspection import Inspection

CLOSEST = 32  # images shown nearest to a crop
TYPICAL = 16  # images shown around the median distance
PAIRS_PER_ROW = 8
CELL = 64
PAIR_GAP = 2  # between an image and its crop
PAIR_MARGIN = 12  # between pairs
LABEL_HEIGHT = 14
TITLE_HEIGHT = 22
HISTOGRAM_HEIGHT = 240
HISTOGRAM_BINS = 60
BACKGROUND = (255, 255, 255)
THRESHOLD_COLOUR = (200, 40, 40)
MEAN_COLOUR = (30, 90, 200)
BAR_COLOUR = (110, 110, 110)


def _pair_width() -> int:
    return 2 * CELL + PAIR_GAP + PAIR_MARGIN


def _pairs_height(count: int) -> int:
    rows = -(-count // PAIRS_PER_ROW)
    return TITLE_HEIGHT + rows * (CELL + LABEL_HEIGHT + 4)


def _draw_pairs(
    sheet: Image.Image, top: int, title: str, chosen: np.ndarray, inspection: Inspection, images, crops
) -> int:
    """Draw ``chosen`` images each beside its nearest crop, with their distance; return the next top."""
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    draw.text((PAIR_MARGIN, top + 4), title, fill="black", font=font)
    y0 = top + TITLE_HEIGHT
    for k, index in enumerate(chosen):
        row, column = divmod(k, PAIRS_PER_ROW)
        x = PAIR_MARGIN + column * _pair_width()
        y = y0 + row * (CELL + LABEL_HEIGHT + 4)
        sheet.paste(Image.fromarray(images[index]), (x, y))
        crop = inspection.nearest[index]
        if crop >= 0:
            sheet.paste(Image.fromarray(crops[crop]), (x + CELL + PAIR_GAP, y))
            label = f"{max(inspection.distances[index], 0.0):.4f} #{crop}"  # no -0.0000 from rounding
        else:
            label = "left out (zero features)"
        draw.text((x, y + CELL + 2), label, fill="black", font=font)
    return top + _pairs_height(len(chosen))


def _draw_histogram(sheet: Image.Image, top: int, inspection: Inspection) -> None:
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    distances = inspection.distances[inspection.nearest >= 0]
    mean = inspection.mean_distance
    high = max(float(distances.max()), inspection.eps, mean) * 1.05
    counts, edges = np.histogram(distances, bins=HISTOGRAM_BINS, range=(0.0, high))
    left, right = 60, sheet.width - 20
    plot_top, bottom = top + TITLE_HEIGHT + 6, top + HISTOGRAM_HEIGHT - 24
    draw.text(
        (PAIR_MARGIN, top + 4),
        f"cosine distance of each of {len(distances)} images to its nearest crop "
        f"(red: eps {inspection.eps:g}; blue: mean d {mean:.4f}; {inspection.under_threshold} under eps)",
        fill="black",
        font=font,
    )
    draw.rectangle((left, plot_top, right, bottom), outline=(160, 160, 160))

    def x_of(value: float) -> float:
        return left + (right - left) * value / high

    tallest = max(int(counts.max()), 1)
    for count, lo, hi in zip(counts, edges[:-1], edges[1:], strict=True):
        if count:
            y = bottom - (bottom - plot_top) * count / tallest
            draw.rectangle((x_of(lo) + 1, y, max(x_of(hi) - 1, x_of(lo) + 1), bottom), fill=BAR_COLOUR)
    for value, colour in ((inspection.eps, THRESHOLD_COLOUR), (mean, MEAN_COLOUR)):
        draw.line((x_of(value), plot_top, x_of(value), bottom), fill=colour, width=2)
    draw.text((4, plot_top), str(tallest), fill=(90, 90, 90), font=font)
    draw.text((4, bottom - 10), "0", fill=(90, 90, 90), font=font)
    for tick in np.linspace(0.0, high, 6):
        draw.text((x_of(tick) - 10, bottom + 4), f"{tick:.3g}", fill=(90, 90, 90), font=font)


def inspection_sheet(inspection: Inspection, images: np.ndarray, crops: np.ndarray) -> Image.Image:
    """The closest images, typical ones (around the median distance) and the distance histogram."""
    closest = inspection.closest(CLOSEST)
    typical = inspection.typical(TYPICAL)
    width = PAIR_MARGIN + PAIRS_PER_ROW * _pair_width()
    height = _pairs_height(len(closest)) + _pairs_height(len(typical)) + HISTOGRAM_HEIGHT
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    top = _draw_pairs(
        sheet,
        0,
        f"the {len(closest)} images closest to a training crop (image | crop, distance #crop)",
        closest,
        inspection,
        images,
        crops,
    )
    top = _draw_pairs(
        sheet, top, f"{len(typical)} typical images (median distance)", typical, inspection, images, crops
    )
    _draw_histogram(sheet, top, inspection)
    return sheet


def write_sheet(inspection: Inspection, images: np.ndarray, crops: np.ndarray, out: str | Path) -> Path:
    out = Path(out)
    with atomic_path(out) as tmp:
        inspection_sheet(inspection, images, crops).save(tmp, format="PNG")
    return out
