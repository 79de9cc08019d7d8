"""`dogkit bundle`, `push`, `status`, `output` and `submit` with the real kaggle client and the fake server."""

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import pytest

from submission import encode_png, write_images_zip
from tests.conftest import invoke, one_line, varied_images

KERNEL = "dogkit-tester/dogkit-memorizer"
COMPETITION = "generative-dog-images"


@pytest.fixture(scope="module")
def good_zip(tmp_path_factory):
    images = varied_images(50, seed=8)
    path = tmp_path_factory.mktemp("zip") / "images.zip"
    write_images_zip((images[k % 50] for k in range(10_000)), path)
    return path.read_bytes()


def invalid_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for k in range(9_999):
            archive.writestr(f"{k}.png", encode_png(varied_images(1)[0]))
    return buffer.getvalue()


@pytest.fixture
def kernel_dir(tmp_path, fake_kaggle):
    fake_kaggle.add_competition(COMPETITION, b"")  # exists on the fake: a source and a place to submit to
    folder = tmp_path / "kernel"
    result = invoke("bundle", "--out", folder, "--kernel-id", KERNEL, "--budget", "8h30m")
    assert result.exit_code == 0, result.output
    return folder


def home(fake) -> Path:
    path = Path(os.environ["HOME"]) / ".kaggle"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sign_in(fake, monkeypatch, tmp_path, how: str, username: str = "dogkit-tester") -> str:
    """Leave exactly one way of signing in, as ``username``; returns the secret it uses."""
    (fake.config_dir / "kaggle.json").unlink()
    if how == "kaggle.json":
        key = fake.add_account(username) if username != fake.username else fake.key
        (fake.config_dir / "kaggle.json").write_text(json.dumps({"username": username, "key": key}))
        return key
    if how == "KAGGLE_USERNAME/KAGGLE_KEY":
        key = fake.add_account(username) if username != fake.username else fake.key
        monkeypatch.setenv("KAGGLE_USERNAME", username)
        monkeypatch.setenv("KAGGLE_KEY", key)
        return key
    if how == "oauth":
        path = fake.write_oauth_credentials(Path(os.environ["HOME"]), username=username)
        return json.loads(path.read_text())["refresh_token"]
    token = fake.add_token(username=username)
    if how == "KAGGLE_API_TOKEN":
        monkeypatch.setenv("KAGGLE_API_TOKEN", token)
    elif how == "KAGGLE_API_TOKEN file":
        (tmp_path / "token").write_text(token)
        monkeypatch.setenv("KAGGLE_API_TOKEN", str(tmp_path / "token"))
    else:
        (home(fake) / "access_token").write_text(token + "\n")
    return token


# ---------------------------------------------------------------- bundle


def test_bundle_writes_script_metadata_and_the_budget(kernel_dir):
    metadata = json.loads((kernel_dir / "kernel-metadata.json").read_text())
    assert metadata["id"] == KERNEL and metadata["title"] == "dogkit memorizer"
    assert metadata["code_file"] == "dogkit_kernel.py" and (kernel_dir / "dogkit_kernel.py").is_file()
    assert metadata["language"] == "python" and metadata["kernel_type"] == "script"
    assert metadata["is_private"] is True and metadata["enable_internet"] is False
    assert metadata["machine_shape"] == "NvidiaTeslaT4" and metadata["enable_gpu"] is True  # the default: T4 x2
    assert metadata["competition_sources"] == [COMPETITION]
    assert metadata["dataset_sources"] == []
    settings = json.loads((kernel_dir / "dogkit-bundle.json").read_text())
    assert settings["budget"] == "8h30m" and settings["budget_s"] == 8.5 * 3600


@pytest.mark.parametrize(
    "accelerator,shape,gpu,tpu",
    [("none", None, False, False), ("gpu", None, True, False), ("gpu-t4x2", "NvidiaTeslaT4", True, False),
     ("tpu", "TpuV5E8", False, True)],
)  # fmt: skip
def test_bundle_accelerators_write_the_clients_machine_shape(tmp_path, accelerator, shape, gpu, tpu):
    result = invoke("bundle", "--out", tmp_path, "--kernel-id", KERNEL, "--accelerator", accelerator)
    assert result.exit_code == 0, result.output
    metadata = json.loads((tmp_path / "kernel-metadata.json").read_text())
    assert metadata.get("machine_shape") == shape
    assert (metadata["enable_gpu"], metadata["enable_tpu"]) == (gpu, tpu)
    assert invoke("bundle", "--out", tmp_path, "--kernel-id", KERNEL, "--accelerator", "p100").exit_code == 2


