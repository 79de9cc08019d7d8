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
    """A tqdm bar on stderr (hidden when stderr is not a terminal); yields its ``update``."""
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=None, dynamic_ncols=True) as bar:
        yield bar.update


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="dogkit")
@click.option("-q", "--quiet", is_flag=True, help="Only print results and errors.")
def cli(quiet: bool) -> None:
    """dogkit: train, pack, score and submit for Kaggle's Generative Dog Images."""
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s", stream=sys.stderr)


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
