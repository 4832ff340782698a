"""Reading label volumes (zarr v2/v3, HDF5, TIFF) block by block, with input validation.

A :class:`Volume` is a lazy 4-D view ``(C, Z, Y, X)`` of a label image (``ZYX`` gets
``C = 1``) or a channel stack. :meth:`Volume.blocks` yields the array piece by piece
(chunk-aligned where the format has chunks) so callers never hold a whole volume.
Local zarr v2 arrays are decoded straight from their chunk files with numcodecs,
skipping chunks whose bytes are known to hold only zeros, which is several times faster
than going through zarr-python. Every problem with an input becomes a one-line
:class:`~fisbe_bench.errors.FisbeError` naming the file.
"""

from __future__ import annotations

import itertools
import json
import lzma
import math
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from fisbe_bench.errors import FisbeError

HDF_SUFFIXES = (".hdf", ".h5", ".hdf5")
TIFF_SUFFIXES = (".tif", ".tiff")
ZARR_SUFFIX = ".zarr"
VOLUME_SUFFIXES = (ZARR_SUFFIX, *HDF_SUFFIXES, *TIFF_SUFFIXES)
SLAB_BYTES = 64 * 2**20
_ZERO_CHUNK_CACHE_MAX = 4096
# What codecs (blosc, zstd, lz4, zlib/gzip, bz2, lzma) and a wrong decoded size raise for
# corrupt or truncated chunk data; anything else (MemoryError above all) is not "corrupt".
DECODE_ERRORS = (ValueError, TypeError, RuntimeError, OSError, EOFError, zlib.error, lzma.LZMAError)

Block = tuple[tuple[int, int, int, int], np.ndarray]


def volume_format(path: str | Path) -> str:
    """The format of ``path`` by its suffix: ``"zarr"``, ``"hdf"`` or ``"tiff"``."""
    suffix = Path(path).suffix.lower()
    if suffix == ZARR_SUFFIX:
        return "zarr"
    if suffix in HDF_SUFFIXES:
        return "hdf"
    if suffix in TIFF_SUFFIXES:
        return "tiff"
    raise FisbeError(
        f"unsupported volume format {suffix or '(no suffix)'!r}; "
        f"expected one of {', '.join(VOLUME_SUFFIXES)}",
        path,
    )


def check_label_dtype(dtype: np.dtype, where: str | Path | None) -> None:
    """Refuse dtypes that cannot hold instance labels (complex, strings, objects)."""
    if dtype.kind not in "biuf":
        raise FisbeError(f"not a label volume: dtype {dtype} (expected integers)", where)


def label_values(values: np.ndarray, where: str | Path | None) -> np.ndarray:
    """Validate the nonzero values of a label array and return them as an integer array.

    Negative ids, NaN/inf and non-integer floats are errors; integer-valued floats are
    converted to uint64 (exact up to 2**53). Unsigned and non-negative signed integers
    pass through unchanged, so ids up to 2**64 - 1 are kept exactly.
    """
    kind = values.dtype.kind
    if kind == "b":
        return values.astype(np.uint8)
    if kind == "u":
        return values
    if kind == "i":
        if values.size and values.min() < 0:
            raise FisbeError(f"negative label id {int(values.min())}", where)
        return values
    if kind == "f":
        if not np.all(np.isfinite(values)):
            raise FisbeError("label volume contains NaN or infinite values", where)
        if values.size and values.min() < 0:
            raise FisbeError(f"negative label id {float(values.min())}", where)
        if np.any(values != np.floor(values)):
            raise FisbeError("label volume holds non-integer float values", where)
        if values.size and values.max() >= 2.0**64:
            raise FisbeError("label id too large for uint64", where)
        return values.astype(np.uint64)
    check_label_dtype(values.dtype, where)
    return values


