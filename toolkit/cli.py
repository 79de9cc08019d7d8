"""The ``dogkit`` command line: one thin command per stage, each calling one library function.

Heavy imports (TensorFlow above all) happen inside the commands that need them, so that
``dogkit --help``, ``check`` and ``pack --from-dir`` start instantly.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import time
from collections.abc import Iterator

import click

from submission.rules import IMAGE_COUNT
from toolkit import __version__
from toolkit.competition import COMPETITION
from toolkit.errors import DogkitError, Interrupted
from toolkit.kaggle.metadata import ACCELERATORS, DEFAULT_ACCELERATOR
from toolkit.models import DEFAULT_MODEL
from toolkit.train.options import SEED_MAX


class _Group(click.Group):
    """Lists commands in the order they are defined and turns expected errors into one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def invoke(self, ctx: click.Context):
        from submission import SubmissionError

        try:
            return super().invoke(ctx)
        except Interrupted as exc:  # SIGINT/SIGTERM: what was saved and how to go on; 128 + the signal
            click.echo(f"dogkit: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:  # SIGINT where nothing waits for a safe point to stop at
            click.echo("dogkit: stopped by SIGINT", err=True)
            sys.exit(128 + signal.SIGINT)
        except (DogkitError, SubmissionError) as exc:
            error = click.ClickException(str(exc))
            error.exit_code = getattr(exc, "exit_code", 1)  # 2 for a budget too small to train
            raise error from None
        except OSError as exc:  # disk full, read-only or missing folders: the file and the reason, one line
            where = exc.filename or "dogkit"
            raise click.ClickException(f"{where}: {exc.strerror or exc}") from None
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # a bug: one line, the traceback kept in a file (DOGKIT_DEBUG=1 shows it)
            from toolkit.crash import report_internal_error

            sys.exit(report_internal_error(exc))


@contextlib.contextmanager
def progress_bar(total: int, desc: str, unit: str = "img") -> Iterator:
    """A progress bar on stderr (hidden when stderr is not a terminal); yields its ``update``."""
    from toolkit.progress import progress_bar as bar

    with bar(total, desc, unit) as shown:
        yield shown.update


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="dogkit")
@click.option("-q", "--quiet", is_flag=True, help="Only print results and errors.")
@click.pass_context
def cli(ctx: click.Context, quiet: bool) -> None:
    """dogkit: train, pack, score and submit for Kaggle's Generative Dog Images."""
    # budgets count from here, so that loading TensorFlow and the data is counted too
    ctx.obj = {"started": time.monotonic()}
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s", stream=sys.stderr)


