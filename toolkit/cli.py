"""The ``dogkit`` command line: one thin command per stage, each calling one library function.

Heavy imports (TensorFlow above all) happen inside the commands that need them, so that
``dogkit --help``, ``check`` and ``pack --from-dir`` start instantly.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

import click

from . import __version__
from .errors import DogkitError


class _Group(click.Group):
    """Lists commands in the order they are defined and turns expected errors into one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def invoke(self, ctx: click.Context):
        from submission import SubmissionError

        try:
            return super().invoke(ctx)
        except (DogkitError, SubmissionError) as exc:
            raise click.ClickException(str(exc)) from None


@contextlib.contextmanager
def progress_bar(total: int, desc: str, unit: str = "img") -> Iterator:
    """A progress bar on stderr (hidden when stderr is not a terminal); yields its ``update``."""
    from .progress import progress_bar as bar

    with bar(total, desc, unit) as shown:
        yield shown.update


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="dogkit")
@click.option("-q", "--quiet", is_flag=True, help="Only print results and errors.")
def cli(quiet: bool) -> None:
    """dogkit: train, pack, score and submit for Kaggle's Generative Dog Images."""
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s", stream=sys.stderr)


@cli.command()
@click.option("--competition", default="generative-dog-images", show_default=True, help="Kaggle competition slug.")
@click.option(
    "--dest",
    type=click.Path(file_okay=False),
    default="data",
    show_default=True,
    help="Data lands in DEST/COMPETITION/.",
)
@click.option("--force", is_flag=True, help="Download and extract again even when the data is complete.")
def fetch(competition: str, dest: str, force: bool) -> None:
    """Download the competition's data with the Kaggle API.

    Needs Kaggle credentials (KAGGLE_USERNAME/KAGGLE_KEY or kaggle.json) and the competition's
    rules accepted on kaggle.com. Extracts the archive and its inner zips into DEST/COMPETITION.
    """
    from pathlib import Path

    from .fetch import FetchConfig
    from .fetch import fetch as run_fetch

    result = run_fetch(FetchConfig(competition=competition, dest=Path(dest), force=force))
    size = f"{result.files} files, {result.bytes / 2**20:.1f} MiB"
    if result.downloaded:
        click.echo(f"fetched {competition} into {result.folder} ({size})")
    else:
        click.echo(f"{result.folder} is already complete ({size}); nothing to do (--force downloads again)")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{reason} {n}" for reason, n in counts.items()) or "none"


@cli.command()
@click.option(
    "--src",
    type=click.Path(exists=True, file_okay=False),
    default="data",
    show_default=True,
    envvar="DOGKIT_DATA",
    help="Competition data folder, in any of its layouts (zipped or extracted) [env DOGKIT_DATA].",
)
@click.option("--out", type=click.Path(dir_okay=False), default="data/dogs64.npz", show_default=True)
@click.option(
    "--crop",
    type=click.Choice(["bbox", "center"]),
    default="bbox",
    show_default=True,
    help="bbox: one square crop per bounding box; center: each photo's central square.",
)
@click.option("--workers", type=click.IntRange(min=0), default=0, help="Worker processes (default: one per core).")
def prepare(src: str, out: str, crop: str, workers: int) -> None:
    """Crop the photos to a cache of 64x64 images.

    Writes OUT (.npz: images, breeds, sources, boxes), report.json and contact_sheet.png beside
    it. Broken photos and annotations are skipped or repaired and counted in the report.
    """
    from pathlib import Path

    from .discovery import find_competition_data
    from .prepare import PrepareConfig
    from .prepare import prepare as run_prepare

    config = PrepareConfig(src=Path(src), out=Path(out), crop=crop, workers=workers)
    data = find_competition_data(src)
    with progress_bar(len(data.photos.names), "prepare", unit="photo") as update:
        result = run_prepare(config, progress=update, data=data)
    report = result.report
    click.echo(
        f"prepared {report.crops} crops from {report.photos} photos ({report.breeds} breeds) "
        f"in {report.seconds:.1f} s -> {result.out}"
    )
    click.echo(f"skipped: {_counts(report.skipped)}")
    click.echo(f"repaired: {_counts(report.repaired)}")
    click.echo(f"report: {result.report_path}, contact sheet: {result.sheet_path}")


@cli.command()
@click.option(
    "--from-dir",
    "from_dir",
    type=click.Path(exists=True, file_okay=False),
    required=True,
    help="Folder of images to pack (any format Pillow reads), taken in name order.",
)
@click.option("--out", type=click.Path(dir_okay=False), default="images.zip", show_default=True, help="Zip to write.")
@click.option(
    "--count", type=click.IntRange(min=1), default=10_000, show_default=True, help="Images the zip must hold."
)
@click.option("--resize", is_flag=True, help="Resize images that are not 64x64 (Lanczos) instead of refusing them.")
def pack(from_dir: str, out: str, count: int, resize: bool) -> None:
    """Pack images into a submission images.zip.

    Writes exactly COUNT PNG members, 64x64 RGB, under a temporary name renamed into place
    only when complete.
    """
    from .packing import pack_from_dir

    with progress_bar(count, "pack") as update:
        result = pack_from_dir(from_dir, out, count, resize=resize, progress=update)
    notes = [f"{n} {what}" for what, n in (("resized", result.resized), ("converted to RGB", result.converted)) if n]
    click.echo(f"wrote {result.path}: {result.count} PNG images" + (f" ({', '.join(notes)})" if notes else ""))


@cli.command()
@click.argument("zip_path", metavar="ZIP", type=click.Path(dir_okay=False))
@click.option(
    "--count", type=click.IntRange(min=1), default=10_000, show_default=True, help="Images the zip must hold."
)
def check(zip_path: str, count: int) -> None:
    """Validate a submission zip against the rules.

    Prints every problem and a one-line summary; exits 1 on any problem, 0 when valid.
    """
    from submission import validate_zip

    with progress_bar(count, "check") as update:
        report = validate_zip(zip_path, count, progress=update)
    for problem in report.problems:
        click.echo(f"problem: {problem}")
    click.echo(report.summary())
    if not report.ok:
        sys.exit(1)


def main() -> None:
    cli(prog_name="dogkit")
