"""``dogkit fetch`` with the real kaggle client against the fake Kaggle server."""

import io
import subprocess
import sys
import zipfile

import pytest
from click.testing import CliRunner

from toolkit.cli import cli
from toolkit.data.discovery import find_competition_data
from toolkit.data.synthetic import competition_archive, make_photos
from toolkit.errors import DogkitError
from toolkit.kaggle.fetch import safe_extract

SLUG = "generative-dog-images"


@pytest.fixture(scope="module")
def archive():
    return competition_archive(make_photos(10, seed=2))


def fetch(dest, *extra):
    return CliRunner().invoke(cli, ["fetch", "--dest", str(dest), *extra])


def assert_no_secret(fake, output):
    assert fake.key not in output


def test_fetch_downloads_extracts_and_is_found(fake_kaggle, tmp_path, archive):
    fake_kaggle.add_competition(SLUG, archive)
    result = fetch(tmp_path / "data")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "data" / SLUG
    assert f"fetched {SLUG} into {folder} (20 files" in result.output
    data = find_competition_data(tmp_path / "data")
    assert len(data.photos.names) == 10 and len(data.annotations.names) == 10
    assert not (folder / "all-dogs.zip").exists() and not (folder / "Annotation.zip").exists()
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [SLUG]  # no staging or download left
    assert_no_secret(fake_kaggle, result.output)


def test_fetch_finds_the_archive_by_the_name_the_client_gave_it(fake_kaggle, tmp_path, archive):
    # the client names the file <slug>.<extension of the download URL>: not always .zip
    fake_kaggle.add_competition(SLUG, archive, file_name="archive-v2.data")
    result = fetch(tmp_path / "data")
    assert result.exit_code == 0, result.output
    assert len(find_competition_data(tmp_path / "data").photos.names) == 10
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [SLUG]


def test_a_download_that_is_not_a_zip_is_one_line(fake_kaggle, tmp_path):
    fake_kaggle.add_competition(SLUG, b"<html>maintenance</html>")
    result = fetch(tmp_path / "data")
    assert result.exit_code == 1 and "Kaggle's download is not a zip archive" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_second_fetch_does_nothing_and_says_so(fake_kaggle, tmp_path, archive):
    fake_kaggle.add_competition(SLUG, archive)
    assert fetch(tmp_path).exit_code == 0
    requests_before = len(fake_kaggle.requests)
    result = fetch(tmp_path)
    assert result.exit_code == 0
    assert "already complete (20 files" in result.output and "nothing to do" in result.output
    assert len(fake_kaggle.requests) == requests_before
    assert fetch(tmp_path, "--force").exit_code == 0
    assert len(fake_kaggle.calls("DownloadDataFiles")) == 2


def test_a_download_cut_in_half_is_resumed(fake_kaggle, tmp_path):
    big = competition_archive(make_photos(60, seed=4, large_every=3))  # several MiB
    assert len(big) > 3 * 2**20
    fake_kaggle.add_competition(SLUG, big)
    fake_kaggle.cut_downloads(1)
    fake_kaggle.skip_backoff()
    result = fetch(tmp_path)
    assert result.exit_code == 0, result.output
    assert len(find_competition_data(tmp_path).photos.names) == 60
    assert any("range" in {k.lower() for k in r.headers} for r in fake_kaggle.requests)


@pytest.mark.parametrize(
    "status,expected",
    [
        (401, "Kaggle refused the credentials (401 Unauthorized)"),
        (403, f"accept the competition's rules at https://www.kaggle.com/competitions/{SLUG}/rules"),
        (404, f"competition '{SLUG}': not found on Kaggle (404)"),
    ],
)
def test_refusals_are_one_clear_line(fake_kaggle, tmp_path, archive, status, expected):
    fake_kaggle.add_competition(SLUG, archive)
    fake_kaggle.fail("DownloadDataFiles", status, f"forced {status}")
    result = fetch(tmp_path)
    assert result.exit_code == 1
    assert expected in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert_no_secret(fake_kaggle, result.output)
    assert not (tmp_path / SLUG).exists()