def test_bundle_attaches_the_metric_dataset_and_is_deterministic(tmp_path, fake_kaggle):
    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        result = invoke("bundle", "--out", folder, "--kernel-id", KERNEL, "--metric-dataset", "me/gan-metric")
        assert result.exit_code == 0, result.output
    metadata = json.loads((a / "kernel-metadata.json").read_text())
    assert metadata["dataset_sources"] == ["me/gan-metric"]
    assert (a / "dogkit_kernel.py").read_bytes() == (b / "dogkit_kernel.py").read_bytes()


def test_bundle_embeds_what_the_kernel_needs_and_nothing_for_the_command_line(kernel_dir):
    import base64

    text = (kernel_dir / "dogkit_kernel.py").read_text()
    code = text.split('CODE = """')[1].split('"""')[0]
    names = zipfile.ZipFile(io.BytesIO(base64.b64decode(code))).namelist()
    needed = ("kernel/main.py", "toolkit/pipeline.py", "toolkit/models/memorizer/model.py", "submission/writer.py")
    assert set(needed) <= set(names)
    unneeded = ("toolkit/cli.py", "toolkit/kaggle/fetch.py", "toolkit/kaggle/client.py", "toolkit/kaggle/kernels.py")
    assert not set(unneeded) & set(names)
    assert "/work/" not in text and "pip install" not in text


@pytest.mark.parametrize(
    "how,said",
    [
        ("kaggle.json", "the legacy API key from"),
        ("KAGGLE_USERNAME/KAGGLE_KEY", "the legacy API key from KAGGLE_USERNAME/KAGGLE_KEY"),
        ("KAGGLE_API_TOKEN", "an access token from KAGGLE_API_TOKEN"),
        ("KAGGLE_API_TOKEN file", "an access token from KAGGLE_API_TOKEN"),
        ("access_token", "an access token from ~/.kaggle/access_token"),
        ("oauth", "OAuth (kaggle auth login)"),
    ],
)
def test_bundle_names_the_kernel_after_the_signed_in_user(tmp_path, fake_kaggle, monkeypatch, how, said):
    secret = sign_in(fake_kaggle, monkeypatch, tmp_path, how, username="kernel-owner")
    result = invoke("bundle", "--out", tmp_path / "k")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "k" / "kernel-metadata.json").read_text())["id"] == "kernel-owner/dogkit-memorizer"
    assert f"Kaggle user: kernel-owner (signed in with {said}" in result.output
    assert secret not in result.output


def test_a_token_alone_names_its_owner_over_a_stale_username(tmp_path, fake_kaggle, monkeypatch):
    sign_in(fake_kaggle, monkeypatch, tmp_path, "KAGGLE_API_TOKEN", username="token-owner")
    monkeypatch.setenv("KAGGLE_USERNAME", "stale-name")  # left over from another account, without a key
    result = invoke("bundle", "--out", tmp_path / "k")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "k" / "kernel-metadata.json").read_text())["id"] == "token-owner/dogkit-memorizer"


def test_bundle_offline_falls_back_to_the_username_the_credentials_name(tmp_path, fake_kaggle, monkeypatch):
    sign_in(fake_kaggle, monkeypatch, tmp_path, "oauth", username="oauth-user")
    fake_kaggle.drop("GenerateAccessToken")  # the expired OAuth token cannot be renewed offline
    result = invoke("bundle", "--out", tmp_path / "k")
    assert result.exit_code == 0, result.output
    assert "Kaggle user: oauth-user (from ~/.kaggle/credentials.json; not verified" in result.output
    assert json.loads((tmp_path / "k" / "kernel-metadata.json").read_text())["id"] == "oauth-user/dogkit-memorizer"


def test_bundle_offline_with_an_access_token_asks_for_the_kernel_id(tmp_path, fake_kaggle, monkeypatch):
    """Only Kaggle knows a token's owner: a username written elsewhere (here a stale one, and
    kaggle.json's) may be another account's, so it is not guessed."""
    monkeypatch.setenv("KAGGLE_API_TOKEN", fake_kaggle.add_token(username="token-owner"))
    monkeypatch.setenv("KAGGLE_USERNAME", "stale-name")
    fake_kaggle.drop("IntrospectToken")
    result = invoke("bundle", "--out", tmp_path / "k")
    assert result.exit_code == 1
    line = one_line(result.output)
    assert "cannot reach Kaggle" in line and "whose access token KAGGLE_API_TOKEN holds" in line
    assert "pass --kernel-id OWNER/SLUG" in line and "stale-name" not in result.output
    assert not (tmp_path / "k").exists()
    offline = invoke("bundle", "--out", tmp_path / "k", "--kernel-id", "token-owner/dogkit-memorizer")
    assert offline.exit_code == 0, offline.output  # bundling itself needs no network


