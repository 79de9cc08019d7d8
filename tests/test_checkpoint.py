"""toolkit.train.checkpoint: streamed .npz writes, row reads, atomic replacement, corrupt files, memory."""

import json
import os
import re
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest

from toolkit.train.checkpoint import ArrayFile, CheckpointError, ChunkedArray, write_arrays


def sample_arrays() -> dict[str, np.ndarray]:
    """Every kind of array a checkpoint must hold: dtypes, 0-d, empty, strings, odd memory layouts."""
    rng = np.random.default_rng(0)
    table = rng.normal(size=(7, 3, 5)).astype(np.float32)
    return {
        "a/generator/000": table,
        "a/generator/001": rng.integers(-(2**40), 2**40, size=11),
        "a/discriminator/000": rng.integers(0, 255, size=(4, 4, 3), dtype=np.uint8),
        "mask": rng.random(9) > 0.5,
        "complex": (rng.normal(size=3) + 1j * rng.normal(size=3)).astype(np.complex128),
        "scalar": np.array(2.5),
        "empty": np.zeros((0, 3, 4), np.float32),
        "state": np.array(json.dumps({"phase": "coach", "round": 3, "name": "Müller"})),
        "labels": np.array([["husky", "pug"], ["corgi", "a very long breed name"]]),
        "big_endian": np.arange(6, dtype=">i4"),
        "when": np.array(["2019-06-28", "2019-08-13"], dtype="datetime64[D]"),
        "records": np.array([(1, 2.0, "x"), (3, 4.0, "yz")], dtype=[("n", "i2"), ("v", "f8"), ("s", "U2")]),
        "fortran": np.asfortranarray(table[:, 0, :]),
        "strided": table[::2, :, ::2],
    }


def assert_same(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(actual, expected)


def uneven_chunks(full: np.ndarray, sizes: list[int]):
    """A ChunkedArray source that hands out ``full`` in chunks of ``sizes`` rows (each a copy)."""
    assert sum(sizes) == len(full)

    def chunks():
        start = 0
        for size in sizes:
            yield full[start : start + size].copy()
            start += size

    return chunks


def tmp_files(folder) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.endswith(".tmp"))


# ---------------------------------------------------------------------------------------------- round trips


def test_round_trip_every_kind_of_array(tmp_path):
    arrays = sample_arrays()
    path = tmp_path / "deep" / "folder" / "coach.npz"
    size = write_arrays(path, arrays)
    assert size == path.stat().st_size
    with ArrayFile(path) as checkpoint:
        assert checkpoint.keys() == list(arrays)
        for key, expected in arrays.items():
            assert key in checkpoint
            assert checkpoint.shape(key) == expected.shape
            assert checkpoint.dtype(key) == expected.dtype
            assert checkpoint.nbytes(key) == expected.nbytes
            assert_same(checkpoint[key], expected)
        assert "missing" not in checkpoint
        assert json.loads(str(checkpoint["state"]))["name"] == "Müller"
        checkpoint.verify()


def test_np_load_reads_what_write_arrays_wrote(tmp_path):
    arrays = sample_arrays()
    path = tmp_path / "coach.npz"
    write_arrays(path, arrays, durable=False)
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == sorted(arrays)
        for key, expected in arrays.items():
            assert_same(archive[key], expected)
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            assert info.compress_type == zipfile.ZIP_STORED
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert archive.testzip() is None


def test_chunked_array_in_uneven_chunks(tmp_path):
    full = np.random.default_rng(1).normal(size=(103, 3, 5)).astype(np.float32)
    sizes = [1, 40, 0, 17, 45]
    path = tmp_path / "chunked.npz"
    write_arrays(path, {"table": ChunkedArray(full.shape, "float32", uneven_chunks(full, sizes))})
    with ArrayFile(path) as checkpoint:
        assert checkpoint.dtype("table") == np.float32
        assert_same(checkpoint["table"], full)
        # chunk boundaries fall at rows 1, 41, 58
        for start, stop in [(0, 1), (1, 41), (41, 58), (58, 103), (40, 42), (57, 59), (0, 103), (13, 14), (102, 103)]:
            assert_same(checkpoint.rows("table", start, stop), full[start:stop])
        # clamped like slicing
        for start, stop in [(-3, None), (None, 5), (100, 500), (50, 10), (200, 300), (-500, 2)]:
            assert_same(checkpoint.rows("table", start, stop), full[start:stop])
        pieces = list(checkpoint.iter_rows("table", 10))
        assert [len(piece) for piece in pieces] == [10] * 10 + [3]
        assert_same(np.concatenate(pieces), full)
    assert_same(np.load(path)["table"], full)


