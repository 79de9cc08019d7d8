"""Checkpoints of very large arrays: streamed ``.npz`` writes and row-range reads, never a second copy.

A checkpoint is an ordinary uncompressed ``.npz``, so ``numpy.load(path)`` reads every array:

    zip archive (ZIP_STORED, zip64 local headers, every member dated 1980-01-01)
      <key>.npy     npy header (format 1.0, or 2.0 when it is over 64 KiB) + the raw C-order bytes

``write_arrays`` streams each array into its member piece by piece, from a plain array (through a
memoryview of its own buffer) or from a ``ChunkedArray`` that yields rows as they are made, into a
temporary file that replaces the old checkpoint only once it is complete. ``ArrayFile`` parses the zip
directory and every npy header when it opens, checks that each member lies inside the file, and then
reads exactly the bytes asked for (a whole array, or a range of rows) into new arrays with
``readinto``. So a 21,700 x 3 x 12,288 float32 table (3.2 GB) costs 3.2 GB to save or load, not 6.4,
and a few rows of it cost a few rows.
"""

from __future__ import annotations

import io
import math
import operator
import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numpy.lib import format as npy_format

from submission import atomic_path

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # zip's earliest date: the same arrays always give the same bytes
_PIECE = 16 * 2**20  # bytes per write/readinto call; bounds the temporaries a zipfile stream makes
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zip local file header (30 bytes); [10], [11]: name, extra lengths
_LOCAL_SIGNATURE = b"PK\x03\x04"
_END_SIGNATURE = b"PK\x05\x06"  # end of central directory record: the last thing a zip writer writes
_END_SEARCH = 22 + 65535  # that record plus its longest possible comment
_KEYS_SHOWN = 20  # keys listed in a KeyError before "... and N more"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read as written: missing, empty, cut short, corrupt, or not one.

    The message is ``"<path>: <problem>"``.

    Attributes:
        path: the file.
        problem: what is wrong with it (the message without the path).
    """

    def __init__(self, path: str | os.PathLike, problem: str):
        super().__init__(f"{os.fspath(path)}: {problem}")
        self.path = Path(path)
        self.problem = problem

    def __reduce__(self):
        # the default would call CheckpointError(message): keep both arguments across pickling
        return type(self), (self.path, self.problem)


@dataclass(frozen=True)
class ChunkedArray:
    """An array handed over as consecutive row chunks, so that it never has to exist whole in memory.

    ``write_arrays`` checks every chunk against ``shape`` and ``dtype`` as it streams them.

    Raises:
        ValueError: ``shape`` has no axis or a negative length.
        TypeError: ``shape`` holds a non-integer, or ``chunks`` is not callable.
    """

    shape: tuple[int, ...]  # the whole array's shape; chunks split axis 0
    dtype: np.dtype  # any numpy dtype spec, normalised with np.dtype
    chunks: Callable[[], Iterator[np.ndarray]]  # a fresh iterator of (k, *shape[1:]) arrays; the ks sum to shape[0]

    def __post_init__(self):
        shape = tuple(operator.index(n) for n in self.shape)
        if not shape:
            raise ValueError("ChunkedArray: shape () has no axis to chunk; write a 0-d array as a plain np.ndarray")
        if min(shape) < 0:
            raise ValueError(f"ChunkedArray: shape {shape} has a negative length")
        if not callable(self.chunks):
            raise TypeError(f"ChunkedArray: chunks must be a callable returning an iterator, got {self.chunks!r}")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "dtype", np.dtype(self.dtype))

    @property
    def nbytes(self) -> int:
        """Bytes of the whole array."""
        return math.prod(self.shape) * self.dtype.itemsize


# ---------------------------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class _PendingMember:
    name: str  # "<key>.npy"
    header: bytes  # the npy header
    pieces: Callable[[], Iterator[memoryview]]  # the array's C-order bytes, a piece at a time


def write_arrays(
    path: str | os.PathLike, arrays: Mapping[str, np.ndarray | ChunkedArray], *, durable: bool = True
) -> int:
    """Write ``arrays`` to ``path`` as an uncompressed ``.npz``, streaming, atomically.

    Each value becomes the member ``<key>.npy`` (a key may contain ``/``), so ``np.load(path)[key]``
    returns it. The file is written beside ``path`` as ``.<name>.<pid>.tmp`` and renamed onto ``path``
    when complete; if anything fails, the temporary file is removed and whatever stood at ``path``
    stays as it was. Identical arrays always give identical bytes.

    Args:
        path: the ``.npz`` to write; missing parent folders are created.
        arrays: key -> array (anything ``np.asarray`` takes, including 0-d, empty and unicode string
            arrays; a non-contiguous array is copied a few rows at a time) or ``ChunkedArray``.
        durable: fsync the file and its folder, so that the checkpoint survives a machine crash and not
            only a killed process. Checkpoints rewritten every few minutes can skip it.

    Returns:
        The size of the written file in bytes.

    Raises:
        ValueError: a key is empty or not a string; an array holds Python objects (object dtype, which
            would need pickling); a ``ChunkedArray``'s chunks do not have its dtype, do not fit its shape,
            or do not add up to its rows. Nothing is left at or beside ``path`` then.
        OSError: the file cannot be written.
    """
    target = Path(path)
    # check every argument before touching the disk, so that a bad one leaves nothing behind
    members = [_pending_member(target, key, value) for key, value in arrays.items()]
    with atomic_path(target, durable=durable) as tmp:
        with open(tmp, "wb") as handle:
            with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
                for member in members:
                    _write_member(archive, member)
            size = handle.tell()
    return size


def _pending_member(path: Path, key: Any, value: Any) -> _PendingMember:
    """Validate one key and value; their npy header and a source of their bytes."""
    if not isinstance(key, str) or not key or "\x00" in key:
        raise ValueError(f"{path}: array keys must be non-empty strings without NUL, got {key!r}")
    if isinstance(value, ChunkedArray):
        shape, dtype = value.shape, value.dtype

        def pieces() -> Iterator[memoryview]:
            return _chunk_pieces(path, key, value)

    else:
        array = np.asarray(value)
        shape, dtype = array.shape, array.dtype

        def pieces() -> Iterator[memoryview]:
            return _array_pieces(array)

    if dtype.hasobject:
        raise ValueError(
            f"{path}: array {key!r} has dtype {dtype}, which holds Python objects; "
            "a checkpoint stores only plain data (numbers, booleans, fixed-width strings)"
        )
    return _PendingMember(name=f"{key}.npy", header=_npy_header(path, key, shape, dtype), pieces=pieces)


def _npy_header(path: Path, key: str, shape: tuple[int, ...], dtype: np.dtype) -> bytes:
    """The npy header of a C-order array, in the oldest format version that can hold it."""
    header = {"descr": npy_format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    for write in (npy_format.write_array_header_1_0, npy_format.write_array_header_2_0):
        buffer = io.BytesIO()
        try:
            write(buffer, header)
        except ValueError:  # over 64 KiB for 1.0 (a huge structured dtype): 2.0 allows 4 GiB
            continue
        return buffer.getvalue()
    raise ValueError(
        f"{path}: array {key!r}: dtype {dtype} needs npy format 3.0 (field names outside latin-1), "
        "which checkpoints do not use"
    )


def _array_pieces(array: np.ndarray) -> Iterator[memoryview]:
    """The C-order bytes of ``array``: views of its own buffer, or small copies when it is strided."""
    if array.nbytes == 0:
        return
    if array.flags.c_contiguous:
        flat = _byte_view(array)
        for start in range(0, len(flat), _PIECE):
            yield flat[start : start + _PIECE]
        return
    # a Fortran-order or sliced view: make a few rows contiguous at a time, never the whole array
    rows = max(1, _PIECE // (array.nbytes // len(array)))
    for start in range(0, len(array), rows):
        yield from _array_pieces(np.ascontiguousarray(array[start : start + rows]))


def _chunk_pieces(path: Path, key: str, value: ChunkedArray) -> Iterator[memoryview]:
    """The bytes of ``value``'s chunks, each checked against its shape and dtype."""
    total, tail = value.shape[0], value.shape[1:]
    rows = 0
    for index, chunk in enumerate(value.chunks()):
        chunk = np.asarray(chunk)
        where = f"{path}: array {key!r}: chunk {index}"
        if chunk.dtype != value.dtype:
            raise ValueError(f"{where} has dtype {chunk.dtype}, expected {value.dtype}")
        if chunk.ndim != len(value.shape) or chunk.shape[1:] != tail:
            raise ValueError(f"{where} has shape {chunk.shape}, expected {_rows_shape(tail)}")
        rows += chunk.shape[0]
        if rows > total:
            raise ValueError(f"{where} brings the rows to {rows}, more than the {total} of shape {value.shape}")
        yield from _array_pieces(chunk)
    if rows != total:
        raise ValueError(f"{path}: array {key!r}: the chunks hold {rows} rows, shape {value.shape} says {total}")