@cli.command()
@click.option("--competition", default=COMPETITION, show_default=True, help="Kaggle competition slug.")
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

    Needs Kaggle credentials (an API token in KAGGLE_API_TOKEN or ~/.kaggle/access_token, the
    legacy KAGGLE_USERNAME/KAGGLE_KEY or kaggle.json, or `kaggle auth login`) and the competition's
    rules accepted on kaggle.com. Extracts the archive and its inner zips into DEST/COMPETITION.
    """
    from pathlib import Path

    from toolkit.kaggle.fetch import FetchConfig
    from toolkit.kaggle.fetch import fetch as run_fetch

    result = run_fetch(FetchConfig(competition=competition, dest=Path(dest), force=force))
    size = f"{result.files} files, {result.bytes / 2**20:.1f} MiB"
    if result.downloaded:
        click.echo(f"fetched {competition} into {result.folder} ({size})")
    else:
        click.echo(f"{result.folder} is already complete ({size}); nothing to do (--force downloads again)")


def _output(folder: bool = False):
    """A callback refusing an output path that dogkit must not write (see ``submission.target_problem``)."""

    def check(ctx, param, value):
        from submission import target_problem

        problem = None if value is None else target_problem(value, folder)
        if problem:
            raise click.BadParameter(f"{value!r}: {problem}", ctx, param)
        return value

    return check


_SEED = click.IntRange(0, SEED_MAX)  # what NumPy and TensorFlow accept

_count_option = click.option(
    "--count",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="Images the zip holds (the rules: 10,000).",
)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{reason} {n}" for reason, n in counts.items()) or "none"


@cli.command()
@click.option(
    "--src",
    type=click.Path(exists=True, file_okay=False),
    default="data",
    show_default=True,
    envvar="DOGKIT_DATA",
    help="Competition data folder in any of its layouts (zipped or extracted); with --crop center, any "
    "folder of images [env DOGKIT_DATA].",
)
@click.option(
    "--out", type=click.Path(dir_okay=False), callback=_output(), default="data/dogs64.npz", show_default=True
)
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

    from toolkit.data.prepare import PrepareConfig, find_input
    from toolkit.data.prepare import prepare as run_prepare

    config = PrepareConfig(src=Path(src), out=Path(out), crop=crop, workers=workers)
    data = find_input(src, crop)
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


def _budget(ctx, param, value):
    from toolkit.train.budget import parse_budget

    if value is None:  # an option whose default is decided later (the demo's budget)
        return None
    try:
        return parse_budget(value, "budget" if param.name == "budget" else "a time")
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _model_names() -> list[str]:
    from toolkit.models import MODELS

    return list(MODELS)


class _ModelHelp(click.Command):
    """A command whose help ends with every model's options, read from the config dataclasses."""

    sampling_only = False

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        from toolkit.models import MODELS
        from toolkit.train.options import format_options, option_specs

        kind = "sampling options" if self.sampling_only else "options"
        with formatter.section(f"Model {kind} (--option NAME=VALUE; defaults from each model's config)"):
            for entry in MODELS.values():
                config_class = entry.config_class()
                if self.sampling_only:
                    names = ", ".join(spec.name for spec in option_specs(config_class) if spec.sampling) or "none"
                    formatter.write_text(f"{entry.name}: {names}")
                    continue
                formatter.write_text(f"{entry.name}: {entry.summary}")
                formatter.write(format_options(config_class, width=formatter.width or 100) + "\n\n")


class _SamplingHelp(_ModelHelp):
    sampling_only = True


_option_option = click.option(
    "--option",
    "options",
    multiple=True,
    metavar="NAME=VALUE",
    help="A model option, e.g. --option bottleneck=1024 (repeatable; listed below).",
)


def _parse_options(model: str, items, sampling_only: bool = False, **flags) -> dict:
    """``--option`` items (and the flags given) as the model's typed options."""
    from toolkit import models
    from toolkit.train.options import parse_assignments

    config_class = models.get(model).config_class()
    values = {name: value for name, value in flags.items() if value is not None}
    return {**values, **parse_assignments(config_class, items, sampling_only=sampling_only)}


def _eval_every(ctx, param, value):
    from toolkit.train.budget import parse_budget

    if value is None or value.strip().lower() in ("auto", "off"):
        return None if value is None else value.strip().lower()
    try:
        return parse_budget(value, "--eval-every")
    except ValueError as exc:
        raise click.BadParameter(f"{exc}, or auto, or off") from None


def _evaluation_options(command=None, *, inception: bool = True):
    """--eval-every, --eval-images, --features and (unless the command has its own) --inception:
    evaluation while training."""
    from toolkit.train.evaluation import EVAL_IMAGES, EVAL_SHARE

    if command is None:
        return lambda command: _evaluation_options(command, inception=inception)
    options = (
        click.option(
            "--eval-every",
            default="auto",
            show_default=True,
            callback=_eval_every,
            help=f"Score the model as it trains (FID, d, MiFID) this often (10m, 1h), auto (as often as "
            f"{EVAL_SHARE:.0%} of the training time allows) or off. Needs a feature network: --features, "
            "--inception, or the Inception weights `dogkit score` finds. The best snapshot is kept for "
            "`dogkit pack`.",
        ),
        click.option(
            "--eval-images",
            type=click.IntRange(min=2),
            default=EVAL_IMAGES,
            show_default=True,
            help="Images generated per evaluation. FID from 2,000 images reads higher than from 10,000 and "
            "moves between draws: in the README's synthetic feature space, by 0.5 to 0.7 (std over 5 draws of "
            "held-out crops, FID about 1.6) at 2,000 and 0.16 at 10,000. Compare evaluations with each other.",
        ),
        click.option(
            "--features",
            type=click.Path(dir_okay=False),
            default=None,
            help="Evaluate in this feature space: a saved Keras model (.keras), as `dogkit score --features`.",
        ),
        click.option(
            "--inception",
            type=click.Path(dir_okay=False),
            default=None,
            help="Evaluate with these Inception weights (classify_image_graph_def.pb or Keras InceptionV3 notop).",
        ),
    )
    for option in reversed(options if inception else options[:-1]):
        command = option(command)
    return command