def test_bundle_without_any_credentials_names_the_three_ways(tmp_path, fake_kaggle):
    (fake_kaggle.config_dir / "kaggle.json").unlink()
    result = invoke("bundle", "--out", tmp_path / "k")
    assert result.exit_code == 1
    line = one_line(result.output)
    assert "no Kaggle credentials found" in line
    assert "KAGGLE_API_TOKEN" in line and "kaggle.json" in line and "kaggle auth login" in line


@pytest.mark.parametrize("kernel_id", ["nobody", "me/Bad_Slug", "me/abc", "a/b/c"])
def test_bundle_refuses_ids_kaggle_would_not_take(tmp_path, kernel_id):
    result = invoke("bundle", "--out", tmp_path / "k", "--kernel-id", kernel_id)
    assert result.exit_code == 2 and "kernel" in result.output
    assert not (tmp_path / "k" / "dogkit_kernel.py").exists()


# ---------------------------------------------------------------- sign-in failures


@pytest.mark.parametrize("command", ["fetch", "bundle", "push", "status", "output", "submit"])
def test_sign_in_failures_are_one_line_for_every_command(fake_kaggle, kernel_dir, tmp_path, monkeypatch, command):
    token = sign_in(fake_kaggle, monkeypatch, tmp_path, "KAGGLE_API_TOKEN")
    args = {
        "fetch": ["fetch", "--dest", tmp_path / "data"],
        "bundle": ["bundle", "--out", tmp_path / "k"],
        "push": ["push", "--dir", kernel_dir],
        "status": ["status", KERNEL],
        "output": ["output", f"{KERNEL}/1", "--dest", tmp_path / "out"],
        "submit": ["submit", "--kernel", KERNEL, "--version", "1", "-m", "x"],
    }[command]
    fake_kaggle.drop("IntrospectToken")  # no network when the token is checked
    offline = invoke(*args)
    assert offline.exit_code == 1 and "Kaggle sign-in: cannot reach Kaggle (ConnectionError)" in one_line(
        offline.output
    )
    fake_kaggle.fail("IntrospectToken", 401, "unauthenticated", times=1)
    refused = invoke(*args)
    assert refused.exit_code == 1 and "Kaggle refused the credentials (401 Unauthorized)" in one_line(refused.output)
    fake_kaggle.tokens.clear()  # revoked: the client ignores it and finds no other credentials
    revoked = invoke(*args)
    assert revoked.exit_code == 1
    assert "did not accept the access token in KAGGLE_API_TOKEN" in one_line(revoked.output)
    for result in (offline, refused, revoked):
        assert token not in result.output


# ---------------------------------------------------------------- push and status


def test_push_sends_the_script_the_metadata_and_a_timeout_from_the_budget(fake_kaggle, kernel_dir):
    result = invoke("push", "--dir", kernel_dir)
    assert result.exit_code == 0, result.output
    assert f"pushed {KERNEL} version 1 (timeout 8h45m00s)" in result.output
    assert f"next: dogkit status {KERNEL}/1" in result.output
    [pushed] = fake_kaggle.pushes
    assert pushed.kernel == KERNEL and pushed.text == (kernel_dir / "dogkit_kernel.py").read_text()
    assert pushed.language == "python" and pushed.enable_internet is False
    assert pushed.machine_shape == "NvidiaTeslaT4"
    assert pushed.session_timeout_seconds == 8.5 * 3600 + 15 * 60
    assert pushed.competition_sources == [COMPETITION]