def test_chunked_and_plain_arrays_give_identical_bytes(tmp_path):
    full = np.arange(60, dtype=np.int16).reshape(20, 3)
    arrays = {**sample_arrays(), "chunked": full}
    write_arrays(tmp_path / "one.npz", arrays, durable=False)
    write_arrays(tmp_path / "two.npz", arrays, durable=False)
    chunked = {**arrays, "chunked": ChunkedArray((20, 3), np.int16, uneven_chunks(full, [7, 0, 13]))}
    write_arrays(tmp_path / "three.npz", chunked, durable=False)
    one = (tmp_path / "one.npz").read_bytes()
    assert one == (tmp_path / "two.npz").read_bytes()
    assert one == (tmp_path / "three.npz").read_bytes()


def test_empty_first_axis_and_zero_d(tmp_path):
    path = tmp_path / "edge.npz"
    write_arrays(path, {"none": ChunkedArray((0, 4), np.float64, lambda: iter(())), "zero": np.int8(7)})
    with ArrayFile(path) as checkpoint:
        assert_same(checkpoint["none"], np.zeros((0, 4)))
        assert_same(checkpoint.rows("none", 0, 10), np.zeros((0, 4)))
        assert list(checkpoint.iter_rows("none", 3)) == []
        assert_same(checkpoint["zero"], np.array(7, np.int8))
        with pytest.raises(ValueError, match="0-d"):
            checkpoint.rows("zero", 0, 1)
        with pytest.raises(ValueError, match="chunk_rows"):
            checkpoint.iter_rows("none", 0)


def test_missing_key_lists_the_keys(tmp_path):
    path = tmp_path / "c.npz"
    write_arrays(path, {"alpha": np.zeros(2), "beta": np.ones(3)})
    with ArrayFile(path) as checkpoint, pytest.raises(KeyError, match="'alpha', 'beta'"):
        checkpoint["gamma"]


def test_closed_file_refuses_reads(tmp_path):
    path = tmp_path / "c.npz"
    write_arrays(path, {"alpha": np.zeros(2)})
    checkpoint = ArrayFile(path)
    checkpoint.close()
    assert checkpoint.shape("alpha") == (2,)
    with pytest.raises(ValueError, match="closed"):
        checkpoint["alpha"]


# ---------------------------------------------------------------------------------------------- numpy's own files


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_array_file_reads_np_savez(tmp_path, save):
    arrays = sample_arrays()
    path = tmp_path / "numpy.npz"
    save(path, **arrays)
    with ArrayFile(path) as checkpoint:
        assert sorted(checkpoint.keys()) == sorted(arrays)
        for key, expected in arrays.items():
            assert_same(checkpoint[key], expected)
        # np.savez keeps "fortran" in Fortran order: rows fall back to a whole read
        for key in ("a/generator/000", "fortran", "labels"):
            full = arrays[key]
            assert_same(checkpoint.rows(key, 1, 4), full[1:4])
            assert_same(np.concatenate(list(checkpoint.iter_rows(key, 2))), full)
        checkpoint.verify()


def test_array_file_refuses_pickled_members(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, plain=np.arange(3), objects=np.array([{"a": 1}, None], dtype=object))
    with ArrayFile(path) as checkpoint:
        assert_same(checkpoint["plain"], np.arange(3))
        with pytest.raises(CheckpointError, match="pickled"):
            checkpoint["objects"]


# ---------------------------------------------------------------------------------------------- atomic writes