def _evaluation_settings(eval_every, eval_images, features, inception):
    from pathlib import Path

    from toolkit.train.evaluation import EvalSettings

    return EvalSettings(
        enabled=eval_every != "off",
        every_s=eval_every if isinstance(eval_every, float) else None,
        images=eval_images,
        features=Path(features) if features else None,
        inception=Path(inception) if inception else None,
    )


@cli.command(cls=_ModelHelp)
@click.option(
    "--data",
    type=click.Path(dir_okay=False),
    default=None,
    help="Crop cache from `dogkit prepare` [default: data/dogs64.npz; with --resume, the run's].",
)
@click.option(
    "--run",
    "run_path",
    type=click.Path(file_okay=False),
    callback=_output(True),
    default="runs/memorizer",
    show_default=True,
    help="Run folder: config, checkpoints, history, samples, TensorBoard logs.",
)
@click.option(
    "--budget",
    default="8h30m",
    show_default=True,
    callback=_budget,
    help="Time for training plus generating and packing 10,000 images (8h30m, 90m, 45s, seconds).",
)
@click.option("--resume", is_flag=True, help="Continue the run in --run from its last checkpoint.")
@click.option(
    "--model",
    type=click.Choice(_model_names()),
    default=None,
    help="The model to train, listed with their options below [default: memorizer; with --resume, the run's].",
)
@_option_option
@click.option("--seed", type=_SEED, default=None, help="The model's seed option [default: the model's, 0].")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="The model's batch_size option.")
@click.option(
    "--strategy",
    type=click.Choice(["auto", "none", "mirrored", "tpu"]),
    default="auto",
    show_default=True,
    help="tf.distribute strategy: auto picks a TPU, the faster of one GPU and mirrored, or the default.",
)
@click.option(
    "--checkpoint-every",
    default="10m",
    show_default=True,
    callback=_budget,
    help="At most one checkpoint per this long (also at each phase's end, when the budget stops "
    "training and on SIGINT/SIGTERM).",
)
@click.option("--no-xla", is_flag=True, help="Do not XLA-compile the training steps.")
@_evaluation_options
@click.pass_context
def train(
    ctx,
    data,
    run_path,
    budget,
    resume,
    model,
    options,
    seed,
    batch_size,
    strategy,
    checkpoint_every,
    no_xla,
    eval_every,
    eval_images,
    features,
    inception,
):
    """Train a model within a time budget, resumably.

    Stops early enough that `dogkit pack --run` still fits in the budget. Writes config.json,
    checkpoints (by time), history.csv, sample grids and TensorBoard scalars into --run.
    """
    from pathlib import Path

    from toolkit import models
    from toolkit.train.budget import format_seconds
    from toolkit.train.loop import TrainConfig
    from toolkit.train.loop import train as run_train
    from toolkit.train.runs import RunFolder

    if resume and not Path(run_path).exists():
        raise click.BadParameter(
            f"{run_path}: no such run folder to resume; drop --resume to start one", param_hint="'--run'"
        )

    run = RunFolder(run_path)
    if resume and run.exists():  # what the run was made with, unless given
        saved = run.read_config()
        model = model or saved["model"]
        if data is None and saved.get("data", {}).get("path"):
            data = saved["data"]["path"]
            if not Path(data).is_file():
                raise click.ClickException(
                    f"{data}: the crop cache {run.config_path} names is not there any more; give it with --data"
                )
    model = model or DEFAULT_MODEL
    data = data or "data/dogs64.npz"
    config = TrainConfig(
        data=Path(data),
        run=Path(run_path),
        budget_s=budget,
        resume=resume,
        strategy=strategy,
        jit=not no_xla,
        checkpoint_every_s=checkpoint_every,
        started=ctx.obj["started"],
        evaluation=_evaluation_settings(eval_every, eval_images, features, inception),
    )
    result = run_train(config, models.get(model), _parse_options(model, options, seed=seed, batch_size=batch_size))
    for note in result.notes:
        click.echo(f"note: {note}")
    shown = ", ".join(f"{name} {value:.4f}" for name, value in result.metrics.items())
    last = f", last epoch {shown}" if shown else ""
    state = "complete" if result.complete else "not complete (train again with --resume to continue)"
    click.echo(
        f"trained {result.epochs} epochs ({result.steps} steps) in {format_seconds(result.seconds)}{last}; "
        f"run {state}: {result.run}"
    )
    best = run.best_evaluation()
    if best is not None:
        from toolkit.train.evaluation import chosen_by, describe_best

        by = " (by FID)" if chosen_by(best) == "FID" else ""
        click.echo(f"best snapshot{by}: {describe_best(best)}; `dogkit pack --run` packs it")
    click.echo(f"next: dogkit pack --run {result.run} --out images.zip")