def _rows_shape(tail: tuple[int, ...]) -> str:
    """``(k, 3, 12288)`` for a tail of (3, 12288): the shape a chunk should have."""
    return "(k,)" if not tail else "(k, " + ", ".join(map(str, tail)) + ")"


def _write_member(archive: zipfile.ZipFile, member: _PendingMember) -> None:
    """Stream one member into ``archive``: header, then the array's bytes."""
    info = zipfile.ZipInfo(member.name, date_time=_FIXED_TIME)
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = 3  # Unix, on every platform: the bytes must not depend on where they were written
    info.external_attr = 0o644 << 16  # rw-r--r-- for anyone who unzips it
    # force_zip64: the local header must have room for sizes over 4 GiB before they are known (as np.savez)
    with archive.open(info, "w", force_zip64=True) as stream:
        stream.write(member.header)
        for piece in member.pieces():
            stream.write(piece)


def _byte_view(array: np.ndarray) -> memoryview:
    """A flat, writable byte view of a C- or Fortran-contiguous array's buffer (no copy)."""
    # .view(np.uint8) first: memoryview refuses some dtypes (datetime64, non-native unicode)
    contiguous = array.T if array.flags.f_contiguous and not array.flags.c_contiguous else array
    return memoryview(contiguous.reshape(-1).view(np.uint8))