def test_push_with_a_source_kaggle_cannot_find_is_an_error_naming_it(fake_kaggle, tmp_path):
    fake_kaggle.add_competition(COMPETITION, b"")
    folder = tmp_path / "kernel"
    invoke("bundle", "--out", folder, "--kernel-id", KERNEL, "--metric-dataset", "me/no-such-metric")
    result = invoke("push", "--dir", folder)
    assert result.exit_code == 1
    assert one_line(result.output).startswith(
        f"Error: Kaggle saved version 1 of '{KERNEL}' but cannot find its sources"
    )
    assert "dataset me/no-such-metric" in one_line(result.output)
    assert "will fail (stop it on its Kaggle page)" in one_line(result.output)
    fake_kaggle.add_dataset("me/no-such-metric")
    assert invoke("push", "--dir", folder).exit_code == 0
    # every kind of source the client reports: the competition (not joined here), a kernel, a model
    metadata = json.loads((folder / "kernel-metadata.json").read_text())
    metadata.update(kernel_sources=["me/no-such-kernel"], model_sources=["me/some-model/keras/default/1"])
    (folder / "kernel-metadata.json").write_text(json.dumps(metadata))
    fake_kaggle._competitions.clear()
    every = one_line(invoke("push", "--dir", folder).output)
    for named in (
        "competition generative-dog-images",
        "kernel me/no-such-kernel",
        "model me/some-model/keras/default/1",
    ):
        assert named in every, every


def test_push_and_wait_follows_the_run_to_its_end(fake_kaggle, kernel_dir):
    fake_kaggle.set_kernel_statuses(KERNEL, ["queued", "running", "running", "complete"])
    result = invoke("push", "--dir", kernel_dir, "--wait", "--poll", "0.01")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for state in ("queued", "running", "complete"):
        assert f"{KERNEL}/1: {state}" in lines
    assert f"complete; next: dogkit output {KERNEL}/1" in lines[-1]


def test_wait_follows_the_pushed_version_not_the_previous_runs_stale_status(fake_kaggle, kernel_dir):
    invoke("push", "--dir", kernel_dir)
    fake_kaggle.set_kernel_statuses(KERNEL, ["complete"], version=1)
    fake_kaggle.stale_status_after_push(5)  # the kernel answers with version 1's COMPLETE for a while
    fake_kaggle.set_kernel_statuses(KERNEL, ["queued", "running", "running", "complete"], version=2)
    result = invoke("push", "--dir", kernel_dir, "--wait", "--poll", "0.01")
    assert result.exit_code == 0, result.output
    assert [line for line in result.output.splitlines() if line.startswith(f"{KERNEL}/2: ")] == [
        f"{KERNEL}/2: queued",
        f"{KERNEL}/2: running",
        f"{KERNEL}/2: complete",
    ]
    polls = fake_kaggle.calls("GetKernelSessionStatus")
    assert len(polls) == 4 and all(call.body["versionLabel"] == "v2" for call in polls)


def test_wait_rides_out_rate_limits_server_errors_and_network_drops(fake_kaggle, kernel_dir):
    fake_kaggle.set_kernel_statuses(KERNEL, ["running", "running", "complete"])
    fake_kaggle.fail("GetKernelSessionStatus", 429, "Too many requests", times=1)
    result = invoke("push", "--dir", kernel_dir, "--wait", "--poll", "0.01")
    assert result.exit_code == 0, result.output
    assert "status check failed (kernel '" in result.output and "Kaggle answered 429" in result.output
    assert "trying again in 0.0s" in result.output
    fake_kaggle.set_kernel_statuses(KERNEL, ["running", "complete"])
    fake_kaggle.fail("GetKernelSessionStatus", 503, "Service unavailable", times=2)
    fake_kaggle.drop("GetKernelSessionStatus", times=1)
    again = invoke("push", "--dir", kernel_dir, "--wait", "--poll", "0.01")
    assert again.exit_code == 0, again.output
    retries = [line for line in again.output.splitlines() if "status check failed" in line]
    assert len(retries) == 3 and sum("cannot reach Kaggle (ConnectionError)" in line for line in retries) == 1
    assert f"{KERNEL}/2 complete" in again.output


def test_a_run_that_ends_in_error_is_one_line(fake_kaggle, kernel_dir):
    fake_kaggle.set_kernel_statuses(KERNEL, ["running", ("error", "Your notebook tried to allocate more memory")])
    result = invoke("push", "--dir", kernel_dir, "--wait", "--poll", "0.01")
    assert result.exit_code == 1
    assert "ended in error: Your notebook tried to allocate more memory" in one_line(result.output)


def test_a_rejected_push_is_one_line(fake_kaggle, kernel_dir):
    fake_kaggle.reject_push("Notebook title is invalid")
    result = invoke("push", "--dir", kernel_dir)
    assert result.exit_code == 1
    assert one_line(result.output) == f"Error: Kaggle rejected the push of '{KERNEL}': Notebook title is invalid"