def bad_chunks():
    row = np.zeros((2, 3), np.float32)
    return {
        "too few rows": ChunkedArray((6, 3), np.float32, lambda: iter([row, row])),
        "too many rows": ChunkedArray((3, 3), np.float32, lambda: iter([row, row])),
        "wrong dtype": ChunkedArray((4, 3), np.float32, lambda: iter([row, row.astype(np.float64)])),
        "wrong row shape": ChunkedArray((4, 3), np.float32, lambda: iter([row, np.zeros((2, 4), np.float32)])),
        "wrong rank": ChunkedArray((4, 3), np.float32, lambda: iter([row, np.zeros(6, np.float32)])),
    }


@pytest.mark.parametrize("case", list(bad_chunks()))
def test_chunks_that_do_not_add_up_leave_nothing(tmp_path, case):
    chunked = bad_chunks()[case]
    fresh = tmp_path / "fresh.npz"
    with pytest.raises(ValueError, match=re.escape(str(fresh))):
        write_arrays(fresh, {"ok": np.ones(3), "bad": chunked})
    assert os.listdir(tmp_path) == []

    older = tmp_path / "older.npz"
    write_arrays(older, {"ok": np.ones(3)})
    before = older.read_bytes()
    with pytest.raises(ValueError, match="'bad'"):
        write_arrays(older, {"ok": np.zeros(3), "bad": chunked})
    assert older.read_bytes() == before
    assert os.listdir(tmp_path) == ["older.npz"]


def test_exception_inside_the_chunks_keeps_the_older_file(tmp_path):
    path = tmp_path / "coach.npz"
    write_arrays(path, {"table": np.ones((4, 3))})
    before = path.read_bytes()

    def failing():
        yield np.zeros((2, 3))
        yield np.zeros((2, 3))
        raise RuntimeError("generator step failed")

    with pytest.raises(RuntimeError, match="generator step failed"):
        write_arrays(path, {"table": ChunkedArray((8, 3), np.float64, failing)})
    assert path.read_bytes() == before
    assert tmp_files(tmp_path) == []
    assert_same(np.load(path)["table"], np.ones((4, 3)))