# ---------------------------------------------------------------------------------------------- reading


class StateArrays:
    """A model's state in memory (``Part.arrays``) read as ``ArrayFile`` reads a checkpoint's part:
    so that a sampler can be built from a model that is training, as ``dogkit pack`` builds one from
    its checkpoint. A ``ChunkedArray`` is joined only when it is read."""

    def __init__(self, arrays: Mapping[str, Any]):
        self._arrays = dict(arrays)

    @classmethod
    def of(cls, parts: Mapping[str, Any]) -> dict[str, StateArrays]:
        """Each ``Part`` of ``model.state()`` by name."""
        return {name: cls(part.arrays) for name, part in parts.items()}

    def keys(self) -> list[str]:
        return list(self._arrays)

    def __contains__(self, key: object) -> bool:
        return key in self._arrays

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self._arrays[key].shape)

    def dtype(self, key: str) -> np.dtype:
        return np.dtype(self._arrays[key].dtype)

    def nbytes(self, key: str) -> int:
        return int(self._arrays[key].nbytes)

    def __getitem__(self, key: str) -> np.ndarray:
        value = self._arrays[key]
        if isinstance(value, ChunkedArray):
            return np.concatenate(list(value.chunks())).reshape(value.shape)
        return np.asarray(value)

    def rows(self, key: str, start: int | None, stop: int | None) -> np.ndarray:
        return self[key][start:stop].copy()

    def iter_rows(self, key: str, chunk_rows: int) -> Iterator[np.ndarray]:
        whole = self[key]
        return (whole[s : s + chunk_rows] for s in range(0, len(whole), chunk_rows))

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class _Member:
    key: str
    info: zipfile.ZipInfo
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    header_size: int  # bytes of npy header at the start of the member's data
    data_offset: int  # file offset of the array's first byte (stored members only)

    @property
    def stored(self) -> bool:
        return self.info.compress_type == zipfile.ZIP_STORED

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def row_nbytes(self) -> int:
        return math.prod(self.shape[1:]) * self.dtype.itemsize


