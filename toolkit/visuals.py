"""Pictures of data and training: image grids (NumPy only, no TensorFlow)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def image_grid(images: np.ndarray, columns: int = 8, rows: int | None = None) -> np.ndarray:
    """Tile (n, h, w, 3) uint8 images into one (rows*h, columns*w, 3) image, row by row.

    Cells past the last image stay black; ``rows`` defaults to as many as the images need.
    """
    n, h, w, c = images.shape
    rows = rows or max(1, -(-n // columns))
    grid = np.zeros((rows * h, columns * w, c), np.uint8)
    for k in range(min(n, rows * columns)):
        r, col = divmod(k, columns)
        grid[r * h : (r + 1) * h, col * w : (col + 1) * w] = images[k]
    return grid


def to_pixels(images: np.ndarray) -> np.ndarray:
    """Generator output in [-1, 1] (tanh) to float pixels in 0..255."""
    return (np.asarray(images, np.float32) + 1.0) * 127.5


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Float pixels in 0..255 to uint8: rounded and clipped. NaN/inf must be rejected before."""
    return np.clip(np.rint(images), 0, 255).astype(np.uint8)


# history.csv columns that are not metrics (see toolkit.train.runs.HISTORY_FIELDS)
_NOT_METRICS = frozenset({"phase", "round", "epoch", "steps", "learning_rate", "seconds", "step_seconds", "elapsed"})


def _number(text: str | None) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def loss_curves(history: Sequence[dict], width: int = 640, panel_height: int = 200) -> np.ndarray:
    """One panel per phase and metric of ``history`` (rows of history.csv): its values against epochs.

    Every column that is not bookkeeping (phase, round, epoch, steps, learning rate, times) is a
    metric: ``loss``, or ``d_loss`` and ``g_loss``, and whatever else a model records. Returns an
    (H, W, 3) uint8 image; panels keep the order in which phases and metrics first appear.
    """
    series: dict[tuple[str, str], list[float]] = {}
    for row in history:
        for name, text in row.items():
            value = _number(text) if name not in _NOT_METRICS and name is not None else None
            if value is not None:
                series.setdefault((row["phase"], name), []).append(value)
    font = ImageFont.load_default()
    canvas = Image.new("RGB", (width, panel_height * max(1, len(series))), "white")
    draw = ImageDraw.Draw(canvas)
    left, right, top, bottom = 60, 12, 22, 24
    for k, ((phase, name), values) in enumerate(series.items()):
        y0 = k * panel_height
        x_lo, x_hi = left, width - right
        y_lo, y_hi = y0 + top, y0 + panel_height - bottom
        draw.rectangle((x_lo, y_lo, x_hi, y_hi), outline=(160, 160, 160))
        low, high = min(values), max(values)
        span = (high - low) or 1.0
        draw.text((x_lo, y0 + 4), f"{phase}: {name} over {len(values)} epochs", fill="black", font=font)
        draw.text((4, y_lo), f"{high:.4g}", fill=(90, 90, 90), font=font)
        draw.text((4, y_hi - 10), f"{low:.4g}", fill=(90, 90, 90), font=font)
        draw.text((x_lo, y_hi + 6), "1", fill=(90, 90, 90), font=font)
        draw.text((x_hi - 24, y_hi + 6), str(len(values)), fill=(90, 90, 90), font=font)
        steps = max(len(values) - 1, 1)
        points = [
            (x_lo + (x_hi - x_lo) * i / steps, y_hi - (y_hi - y_lo) * (value - low) / span)
            for i, value in enumerate(values)
        ]
        if len(points) == 1:
            draw.ellipse((points[0][0] - 2, points[0][1] - 2, points[0][0] + 2, points[0][1] + 2), fill=(200, 60, 40))
        else:
            draw.line(points, fill=(200, 60, 40), width=2)
    return np.asarray(canvas)