def read_block(
    source: Any, index: tuple[int | slice, ...], where: str | Path | None, finite: bool = False
) -> np.ndarray:
    """``source[index]`` as numpy; a reader failure (corrupt chunk, I/O error) and, with
    ``finite``, NaN or infinite values are a :class:`FisbeError` naming ``where``."""
    try:
        block = np.asarray(source[index])
    except FisbeError:
        raise
    except MemoryError as err:
        raise FisbeError(
            f"out of memory while decoding chunk data [{_span(index)}]", where
        ) from err
    except Exception as err:  # zarr, numcodecs and h5py raise many types for bad chunks
        raise FisbeError(f"cannot read chunk data [{_span(index)}]: {err}", where) from err
    if finite and block.dtype.kind == "f" and not np.isfinite(block).all():
        raise FisbeError(f"NaN or infinite values in [{_span(index)}]", where)
    return block


def _out_of_memory(chunk: str, chunks: tuple[int, ...], dtype: np.dtype) -> str:
    """The one-line problem of a chunk that did not fit in memory."""
    mib = math.prod(chunks) * dtype.itemsize / 2**20
    return f"out of memory while decoding {chunk} ({mib:.0f} MiB decoded, chunks {chunks})"


def _span(index: tuple[int | slice, ...]) -> str:
    """``index`` as text, e.g. ``0, 0:, 8:16``."""
    return ", ".join(
        f"{s.start or 0}:{'' if s.stop is None else s.stop}" if isinstance(s, slice) else str(s)
        for s in index
    )


class CheckedArray:
    """Read-only numpy-style view of an array whose reads go through :func:`read_block`
    with ``finite=True``: bad chunks and NaN/inf become one-line errors naming ``where``."""

    def __init__(self, array: Any, where: str | Path) -> None:
        self.array = array
        self.where = where
        self.shape = tuple(int(s) for s in array.shape)
        self.dtype = np.dtype(array.dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, index: tuple[int | slice, ...]) -> np.ndarray:
        return read_block(self.array, index, self.where, finite=True)