class ArrayFile:
    """Read arrays, or ranges of their rows, from a ``write_arrays`` file or an ``np.savez`` one.

    Opening parses the zip directory and every member's npy header and checks that each member's data
    lies inside the file; reads then go straight to the right offset and ``readinto`` a new array, so
    memory grows only by what is asked for. Bytes are not checked against the zip CRC on reads (too slow
    for gigabytes); ``verify()`` does that. One file handle stays open until ``close()``; an
    ``ArrayFile`` is not safe to share between threads.

    Members stored in Fortran order are read whole and then sliced; compressed members (``np.savez_compressed``)
    are decompressed up to the rows asked for.

    Args:
        path: the ``.npz`` file.

    Raises:
        CheckpointError: the file is missing, not a regular file, empty, not a zip archive, cut short
            (a member ends past the end of the file), or has a member that is not a ``.npy`` array or
            whose header disagrees with its size. The message starts with ``path``.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._handle: BinaryIO | None = None
        self._archive: zipfile.ZipFile | None = None
        self._members: dict[str, _Member] = {}
        self._handle, self._size = self._open_file()
        try:
            self._archive = self._open_archive()
            for info in self._archive.infolist():
                member = self._read_member(info)
                if member.key in self._members:
                    raise self._error(f"two members hold the array {member.key!r}")
                self._members[member.key] = member
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ what is in it

    def keys(self) -> list[str]:
        """The array keys, in file order (member names without ``.npy``)."""
        return list(self._members)

    def __contains__(self, key: object) -> bool:
        return key in self._members

    def shape(self, key: str) -> tuple[int, ...]:
        """The shape of array ``key``, from its header (nothing is read)."""
        return self._member(key).shape

    def dtype(self, key: str) -> np.dtype:
        """The dtype of array ``key``, from its header (nothing is read)."""
        return self._member(key).dtype

    def nbytes(self, key: str) -> int:
        """Bytes of array ``key`` once loaded (uncompressed)."""
        return self._member(key).nbytes

    def __repr__(self) -> str:
        return f"ArrayFile({os.fspath(self.path)!r}, {len(self._members)} arrays)"

    # ------------------------------------------------------------------ reading

    def __getitem__(self, key: str) -> np.ndarray:
        """The whole array ``key``, read into a new array.

        Raises:
            KeyError: no array ``key`` (the message lists the keys).
            CheckpointError: the member holds pickled objects, or the file was cut short since opening.
        """
        member = self._plain_member(key)
        out = np.empty(member.shape, member.dtype, order="F" if member.fortran_order else "C")
        self._read_into(member, 0, out)
        return out

    def rows(self, key: str, start: int | None, stop: int | None) -> np.ndarray:
        """Rows ``start:stop`` of array ``key`` along axis 0, read from their own bytes only.

        Args:
            key: the array.
            start, stop: clamped like a Python slice (negative counts from the end; None is an open end).

        Returns:
            A new (stop - start, *shape[1:]) array (empty when the range is).

        Raises:
            KeyError: no array ``key``.
            ValueError: the array is 0-d and has no rows.
            CheckpointError: as for ``__getitem__``.
        """
        member = self._row_member(key)
        start, stop, _ = slice(start, stop).indices(member.shape[0])
        stop = max(start, stop)
        if member.fortran_order:
            # the rows of a Fortran-order array are not one byte range
            return self[key][start:stop].copy()
        out = np.empty((stop - start, *member.shape[1:]), member.dtype)
        self._read_into(member, start * member.row_nbytes, out)
        return out

    def iter_rows(self, key: str, chunk_rows: int) -> Iterator[np.ndarray]:
        """Array ``key`` as consecutive new arrays of ``chunk_rows`` rows (the last may be shorter).

        Raises:
            KeyError: no array ``key``.
            TypeError: ``chunk_rows`` is not an integer.
            ValueError: ``chunk_rows`` is below 1, or the array is 0-d.
            CheckpointError: as for ``__getitem__`` (raised when the chunk is reached).
        """
        if isinstance(chunk_rows, bool) or operator.index(chunk_rows) < 1:
            raise ValueError(f"{self.path}: iter_rows needs chunk_rows >= 1, got {chunk_rows!r}")
        # checked here, not on the first next(): a generator would defer the errors
        return self._iter_rows(self._row_member(key), operator.index(chunk_rows))

    def verify(self) -> None:
        """Read every member through ``zipfile`` and check its CRC-32.

        Raises:
            CheckpointError: a member's bytes do not match its CRC (or cannot be decompressed).
        """
        for member in self._members.values():
            with self._open_member(member) as stream:
                try:
                    while stream.read(_PIECE):
                        pass
                except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
                    raise self._error(f"member {member.info.filename!r} is corrupt ({exc})") from None

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Close the file handle (the keys, shapes and dtypes stay available)."""
        if self._archive is not None:
            self._archive.close()
            self._archive = None
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> ArrayFile:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # ------------------------------------------------------------------ opening

    def _error(self, problem: str) -> CheckpointError:
        return CheckpointError(self.path, problem)

    def _open_file(self) -> tuple[BinaryIO, int]:
        try:
            mode = os.stat(self.path).st_mode
        except FileNotFoundError:
            raise self._error("not found") from None
        except OSError as exc:
            raise self._error(f"cannot be read ({exc.strerror or exc})") from None
        if not stat.S_ISREG(mode):
            raise self._error("not a file" + (" (a folder)" if stat.S_ISDIR(mode) else ""))
        try:
            handle = open(self.path, "rb")
        except OSError as exc:
            raise self._error(f"cannot be read ({exc.strerror or exc})") from None
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            handle.close()
            raise self._error("empty file (0 bytes)")
        return handle, size

    def _open_archive(self) -> zipfile.ZipFile:
        try:
            return zipfile.ZipFile(self._handle)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, struct.error) as exc:
            reason = exc
        self._handle.seek(0)
        head = self._handle.read(len(_LOCAL_SIGNATURE))
        self._handle.seek(max(0, self._size - _END_SEARCH))
        has_end = _END_SIGNATURE in self._handle.read()
        if head == _LOCAL_SIGNATURE and not has_end:
            raise self._error(
                "truncated (it starts like a zip archive but lacks the central directory a complete one ends with)"
            )
        if head == _LOCAL_SIGNATURE or has_end:
            raise self._error(f"corrupt zip archive ({reason})")
        raise self._error("not a checkpoint (not a zip archive)")

    def _read_member(self, info: zipfile.ZipInfo) -> _Member:
        """Locate one member's data, parse its npy header and check both against the file."""
        name = info.filename
        start = info.header_offset
        if start + _LOCAL_HEADER.size > self._size:
            raise self._error(f"truncated (member {name!r} starts at byte {start}, file has {self._size})")
        self._handle.seek(start)
        local = _LOCAL_HEADER.unpack(self._handle.read(_LOCAL_HEADER.size))
        if local[0] != _LOCAL_SIGNATURE:
            raise self._error(f"corrupt zip archive (no local header for member {name!r} at byte {start})")
        # the local extra field (zip64 sizes) can differ from the central directory's copy
        data_start = start + _LOCAL_HEADER.size + local[10] + local[11]
        end = data_start + info.compress_size
        if end > self._size:
            raise self._error(f"truncated (member {name!r} ends at byte {end}, file has {self._size})")
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise self._error(
                f"corrupt zip archive (stored member {name!r} has {info.compress_size} bytes, "
                f"its directory entry says {info.file_size} uncompressed)"
            )
        with self._open_member(info) as stream:
            try:
                version = npy_format.read_magic(stream)
                if version == (1, 0):
                    shape, fortran_order, dtype = npy_format.read_array_header_1_0(stream)
                elif version == (2, 0):
                    shape, fortran_order, dtype = npy_format.read_array_header_2_0(stream)
                else:
                    raise ValueError(f"npy format {version[0]}.{version[1]} is not supported")
                header_size = stream.tell()
            except (zipfile.BadZipFile, zlib.error) as exc:
                raise self._error(f"member {name!r} is corrupt ({exc})") from None
            except Exception as exc:  # numpy's header parser lets tokenize/ast/dtype errors through on garbage
                raise self._error(f"member {name!r} is not a .npy array ({type(exc).__name__}: {exc})") from None
        member = _Member(
            key=name[:-4] if name.endswith(".npy") else name,  # as np.load names it
            info=info,
            shape=tuple(shape),
            dtype=dtype,
            fortran_order=bool(fortran_order),
            header_size=header_size,
            data_offset=data_start + header_size,
        )
        # an object array's data is a pickle of unknown length, so only plain data can be checked
        if not dtype.hasobject and info.file_size != header_size + member.nbytes:
            raise self._error(
                f"member {name!r} holds {info.file_size - header_size} bytes of array data, but its header "
                f"says shape {member.shape} of {dtype} ({member.nbytes} bytes)"
            )
        return member

    # ------------------------------------------------------------------ reading, the details

    def _member(self, key: str) -> _Member:
        try:
            return self._members[key]
        except KeyError:
            keys = list(self._members)
            shown = ", ".join(map(repr, keys[:_KEYS_SHOWN])) or "none"
            more = f" and {len(keys) - _KEYS_SHOWN} more" if len(keys) > _KEYS_SHOWN else ""
            raise KeyError(f"{self.path}: no array {key!r}; its arrays are {shown}{more}") from None

    def _plain_member(self, key: str) -> _Member:
        member = self._member(key)
        if member.dtype.hasobject:
            raise self._error(
                f"member {member.info.filename!r} holds pickled Python objects, which ArrayFile does not load"
            )
        return member

    def _row_member(self, key: str) -> _Member:
        member = self._plain_member(key)
        if not member.shape:
            raise ValueError(f"{self.path}: array {key!r} is 0-d and has no rows; read it with [{key!r}]")
        return member

    def _open_member(self, member: _Member | zipfile.ZipInfo):
        info = member.info if isinstance(member, _Member) else member
        if self._archive is None:
            raise ValueError(f"{self.path}: this ArrayFile is closed")
        try:
            return self._archive.open(info)
        except zipfile.BadZipFile as exc:
            raise self._error(f"member {info.filename!r} is corrupt ({exc})") from None
        except (NotImplementedError, RuntimeError) as exc:  # an unknown compression, a password
            raise self._error(f"member {info.filename!r} cannot be read ({exc})") from None

    def _read_into(self, member: _Member, offset: int, out: np.ndarray) -> None:
        """Fill ``out`` with the member's array bytes from ``offset`` (counted from the array's start)."""
        if out.nbytes == 0:
            return
        if member.stored:
            if self._handle is None:
                raise ValueError(f"{self.path}: this ArrayFile is closed")
            self._handle.seek(member.data_offset + offset)
            self._fill(member, self._handle, _byte_view(out))
            return
        with self._open_member(member) as stream:
            stream.seek(member.header_size + offset)
            self._fill(member, stream, _byte_view(out))

    def _fill(self, member: _Member, stream: BinaryIO, view: memoryview) -> None:
        try:
            while view:
                count = stream.readinto(view[:_PIECE])
                if not count:
                    raise self._error(
                        f"truncated (member {member.info.filename!r} ends early; was the file cut after it was opened?)"
                    )
                view = view[count:]
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # a compressed member that does not decompress
            raise self._error(f"member {member.info.filename!r} is corrupt ({exc})") from None

    def _iter_rows(self, member: _Member, chunk_rows: int) -> Iterator[np.ndarray]:
        total = member.shape[0]
        if member.fortran_order:
            whole = self[member.key]
            for start in range(0, total, chunk_rows):
                yield whole[start : start + chunk_rows].copy()
        elif member.stored:
            for start in range(0, total, chunk_rows):
                yield self.rows(member.key, start, start + chunk_rows)
        else:
            # one stream for all chunks: seeking a compressed member decompresses everything before the offset
            with self._open_member(member) as stream:
                stream.seek(member.header_size)
                for start in range(0, total, chunk_rows):
                    out = np.empty((min(chunk_rows, total - start), *member.shape[1:]), member.dtype)
                    if out.nbytes:
                        self._fill(member, stream, _byte_view(out))
                    yield out