def test_wrong_key_is_a_401(fake_kaggle, tmp_path, archive, monkeypatch):
    fake_kaggle.add_competition(SLUG, archive)
    monkeypatch.setenv("KAGGLE_USERNAME", fake_kaggle.username)
    monkeypatch.setenv("KAGGLE_KEY", "0123456789abcdef-wrong")
    result = fetch(tmp_path)
    assert result.exit_code == 1 and "401" in result.output
    assert "0123456789abcdef-wrong" not in result.output


def test_unknown_competition_is_a_404(fake_kaggle, tmp_path):
    result = fetch(tmp_path, "--competition", "no-such-competition")
    assert result.exit_code == 1 and "competition 'no-such-competition': not found on Kaggle (404)" in result.output


def test_missing_credentials_say_how_to_set_them(fake_kaggle, tmp_path, monkeypatch):
    (fake_kaggle.config_dir / "kaggle.json").unlink()
    result = fetch(tmp_path)
    assert result.exit_code == 1
    assert "no Kaggle credentials found" in result.output
    for way in ("KAGGLE_API_TOKEN", "~/.kaggle/access_token", "KAGGLE_USERNAME", "kaggle.json", "kaggle auth login"):
        assert way in result.output
    assert "Traceback" not in result.output


def test_network_down_is_one_line(fake_kaggle, tmp_path, archive):
    fake_kaggle.add_competition(SLUG, archive)
    fake_kaggle.stop()
    result = fetch(tmp_path)
    assert result.exit_code == 1
    assert "cannot reach Kaggle" in result.output and "network" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_fetch_in_a_subprocess_reaches_the_fake_through_the_environment(fake_kaggle, tmp_path, archive):
    """The kaggle client alone ignores KAGGLE_API_ENVIRONMENT; dogkit honours it."""
    fake_kaggle.add_competition(SLUG, archive)
    done = subprocess.run(
        [sys.executable, "-m", "toolkit", "fetch", "--dest", str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "fetched generative-dog-images" in done.stdout
    assert fake_kaggle.calls("DownloadDataFiles")


def evil_zip(path, name):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("fine.txt", "ok")
        archive.writestr(name, "pwned")
    return path


@pytest.mark.parametrize("name", ["../escape.txt", "/tmp/absolute.txt", "a/../../escape.txt"])
def test_extraction_refuses_members_outside_the_destination(tmp_path, name):
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(DogkitError, match="refusing to extract member"):
        safe_extract(evil_zip(tmp_path / "evil.zip", name), dest)
    assert list(dest.iterdir()) == []
    assert not (tmp_path / "escape.txt").exists()


def test_extraction_refuses_symbolic_links(tmp_path):
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo("link")
        info.external_attr = (0o120777) << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(DogkitError, match="symbolic link"):
        safe_extract(path, tmp_path / "dest")


def test_fetch_refuses_an_evil_archive_and_writes_nothing_outside(fake_kaggle, tmp_path):
    buffer = io.BytesIO()
    evil_zip(buffer, "../../outside.txt")
    fake_kaggle.add_competition(SLUG, buffer.getvalue())
    result = fetch(tmp_path / "data")
    assert result.exit_code == 1 and "refusing to extract member '../../outside.txt'" in result.output
    assert not (tmp_path / "outside.txt").exists()
    assert not (tmp_path / "data" / SLUG).exists()


def test_data_already_there_is_not_fetched_again(fake_kaggle, tmp_path):
    from toolkit.data.synthetic import write_dataset

    write_dataset(tmp_path / SLUG, make_photos(3, seed=1), "flat")
    (tmp_path / SLUG / "my_notes.txt").write_text("keep me")
    result = fetch(tmp_path)
    assert result.exit_code == 0 and "already complete" in result.output
    assert fake_kaggle.requests == [] and (tmp_path / SLUG / "my_notes.txt").exists()