def test_object_arrays_and_bad_keys_are_refused(tmp_path):
    path = tmp_path / "c.npz"
    with pytest.raises(ValueError, match="Python objects"):
        write_arrays(path, {"objects": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(ValueError, match="non-empty strings"):
        write_arrays(path, {"": np.zeros(1)})
    assert os.listdir(tmp_path) == []


def test_chunked_array_checks_its_fields():
    assert ChunkedArray([4, 3], "<f4", lambda: iter(())).shape == (4, 3)
    assert ChunkedArray((4,), "f4", lambda: iter(())).dtype == np.dtype(np.float32)
    with pytest.raises(ValueError, match="no axis"):
        ChunkedArray((), np.float32, lambda: iter(()))
    with pytest.raises(ValueError, match="negative"):
        ChunkedArray((-1, 3), np.float32, lambda: iter(()))
    with pytest.raises(TypeError, match="callable"):
        ChunkedArray((1,), np.float32, [np.zeros(1)])


# ---------------------------------------------------------------------------------------------- broken files


@pytest.fixture
def checkpoint_file(tmp_path):
    path = tmp_path / "coach.npz"
    write_arrays(path, {"a/generator/000": np.arange(4096, dtype=np.float32), "state": np.array("{}")})
    return path


def assert_checkpoint_error(path, match: str) -> CheckpointError:
    with pytest.raises(CheckpointError, match=match) as caught:
        ArrayFile(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert caught.value.path == path
    return caught.value


def test_truncated_in_the_middle_of_a_member(checkpoint_file):
    data = checkpoint_file.read_bytes()
    checkpoint_file.write_bytes(data[: len(data) // 2])
    assert_checkpoint_error(checkpoint_file, "truncated")


def test_member_that_ends_past_the_end_of_the_file(checkpoint_file):
    # keep the central directory, but make it claim more bytes for the first member than the file has
    data = bytearray(checkpoint_file.read_bytes())
    entry = data.index(b"PK\x01\x02")
    struct.pack_into("<2L", data, entry + 20, 10**6, 10**6)  # compressed, uncompressed size
    checkpoint_file.write_bytes(bytes(data))
    error = assert_checkpoint_error(checkpoint_file, "truncated")
    assert "member 'a/generator/000.npy' ends at byte" in str(error)
    assert f"file has {len(data)}" in str(error)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    assert_checkpoint_error(path, "empty file")


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.npz"
    path.write_bytes(np.random.default_rng(2).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    assert_checkpoint_error(path, "not a zip archive")


def test_missing_file_and_folder(tmp_path):
    assert_checkpoint_error(tmp_path / "absent.npz", "not found")
    assert_checkpoint_error(tmp_path, "not a file")


@pytest.mark.parametrize("where", [0, 20, 60])  # the magic string, the dict's keys, its shape
def test_overwritten_npy_header(checkpoint_file, where):
    data = bytearray(checkpoint_file.read_bytes())
    start = data.index(b"\x93NUMPY") + where
    data[start : start + 12] = b"#" * 12
    checkpoint_file.write_bytes(bytes(data))
    error = assert_checkpoint_error(checkpoint_file, "is not a .npy array")
    assert "member 'a/generator/000.npy'" in str(error)


def test_header_that_disagrees_with_the_data_size(tmp_path):
    path = tmp_path / "short.npz"
    with zipfile.ZipFile(path, "w") as archive:
        header = np.lib.format.header_data_from_array_1_0(np.zeros(10, np.float32))
        with archive.open("x.npy", "w") as stream:
            np.lib.format.write_array_header_1_0(stream, header)
            stream.write(np.zeros(9, np.float32).tobytes())
    assert_checkpoint_error(path, r"member 'x.npy' holds 36 bytes of array data.*\(40 bytes\)")


def test_verify_catches_a_flipped_byte(checkpoint_file):
    with ArrayFile(checkpoint_file) as checkpoint:
        checkpoint.verify()
    data = bytearray(checkpoint_file.read_bytes())
    data[data.index(b"\x93NUMPY") + 1000] ^= 0x40  # inside the float data, past the 128-byte header
    checkpoint_file.write_bytes(bytes(data))
    with ArrayFile(checkpoint_file) as checkpoint:
        assert checkpoint.rows("a/generator/000", 0, 10).shape == (10,)  # row reads do not check the CRC
        with pytest.raises(CheckpointError, match="CRC") as caught:
            checkpoint.verify()
    assert str(caught.value).startswith(f"{checkpoint_file}: member 'a/generator/000.npy'")


def test_checkpoint_error_survives_pickling(tmp_path):
    import pickle

    error = pickle.loads(pickle.dumps(CheckpointError(tmp_path / "c.npz", "empty file")))
    assert str(error) == f"{tmp_path / 'c.npz'}: empty file"
    assert error.path == tmp_path / "c.npz"


# ---------------------------------------------------------------------------------------------- memory


def test_memory_stays_at_a_few_chunks(tmp_path):
    rows, width, chunk_rows = 8192, 8192, 256  # 256 MiB of float32 in 8 MiB chunks
    path = tmp_path / "big.npz"

    def chunks():
        for index in range(rows // chunk_rows):
            yield np.full((chunk_rows, width), index, np.float32)

    tracemalloc.start()
    try:
        size = write_arrays(path, {"table": ChunkedArray((rows, width), np.float32, chunks)}, durable=False)
        _, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        with ArrayFile(path) as checkpoint:
            for index, piece in enumerate(checkpoint.iter_rows("table", chunk_rows)):
                assert piece.shape == (chunk_rows, width)
                assert piece[0, 0] == index and piece[-1, -1] == index
            assert index == rows // chunk_rows - 1
            assert_same(checkpoint.rows("table", 1000, 1002), np.full((2, width), 1000 // chunk_rows, np.float32))
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size > rows * width * 4
    assert write_peak < 64 * 2**20, f"writing peaked at {write_peak / 2**20:.0f} MiB"
    assert read_peak < 64 * 2**20, f"reading peaked at {read_peak / 2**20:.0f} MiB"
