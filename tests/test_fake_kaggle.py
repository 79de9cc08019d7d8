"""The real ``kaggle`` client (KaggleApi) against FakeKaggle: what it sends, returns and raises.

These tests pin the installed client's behaviour that dogkit's fetch/push/status/output/submit rely on.
``kaggle`` is imported inside the tests, after the fixture has set up a private config, because importing
any part of it runs ``KaggleApi().authenticate()`` at import time.
"""

from __future__ import annotations

import io
import json
import os
import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fake_kaggle import BLOB, LOOPBACK_HOSTS, RULES_MESSAGE, FakeKaggle

COMPETITION = "generative-dog-images"
MIB = 2**20


def _archive() -> bytes:
    """A small competition-like zip (two inner zips, as the real data set has)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("all-dogs.zip", os.urandom(40_000))
        archive.writestr("Annotation.zip", b"annotations" * 1000)
    return buffer.getvalue()


def _big_archive() -> bytes:
    """A 3 MiB zip: the client writes whole 1 MiB chunks, so a cut must come after the first MiB to leave bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("all-dogs.zip", os.urandom(3 * MIB))
    return buffer.getvalue()


def _api() -> Any:
    from kaggle.api.kaggle_api_extended import KaggleApi

    api = KaggleApi()
    api.authenticate()
    return api


def _kernel_folder(tmp_path: Path, fake: FakeKaggle, code: str = "print('woof')\n") -> Path:
    folder = tmp_path / "kernel"
    folder.mkdir()
    (folder / "dog_gan.py").write_text(code)
    metadata = {
        "id": f"{fake.username}/dogkit-gan",
        "title": "dogkit gan",
        "code_file": "dog_gan.py",
        "language": "python",
        "kernel_type": "script",
        "is_private": True,
        "enable_gpu": True,
        "enable_internet": False,
        "competition_sources": [COMPETITION],
        "dataset_sources": [],
    }
    (folder / "kernel-metadata.json").write_text(json.dumps(metadata))
    return folder


def _assert_offline(fake: FakeKaggle) -> None:
    assert fake.lookups, "the client resolved no host at all"
    assert {host for host, _ in fake.lookups} <= LOOPBACK_HOSTS


# ---- environment and authentication --------------------------------------------------------------


def test_kaggle_api_ignores_test_environment_so_the_fixture_redirects_prod(fake_kaggle: FakeKaggle) -> None:
    from kagglesdk import KaggleEnv
    from kagglesdk.kaggle_env import get_env

    api = _api()
    client = api.build_kaggle_client().http_client()
    assert get_env() is KaggleEnv.TEST
    assert client._env is KaggleEnv.PROD  # KAGGLE_API_ENVIRONMENT=TEST alone would reach api.kaggle.com
    assert client._get_request_url("s", "M") == "http://localhost:7777/v1/s/M"
    assert api.config_values["username"] == fake_kaggle.username
    assert api.config_values["auth_method"] == "LEGACY_API_KEY"


def test_network_guard_stops_a_real_kaggle_host(fake_kaggle: FakeKaggle, monkeypatch: pytest.MonkeyPatch) -> None:
    from kagglesdk import KaggleEnv, kaggle_env

    monkeypatch.setitem(kaggle_env._env_to_endpoint, KaggleEnv.PROD, "https://api.kaggle.com")  # undo the redirect
    with pytest.raises(requests.ConnectionError, match="fake_kaggle refused to resolve 'api.kaggle.com'"):
        _api().competition_list_files(COMPETITION)
    assert ("api.kaggle.com", 443) in fake_kaggle.lookups
    assert fake_kaggle.requests == []


def test_authenticate_without_credentials_exits_1(fake_kaggle: FakeKaggle, capsys: pytest.CaptureFixture) -> None:
    assert fake_kaggle.config_dir is not None
    (fake_kaggle.config_dir / "kaggle.json").unlink()
    from kaggle.api.kaggle_api_extended import KaggleApi

    with pytest.raises(SystemExit) as info:
        KaggleApi().authenticate()
    assert info.value.code == 1
    assert "Authentication required to call the Kaggle API." in capsys.readouterr().out
    assert fake_kaggle.requests == []