@cli.command(cls=_SamplingHelp)
@click.option(
    "--from-dir",
    "from_dir",
    type=click.Path(exists=True, file_okay=False),
    help="Folder of images to pack (any format Pillow reads), taken in name order.",
)
@click.option(
    "--run",
    "run_path",
    type=click.Path(exists=True, file_okay=False),
    help="Run folder of a trained model: generate the images from it.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    callback=_output(),
    default="images.zip",
    show_default=True,
    help="Zip to write.",
)
@_count_option
@click.option("--resize", is_flag=True, help="With --from-dir: resize images that are not 64x64 (Lanczos).")
@click.option("--seed", type=_SEED, default=None, help="With --run: sampling seed [default: the run's].")
@click.option(
    "--option",
    "options",
    multiple=True,
    metavar="NAME=VALUE",
    help="With --run: a sampling option of the run's model, e.g. --option mix=0.6 (listed below).",
)
@click.option(
    "--snapshot",
    type=click.Choice(["best", "latest"]),
    default=None,
    help="With --run: the checkpoint to pack: best (the best evaluation while training) or latest "
    "[default: best when the run made evaluations, else latest].",
)
def pack(from_dir, run_path, out, count, resize, seed, options, snapshot) -> None:
    """Pack images into a submission images.zip.

    From a folder (--from-dir) or generated by a trained run (--run). Writes exactly COUNT PNG
    members, 64x64 RGB, under a temporary name renamed into place only when complete.
    """
    if (from_dir is None) == (run_path is None):
        raise click.UsageError("give exactly one of --from-dir and --run")
    from toolkit.pack import sigterm_as_sigint

    if from_dir is not None and snapshot is not None:
        raise click.UsageError("--snapshot applies to --run only")
    with sigterm_as_sigint("pack"):
        _pack(from_dir, run_path, out, count, resize, seed, options, snapshot)
    if count != IMAGE_COUNT:
        click.echo(f"warning: {out} holds {count:,} images: not a valid submission (the rules ask for {IMAGE_COUNT:,})")


def _pack(from_dir, run_path, out, count, resize, seed, options, snapshot=None) -> None:
    if from_dir is not None:
        if options:
            raise click.UsageError("--option applies to --run only")
        from toolkit.pack.from_dir import pack_from_dir

        with progress_bar(count, "pack") as update:
            result = pack_from_dir(from_dir, out, count, resize=resize, progress=update)
        notes = [
            f"{n} {what}" for what, n in (("resized", result.resized), ("converted to RGB", result.converted)) if n
        ]
        click.echo(f"wrote {result.path}: {result.count} PNG images" + (f" ({', '.join(notes)})" if notes else ""))
        return
    from toolkit.pack.from_run import describe_snapshot, pack_estimate, pack_run
    from toolkit.train.runs import RunFolder

    model = RunFolder(run_path).read_config().get("model", "")
    parsed = _parse_options(model, options, sampling_only=True) if options else {}
    click.echo(pack_estimate(run_path, count))
    with progress_bar(count, "generate") as update:
        result = pack_run(run_path, out, count, options=parsed, seed=seed, progress=update, snapshot=snapshot)
    if not result.trained:
        click.echo(f"note: {run_path} holds a generator no training step has reached: its images are its initial noise")
    click.echo(
        f"wrote {result.path}: {result.count} PNG images from {result.model} run {run_path}, "
        f"{describe_snapshot(result)} (seed {result.seed})"
    )


