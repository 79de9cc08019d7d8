"""The command line: help, version, and the two commands that need no TensorFlow."""

import subprocess
import sys

import numpy as np
from click.testing import CliRunner
from PIL import Image

from tests.conftest import varied_images
from toolkit import __version__
from toolkit.cli import cli


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def write_folder(folder, n, size=64, fmt="png", mode="RGB"):
    folder.mkdir(parents=True, exist_ok=True)
    for k, image in enumerate(varied_images(n, seed=5, size=size)):
        Image.fromarray(image).convert(mode).save(folder / f"gen_{k:04d}.{fmt}")
    return folder


def test_help_lists_every_command_with_a_description():
    result = run("--help")
    assert result.exit_code == 0
    commands = result.output.split("Commands:")[1].strip().splitlines()
    assert len(commands) >= 2
    for line in commands:
        name, description = line.split(maxsplit=1)
        assert description.strip(), f"{name} has no description"
    assert {"pack", "check"} <= {line.split()[0] for line in commands}


def test_version():
    assert run("--version").output.strip() == f"dogkit, version {__version__}"


def test_help_check_and_pack_do_not_import_tensorflow(tmp_path):
    folder = write_folder(tmp_path / "gen", 12)
    code = (
        "import sys\n"
        "from toolkit.cli import cli\n"
        "for args in (['--help'], ['pack', '--from-dir', sys.argv[1], '--out', sys.argv[2], '--count', '12'],"
        " ['check', sys.argv[2], '--count', '12']):\n"
        "    try:\n"
        "        cli(args, prog_name='dogkit')\n"
        "    except SystemExit as e:\n"
        "        assert not e.code, (args, e.code)\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'scipy', 'kaggle') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(folder), str(tmp_path / "o.zip")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_console_script_runs():
    done = subprocess.run([sys.executable, "-m", "toolkit", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "pack" in done.stdout


def test_pack_from_dir_then_check(tmp_path):
    folder = write_folder(tmp_path / "gen", 25)
    out = tmp_path / "images.zip"
    result = run("pack", "--from-dir", str(folder), "--out", str(out), "--count", "25")
    assert result.exit_code == 0, result.output
    assert f"wrote {out}: 25 PNG images" in result.output
    result = run("check", str(out), "--count", "25")
    assert result.exit_code == 0
    assert result.output.strip().endswith("valid, 25 PNG images of 64x64 RGB")


def test_pack_reads_other_formats_and_modes(tmp_path):
    folder = write_folder(tmp_path / "gen", 6, fmt="jpg", mode="L")
    out = tmp_path / "images.zip"
    result = run("pack", "--from-dir", str(folder), "--out", str(out), "--count", "6")
    assert result.exit_code == 0, result.output
    assert "6 converted to RGB" in result.output
    assert run("check", str(out), "--count", "6").exit_code == 0


def test_pack_refuses_other_sizes_unless_resize(tmp_path):
    folder = write_folder(tmp_path / "gen", 5)
    Image.fromarray(varied_images(1, size=80)[0]).save(folder / "gen_0002.png")
    out = tmp_path / "images.zip"
    result = run("pack", "--from-dir", str(folder), "--out", str(out), "--count", "5")
    assert result.exit_code == 1
    assert "gen_0002.png: image is 80x80, expected 64x64 (pass --resize" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()
    result = run("pack", "--from-dir", str(folder), "--out", str(out), "--count", "5", "--resize")
    assert result.exit_code == 0 and "1 resized" in result.output
    assert run("check", str(out), "--count", "5").exit_code == 0


def test_pack_refuses_wrong_count_and_broken_files(tmp_path):
    folder = write_folder(tmp_path / "gen", 4)
    out = tmp_path / "images.zip"
    result = run("pack", "--from-dir", str(folder), "--out", str(out), "--count", "5")
    assert result.exit_code == 1 and "holds 4 images, expected exactly 5" in result.output
    (folder / "zz_broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    result = run("pack", "--from-dir", str(folder), "--out", str(out), "--count", "5")
    assert result.exit_code == 1 and "zz_broken.png: cannot read image" in result.output
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["gen"]


def test_pack_ignores_files_that_are_not_images(tmp_path):
    folder = write_folder(tmp_path / "gen", 3)
    (folder / "notes.txt").write_text("hello")
    result = run("pack", "--from-dir", str(folder), "--out", str(tmp_path / "i.zip"), "--count", "3")
    assert result.exit_code == 0, result.output


def test_check_prints_each_problem_and_exits_1(tmp_path):
    folder = write_folder(tmp_path / "gen", 3)
    out = tmp_path / "images.zip"
    run("pack", "--from-dir", str(folder), "--out", str(out), "--count", "3")
    result = run("check", str(out), "--count", "4")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0] == "problem: holds 3 images, expected exactly 4"
    assert lines[-1] == f"{out}: INVALID, 1 problem (count: 1)"
    missing = run("check", str(tmp_path / "nope.zip"))
    assert missing.exit_code == 1 and "file not found" in missing.output


def test_pack_output_is_identical_for_identical_input(tmp_path):
    folder = write_folder(tmp_path / "gen", 8)
    run("pack", "--from-dir", str(folder), "--out", str(tmp_path / "a.zip"), "--count", "8")
    run("pack", "--from-dir", str(folder), "--out", str(tmp_path / "b.zip"), "--count", "8")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    assert np.frombuffer((tmp_path / "a.zip").read_bytes()[:4], np.uint8).tolist() == [80, 75, 3, 4]


def _crash(*args, **kwargs):
    raise ZeroDivisionError("a bug")


def test_an_unexpected_exception_is_one_line_exit_70_and_a_saved_traceback(tmp_path, monkeypatch):
    import submission

    monkeypatch.setattr(submission, "validate_zip", _crash)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv("DOGKIT_DEBUG", raising=False)
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    result = CliRunner().invoke(cli, ["check", str(tmp_path / "x.zip")])
    assert result.exit_code == 70
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("dogkit: internal error: ZeroDivisionError: a bug (traceback and command in ")
    assert "Traceback" not in result.output
    saved = list(tmp_path.glob("dogkit-crash-*.txt"))
    assert len(saved) == 1 and str(saved[0]) in line
    text = saved[0].read_text()
    assert "command: dogkit" in text and "ZeroDivisionError: a bug" in text and "Traceback" in text


def test_dogkit_debug_shows_the_traceback(tmp_path, monkeypatch):
    import submission

    monkeypatch.setattr(submission, "validate_zip", _crash)
    monkeypatch.setenv("DOGKIT_DEBUG", "1")
    result = CliRunner().invoke(cli, ["check", str(tmp_path / "x.zip")])
    assert isinstance(result.exception, ZeroDivisionError)