def test_bad_key_answers_401(fake_kaggle: FakeKaggle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_kaggle.add_competition(COMPETITION, _archive())
    monkeypatch.setenv("KAGGLE_KEY", "wrong-key")  # environment overrides kaggle.json
    with pytest.raises(requests.HTTPError) as info:
        _api().competition_download_files(COMPETITION, path=str(tmp_path))
    assert info.value.response.status_code == 401
    assert fake_kaggle.requests[-1].authorized is False
    assert fake_kaggle.requests[-1].headers["Authorization"].startswith("Basic ")


# ---- competition data ---------------------------------------------------------------------------


def test_download_writes_slug_zip_without_unzipping(fake_kaggle: FakeKaggle, tmp_path: Path) -> None:
    archive = _archive()
    fake_kaggle.add_competition(COMPETITION, archive)
    api = _api()

    assert api.competition_download_files(COMPETITION, path=str(tmp_path), quiet=True) is None

    target = tmp_path / f"{COMPETITION}.zip"
    assert target.read_bytes() == archive
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # no .kaggle-partial left
    assert target.stat().st_mtime == pytest.approx(1_560_000_000, abs=86_400)  # Last-Modified, read as local time
    assert [(r.method, r.endpoint) for r in fake_kaggle.requests] == [("POST", "DownloadDataFiles"), ("GET", BLOB)]
    assert fake_kaggle.requests[0].path == "/v1/competitions.CompetitionApiService/DownloadDataFiles"
    assert fake_kaggle.requests[0].body == {"competitionName": COMPETITION}
    _assert_offline(fake_kaggle)

    # Unchanged remote and complete local copy: skipped without force, fetched again with force.
    target.write_bytes(archive[:-1] + b"X")
    os.utime(target, (2_000_000_000, 2_000_000_000))
    api.competition_download_files(COMPETITION, path=str(tmp_path))
    assert target.read_bytes() != archive
    api.competition_download_files(COMPETITION, path=str(tmp_path), force=True)
    assert target.read_bytes() == archive


def test_download_unzip_extracts_and_deletes_archive(fake_kaggle: FakeKaggle, tmp_path: Path) -> None:
    fake_kaggle.add_competition(COMPETITION, _archive())
    _api().competition_download_files(COMPETITION, path=str(tmp_path), unzip=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Annotation.zip", "all-dogs.zip"]


def test_list_files_reports_archive_members(fake_kaggle: FakeKaggle) -> None:
    fake_kaggle.add_competition(COMPETITION, _archive())
    response = _api().competition_list_files(COMPETITION)
    assert [(f.name, f.ref, f.total_bytes) for f in response.files] == [
        ("all-dogs.zip", "all-dogs.zip", 40_000),
        ("Annotation.zip", "Annotation.zip", 11_000),
    ]
    assert not response.next_page_token  # "" when absent


@pytest.mark.parametrize(
    ("rules_accepted", "slug", "status", "message"),
    [
        (False, COMPETITION, 403, RULES_MESSAGE),
        (True, "no-such-competition", 404, "Competition 'no-such-competition' not found"),
    ],
)
def test_download_errors_raise_http_error(
    fake_kaggle: FakeKaggle, tmp_path: Path, rules_accepted: bool, slug: str, status: int, message: str
) -> None:
    fake_kaggle.add_competition(COMPETITION, _archive(), rules_accepted=rules_accepted)
    with pytest.raises(requests.HTTPError) as info:
        _api().competition_download_files(slug, path=str(tmp_path))
    assert info.value.response.status_code == status
    assert str(info.value) == message
    assert list(tmp_path.iterdir()) == []


def test_expired_blob_url_raises_http_error(fake_kaggle: FakeKaggle, tmp_path: Path) -> None:
    fake_kaggle.add_competition(COMPETITION, _archive())
    fake_kaggle.fail(BLOB, 403, "Request has expired", times=1)
    with pytest.raises(requests.HTTPError) as info:  # raised while following the redirect, before any write
        _api().competition_download_files(COMPETITION, path=str(tmp_path))
    assert (info.value.response.status_code, str(info.value)) == (403, "Request has expired")
    assert list(tmp_path.iterdir()) == []


def test_cut_download_is_resumed_in_process_with_range(fake_kaggle: FakeKaggle, tmp_path: Path) -> None:
    archive = _big_archive()
    fake_kaggle.add_competition(COMPETITION, archive)
    backoffs = fake_kaggle.skip_backoff()
    fake_kaggle.cut_downloads(1)

    _api().competition_download_files(COMPETITION, path=str(tmp_path))

    assert (tmp_path / f"{COMPETITION}.zip").read_bytes() == archive
    blobs = fake_kaggle.calls(BLOB)
    assert len(blobs) == 2
    # The cut came after ~1.5 MiB, but only whole 1 MiB chunks reach the file, so the resume starts at 1 MiB.
    assert blobs[1].headers["Range"] == f"bytes={MIB}-"
    assert blobs[1].headers["If-Range"].startswith('"')  # the ETag
    assert len(backoffs) == 1 and 2 <= backoffs[0] <= 3  # min(2**retry + random(), 60) seconds


def test_download_cut_every_time_raises_then_next_call_resumes(fake_kaggle: FakeKaggle, tmp_path: Path) -> None:
    archive = _big_archive()
    fake_kaggle.add_competition(COMPETITION, archive)
    backoffs = fake_kaggle.skip_backoff()
    fake_kaggle.cut_downloads(6)  # the first try plus max_retries=5
    api = _api()

    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        api.competition_download_files(COMPETITION, path=str(tmp_path))
    target = tmp_path / f"{COMPETITION}.zip"
    assert 0 < target.stat().st_size < len(archive)
    assert (tmp_path / f"{COMPETITION}.zip.kaggle-partial").exists()
    assert len(backoffs) == 5

    api.competition_download_files(COMPETITION, path=str(tmp_path))  # not force: resumes from the marker
    assert target.read_bytes() == archive
    assert not (tmp_path / f"{COMPETITION}.zip.kaggle-partial").exists()
    assert fake_kaggle.calls(BLOB)[-1].headers["Range"].startswith("bytes=")


# ---- kernels ------------------------------------------------------------------------------------


def test_push_records_metadata_and_code(fake_kaggle: FakeKaggle, tmp_path: Path) -> None:
    folder = _kernel_folder(tmp_path, fake_kaggle, code="import keras\nprint('train')\n")
    api = _api()

    first = api.kernels_push(str(folder))
    second = api.kernels_push(str(folder), timeout="3600")

    assert (first.version_number, second.version_number) == (1, 2)
    assert first.error == "" and first.versionNumber == 1  # optional str fields read "" when unset
    assert first.url == f"http://localhost:7777/code/{fake_kaggle.username}/dogkit-gan"
    assert first.ref == f"/code/{fake_kaggle.username}/dogkit-gan"
    push = fake_kaggle.pushes[0]
    assert push.kernel == f"{fake_kaggle.username}/dogkit-gan"
    assert push.text == "import keras\nprint('train')\n"
    assert (push.title, push.language, push.kernel_type) == ("dogkit gan", "python", "script")
    assert (push.is_private, push.enable_gpu, push.enable_internet) == (True, True, False)
    assert push.competition_sources == [COMPETITION]
    assert fake_kaggle.pushes[1].session_timeout_seconds == 3600
    _assert_offline(fake_kaggle)


def test_push_rejection_comes_back_in_error_field(fake_kaggle: FakeKaggle, tmp_path: Path) -> None:
    fake_kaggle.reject_push("Notebook exceeds the GPU quota")
    response = _api().kernels_push(str(_kernel_folder(tmp_path, fake_kaggle)))
    assert response.error == "Notebook exceeds the GPU quota"
    assert response.version_number == 0  # unset optional int reads 0
    assert fake_kaggle.pushes == []


def test_push_http_failure_raises(fake_kaggle: FakeKaggle, tmp_path: Path) -> None:
    fake_kaggle.fail("SaveKernel", 400, "Invalid kernel metadata")
    with pytest.raises(requests.HTTPError) as info:
        _api().kernels_push(str(_kernel_folder(tmp_path, fake_kaggle)))
    assert info.value.response.status_code == 400
    assert str(info.value) == "Invalid kernel metadata"


def test_status_follows_configured_sequence(fake_kaggle: FakeKaggle) -> None:
    from kagglesdk.kernels.types.kernels_enums import KernelWorkerStatus

    kernel = f"{fake_kaggle.username}/dogkit-gan"
    fake_kaggle.set_kernel_statuses(kernel, ["queued", "running", ("error", "CUDA out of memory")])
    api = _api()

    seen = [api.kernels_status(kernel) for _ in range(4)]

    assert [s.status for s in seen] == [
        KernelWorkerStatus.QUEUED,
        KernelWorkerStatus.RUNNING,
        KernelWorkerStatus.ERROR,
        KernelWorkerStatus.ERROR,
    ]
    assert [s.failure_message for s in seen] == ["", "", "CUDA out of memory", "CUDA out of memory"]
    assert fake_kaggle.calls("GetKernelSessionStatus")[0].body == {
        "userName": "dogkit-tester",
        "kernelSlug": "dogkit-gan",
    }
    with pytest.raises(requests.HTTPError, match="has no version 3"):  # never pushed: no version 3
        api.kernels_status(f"{kernel}/3")
    assert fake_kaggle.calls("GetKernelSessionStatus")[-1].body["versionLabel"] == "v3"


def test_status_errors(fake_kaggle: FakeKaggle) -> None:
    api = _api()
    with pytest.raises(requests.HTTPError) as info:
        api.kernels_status("dogkit-tester/never-pushed")
    assert info.value.response.status_code == 404
    fake_kaggle.set_kernel_statuses("dogkit-gan", ["complete"])
    fake_kaggle.fail("GetKernelSessionStatus", 403, "Permission denied", times=1)
    with pytest.raises(ValueError, match="Cannot access kernel"):  # the client turns 401/403 into ValueError
        api.kernels_status("dogkit-tester/dogkit-gan")
    assert api.kernels_status("dogkit-tester/dogkit-gan").status.name == "COMPLETE"


def test_output_writes_files_and_log(fake_kaggle: FakeKaggle, tmp_path: Path) -> None:
    kernel = f"{fake_kaggle.username}/dogkit-gan"
    images = _archive()
    fake_kaggle.set_kernel_output(kernel, {"images.zip": images, "metrics.json": b"{}"}, log="[{'data': 'ok'}]")
    out = tmp_path / "out"

    files, token = _api().kernels_output(kernel, str(out))

    assert files == [str(out / "images.zip"), str(out / "metrics.json"), str(out / "dogkit-gan.log")]
    assert token == ""
    assert (out / "images.zip").read_bytes() == images
    assert (out / "dogkit-gan.log").read_text() == "[{'data': 'ok'}]"
    assert all("Authorization" not in r.headers for r in fake_kaggle.calls(BLOB))  # plain requests.get
    _assert_offline(fake_kaggle)


def test_output_pages_and_cut_files(fake_kaggle: FakeKaggle, tmp_path: Path) -> None:
    files = {f"f{i:02d}.bin": os.urandom(1000 + i) for i in range(23)}
    fake_kaggle.set_kernel_output("dogkit-gan", files)
    fake_kaggle.skip_backoff()
    fake_kaggle.cut_downloads(1)

    written, _ = _api().kernels_output("dogkit-tester/dogkit-gan", str(tmp_path))

    assert len(written) == 23
    assert all((tmp_path / name).read_bytes() == data for name, data in files.items())
    assert [r.body.get("pageToken") for r in fake_kaggle.calls("ListKernelSessionOutput")] == ["", "20"]


# ---- code-competition submission ----------------------------------------------------------------


def test_submit_code_is_recorded_and_listed(fake_kaggle: FakeKaggle) -> None:
    fake_kaggle.add_competition(COMPETITION, _archive())
    api = _api()

    response = api.competition_submit_code(
        "images.zip", "dcgan v2", COMPETITION, kernel=f"{fake_kaggle.username}/dogkit-gan", kernel_version=2
    )

    assert response.message == "Your submission was successfully saved"
    assert response.ref == 100_000
    submission = fake_kaggle.submissions[0]
    assert (submission.competition, submission.kernel, submission.kernel_version) == (
        COMPETITION,
        "dogkit-tester/dogkit-gan",
        2,
    )
    assert (submission.file_name, submission.message) == ("images.zip", "dcgan v2")
    assert fake_kaggle.calls("CreateCodeSubmission")[0].body["kernelOwner"] == "dogkit-tester"

    submission.status, submission.public_score = "COMPLETE", "42.5"
    listed = api.competition_submissions(COMPETITION)
    assert [(s.ref, s.file_name, s.description, s.status.name, s.public_score) for s in listed] == [
        (100_000, "images.zip", "dcgan v2", "COMPLETE", "42.5")
    ]


@pytest.mark.parametrize(("status", "message"), [(400, "Submission file not found in kernel output"), (403, "No")])
def test_submit_code_failures_raise(fake_kaggle: FakeKaggle, status: int, message: str) -> None:
    fake_kaggle.add_competition(COMPETITION, _archive())
    fake_kaggle.fail("CreateCodeSubmission", status, message)
    with pytest.raises(requests.HTTPError) as info:
        _api().competition_submit_code("images.zip", "m", COMPETITION, kernel="dogkit-tester/dogkit-gan")
    assert (info.value.response.status_code, str(info.value)) == (status, message)
    assert fake_kaggle.submissions == []


def test_submit_code_needs_accepted_rules(fake_kaggle: FakeKaggle) -> None:
    fake_kaggle.add_competition(COMPETITION, _archive(), rules_accepted=False)
    with pytest.raises(requests.HTTPError) as info:
        _api().competition_submit_code("images.zip", "m", COMPETITION, kernel="dogkit-tester/dogkit-gan")
    assert info.value.response.status_code == 403


# ---- the fake itself ----------------------------------------------------------------------------


def test_forced_failure_can_be_limited_and_blobs_need_the_signature(fake_kaggle: FakeKaggle) -> None:
    fake_kaggle.add_competition(COMPETITION, _archive())
    fake_kaggle.fail("ListSubmissions", 500, "boom", times=1)
    api = _api()
    with pytest.raises(requests.HTTPError, match="boom"):
        api.competition_submissions(COMPETITION)
    assert api.competition_submissions(COMPETITION) == []
    assert requests.get(f"{fake_kaggle.base_url}/blobs/b0/{COMPETITION}.zip", timeout=5).status_code == 403
    with pytest.raises(ValueError, match="endpoint must be one of"):
        fake_kaggle.fail("DownloadEverything", 500)


def test_restarts_on_the_same_port_without_leftover_threads() -> None:
    before = {t.name for t in threading.enumerate()}
    for _ in range(3):
        with FakeKaggle(key="k") as fake:
            response = requests.post(f"{fake.base_url}/api/v1/x.Y/Z", json={}, timeout=5)
            assert response.status_code == 401
    assert {t.name for t in threading.enumerate()} == before


# ---- sign-in kinds, as the client does them (issue: every sign-in kind) ----------------------------


def _without_legacy(fake: FakeKaggle) -> None:
    assert fake.config_dir is not None
    (fake.config_dir / "kaggle.json").unlink()


@pytest.mark.parametrize("where", ["env", "env-path", "home-file"])
def test_access_token_is_checked_then_sent_as_bearer(
    fake_kaggle: FakeKaggle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    _without_legacy(fake_kaggle)
    token = fake_kaggle.add_token(username="token-owner")
    if where == "env":
        monkeypatch.setenv("KAGGLE_API_TOKEN", token)
    elif where == "env-path":
        (tmp_path / "token.txt").write_text(token + "\n")
        monkeypatch.setenv("KAGGLE_API_TOKEN", str(tmp_path / "token.txt"))
    else:
        (Path(os.environ["HOME"]) / ".kaggle").mkdir(parents=True, exist_ok=True)
        (Path(os.environ["HOME"]) / ".kaggle" / "access_token").write_text(token)
    fake_kaggle.add_competition(COMPETITION, _archive())
    api = _api()
    assert api.config_values["auth_method"] == "ACCESS_TOKEN"
    assert api.get_config_value("username") == "token-owner"
    [check] = fake_kaggle.calls("IntrospectToken")
    assert check.body == {"token": token} and check.path == "/v1/security.OAuthService/IntrospectToken"
    api.competition_list_files(COMPETITION)
    listed = fake_kaggle.calls("ListDataFiles")[-1]
    assert listed.headers["Authorization"] == f"Bearer {token}" and listed.user == "token-owner"


def test_a_token_beats_a_stale_legacy_username(fake_kaggle: FakeKaggle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAGGLE_USERNAME", "someone-else")
    monkeypatch.setenv("KAGGLE_API_TOKEN", fake_kaggle.add_token())
    assert _api().get_config_value("username") == fake_kaggle.username


def test_an_unknown_token_is_ignored_for_the_legacy_key(fake_kaggle: FakeKaggle, monkeypatch) -> None:
    monkeypatch.setenv("KAGGLE_API_TOKEN", "KGAT_not-a-token")
    api = _api()
    assert api.config_values["auth_method"] == "LEGACY_API_KEY"
    assert fake_kaggle.calls("IntrospectToken")[0].body == {"token": "KGAT_not-a-token"}


def test_token_check_failures_raise(fake_kaggle: FakeKaggle, monkeypatch: pytest.MonkeyPatch) -> None:
    from kaggle.api.kaggle_api_extended import KaggleApi

    monkeypatch.setenv("KAGGLE_API_TOKEN", fake_kaggle.add_token())
    fake_kaggle.fail("IntrospectToken", 401, "token check refused", times=1)
    with pytest.raises(requests.HTTPError) as info:  # 400/403/404 are ignored by the client; 401 is not
        KaggleApi().authenticate()
    assert info.value.response.status_code == 401
    fake_kaggle.drop("IntrospectToken")
    with pytest.raises(requests.ConnectionError):
        KaggleApi().authenticate()


@pytest.mark.parametrize("expired", [True, False])
def test_oauth_credentials_from_kaggle_auth_login(fake_kaggle: FakeKaggle, expired: bool) -> None:
    _without_legacy(fake_kaggle)
    path = fake_kaggle.write_oauth_credentials(Path(os.environ["HOME"]), username="oauth-user", expired=expired)
    fake_kaggle.add_competition(COMPETITION, _archive())
    api = _api()
    assert api.config_values["auth_method"] == "OAUTH" and api.get_config_value("username") == "oauth-user"
    assert len(fake_kaggle.calls("GenerateAccessToken")) == int(expired)  # an expired token is traded first
    api.competition_list_files(COMPETITION)
    assert fake_kaggle.calls("ListDataFiles")[-1].user == "oauth-user"
    if expired:
        assert json.loads(path.read_text())["access_token"] == api.config_values["token"]  # saved again


# ---- kernel versions, sources, limits -----------------------------------------------------------


def test_versions_have_their_own_status_and_output(fake_kaggle: FakeKaggle, tmp_path: Path) -> None:
    fake_kaggle.add_competition(COMPETITION, _archive())
    folder = _kernel_folder(tmp_path, fake_kaggle)
    kernel = f"{fake_kaggle.username}/dogkit-gan"
    api = _api()
    api.kernels_push(str(folder))
    fake_kaggle.set_kernel_statuses(kernel, ["complete"], version=1)
    fake_kaggle.set_kernel_output(kernel, {"v1.txt": b"1"}, version=1)
    fake_kaggle.stale_status_after_push(2)
    api.kernels_push(str(folder))
    fake_kaggle.set_kernel_statuses(kernel, ["queued", "running"], version=2)
    fake_kaggle.set_kernel_output(kernel, {"v2.txt": b"2"}, version=2)

    unversioned = [api.kernels_status(kernel).status.name for _ in range(3)]
    assert unversioned == ["COMPLETE", "COMPLETE", "QUEUED"]  # version 1's outcome until the new session exists
    assert api.kernels_status(f"{kernel}/2").status.name == "RUNNING"
    assert api.kernels_status(f"{kernel}/1").status.name == "COMPLETE"
    files, _ = api.kernels_output(f"{kernel}/1", str(tmp_path / "one"))
    assert [Path(f).name for f in files] == ["v1.txt"]
    files, _ = api.kernels_output(kernel, str(tmp_path / "newest"))
    assert [Path(f).name for f in files] == ["v2.txt"]

    from kagglesdk.kernels.types.kernels_api_service import ApiGetKernelRequest

    request = ApiGetKernelRequest()
    request.user_name, request.kernel_slug = fake_kaggle.username, "dogkit-gan"
    with api.build_kaggle_client() as client:
        assert client.kernels.kernels_api_client.get_kernel(request).metadata.current_version_number == 2


def test_push_lists_sources_kaggle_cannot_find(fake_kaggle: FakeKaggle, tmp_path: Path) -> None:
    folder = _kernel_folder(tmp_path, fake_kaggle)
    metadata = json.loads((folder / "kernel-metadata.json").read_text())
    metadata["dataset_sources"] = ["me/gan-metric", "me/missing"]
    (folder / "kernel-metadata.json").write_text(json.dumps(metadata))
    fake_kaggle.add_dataset("me/gan-metric")
    response = _api().kernels_push(str(folder))
    assert response.version_number == 1  # saved all the same
    assert response.invalid_dataset_sources == ["me/missing"]
    assert response.invalid_competition_sources == [COMPETITION]  # the fake knows no competition yet


def test_push_of_another_owners_kernel_is_refused(fake_kaggle: FakeKaggle, tmp_path: Path) -> None:
    folder = _kernel_folder(tmp_path, fake_kaggle)
    metadata = json.loads((folder / "kernel-metadata.json").read_text())
    metadata["id"] = "somebody-else/dogkit-gan"
    (folder / "kernel-metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(requests.HTTPError) as info:
        _api().kernels_push(str(folder))
    assert info.value.response.status_code == 403


def test_submission_limits_and_versions(fake_kaggle: FakeKaggle, tmp_path: Path) -> None:
    fake_kaggle.add_competition(COMPETITION, _archive())
    fake_kaggle.submission_limits["per_day"] = 2
    api = _api()
    api.kernels_push(str(_kernel_folder(tmp_path, fake_kaggle)))
    kernel = f"{fake_kaggle.username}/dogkit-gan"
    assert api.competition_get_submission_limits(COMPETITION).num_allowed_now == 2
    with pytest.raises(requests.HTTPError, match="needs the kernel version"):
        api.competition_submit_code("images.zip", "m", COMPETITION, kernel=kernel)
    with pytest.raises(requests.HTTPError) as info:
        api.competition_submit_code("images.zip", "m", COMPETITION, kernel=kernel, kernel_version=7)
    assert info.value.response.status_code == 404
    api.competition_submit_code("images.zip", "m", COMPETITION, kernel=kernel, kernel_version=1)
    limits = api.competition_get_submission_limits(COMPETITION)
    assert (limits.num_today, limits.num_allowed_now) == (1, 1)


def test_a_dropped_connection_is_a_connection_error(fake_kaggle: FakeKaggle) -> None:
    fake_kaggle.set_kernel_statuses("dogkit-gan", ["running"])
    fake_kaggle.drop("GetKernelSessionStatus", times=1)
    api = _api()
    with pytest.raises(requests.ConnectionError):
        api.kernels_status(f"{fake_kaggle.username}/dogkit-gan")
    assert api.kernels_status(f"{fake_kaggle.username}/dogkit-gan").status.name == "RUNNING"


def test_download_is_named_after_the_url_extension(fake_kaggle: FakeKaggle, tmp_path: Path) -> None:
    fake_kaggle.add_competition(COMPETITION, _archive(), file_name="bundle.data")
    _api().competition_download_files(COMPETITION, path=str(tmp_path))
    assert [p.name for p in tmp_path.iterdir()] == [f"{COMPETITION}.data"]