@cli.command()
@click.argument("zip_path", metavar="ZIP", type=click.Path(dir_okay=False))
@_count_option
def check(zip_path: str, count: int) -> None:
    """Validate a submission zip against the rules.

    Prints every problem and a one-line summary; exits 1 on any problem, 0 when valid.
    """
    from submission import validate_zip

    with progress_bar(count, "check") as update:
        report = validate_zip(zip_path, count, progress=update)
    for problem in report.problems:
        click.echo(f"problem: {problem}")
    for warning in report.warnings:
        click.echo(f"warning: {warning}")
    click.echo(report.summary())
    if not report.ok:
        sys.exit(1)


@cli.command()
@click.argument("zip_path", metavar="ZIP", type=click.Path(dir_okay=False))
@click.option(
    "--reference",
    type=click.Path(exists=True),
    default=None,
    help="Competition data folder, folder or zip of images, or an .npz of reference features "
    "[default: $DOGKIT_DATA or data/].",
)
@click.option(
    "--inception",
    type=click.Path(exists=True),
    default=None,
    help="classify_image_graph_def.pb (the competition's graph) or Keras InceptionV3 notop weights "
    "[default: found under /kaggle/input or in the Keras cache].",
)
@click.option(
    "--features",
    "features",
    type=click.Path(),
    default=None,
    help="Score in another feature space: a saved Keras model (.keras) mapping (N, 64, 64, 3) float32 "
    "RGB images, values 0..255, to (N, D) features. Its numbers are not the competition's metric.",
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Reference features cache [default: ~/.cache/dogkit].",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@_count_option
def score(zip_path, reference, inception, features, cache_dir, as_json, count) -> None:
    """Compute the competition's metric, MiFID, for a zip.

    Validates the zip first, extracts Inception features (reference features are cached), prints
    FID, memorization distance, thresholded distance and MiFID, and writes score.json beside it.
    With --features, the same numbers in that model's feature space instead.
    """
    from pathlib import Path

    from toolkit.metric.score import ScoreConfig, score_zip, write_score_json

    config = ScoreConfig(
        zip_path=Path(zip_path),
        reference=Path(reference) if reference else None,
        inception=Path(inception) if inception else None,
        features=Path(features) if features else None,
        cache_dir=Path(cache_dir) if cache_dir else None,
        count=count,
    )
    report = score_zip(config, progress=lambda total, desc: progress_bar(total, desc))
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        click.echo(report.to_json())
    else:
        for line in report.lines():
            click.echo(line)
    try:  # after the score is shown: a read-only folder (an attached dataset) must not lose it
        write_score_json(report)
    except OSError as exc:
        click.echo(f"warning: score not saved: {exc.filename}: {exc.strerror or exc}", err=True)


@cli.command()
@click.argument("zip_path", metavar="ZIP", type=click.Path(dir_okay=False))
@click.option("--train", type=click.Path(dir_okay=False), required=True, help="Crop cache (.npz) of `dogkit prepare`.")
@click.option(
    "--inception",
    type=click.Path(dir_okay=False),
    default=None,
    help="Inception graph .pb or Keras InceptionV3 weights [default: found as `dogkit score` finds them].",
)
@click.option(
    "--features",
    type=click.Path(),
    default=None,
    help="Another feature space: a saved Keras model (.keras), as `dogkit score --features` takes.",
)
@click.option("--out", type=click.Path(dir_okay=False), callback=_output(), default="inspect.png", show_default=True)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False),
    callback=_output(),
    default=None,
    help="Also write each image's nearest crop and distance as JSON.",
)
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False), default=None, help="Feature cache folder.")
@_count_option
def inspect(zip_path, train, inception, features, out, json_path, cache_dir, count) -> None:
    """Show what MiFID's memorization penalty sees: each image's nearest training crop."""
    from pathlib import Path

    from toolkit.metric.inspection import InspectConfig, inspect_zip, write_json
    from toolkit.metric.inspection_sheet import write_sheet

    config = InspectConfig(
        zip_path=Path(zip_path),
        train=Path(train),
        inception=Path(inception) if inception else None,
        features=Path(features) if features else None,
        cache_dir=Path(cache_dir) if cache_dir else None,
        count=count,
    )
    found, images, crops = inspect_zip(config, progress=lambda total, desc: progress_bar(total, desc))
    for line in found.lines():
        click.echo(line)
    click.echo(f"wrote {write_sheet(found, images, crops, out)}")
    if json_path:
        click.echo(f"wrote {write_json(found, json_path)}")