@pytest.mark.parametrize(
    "status_code,expected",
    [(401, "401"), (403, "access denied (403): Notebook quota exceeded"), (404, "not found on Kaggle (404)")],
)
def test_push_refusals_say_what_kaggle_said(fake_kaggle, kernel_dir, status_code, expected):
    fake_kaggle.fail("SaveKernel", status_code, "Notebook quota exceeded")
    result = invoke("push", "--dir", kernel_dir)
    assert result.exit_code == 1 and expected in one_line(result.output)
    assert "rules" not in one_line(result.output)  # accepting rules is about downloads and submissions
    assert fake_kaggle.key not in result.output


def test_status_names_the_version(fake_kaggle, kernel_dir):
    invoke("push", "--dir", kernel_dir)
    invoke("push", "--dir", kernel_dir)
    fake_kaggle.set_kernel_statuses(KERNEL, ["complete"], version=1)
    fake_kaggle.set_kernel_statuses(KERNEL, ["running"], version=2)
    result = invoke("status", KERNEL)
    assert result.exit_code == 0 and result.output.strip() == f"{KERNEL}/2: running"
    assert invoke("status", f"{KERNEL}/1").output.strip() == f"{KERNEL}/1: complete"
    fake_kaggle.set_kernel_statuses(KERNEL, [("error", "out of memory")], version=2)
    result = invoke("status", KERNEL)
    assert result.exit_code == 1 and result.output.strip() == f"{KERNEL}/2: error (out of memory)"
    missing = invoke("status", "dogkit-tester/no-such-kernel")
    assert missing.exit_code == 1 and "not found on Kaggle (404)" in one_line(missing.output)
    assert invoke("status", "not-a-kernel-id").exit_code == 1
    assert "kernel version must be a number" in one_line(invoke("status", f"{KERNEL}/latest").output)


# ---------------------------------------------------------------- output and submit


