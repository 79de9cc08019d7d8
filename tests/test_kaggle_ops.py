"""`dogkit bundle`, `push`, `status`, `output` and `submit` with the real kaggle client and the fake server."""

import hashlib
import io
import json
import zipfile

import pytest
from click.testing import CliRunner

from submission import encode_png, write_images_zip
from tests.conftest import varied_images
from toolkit.cli import cli

KERNEL = "dogkit-tester/dogkit-memorizer"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def good_zip(tmp_path_factory):
    images = varied_images(50, seed=8)
    path = tmp_path_factory.mktemp("zip") / "images.zip"
    write_images_zip((images[k % 50] for k in range(10_000)), path)
    return path.read_bytes()


@pytest.fixture
def kernel_dir(tmp_path, fake_kaggle):
    fake_kaggle.add_competition("generative-dog-images", b"")  # known to the fake, for submissions
    folder = tmp_path / "kernel"
    result = invoke("bundle", "--out", folder, "--kernel-id", KERNEL, "--budget", "8h30m")
    assert result.exit_code == 0, result.output
    return folder


def one_line(result):
    assert "Traceback" not in result.output
    return result.output.strip().splitlines()[-1]


# ---------------------------------------------------------------- bundle


def test_bundle_writes_script_and_metadata(kernel_dir):
    metadata = json.loads((kernel_dir / "kernel-metadata.json").read_text())
    assert metadata["id"] == KERNEL and metadata["title"] == "dogkit memorizer"
    assert metadata["code_file"] == "dogkit_kernel.py" and (kernel_dir / "dogkit_kernel.py").is_file()
    assert metadata["language"] == "python" and metadata["kernel_type"] == "script"
    assert metadata["is_private"] is True and metadata["enable_gpu"] is True
    assert metadata["enable_internet"] is False
    assert metadata["competition_sources"] == ["generative-dog-images"]
    assert metadata["dataset_sources"] == []


def test_bundle_attaches_the_metric_dataset_and_is_deterministic(tmp_path, fake_kaggle):
    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        result = invoke(
            "bundle", "--out", folder, "--kernel-id", KERNEL, "--no-gpu", "--metric-dataset", "me/gan-metric"
        )
        assert result.exit_code == 0, result.output
    metadata = json.loads((a / "kernel-metadata.json").read_text())
    assert metadata["dataset_sources"] == ["me/gan-metric"] and metadata["enable_gpu"] is False
    assert (a / "dogkit_kernel.py").read_bytes() == (b / "dogkit_kernel.py").read_bytes()


def test_bundle_embeds_what_the_kernel_needs_and_nothing_for_the_command_line(kernel_dir):
    import base64

    text = (kernel_dir / "dogkit_kernel.py").read_text()
    code = text.split('CODE = """')[1].split('"""')[0]
    names = zipfile.ZipFile(io.BytesIO(base64.b64decode(code))).namelist()
    for needed in ("kernel/main.py", "toolkit/pipeline.py", "toolkit/train_memorizer.py", "submission/writer.py"):
        assert needed in names
    for unneeded in ("toolkit/cli.py", "toolkit/fetch.py", "toolkit/kaggle_client.py", "toolkit/kaggle_ops.py"):
        assert unneeded not in names
    assert "/work/" not in text and "pip install" not in text


def test_bundle_takes_the_owner_from_the_credentials(tmp_path, fake_kaggle):
    result = invoke("bundle", "--out", tmp_path / "k")
    assert result.exit_code == 0, result.output
    assert (
        json.loads((tmp_path / "k" / "kernel-metadata.json").read_text())["id"]
        == f"{fake_kaggle.username}/dogkit-memorizer"
    )


@pytest.mark.parametrize("kernel_id", ["nobody", "me/Bad_Slug", "me/abc", "a/b/c"])
def test_bundle_refuses_ids_kaggle_would_not_take(tmp_path, kernel_id):
    result = invoke("bundle", "--out", tmp_path / "k", "--kernel-id", kernel_id)
    assert result.exit_code == 2 and "kernel" in result.output
    assert not (tmp_path / "k" / "dogkit_kernel.py").exists()


# ---------------------------------------------------------------- push and status


def test_push_sends_the_script_and_the_metadata(fake_kaggle, kernel_dir):
    result = invoke("push", "--dir", kernel_dir)
    assert result.exit_code == 0, result.output
    assert f"pushed {KERNEL} version 1" in result.output
    [pushed] = fake_kaggle.pushes
    assert pushed.kernel == KERNEL and pushed.text == (kernel_dir / "dogkit_kernel.py").read_text()
    assert pushed.language == "python" and pushed.enable_internet is False and pushed.enable_gpu is True
    assert "generative-dog-images" in json.dumps(pushed.competition_sources)


def test_push_and_wait_follows_the_run_to_its_end(fake_kaggle, kernel_dir):
    fake_kaggle.set_kernel_statuses(KERNEL, ["queued", "running", "running", "complete"])
    result = invoke("push", "--dir", kernel_dir, "--wait", "--poll", "0.01")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"{KERNEL}: queued" in lines and f"{KERNEL}: running" in lines and f"{KERNEL}: complete" in lines
    assert "complete; next: dogkit output" in lines[-1]


