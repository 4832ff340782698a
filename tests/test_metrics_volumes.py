"""Volume readers used by the metrics: formats, block streaming, validation."""

from __future__ import annotations

from pathlib import Path

import h5py
import numcodecs
import numpy as np
import pytest
import tifffile
import zarr
from conftest import FISBE_REAL

from fisbe_bench.errors import FisbeError
from fisbe_bench.volumes import HdfChunkVolume, ZarrV2Volume, open_volume, read_volume

FIXTURE_GT = FISBE_REAL / "gt/R14A02-20180905_65_A6.zarr/volumes/gt_instances"


def sparse_labels(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = np.zeros(shape, np.uint16)
    data[rng.random(shape) < 0.01] = rng.integers(1, 500, 1)[0]
    data[..., 3:9, 4:7, :] = 7
    return data


@pytest.mark.parametrize("separator", [".", "/"])
@pytest.mark.parametrize("shape", [(13, 21, 30), (3, 13, 21, 30)])
def test_zarr_v2_fast_path_matches_data(tmp_path: Path, shape: tuple, separator: str) -> None:
    data = sparse_labels(shape)
    group = zarr.open_group(str(tmp_path / "s.zarr"), mode="w", zarr_format=2)
    array = group.create_array(
        "volumes/instances",
        shape=shape,
        chunks=(*shape[:-3], 5, 8, 7),
        dtype=data.dtype,
        compressors=numcodecs.Blosc(cname="zstd", shuffle=numcodecs.Blosc.BITSHUFFLE),
        chunk_key_encoding={"name": "v2", "separator": separator},
    )
    array[...] = data
    volume = open_volume(tmp_path / "s.zarr", "volumes/instances")
    assert isinstance(volume, ZarrV2Volume)
    expected = data if data.ndim == 4 else data[np.newaxis]
    assert np.array_equal(volume.read(), expected)
    window = (slice(2, 11), slice(3, 20), slice(6, 29))
    assert np.array_equal(volume.read(window), expected[:, 2:11, 3:20, 6:29])


def test_zarr_v3_and_root_arrays(tmp_path: Path) -> None:
    data = sparse_labels((4, 10, 12, 14))
    group = zarr.open_group(str(tmp_path / "v3.zarr"), mode="w", zarr_format=3)
    group.create_array("volumes/instances", data=data, chunks=(1, 4, 5, 6))
    assert np.array_equal(open_volume(tmp_path / "v3.zarr", "volumes/instances").read(), data)
    zarr.create_array(str(tmp_path / "root.zarr"), data=data[0], chunks=(4, 5, 6))
    assert np.array_equal(open_volume(tmp_path / "root.zarr", "any/key").read()[0], data[0])


@pytest.mark.parametrize(
    "options",
    [
        {"chunks": (4, 5, 6), "compression": "gzip"},
        {"chunks": (4, 5, 6), "compression": "gzip", "shuffle": True},
        {},
    ],
    ids=["gzip", "gzip-shuffle", "contiguous"],
)
def test_hdf5_readers_match_data(tmp_path: Path, options: dict) -> None:
    data = sparse_labels((10, 12, 14)).astype(np.int32)
    with h5py.File(tmp_path / "p.hdf", "w") as handle:
        handle.create_dataset("volumes/labels", data=data, **options)
    volume = open_volume(tmp_path / "p.hdf", "volumes/labels")
    assert isinstance(volume, HdfChunkVolume) == bool(options)
    assert np.array_equal(volume.read()[0], data)
    window = (slice(1, 9), slice(2, 12), slice(0, 13))
    assert np.array_equal(volume.read(window)[0], data[1:9, 2:12, 0:13])


def test_tiff_reader(tmp_path: Path) -> None:
    data = sparse_labels((6, 8, 10))
    tifffile.imwrite(tmp_path / "p.tiff", data)
    assert np.array_equal(read_volume(tmp_path / "p.tiff")[0], data)


def test_blosc_zero_chunks_with_reordered_blocks_share_a_key() -> None:
    volume = open_volume(FIXTURE_GT.parents[1], "volumes/gt_instances")
    assert isinstance(volume, ZarrV2Volume)
    small = sorted(p for p in FIXTURE_GT.iterdir() if p.stat().st_size == 436)[:50]
    raws = [p.read_bytes() for p in small]
    assert len(set(raws)) > 1  # multithreaded blosc wrote the blocks in varying order
    assert len({volume._zero_key(raw) for raw in raws}) == 1
    assert all(not np.frombuffer(numcodecs.Blosc().decode(raw), np.uint8).any() for raw in raws)


def test_integer_valued_floats_become_uint64(tmp_path: Path) -> None:
    data = sparse_labels((5, 6, 7)).astype(np.float32)
    tifffile.imwrite(tmp_path / "f.tif", data)
    out = read_volume(tmp_path / "f.tif")
    assert out.dtype == np.uint64 and np.array_equal(out[0], data.astype(np.uint64))


def _write_hdf(path: Path, data: np.ndarray, key: str = "volumes/labels") -> Path:
    with h5py.File(path, "w") as handle:
        handle[key] = data
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: _write_hdf(p / "a.hdf", np.full((4, 4, 4), 0.5)), "non-integer"),
        (lambda p: _write_hdf(p / "a.hdf", np.full((4, 4, 4), np.nan)), "NaN"),
        (lambda p: _write_hdf(p / "a.hdf", -np.ones((4, 4, 4), np.int8)), "negative label id"),
        (lambda p: _write_hdf(p / "a.hdf", np.ones((4, 4), np.uint8)), "ZYX label image"),
        (lambda p: _write_hdf(p / "a.hdf", np.ones((2, 2, 2), complex)), "not a label volume"),
    ],
    ids=["float", "nan", "negative", "ndim", "complex"],
)
def test_invalid_content(tmp_path: Path, make, message: str) -> None:
    path = make(tmp_path)
    with pytest.raises(FisbeError, match=message) as error:
        read_volume(path, "volumes/labels")
    assert str(path) in str(error.value)