def quality_curves(
    evaluations: Sequence[dict], best_steps: int | None = None, width: int = 640, panel_height: int = 200
) -> np.ndarray:
    """Panels of MiFID, FID and memorization distance d against training time (minutes), one point
    per evaluation (``toolkit.train.evaluation.evaluation_rows``); the best snapshot ringed. Returns
    an (H, W, 3) uint8 image."""
    series = (
        ("eval_mifid", "MiFID (lower is better)"),
        ("eval_fid", "FID"),
        ("eval_distance", "memorization distance d"),
    )
    font = ImageFont.load_default()
    canvas = Image.new("RGB", (width, panel_height * len(series)), "white")
    draw = ImageDraw.Draw(canvas)
    left, right, top, bottom = 60, 12, 22, 24
    minutes = [row["elapsed"] / 60.0 for row in evaluations]
    t_lo, t_hi = min(minutes), max(minutes)
    t_span = (t_hi - t_lo) or 1.0
    for k, (key, title) in enumerate(series):
        values = [row[key] for row in evaluations]
        y0 = k * panel_height
        x_lo, x_hi = left, width - right
        y_lo, y_hi = y0 + top, y0 + panel_height - bottom
        draw.rectangle((x_lo, y_lo, x_hi, y_hi), outline=(160, 160, 160))
        finite = [v for v in values if np.isfinite(v)] or [0.0]
        low, high = min(finite), max(finite)
        logarithmic = low > 0 and high / low > 20  # one early outlier would flatten the rest
        scale = np.log10 if logarithmic else (lambda v: v)
        values = [scale(v) if np.isfinite(v) and v > 0 or not logarithmic else scale(low) for v in values]
        span = (scale(high) - scale(low)) or 1.0
        low, high = scale(low), scale(high)
        low_label, high_label = (10**low, 10**high) if logarithmic else (low, high)
        log_note = ", log scale" if logarithmic else ""
        draw.text((x_lo, y0 + 4), f"{title}: {len(values)} evaluations{log_note}", fill="black", font=font)
        draw.text((4, y_lo), f"{high_label:.4g}", fill=(90, 90, 90), font=font)
        draw.text((4, y_hi - 10), f"{low_label:.4g}", fill=(90, 90, 90), font=font)
        draw.text((x_lo, y_hi + 6), f"{t_lo:.1f} min", fill=(90, 90, 90), font=font)
        draw.text((x_hi - 48, y_hi + 6), f"{t_hi:.1f} min", fill=(90, 90, 90), font=font)
        points = [
            (x_lo + (x_hi - x_lo) * (t - t_lo) / t_span, y_hi - (y_hi - y_lo) * (min(max(v, low), high) - low) / span)
            for t, v in zip(minutes, values)
        ]
        if len(points) > 1:
            draw.line(points, fill=(40, 90, 200), width=2)
        for (x, y), row in zip(points, evaluations):
            draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=(40, 90, 200))
            if best_steps is not None and row["steps"] == best_steps:
                draw.ellipse((x - 6, y - 6, x + 6, y + 6), outline=(200, 60, 40), width=2)
    return np.asarray(canvas)


def timelapse(frames: Sequence[str | os.PathLike], out: str | os.PathLike, seconds_per_frame: float = 0.5) -> Path:
    """An animated GIF of sample grids, each captioned with its file name (training step and stage).

    Raises:
        ValueError: no frames.
    """
    if not frames:
        raise ValueError("no frames to animate")
    font = ImageFont.load_default()
    images = []
    for path in frames:
        with Image.open(path) as grid:
            grid = grid.convert("RGB")
            frame = Image.new("RGB", (grid.width, grid.height + 16), "black")
            frame.paste(grid, (0, 0))
            ImageDraw.Draw(frame).text((4, grid.height + 2), Path(path).stem.replace("_", " "), fill="white", font=font)
            images.append(frame.convert("P", palette=Image.Palette.ADAPTIVE))
    from submission import atomic_path

    out = Path(out)
    with atomic_path(out) as tmp:
        images[0].save(
            tmp,
            "GIF",
            save_all=True,
            append_images=images[1:],
            duration=int(seconds_per_frame * 1000),
            loop=0,
        )
    return out
