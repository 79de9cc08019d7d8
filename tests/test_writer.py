import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from submission import SubmissionError, validate_zip, write_images_zip


def cycle(images, n):
    return (images[k % len(images)] for k in range(n))


def test_writes_exactly_count_flat_unique_png_members(tmp_path, images64):
    out = write_images_zip(cycle(images64, 200), tmp_path / "images.zip", count=200)
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        assert len(names) == 200 == len(set(names))
        assert all("/" not in n and n.endswith(".png") for n in names)
        assert names == sorted(names)
        for k in (0, 63, 64, 199):
            decoded = Image.open(io.BytesIO(archive.read(names[k])))
            assert decoded.format == "PNG" and decoded.mode == "RGB"
            np.testing.assert_array_equal(np.asarray(decoded), images64[k % 64])
    assert validate_zip(out, count=200).ok


def test_default_count_is_the_competitions_10000(tmp_path, images64):
    out = write_images_zip(cycle(images64, 10_000), tmp_path / "images.zip")
    report = validate_zip(out)
    assert report.ok, report.problems[:5]
    assert report.image_count == 10_000


def test_same_images_give_the_same_bytes(tmp_path, images64):
    a = write_images_zip(cycle(images64, 50), tmp_path / "a.zip", count=50, workers=1)
    b = write_images_zip(cycle(images64, 50), tmp_path / "b.zip", count=50, workers=3)
    assert a.read_bytes() == b.read_bytes()


def test_progress_is_reported_per_image(tmp_path, images64):
    ticks = []
    write_images_zip(cycle(images64, 30), tmp_path / "images.zip", count=30, progress=ticks.append)
    assert sum(ticks) == 30


BAD_IMAGES = {
    "shape": (np.zeros((65, 64, 3), np.uint8), r"shape \(65, 64, 3\)"),
    "channels": (np.zeros((64, 64, 4), np.uint8), r"shape \(64, 64, 4\)"),
    "gray": (np.zeros((64, 64), np.uint8), r"shape \(64, 64\)"),
    "float dtype": (np.zeros((64, 64, 3), np.float32), "dtype float32"),
    "int dtype": (np.zeros((64, 64, 3), np.int64), "dtype int64"),
    "nan": (np.full((64, 64, 3), np.nan, np.float32), "non-finite"),
    "inf": (np.full((64, 64, 3), np.inf, np.float64), "non-finite"),
}


@pytest.mark.parametrize("case", sorted(BAD_IMAGES))
def test_bad_image_is_an_error_and_leaves_nothing(tmp_path, images64, case):
    bad, message = BAD_IMAGES[case]
    images = list(cycle(images64, 40))
    images[17] = bad
    with pytest.raises(SubmissionError, match=message) as info:
        write_images_zip(images, tmp_path / "images.zip", count=40)
    assert "image 17" in str(info.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("given,expected", [(39, "only 39"), (41, "more than 40")])
def test_wrong_number_of_images_is_an_error(tmp_path, images64, given, expected):
    with pytest.raises(SubmissionError, match=expected):
        write_images_zip(cycle(images64, given), tmp_path / "images.zip", count=40)
    assert list(tmp_path.iterdir()) == []


def test_an_infinite_source_is_refused_without_being_drained(tmp_path, images64):
    def forever():
        while True:
            yield images64[0]

    with pytest.raises(SubmissionError, match="more than 10"):
        write_images_zip(forever(), tmp_path / "images.zip", count=10)


def test_failure_keeps_an_existing_good_zip_untouched(tmp_path, images64):
    target = tmp_path / "images.zip"
    write_images_zip(cycle(images64, 20), target, count=20)
    before = target.read_bytes()

    def breaks_halfway():
        yield from cycle(images64, 10)
        raise RuntimeError("generator crashed")

    with pytest.raises(RuntimeError, match="crashed"):
        write_images_zip(breaks_halfway(), target, count=20)
    with pytest.raises(SubmissionError):
        write_images_zip(cycle(images64, 19), target, count=20)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["images.zip"]


def test_the_encoding_threads_all_run_before_the_first_image_is_drawn(tmp_path, images64):
    # a stop signal raised inside Thread.start leaves a traceback from threading beside dogkit's one line
    # (seen in CI: SIGTERM to `pack --from-dir`); no thread may start once the images flow
    import threading

    def pool_threads():
        return {t for t in threading.enumerate() if t.name.startswith("ThreadPoolExecutor")}

    before = pool_threads()
    running_at_first_image = []

    def images():
        running_at_first_image.append(len(pool_threads() - before))
        yield from cycle(images64, 50)

    write_images_zip(images(), tmp_path / "images.zip", count=50, workers=3)
    assert running_at_first_image == [3]


def test_a_stop_signal_while_the_threads_start_is_handled_once_they_all_run():
    import os
    import signal
    import threading

    from submission.threads import started_thread_pool

    class Stopped(Exception):
        pass

    def stop(signum, frame):
        raise Stopped

    before = set(threading.enumerate())
    previous = signal.signal(signal.SIGTERM, stop)
    started = []
    try:
        with pytest.raises(Stopped):
            with started_thread_pool(3, initializer=lambda: (started.append(1), os.kill(os.getpid(), signal.SIGTERM))):
                pytest.fail("the pool was handed out with a stop signal pending")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert len(started) == 3  # every thread started, the signal held back until they had
    assert set(threading.enumerate()) <= before  # and all were shut down: no thread left waiting