def test_not_a_volume_and_missing_keys(tmp_path: Path) -> None:
    (tmp_path / "text.hdf").write_text("hello")
    with pytest.raises(FisbeError, match="not a readable HDF5 file"):
        open_volume(tmp_path / "text.hdf", "volumes/labels")
    (tmp_path / "text.tif").write_text("hello")
    with pytest.raises(FisbeError, match="not a readable TIFF file"):
        open_volume(tmp_path / "text.tif")
    (tmp_path / "empty.zarr").mkdir()
    with pytest.raises(FisbeError, match="not a readable zarr"):
        open_volume(tmp_path / "empty.zarr", "volumes/labels")
    with pytest.raises(FisbeError, match="unsupported volume format"):
        open_volume(tmp_path / "volume.npy", "volumes/labels")
    _write_hdf(tmp_path / "ok.h5", np.ones((2, 2, 2), np.uint8))
    with pytest.raises(FisbeError, match="missing key 'volumes/other'"):
        open_volume(tmp_path / "ok.h5", "volumes/other")
    with pytest.raises(FisbeError, match="is a group"):
        open_volume(tmp_path / "ok.h5", "volumes")
    zarr.open_group(str(tmp_path / "g.zarr"), mode="w", zarr_format=2).create_group("volumes")
    with pytest.raises(FisbeError, match="missing key 'volumes/labels'"):
        open_volume(tmp_path / "g.zarr", "volumes/labels")


def test_corrupt_zarr_chunk(tmp_path: Path) -> None:
    data = np.ones((8, 8, 8), np.uint8)
    group = zarr.open_group(str(tmp_path / "c.zarr"), mode="w", zarr_format=2)
    group.create_array("volumes/labels", data=data, chunks=(4, 8, 8))
    (tmp_path / "c.zarr" / "volumes" / "labels" / "1.0.0").write_bytes(b"\x02\x01garbage" * 3)
    with pytest.raises(FisbeError, match="corrupt zarr chunk '1.0.0'"):
        read_volume(tmp_path / "c.zarr", "volumes/labels")


class FailingCodec:
    """A compressor whose decode raises ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def decode(self, raw: bytes) -> bytes:
        raise self.error


@pytest.mark.parametrize(
    ("error", "problem"),
    [
        (MemoryError(), "out of memory while decoding chunk '0.0.0'"),
        (RuntimeError("error during blosc decompression: -1"), "corrupt zarr chunk '0.0.0'"),
    ],
)
def test_zarr_chunk_errors_say_what_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException, problem: str
) -> None:
    data = sparse_labels((10, 16, 14))
    path = tmp_path / "s.zarr"
    zarr.open_group(str(path), mode="w", zarr_format=2).create_array(
        "labels", data=data, chunks=(5, 8, 7)
    )
    volume = open_volume(path, "labels")
    assert isinstance(volume, ZarrV2Volume)
    monkeypatch.setattr(volume, "_compressor", FailingCodec(error))
    with pytest.raises(FisbeError, match=problem) as caught:
        list(volume.blocks())
    assert "\n" not in str(caught.value)
    assert ("corrupt" in str(caught.value)) == isinstance(error, RuntimeError)


def test_hdf5_chunk_out_of_memory_is_not_corrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "p.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("labels", data=sparse_labels((10, 16, 14)), chunks=(5, 8, 7),
                              compression="gzip")  # fmt: skip
    volume = open_volume(path, "labels")
    assert isinstance(volume, HdfChunkVolume)

    def no_memory(data: bytes) -> bytes:
        raise MemoryError

    monkeypatch.setattr("fisbe_bench.volumes.zlib.decompress", no_memory)
    with pytest.raises(FisbeError, match="out of memory while decoding HDF5 chunk") as caught:
        list(volume.blocks())
    assert "corrupt" not in str(caught.value)


def test_chunk_error_that_is_no_decoding_error_is_not_called_corrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only what codecs raise for bad data says "corrupt"; anything else (a bug) propagates."""
    path = tmp_path / "s.zarr"
    zarr.open_group(str(path), mode="w", zarr_format=2).create_array(
        "labels", data=sparse_labels((10, 16, 14)), chunks=(5, 8, 7)
    )
    volume = open_volume(path, "labels")
    assert isinstance(volume, ZarrV2Volume)
    monkeypatch.setattr(volume, "_compressor", FailingCodec(KeyError("a bug")))
    with pytest.raises(KeyError, match="a bug"):
        list(volume.blocks())