@cli.command()
@click.argument("run_path", metavar="RUN", type=click.Path(exists=True, file_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), callback=_output(), default="training.gif", show_default=True)
@click.option(
    "--fps", type=click.FloatRange(min=0.1, max=50), default=2.0, show_default=True, help="Frames per second."
)
def timelapse(run_path, out, fps) -> None:
    """Animate a run's sample grids into a GIF, in training order."""
    from pathlib import Path

    from toolkit.train.runs import RunFolder
    from toolkit.visuals import timelapse as make_gif

    frames = sorted(RunFolder(run_path).samples_dir.glob("*.png"))
    if not frames:
        raise click.ClickException(f"{run_path}: no sample grids yet (samples/*.png); train first")
    path = make_gif(frames, Path(out), seconds_per_frame=1.0 / fps)
    click.echo(f"wrote {path}: {len(frames)} frames at {fps:g} per second")


@cli.command("run", cls=_ModelHelp)
@click.option(
    "--src",
    type=click.Path(exists=True, file_okay=False),
    default="data",
    show_default=True,
    envvar="DOGKIT_DATA",
    help="Competition data folder, in any of its layouts [env DOGKIT_DATA].",
)
@click.option(
    "--work",
    type=click.Path(file_okay=False),
    callback=_output(True),
    default="work",
    show_default=True,
    help="Folder for the crop cache and the run.",
)
@click.option("--budget", default="8h30m", show_default=True, callback=_budget, help="Time for the whole job.")
@click.option("--out", type=click.Path(dir_okay=False), callback=_output(), default="images.zip", show_default=True)
@click.option(
    "--inception",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Inception weights for scoring (classify_image_graph_def.pb or Keras InceptionV3 notop).",
)
@click.option("--no-score", is_flag=True, help="Do not score the zip.")
@click.option("--model", type=click.Choice(_model_names()), default=DEFAULT_MODEL, show_default=True)
@_option_option
@_evaluation_options(inception=False)
@click.pass_context
def run_command(
    ctx, src, work, budget, out, inception, no_score, model, options, eval_every, eval_images, features
) -> None:
    """Prepare, train, pack and score as one job within the budget."""
    from pathlib import Path

    from toolkit.pipeline import PipelineConfig, run_pipeline

    result = run_pipeline(
        PipelineConfig(
            src=Path(src),
            work=Path(work),
            out=Path(out),
            budget_s=budget,
            started=ctx.obj["started"],
            model=model,
            model_options=_parse_options(model, options),
            score=not no_score,
            inception=Path(inception) if inception else None,
            evaluation=_evaluation_settings(eval_every, eval_images, features, None),
        ),
        say=click.echo,
    )
    _echo_score(result.score)


def _echo_score(score: dict | None) -> None:
    if score is None:
        return
    click.echo(
        f"FID {score['fid']:.4f}, memorization distance {score['distance']:.6f} "
        f"(thresholded {score['distance_thresholded']:.6f}), MiFID {score['mifid']:.4f}"
    )