def test_a_run_that_ends_in_error_is_one_line(fake_kaggle, kernel_dir):
    fake_kaggle.set_kernel_statuses(KERNEL, ["running", ("error", "Your notebook tried to allocate more memory")])
    result = invoke("push", "--dir", kernel_dir, "--wait", "--poll", "0.01")
    assert result.exit_code == 1
    assert "ended in error: Your notebook tried to allocate more memory" in one_line(result)


def test_a_rejected_push_is_one_line(fake_kaggle, kernel_dir):
    fake_kaggle.reject_push("Notebook title is invalid")
    result = invoke("push", "--dir", kernel_dir)
    assert result.exit_code == 1
    assert one_line(result) == f"Error: Kaggle rejected the push of '{KERNEL}': Notebook title is invalid"


@pytest.mark.parametrize("status_code,expected", [(401, "401"), (403, "403"), (404, "not found on Kaggle (404)")])
def test_push_refusals_are_one_line(fake_kaggle, kernel_dir, status_code, expected):
    fake_kaggle.fail("SaveKernel", status_code, "forced")
    result = invoke("push", "--dir", kernel_dir)
    assert result.exit_code == 1 and expected in one_line(result)
    assert fake_kaggle.key not in result.output


def test_status(fake_kaggle, kernel_dir):
    invoke("push", "--dir", kernel_dir)
    fake_kaggle.set_kernel_statuses(KERNEL, ["running"])
    result = invoke("status", KERNEL)
    assert result.exit_code == 0 and result.output.strip() == f"{KERNEL}: running"
    fake_kaggle.set_kernel_statuses(KERNEL, [("error", "out of memory")])
    result = invoke("status", KERNEL)
    assert result.exit_code == 1 and result.output.strip() == f"{KERNEL}: error (out of memory)"
    missing = invoke("status", "dogkit-tester/no-such-kernel")
    assert missing.exit_code == 1 and "not found on Kaggle (404)" in one_line(missing)
    assert invoke("status", "not-a-kernel-id").exit_code == 1


# ---------------------------------------------------------------- output and submit


def test_output_downloads_the_files_and_the_log(fake_kaggle, kernel_dir, tmp_path, good_zip):
    invoke("push", "--dir", kernel_dir)
    fake_kaggle.set_kernel_output(KERNEL, {"images.zip": good_zip, "samples.png": b"png"}, log="all good")
    result = invoke("output", KERNEL, "--dest", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "images.zip").read_bytes() == good_zip
    assert (tmp_path / "out" / "samples.png").read_bytes() == b"png"
    assert "3 files from" in result.output  # the two files and the log


def test_submit_validates_then_submits_the_version(fake_kaggle, kernel_dir, good_zip):
    invoke("push", "--dir", kernel_dir)
    invoke("push", "--dir", kernel_dir)
    fake_kaggle.set_kernel_output(KERNEL, {"images.zip": good_zip})
    result = invoke("submit", "--kernel", KERNEL, "--version", "2", "-m", "memorizer, 8h30m")
    assert result.exit_code == 0, result.output
    assert f"submitted {KERNEL} version 2 to generative-dog-images" in result.output
    [submission] = fake_kaggle.submissions
    assert (submission.kernel, submission.kernel_version, submission.file_name) == (KERNEL, 2, "images.zip")
    assert submission.message == "memorizer, 8h30m"
    [request] = fake_kaggle.calls("ListKernelSessionOutput")
    assert "2" in json.dumps(request.body.get("versionLabel", request.body))


def test_submit_prints_the_local_score_of_that_very_zip(fake_kaggle, kernel_dir, good_zip, tmp_path):
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
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for k in range(9_999):
            archive.writestr(f"{k}.png", encode_png(varied_images(1)[0]))
    fake_kaggle.set_kernel_output(KERNEL, {"images.zip": buffer.getvalue()})
    result = invoke("submit", "--kernel", KERNEL, "-m", "bad")
    assert result.exit_code == 1
    assert "refusing to submit" in one_line(result) and "holds 9999 images, expected exactly 10000" in one_line(result)
    assert fake_kaggle.submissions == []


def test_submit_without_images_zip_in_the_output(fake_kaggle, kernel_dir):
    invoke("push", "--dir", kernel_dir)
    fake_kaggle.set_kernel_output(KERNEL, {"log.txt": b"crashed"})
    result = invoke("submit", "--kernel", KERNEL, "-m", "none")
    assert result.exit_code == 1 and "has no images.zip in its output (it has: log.txt" in one_line(result)


@pytest.mark.parametrize(
    "status_code,expected", [(401, "401"), (403, "accept the competition's rules"), (400, "answered 400")]
)
def test_submission_refusals_are_one_line(fake_kaggle, kernel_dir, good_zip, status_code, expected):
    invoke("push", "--dir", kernel_dir)
    fake_kaggle.set_kernel_output(KERNEL, {"images.zip": good_zip})
    fake_kaggle.fail("CreateCodeSubmission", status_code, "forced refusal")
    result = invoke("submit", "--kernel", KERNEL, "-m", "x")
    assert result.exit_code == 1 and expected in one_line(result)
    assert fake_kaggle.key not in result.output