class Volume:
    """A lazy ``(C, Z, Y, X)`` label volume read block by block.

    ``source`` is anything with ``shape``, ``dtype`` and numpy-style slicing (a numpy,
    zarr or h5py array); ``chunks`` (if given) aligns the reads with its storage chunks.
    """

    keep_open: object = None  # an open file handle the source needs (HDF5)

    def __init__(self, source: Any, where: str | Path | None = None) -> None:
        self.where = where
        shape = tuple(int(s) for s in source.shape)
        while len(shape) > 4 and shape[0] == 1:
            shape = shape[1:]
        if len(shape) not in (3, 4):
            raise FisbeError(
                f"expected a ZYX label image or a CZYX channel stack, got shape {shape}", where
            )
        self.spatial_ndim_in = len(shape)
        self.source = source
        self.shape: tuple[int, ...] = (1, *shape) if len(shape) == 3 else shape
        self.dtype = np.dtype(source.dtype)
        check_label_dtype(self.dtype, where)
        chunks = getattr(source, "chunks", None)
        chunks = tuple(chunks)[-len(shape) :] if chunks else None
        if chunks is not None and len(chunks) == 3:
            chunks = (1, *chunks)
        self.chunks: tuple[int, ...] | None = chunks

    @property
    def spatial_shape(self) -> tuple[int, int, int]:
        return self.shape[1:]  # type: ignore[return-value]

    def full_window(self) -> tuple[slice, slice, slice]:
        """The whole spatial extent as a window."""
        z, y, x = self.spatial_shape
        return slice(0, z), slice(0, y), slice(0, x)

    def _read(self, index: tuple[slice, ...]) -> np.ndarray:
        source_index: tuple[int | slice, ...] = index if self.spatial_ndim_in == 4 else index[1:]
        ndim_extra = len(self.source.shape) - self.spatial_ndim_in
        source_index = (0,) * ndim_extra + source_index
        block = read_block(self.source, source_index, self.where)
        return block if self.spatial_ndim_in == 4 else block[np.newaxis]

    def blocks(self, window: tuple[slice, slice, slice] | None = None) -> Iterator[Block]:
        """Yield ``((c0, z0, y0, x0), block)`` covering ``window`` (spatial slices).

        Offsets are relative to the window start; blocks are chunk-aligned Z slabs
        spanning the whole Y/X window, at most about ``SLAB_BYTES`` each.
        """
        window = window or self.full_window()
        n_channels = self.shape[0]
        (z_lo, z_hi), (y_lo, y_hi), (x_lo, x_hi) = ((w.start, w.stop) for w in window)
        chunk_c = self.chunks[0] if self.chunks else 1
        chunk_z = self.chunks[1] if self.chunks else 1
        plane_bytes = max(1, (y_hi - y_lo) * (x_hi - x_lo) * self.dtype.itemsize * chunk_c)
        per_slab = max(1, SLAB_BYTES // plane_bytes)
        thickness = max(chunk_z, (per_slab // chunk_z) * chunk_z)
        for c0 in range(0, n_channels, chunk_c):
            c1 = min(n_channels, c0 + chunk_c)
            # align slab boundaries to the storage chunk grid
            start = z_lo - (z_lo % chunk_z)
            for z0 in range(start, z_hi, thickness):
                zs, ze = max(z0, z_lo), min(z0 + thickness, z_hi)
                index = (slice(c0, c1), slice(zs, ze), slice(y_lo, y_hi), slice(x_lo, x_hi))
                yield (c0, zs - z_lo, 0, 0), self._read(index)

    def read(self, window: tuple[slice, slice, slice] | None = None) -> np.ndarray:
        """The whole (windowed) ``(C, Z, Y, X)`` array in memory."""
        window = window or self.full_window()
        out = np.zeros((self.shape[0], *(w.stop - w.start for w in window)), dtype=self.dtype)
        for (c0, z0, y0, x0), block in self.blocks(window):
            c, z, y, x = block.shape
            out[c0 : c0 + c, z0 : z0 + z, y0 : y0 + y, x0 : x0 + x] = block
        return out


def _clip_chunk(
    chunk: np.ndarray, start: tuple[int, ...], lo: list[int], hi: list[int]
) -> Block | None:
    """The part of a stored chunk inside the window ``[lo, hi)``, as a 4-D block.

    ``start`` is the chunk's corner in store coordinates; leading singleton axes beyond
    CZYX are dropped and a ZYX chunk gets a channel axis. ``None`` if outside.
    """
    bounds = list(zip(lo, hi, start, chunk.shape, strict=True))
    if any(s >= b or s + c <= a for a, b, s, c in bounds):
        return None
    block = chunk[tuple(slice(max(a, s) - s, min(b, s + c) - s) for a, b, s, c in bounds)]
    offset = [max(a, s) - a for a, _, s, _ in bounds]
    while block.ndim > 4:
        block, offset = block[0], offset[1:]
    if block.ndim == 3:
        block, offset = block[np.newaxis], [0, *offset]
    return tuple(offset), block  # type: ignore[return-value]


class ZarrV2Volume(Volume):
    """A local zarr v2 array decoded chunk by chunk with numcodecs."""

    def __init__(self, array_dir: Path, meta: dict[str, Any], where: str | Path) -> None:
        import numcodecs

        self.array_dir = array_dir
        self._meta = meta
        self.source = None
        self.where = where
        shape = tuple(int(s) for s in meta["shape"])
        self._store_shape = shape
        self._store_chunks = tuple(int(c) for c in meta["chunks"])
        if len(shape) not in (3, 4):
            raise FisbeError(
                f"expected a ZYX label image or a CZYX channel stack, got shape {shape}", where
            )
        self.spatial_ndim_in = len(shape)
        self.shape = (1, *shape) if len(shape) == 3 else shape
        chunks = self._store_chunks
        self.chunks = (1, *chunks) if len(chunks) == 3 else chunks
        self.dtype = np.dtype(meta["dtype"])
        check_label_dtype(self.dtype, where)
        compressor = meta.get("compressor")
        self._compressor = numcodecs.get_codec(compressor) if compressor else None
        self._filters = [numcodecs.get_codec(f) for f in (meta.get("filters") or [])]
        self._separator = meta.get("dimension_separator") or "."
        self._zero_encodings: set[bytes] = set()
        self._blosc = (
            compressor is not None and compressor.get("id") == "blosc" and not self._filters
        )

    @staticmethod
    def usable(meta: dict[str, Any]) -> bool:
        """Whether the fast path handles this array (else zarr-python reads it)."""
        try:
            dtype = np.dtype(meta["dtype"])
        except (TypeError, ValueError):
            return False
        return (
            meta.get("zarr_format") == 2
            and meta.get("order", "C") == "C"
            and dtype.kind in "biuf"
            and dtype.fields is None
            and meta.get("fill_value") in (0, None, 0.0, False)
        )

    def _zero_key(self, raw: bytes) -> bytes:
        """Bytes that determine the chunk content (blosc: block order normalised).

        Multithreaded blosc writes its compressed blocks in completion order, so equal
        chunks can differ in their block-offset table; sorting the blocks back into
        index order gives a key that is equal exactly when the content is.
        """
        if not self._blosc or len(raw) < 16 or raw[2] & 0x02:  # not blosc / memcpyed
            return raw
        nbytes, blocksize, cbytes = struct.unpack_from("<III", raw, 4)
        if not blocksize or cbytes != len(raw):
            return raw
        n_blocks = -(-nbytes // blocksize)
        if 16 + 4 * n_blocks > len(raw):
            return raw
        starts = struct.unpack_from(f"<{n_blocks}I", raw, 16)
        ends = dict(zip(sorted(starts), [*sorted(starts)[1:], len(raw)], strict=True))
        return raw[:16] + b"".join(raw[s : ends[s]] for s in starts)

    def _decode(self, raw: bytes, key: str) -> np.ndarray | None:
        """Decode one chunk; ``None`` if it holds only zeros."""
        small = len(raw) <= _ZERO_CHUNK_CACHE_MAX
        zero_key = self._zero_key(raw) if small else b""
        if small and zero_key in self._zero_encodings:
            return None
        try:
            data = self._compressor.decode(raw) if self._compressor else raw
            for codec in reversed(self._filters):
                data = codec.decode(data)
            chunk = np.frombuffer(data, dtype=self.dtype)
            chunk = chunk.reshape(self._store_chunks)
        except MemoryError as err:
            raise FisbeError(
                _out_of_memory(f"chunk {key!r}", self._store_chunks, self.dtype), self.where
            ) from err
        except DECODE_ERRORS as err:
            raise FisbeError(f"corrupt zarr chunk {key!r}: {err}", self.where) from err
        if small and not chunk.any():
            self._zero_encodings.add(zero_key)
            return None
        return chunk

    def blocks(self, window: tuple[slice, slice, slice] | None = None) -> Iterator[Block]:
        window = window or self.full_window()
        lo = [0] * (len(self._store_shape) - 3) + [w.start for w in window]
        hi = list(self._store_shape[:-3]) + [w.stop for w in window]
        ranges = [
            range(a // c, math.ceil(b / c))
            for a, b, c in zip(lo, hi, self._store_chunks, strict=True)
        ]
        for grid in itertools.product(*ranges):
            key = self._separator.join(str(g) for g in grid)
            try:
                raw = (self.array_dir / key).read_bytes()
            except FileNotFoundError:
                continue
            except OSError as err:
                raise FisbeError(f"cannot read zarr chunk {key!r}: {err}", self.where) from err
            chunk = self._decode(raw, key)
            if chunk is not None:
                start = tuple(g * c for g, c in zip(grid, self._store_chunks, strict=True))
                clipped = _clip_chunk(chunk, start, lo, hi)
                if clipped is not None:
                    yield clipped


class HdfChunkVolume(Volume):
    """An HDF5 dataset decoded chunk by chunk (deflate/shuffle), skipping zero chunks.

    Chunks are read raw with ``read_direct_chunk`` and inflated with zlib; chunks whose
    bytes were already seen to hold only zeros are skipped without decoding.
    """

    FILTERS = {1: "deflate", 2: "shuffle"}

    def __init__(self, dataset: Any, where: str | Path) -> None:
        super().__init__(dataset, where)
        plist = dataset.id.get_create_plist()
        self._filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
        self._store_chunks = tuple(int(c) for c in dataset.chunks)
        self._zero_encodings: set[bytes] = set()

    @classmethod
    def usable(cls, dataset: Any) -> bool:
        """Chunked, only deflate/shuffle filters, zero fill value, plain numeric dtype."""
        if dataset.chunks is None or dataset.dtype.fields is not None:
            return False
        if not hasattr(dataset.id, "chunk_iter") or dataset.dtype.kind not in "biuf":
            return False
        plist = dataset.id.get_create_plist()
        filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
        fill = dataset.fillvalue
        return all(f in cls.FILTERS for f in filters) and (fill is None or fill == 0)

    def _decode(self, raw: bytes, mask: int, offset: tuple[int, ...]) -> np.ndarray | None:
        small = len(raw) <= _ZERO_CHUNK_CACHE_MAX
        if small and raw in self._zero_encodings:
            return None
        try:
            data = raw
            for index in reversed(range(len(self._filters))):
                if mask & (1 << index):
                    continue
                if self._filters[index] == 1:
                    data = zlib.decompress(data)
                else:
                    size = self.dtype.itemsize
                    shuffled = np.frombuffer(data, np.uint8)
                    data = shuffled.reshape(size, -1).T.tobytes()
            chunk = np.frombuffer(data, dtype=self.dtype).reshape(self._store_chunks)
        except MemoryError as err:
            raise FisbeError(
                _out_of_memory(f"HDF5 chunk at {offset}", self._store_chunks, self.dtype),
                self.where,
            ) from err
        except (zlib.error, ValueError) as err:
            raise FisbeError(f"corrupt HDF5 chunk at {offset}: {err}", self.where) from err
        if small and not chunk.any():
            self._zero_encodings.add(raw)
            return None
        return chunk

    def blocks(self, window: tuple[slice, slice, slice] | None = None) -> Iterator[Block]:
        window = window or self.full_window()
        dsid = self.source.id
        store_ndim = len(self._store_chunks)
        lo = [0] * (store_ndim - 3) + [w.start for w in window]
        hi = list(self.source.shape[:-3]) + [w.stop for w in window]
        offsets: list[tuple[int, ...]] = []
        try:
            dsid.chunk_iter(lambda info: offsets.append(tuple(info.chunk_offset)))
            for start in sorted(offsets):
                inside = all(
                    s < b and s + c > a
                    for s, a, b, c in zip(start, lo, hi, self._store_chunks, strict=True)
                )
                if not inside:
                    continue
                mask, raw = dsid.read_direct_chunk(start)
                chunk = self._decode(raw, mask, start)
                clipped = None if chunk is None else _clip_chunk(chunk, start, lo, hi)
                if clipped is not None:
                    yield clipped
        except OSError as err:
            raise FisbeError(f"cannot read HDF5 chunks: {err}", self.where) from err


def _open_zarr(path: Path, key: str) -> Volume:
    """The array ``key`` of a zarr group; a store whose root is an array is used as is."""
    for array_dir in (path / key, path):
        meta_file = array_dir / ".zarray"
        if not meta_file.is_file():
            continue
        try:
            meta = json.loads(meta_file.read_text())
        except (OSError, ValueError) as err:
            raise FisbeError(f"unreadable zarr metadata: {err}", meta_file) from err
        if ZarrV2Volume.usable(meta):
            return ZarrV2Volume(array_dir, meta, path)
        break
    import zarr

    try:
        node = zarr.open(str(path), mode="r")
        if isinstance(node, zarr.Group):
            node = node[key]
    except KeyError as err:
        raise FisbeError(f"missing key {key!r}", path) from err
    except Exception as err:  # not a zarr hierarchy, or broken metadata
        raise FisbeError(f"not a readable zarr array or group: {err}", path) from err
    if not isinstance(node, zarr.Array):
        raise FisbeError(f"{key!r} is a group, not an array", path)
    return Volume(node, path)


def _open_hdf(path: Path, key: str) -> Volume:
    import h5py

    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise FisbeError(f"not a readable HDF5 file: {err}", path) from err
    if key not in handle:
        handle.close()
        raise FisbeError(f"missing key {key!r}", path)
    node = handle[key]
    if not isinstance(node, h5py.Dataset):
        handle.close()
        raise FisbeError(f"{key!r} is a group, not a dataset", path)
    volume = HdfChunkVolume(node, path) if HdfChunkVolume.usable(node) else Volume(node, path)
    volume.keep_open = handle  # keep the file open as long as the volume lives
    return volume


def _open_tiff(path: Path) -> Volume:
    import tifffile

    try:
        data = tifffile.imread(path)
    except Exception as err:  # tifffile raises several types for non-TIFF input
        raise FisbeError(f"not a readable TIFF file: {err}", path) from err
    return Volume(np.asarray(data), path)


def open_volume(path: str | Path, key: str | None = None) -> Volume:
    """Open a label volume lazily; ``key`` names the array in zarr and HDF5 files."""
    path = Path(path)
    kind = volume_format(path)
    if not path.exists():
        raise FisbeError("no such file or directory", path)
    if kind == "tiff":
        return _open_tiff(path)
    if key is None:
        raise FisbeError(f"a key is needed to read a {kind} file", path)
    if ".." in key.split("/"):
        raise FisbeError(f"invalid key {key!r}: '..' would leave the file", path)
    return _open_zarr(path, key) if kind == "zarr" else _open_hdf(path, key)


def as_volume(data: Any, where: str | Path | None = None) -> Volume:
    """Wrap an in-memory or lazy array (numpy, zarr, h5py) as a :class:`Volume`."""
    if isinstance(data, Volume):
        return data
    if not hasattr(data, "shape") or not hasattr(data, "dtype"):
        data = np.asarray(data)
    if type(data).__module__.startswith("h5py") and HdfChunkVolume.usable(data):
        return HdfChunkVolume(data, where or data.file.filename)
    fast = _zarr_v2_fast_path(data)
    return fast if fast is not None else Volume(data, where)


def _zarr_v2_fast_path(data: Any) -> Volume | None:
    """A :class:`ZarrV2Volume` for a zarr-python array in a local v2 store, else None."""
    store = getattr(data, "store", None)
    root = getattr(store, "root", None)
    name = getattr(data, "path", None)
    if root is None or name is None or getattr(data, "metadata", None) is None:
        return None
    array_dir = Path(root) / name
    meta_file = array_dir / ".zarray"
    if not meta_file.is_file():
        return None
    meta = json.loads(meta_file.read_text())
    if not ZarrV2Volume.usable(meta):
        return None
    return ZarrV2Volume(array_dir, meta, array_dir)


def read_volume(path: str | Path, key: str | None = None) -> np.ndarray:
    """Read and validate a whole label volume as ``(C, Z, Y, X)`` (``C = 1`` for ZYX).

    Float volumes must hold integer values (returned as uint64); negative ids, NaN and
    non-label dtypes raise :class:`FisbeError` naming ``path``.
    """
    volume = open_volume(path, key)
    data = volume.read()
    nonzero = data[data != 0]
    values = label_values(nonzero, path)
    if data.dtype.kind == "f":
        out = np.zeros(data.shape, dtype=np.uint64)
        out[data != 0] = values
        return out
    if data.dtype.kind == "b":
        return data.astype(np.uint8)
    return data