@cli.command()
@click.option("--out", type=click.Path(file_okay=False), callback=_output(True), default="demo", show_default=True)
@click.option(
    "--budget",
    default=None,
    callback=_budget,
    help="Time for the whole demo [default: a minute of training plus what the rest takes on this machine].",
)
@click.pass_context
def demo(ctx, out, budget) -> None:
    """Run the whole job on a small built-in dataset (about 2 minutes).

    Builds Kaggle-shaped synthetic dog photos with VOC annotations, then prepares, trains and
    packs a full 10,000-image images.zip. It trains for a minute and measures how long packing
    takes on this machine; a --budget too small to train a minute is refused (exit 2).
    """
    from pathlib import Path

    from toolkit.demo import DemoConfig, run_demo
    from toolkit.train.budget import format_seconds

    result = run_demo(DemoConfig(out=Path(out), budget_s=budget, started=ctx.obj["started"]), say=click.echo)
    click.echo(f"demo finished in {format_seconds(result.seconds)} (its budget: {format_seconds(result.budget_s)}):")
    click.echo(f"  submission   {result.images_zip}  (check it: dogkit check {result.images_zip})")
    if result.sample_grid.is_file():
        click.echo(f"  sample grid  {result.sample_grid}: {result.grid_caption}")
    else:
        click.echo(f"  sample grid  {result.grid_caption}")
    click.echo(f"  data report  {result.data_report}  (crops: {result.contact_sheet})")


def _default_kernel_id(model: str) -> str:
    """``<the signed-in user>/dogkit-<model>``, saying whose account that is and how dogkit knows."""
    from toolkit.kaggle.client import whoami

    identity = whoami()
    click.echo(f"Kaggle user: {identity}")
    return f"{identity.username}/dogkit-{model}"