def test_output_downloads_the_files_of_the_version(fake_kaggle, kernel_dir, tmp_path, good_zip):
    invoke("push", "--dir", kernel_dir)
    invoke("push", "--dir", kernel_dir)
    fake_kaggle.set_kernel_output(KERNEL, {"images.zip": good_zip, "samples.png": b"png"}, log="ok", version=2)
    fake_kaggle.set_kernel_output(KERNEL, {"old.txt": b"v1"}, version=1)
    result = invoke("output", KERNEL, "--dest", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert f"{KERNEL}/2 is the newest version" in result.output
    assert (tmp_path / "out" / "images.zip").read_bytes() == good_zip
    assert (tmp_path / "out" / "samples.png").read_bytes() == b"png"
    assert f"3 files from {KERNEL}/2" in result.output  # the two files and the log
    first = invoke("output", f"{KERNEL}/1", "--dest", tmp_path / "one")
    assert first.exit_code == 0 and (tmp_path / "one" / "old.txt").read_bytes() == b"v1"


def test_submit_validates_then_submits_the_version(fake_kaggle, kernel_dir, good_zip):
    invoke("push", "--dir", kernel_dir)
    invoke("push", "--dir", kernel_dir)
    fake_kaggle.set_kernel_output(KERNEL, {"images.zip": good_zip})
    result = invoke("submit", "--kernel", KERNEL, "--version", "2", "-m", "memorizer, 8h30m")
    assert result.exit_code == 0, result.output
    assert f"submitted {KERNEL} version 2 to {COMPETITION}" in result.output
    assert "submissions left today: 4" in result.output
    [submission] = fake_kaggle.submissions
    assert (submission.kernel, submission.kernel_version, submission.file_name) == (KERNEL, 2, "images.zip")
    assert submission.message == "memorizer, 8h30m"
    [request] = fake_kaggle.calls("ListKernelSessionOutput")
    assert request.body["versionLabel"] == "v2"
    unknown = invoke("submit", "--kernel", KERNEL, "--version", "9", "-m", "x")
    assert unknown.exit_code == 1 and f"kernel '{KERNEL}/9': not found on Kaggle (404): no such kernel or version" in (
        one_line(unknown.output)
    )
    assert len(fake_kaggle.submissions) == 1


def test_submit_without_a_version_takes_the_latest_complete_one_and_says_so(fake_kaggle, kernel_dir, good_zip):
    for _ in range(3):
        invoke("push", "--dir", kernel_dir)
    fake_kaggle.set_kernel_statuses(KERNEL, ["complete"], version=1)
    fake_kaggle.set_kernel_statuses(KERNEL, ["complete"], version=2)
    fake_kaggle.set_kernel_statuses(KERNEL, ["running"], version=3)
    fake_kaggle.set_kernel_output(KERNEL, {"images.zip": invalid_zip()}, version=1)
    fake_kaggle.set_kernel_output(KERNEL, {"images.zip": good_zip}, version=2)
    result = invoke("submit", "--kernel", KERNEL, "-m", "latest")
    assert result.exit_code == 0, result.output
    assert f"{KERNEL} version 3: running, not complete" in result.output
    assert f"submitting version 2 of {KERNEL}, its latest complete version" in result.output
    assert [s.kernel_version for s in fake_kaggle.submissions] == [2]


def test_submit_without_a_complete_version_is_refused(fake_kaggle, kernel_dir):
    invoke("push", "--dir", kernel_dir)
    fake_kaggle.set_kernel_statuses(KERNEL, [("error", "oom")], version=1)
    result = invoke("submit", "--kernel", KERNEL, "-m", "none")
    assert result.exit_code == 1 and "no complete version among versions 1 to 1" in one_line(result.output)
    assert fake_kaggle.submissions == []


def test_submit_prints_the_local_score_of_that_very_zip(fake_kaggle, kernel_dir, good_zip):
    invoke("push", "--dir", kernel_dir)
    score = {
        "fid": 61.5,
        "distance": 0.21,
        "distance_thresholded": 1.0,
        "mifid": 61.5,
        "zip_sha256": hashlib.sha256(good_zip).hexdigest(),
    }
    fake_kaggle.set_kernel_output(KERNEL, {"images.zip": good_zip, "score.json": json.dumps(score).encode()})
    result = invoke("submit", "--kernel", KERNEL, "-m", "with score")
    assert result.exit_code == 0, result.output
    assert "local score of this images.zip: FID 61.5000" in result.output and "MiFID 61.5000" in result.output


def test_submit_refuses_an_invalid_zip_and_says_why(fake_kaggle, kernel_dir):
    invoke("push", "--dir", kernel_dir)
    fake_kaggle.set_kernel_output(KERNEL, {"images.zip": invalid_zip()})
    result = invoke("submit", "--kernel", KERNEL, "--version", "1", "-m", "bad")
    assert result.exit_code == 1
    assert "refusing to submit" in one_line(result.output) and "holds 9999 images, expected exactly 10000" in one_line(
        result.output
    )
    assert fake_kaggle.submissions == []


def test_submit_without_images_zip_in_the_output(fake_kaggle, kernel_dir):
    invoke("push", "--dir", kernel_dir)
    fake_kaggle.set_kernel_output(KERNEL, {"log.txt": b"crashed"})
    result = invoke("submit", "--kernel", KERNEL, "--version", "1", "-m", "none")
    assert result.exit_code == 1 and "has no images.zip in its output (it has: log.txt" in one_line(result.output)


def test_submit_with_no_submissions_left_today_is_refused_before_downloading(fake_kaggle, kernel_dir, good_zip):
    invoke("push", "--dir", kernel_dir)
    fake_kaggle.submission_limits["per_day"] = 0
    result = invoke("submit", "--kernel", KERNEL, "--version", "1", "-m", "x")
    assert result.exit_code == 1 and "no submissions left today" in one_line(result.output)
    assert fake_kaggle.calls("ListKernelSessionOutput") == []


@pytest.mark.parametrize(
    "status_code,expected",
    [
        (401, "401"),
        (403, "accept the competition's rules"),
        (400, "answered 400"),
        (404, "the competition may no longer accept submissions, or 'dogkit-tester/dogkit-memorizer' has no version 1"),
    ],
)
def test_submission_refusals_are_one_line(fake_kaggle, kernel_dir, good_zip, status_code, expected):
    invoke("push", "--dir", kernel_dir)
    fake_kaggle.set_kernel_output(KERNEL, {"images.zip": good_zip})
    fake_kaggle.fail("CreateCodeSubmission", status_code, "forced refusal")
    result = invoke("submit", "--kernel", KERNEL, "--version", "1", "-m", "x")
    assert result.exit_code == 1 and expected in one_line(result.output)
    assert fake_kaggle.key not in result.output


@pytest.mark.parametrize("budget", ["10h", "9h1m"])
def test_bundle_refuses_a_budget_over_kaggles_limit(tmp_path, budget):
    result = invoke("bundle", "--out", tmp_path / "k", "--kernel-id", KERNEL, "--budget", budget)
    assert result.exit_code == 2
    assert f"{budget} is over Kaggle's limit of 9h for a kernel run" in one_line(result.output)
    assert not (tmp_path / "k").exists()