@cli.command(cls=_ModelHelp)
@click.option(
    "--out", type=click.Path(file_okay=False), callback=_output(True), default="build/kernel", show_default=True
)
@click.option("--kernel-id", default=None, help="OWNER/SLUG on Kaggle [default: the signed-in user's dogkit-MODEL].")
@click.option("--budget", default="8h30m", show_default=True, help="Time for the whole kernel run (Kaggle allows 9h).")
@click.option(
    "--accelerator",
    type=click.Choice(list(ACCELERATORS)),
    default=DEFAULT_ACCELERATOR,
    show_default=True,
    help="What Kaggle runs the kernel on: none (CPU), gpu (Kaggle's default GPU), gpu-t4x2 (two T4s), tpu (TPU v5e-8).",
)
@click.option("--model", type=click.Choice(_model_names()), default=DEFAULT_MODEL, show_default=True)
@_option_option
@click.option(
    "--metric-dataset",
    default=None,
    metavar="OWNER/SLUG",
    help="Attach a dataset holding classify_image_graph_def.pb, so that the kernel scores itself.",
)
def bundle(out, kernel_id, budget, accelerator, model, options, metric_dataset) -> None:
    """Write the single-file Kaggle kernel and its metadata."""
    from pathlib import Path

    from toolkit.kaggle.bundle import BundleConfig, write_bundle
    from toolkit.kaggle.kernels import KAGGLE_SESSION_LIMIT_S
    from toolkit.train.budget import parse_budget

    try:
        if parse_budget(budget) > KAGGLE_SESSION_LIMIT_S:
            raise click.BadParameter(f"{budget} is over Kaggle's limit of 9h for a kernel run", param_hint="'--budget'")
        result = write_bundle(
            BundleConfig(
                out=Path(out),
                kernel_id=kernel_id or _default_kernel_id(model),
                budget=budget,
                accelerator=accelerator,
                model=model,
                model_options=_parse_options(model, options),
                metric_dataset=metric_dataset,
            )
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(
        f"wrote {result.script} ({result.size / 1024:.0f} KiB, {len(result.modules)} modules) and {result.metadata}"
    )
    click.echo(f"next: dogkit push --dir {out} --wait")


@cli.command()
@click.option(
    "--dir",
    "folder",
    type=click.Path(exists=True, file_okay=False),
    default="build/kernel",
    show_default=True,
    help="Kernel folder written by `dogkit bundle`.",
)
@click.option("--wait", is_flag=True, help="Wait until the run ends; fail if it ends in error.")
@click.option(
    "--poll",
    type=click.FloatRange(min=0.01),
    default=30.0,
    show_default=True,
    help="Seconds between status checks with --wait.",
)
def push(folder, wait, poll) -> None:
    """Push the kernel to Kaggle as a new version (and run it).

    The run's timeout is its bundled budget plus 15 minutes (at most Kaggle's 9 hours). With
    --wait, follows that very version (not the kernel's previous run) and rides out rate limits,
    server errors and network drops, a line each.
    """
    from toolkit.kaggle import kernels
    from toolkit.train.budget import format_seconds

    result = kernels.push(folder)
    timeout = f" (timeout {format_seconds(result.timeout_s)})" if result.timeout_s else ""
    click.echo(f"pushed {result.kernel} version {result.version}{timeout}: {result.url}")
    versioned = f"{result.kernel}/{result.version}"
    if wait:
        kernels.wait(
            result.kernel,
            result.version,
            poll_seconds=poll,
            on_change=lambda s: click.echo(f"{s.kernel}: {s.state.lower()}"),
            on_retry=lambda line: click.echo(line, err=True),
        )
        click.echo(f"{versioned} complete; next: dogkit output {versioned}")
    else:
        click.echo(f"next: dogkit status {versioned}")


@cli.command()
@click.argument("kernel", metavar="OWNER/SLUG[/VERSION]")
def status(kernel) -> None:
    """Show a kernel run's status (without VERSION: the newest version's run, by its number)."""
    from toolkit.competition import check_kernel_id
    from toolkit.kaggle import kernels
    from toolkit.kaggle.client import connect

    check_kernel_id(kernel, version=True)
    api = connect()
    if kernel.count("/") == 1:
        kernel = f"{kernel}/{kernels.latest_version(kernel, api)}"
    current = kernels.status(kernel, api)
    click.echo(f"{current.kernel}: {current.state.lower()}" + (f" ({current.failure})" if current.failure else ""))
    if current.state == "ERROR":
        sys.exit(1)


@cli.command()
@click.argument("kernel", metavar="OWNER/SLUG[/VERSION]")
@click.option(
    "--dest", type=click.Path(file_okay=False), default=None, help="Folder for the files [default: SLUG-output]."
)
def output(kernel, dest) -> None:
    """Download a kernel run's output files and log (without VERSION: the newest version's)."""
    from toolkit.competition import check_kernel_id
    from toolkit.kaggle import kernels
    from toolkit.kaggle.client import connect

    check_kernel_id(kernel, version=True)
    api = connect()
    if kernel.count("/") == 1:
        kernel = f"{kernel}/{kernels.latest_version(kernel, api)}"
        click.echo(f"{kernel} is the newest version")
    dest = dest or f"{kernel.split('/')[1]}-output"
    files = kernels.output(kernel, dest, api)
    for path in files:
        click.echo(str(path))
    click.echo(f"{len(files)} files from {kernel} in {dest}")


@cli.command()
@click.option("--kernel", required=True, metavar="OWNER/SLUG", help="The kernel whose images.zip to submit.")
@click.option(
    "--version", type=click.IntRange(min=1), default=None, help="Kernel version [default: the latest complete one]."
)
@click.option("-m", "--message", required=True, help="Submission description.")
@click.option("--competition", default=COMPETITION, show_default=True)
def submit(kernel, version, message, competition) -> None:
    """Submit a kernel's images.zip, after validating it.

    Downloads the version's images.zip and refuses to submit it if it breaks the rules. Prints
    a local score beside the submission when one was computed for that very zip.
    """
    from pathlib import Path

    from toolkit.kaggle import kernels

    result = kernels.submit(
        kernel,
        message,
        version=version,
        competition=competition,
        score_files=sorted(Path.cwd().glob("**/score.json"))[:50],
        say=click.echo,
    )
    answer = f": {result.message}" if result.message else ""
    click.echo(f"submitted {kernel} version {result.version} to {competition}{answer}")
    if result.submissions_left is not None:
        click.echo(f"submissions left today: {result.submissions_left}")
    if result.local_score:
        click.echo("local score of this images.zip: ", nl=False)
        _echo_score(result.local_score)


def main() -> None:
    cli(prog_name="dogkit")
