"""B2: colour clustering on small synthetic tube volumes."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import zarr
from scipy import ndimage

from fisbe_bench import contract, sample_io
from fisbe_bench.cli import main
from fisbe_bench.errors import FisbeError
from fisbe_bench.methods import colour_clustering as colour
from fisbe_bench.methods.colour_clustering import Params as ColourParams
from fisbe_bench.methods.colour_clustering import segment

SHAPE = (32, 64, 64)
RED, BLUE, GREEN = (0.9, 0.1, 0.1), (0.1, 0.1, 0.9), (0.1, 0.9, 0.1)


def _tube(p0: tuple[float, ...], p1: tuple[float, ...], radius: float = 2.5) -> np.ndarray:
    """Boolean mask of a straight tube (a capsule) from ``p0`` to ``p1``."""
    grid = np.indices(SHAPE, dtype=np.float32)
    start, axis = np.asarray(p0, np.float32), np.subtract(p1, p0).astype(np.float32)
    offset = grid - start[:, None, None, None]
    t = np.clip(np.tensordot(axis, offset, axes=1) / axis.dot(axis), 0.0, 1.0)
    closest = offset - axis[:, None, None, None] * t
    return (closest**2).sum(axis=0) <= radius**2


def _volume(tubes: list[tuple[np.ndarray, tuple[float, ...]]], seed: int = 0) -> np.ndarray:
    """(3, Z, Y, X) float32 in [0, 1]: coloured tubes, blur, background and noise."""
    rng = np.random.default_rng(seed)
    raw = np.zeros((3, *SHAPE), np.float32)
    for mask, rgb in tubes:
        raw += np.asarray(rgb, np.float32)[:, None, None, None] * mask
    raw = np.stack([ndimage.gaussian_filter(c, 0.8) for c in raw])
    raw += 0.05 + 0.02 * rng.standard_normal(raw.shape).astype(np.float32)
    return np.clip(raw, 0.0, 1.0)


def _crossing() -> tuple[np.ndarray, list[np.ndarray]]:
    red = _tube((16, 4, 4), (16, 59, 59))
    blue = _tube((16, 4, 59), (16, 59, 4))
    return _volume([(red, RED), (blue, BLUE)]), [red, blue]


def _write_sample(path: Path, raw: np.ndarray, masks: list[np.ndarray]) -> Path:
    grey = np.rint(raw * contract.RAW_CLIP).astype(np.uint16)
    sample_io.write_array(path, contract.RAW_KEY, grey, chunks=(1, *SHAPE))
    gt = np.stack([m.astype(np.uint8) * (i + 1) for i, m in enumerate(masks)])
    sample_io.write_array(path, contract.GT_KEY, gt, chunks=(1, *SHAPE), attrs={"dim_neurons": []})
    return path


def _majority(labels: np.ndarray, mask: np.ndarray) -> tuple[int, float]:
    """Most frequent nonzero label inside ``mask`` and the share of ``mask`` it covers."""
    ids, counts = np.unique(labels[mask & (labels > 0)], return_counts=True)
    return int(ids[np.argmax(counts)]), float(counts.max() / mask.sum())


def test_crossing_tubes_of_different_colour_are_two_instances() -> None:
    raw, (red, blue) = _crossing()
    labels, extra = segment(raw, ColourParams(unmix=False))
    assert extra == {}
    assert labels.max() == 2
    red_id, red_share = _majority(labels, red)
    blue_id, blue_share = _majority(labels, blue)
    assert red_id != blue_id
    assert red_share > 0.8 and blue_share > 0.8


def test_same_colour_far_apart_stays_apart_and_touching_merges() -> None:
    apart = [_tube((8, 8, 4), (8, 8, 59)), _tube((24, 56, 4), (24, 56, 59))]
    labels, _ = segment(_volume([(m, GREEN) for m in apart]), ColourParams())
    assert labels.max() == 2
    assert _majority(labels, apart[0])[0] != _majority(labels, apart[1])[0]
    touching = [_tube((16, 4, 4), (16, 59, 59)), _tube((16, 4, 59), (16, 59, 4))]
    labels, _ = segment(_volume([(m, GREEN) for m in touching]), ColourParams())
    assert labels.max() == 1  # colour is all the method sees


def test_gap_in_a_tube_is_bridged_by_the_clean_up() -> None:
    pieces = [_tube((16, 32, 4), (16, 32, 28)), _tube((16, 32, 36), (16, 32, 59))]
    raw = _volume([(m, RED) for m in pieces])
    params = ColourParams(min_size=200)
    assert segment(raw.copy(), params)[0].max() == 1
    assert segment(raw, ColourParams(min_size=200, merge_gap=2.0, near_radius=2.0))[0].max() == 2


def test_small_instances_are_removed_and_ids_are_sequential() -> None:
    raw, _ = _crossing()
    raw[:, 2:6, 2:8, 40:48] = 0.8  # a bright 192-voxel speck
    labels, _ = segment(raw, ColourParams())
    ids, counts = np.unique(labels, return_counts=True)
    assert ids.tolist() == [0, 1, 2] and counts[1:].min() > 800


def test_empty_volume_gives_no_instances() -> None:
    raw = np.full((3, *SHAPE), 0.05, np.float32)
    labels, extra = segment(raw, ColourParams())
    assert labels.shape == SHAPE and labels.max() == 0 and extra == {}


def test_segmentation_is_deterministic() -> None:
    raw, _ = _crossing()
    first, first_extra = segment(raw.copy(), ColourParams())
    second, second_extra = segment(raw.copy(), ColourParams())
    np.testing.assert_array_equal(first, second)
    assert first_extra.keys() == second_extra.keys()
    for ident, voxels in first_extra.items():
        np.testing.assert_array_equal(voxels, second_extra[ident])


def test_unmixing_puts_crossing_voxels_in_both_instances() -> None:
    raw, (red, blue) = _crossing()
    labels, extra = segment(raw, ColourParams(unmix=True))
    assert extra, "no overlap voxels at the crossing"
    stack = colour.instance_stack(labels, extra)
    both = np.argwhere((stack > 0).sum(axis=0) == 2)
    assert len(both) and stack.shape[0] == 2
    centre = np.argwhere(red & blue).mean(axis=0)
    assert np.linalg.norm(both - centre, axis=1).max() < 8  # only at the crossing


def test_predict_writes_channel_stack(tmp_path: Path) -> None:
    raw, masks = _crossing()
    sample = _write_sample(tmp_path / "s.zarr", raw, masks)
    n = colour.predict(sample, tmp_path / "p.zarr", ColourParams())
    stack = zarr.open_array(str(tmp_path / "p.zarr" / contract.PRED_KEY), mode="r")
    assert n == 2 and stack.shape == (2, *SHAPE)
    assert stack.attrs["method"] == "colour_clustering"
    for index, channel in enumerate(stack[...]):
        assert set(np.unique(channel).tolist()) == {0, index + 1}
    assert ((stack[...] > 0).sum(axis=0) == 2).any()  # overlap voxels at the crossing


def test_read_input_equals_io_read_raw(tmp_path: Path) -> None:
    raw, masks = _crossing()
    sample = _write_sample(tmp_path / "s.zarr", raw * 1.5, masks)  # some values above the clip
    np.testing.assert_array_equal(colour.read_input(sample), sample_io.read_raw(sample))


def test_colour_image_adapter_reads_zyx3_uint8(tmp_path: Path) -> None:
    raw, _ = _crossing()
    image = np.moveaxis(np.rint(raw * 255).astype(np.uint8), 0, -1)
    with h5py.File(tmp_path / "c.hdf", "w") as handle:
        handle.create_dataset("volumes/gmm_image", data=image)
    converted = colour.read_colour_image(tmp_path / "c.hdf")
    assert converted.shape == (3, *SHAPE) and converted.dtype == np.float32
    np.testing.assert_allclose(converted, raw, atol=1 / 255)
    assert colour.predict(tmp_path / "c.hdf", tmp_path / "p.zarr", ColourParams()) == 2
    with pytest.raises(FisbeError, match="must be"):
        colour.colour_image_to_raw(image[..., :2])


def test_params_round_trip_and_reject_unknown_names(tmp_path: Path) -> None:
    params = ColourParams(threshold=0.2, unmix=False)
    colour.write_params(tmp_path / "p.json", params, [{"S": 0.5}], split="val")
    assert colour.read_params(tmp_path / "p.json") == params
    (tmp_path / "bad.json").write_text(json.dumps({"params": {"thresold": 0.2}}))
    with pytest.raises(FisbeError, match="thresold"):
        colour.read_params(tmp_path / "bad.json")
    with pytest.raises(FisbeError, match="must be a bool"):
        ColourParams.from_mapping({"unmix": "no"})
    assert ColourParams.from_mapping({"seed_spacing": 4.0}).seed_spacing == 4


def test_parameter_grid_is_the_cartesian_product() -> None:
    grid = {"threshold": [0.1, 0.2], "unmix": [False, True]}
    candidates = colour.parameter_grid(grid, ColourParams(min_size=10))
    assert len(candidates) == 4 and {c.min_size for c in candidates} == {10}
    assert [(c.threshold, c.unmix) for c in candidates][:2] == [(0.1, False), (0.1, True)]
    with pytest.raises(FisbeError, match="non-empty list"):
        colour.parameter_grid({"threshold": []})


def test_tune_picks_the_better_parameters(tmp_path: Path) -> None:
    raw, masks = _crossing()
    sample = _write_sample(tmp_path / "s.zarr", raw, masks)
    # colour_distance 2.0 never repels, so the crossing tubes merge into one instance
    grid = {"colour_distance": [2.0, 0.3], "merge_distance": [2.0, 0.2]}
    best, table = colour.tune([(sample, sample, False)], grid, out=tmp_path / "p.json")
    assert (best.colour_distance, best.merge_distance) == (0.3, 0.2)
    assert colour.read_params(tmp_path / "p.json") == best
    assert len(table) == 4 and max(row["S"] for row in table) == table[3]["S"]
    assert table[3]["S"] > table[0]["S"]


def test_parallel_tuning_gives_the_same_table(tmp_path: Path) -> None:
    raw, masks = _crossing()
    samples = [
        (_write_sample(tmp_path / f"{name}.zarr", raw, masks), tmp_path / f"{name}.zarr", partly)
        for name, partly in (("c", False), ("p", True))
    ]
    grid = {"colour_distance": [2.0, 0.3]}
    best, table = colour.tune(samples, grid, jobs=2)
    assert (best, table) == colour.tune(samples, grid, jobs=1)
    assert {"S_completely", "S_partly"} <= set(table[0])


def test_cli_tune_and_predict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw, masks = _crossing()
    sample = _write_sample(tmp_path / "val" / "s.zarr", raw, masks)
    table = tmp_path / "samples.tsv"
    table.write_text(f"sample\tset\tsplit\tpath\ns\tcompletely\tval\t{sample}\n")
    grid = tmp_path / "grid.yaml"
    grid.write_text("colour_distance: [2.0, 0.3]\nmerge_distance: [0.2]\n")
    params = tmp_path / "params.json"
    tune = ["colour-clustering", "tune", "--samples", str(table), "--grid", str(grid)]
    assert main([*tune, "--out", str(params)]) == 0
    document = json.loads(params.read_text())
    assert document["params"]["colour_distance"] == 0.3 and document["split"] == "val"
    assert document["samples"] == ["s"] and len(document["table"]) == 2
    out = tmp_path / "pred.zarr"
    predict = ["colour-clustering", "predict", "--raw", str(sample), "--out", str(out)]
    assert main([*predict, "--params", str(params)]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["instances"] == 2
    assert zarr.open_array(str(out / contract.PRED_KEY), mode="r").shape == (2, *SHAPE)


def test_cli_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_text("no_such_parameter: [1]\n")
    table = tmp_path / "samples.tsv"
    table.write_text("sample\tset\tsplit\tpath\n")
    args = ["colour-clustering", "tune", "--samples", str(table), "--grid", str(grid)]
    assert main([*args, "--out", str(tmp_path / "p.json")]) == 2
    assert "no_such_parameter" in capsys.readouterr().err
    missing = ["colour-clustering", "predict", "--raw", str(tmp_path / "none.zarr")]
    assert main([*missing, "--out", str(tmp_path / "p.zarr")]) == 2
    assert "none.zarr" in capsys.readouterr().err


def _reference_supervoxels(colour: np.ndarray, mask: np.ndarray, spacing: int) -> tuple:
    """REFERENCE: ``supervoxels`` as it was before the memory work (skimage's public
    watershed on the whole bounding box), kept to check that the output is unchanged."""
    from typing import Any, cast

    import cc3d
    import edt
    from skimage.segmentation import watershed

    from fisbe_bench.methods.colour_clustering.supervoxels import _touching_pairs, bounding_box

    labels = np.zeros(mask.shape, np.uint32)
    box = bounding_box(mask)
    crop = mask[box]
    distance = edt.edt(crop, parallel=1)
    ridge = crop & (distance >= ndimage.maximum_filter(distance, size=3))
    pieces = cc3d.connected_components(ridge, connectivity=26, out_dtype=np.uint32)
    where = np.nonzero(ridge)
    step = max(1, spacing)
    n_cells = tuple(-(-n // step) for n in crop.shape)
    cell = np.ravel_multi_index(tuple(axis // step for axis in where), n_cells)
    _, seed = np.unique(
        pieces[where].astype(np.int64) * np.prod(n_cells) + cell, return_inverse=True
    )
    markers = np.zeros(crop.shape, np.int32)
    markers[where] = seed + 1
    crop_labels = watershed(-distance, markers, mask=crop).astype(np.uint32)
    labels[box] = crop_labels
    n = int(crop_labels.max())
    flat = crop_labels[crop]
    sizes = np.bincount(flat, minlength=n + 1)
    colour_sums = np.stack(
        [
            np.bincount(flat, weights=colour[cast(Any, (c, *box))][crop], minlength=n + 1)
            for c in range(3)
        ],
        axis=1,
    )
    offset = np.array([s.start for s in box], np.float64)
    coords = np.nonzero(crop)
    centroids = (
        np.stack([np.bincount(flat, weights=axis, minlength=n + 1) for axis in coords], axis=1)
        / np.maximum(sizes, 1)[:, None]
        + offset
    )
    return labels, colour_sums, sizes, centroids, _touching_pairs(crop_labels)


def _test_masks() -> list[tuple[np.ndarray, np.ndarray]]:
    """(colour, mask) pairs: a crossing, many separate components, a random sponge."""
    rng = np.random.default_rng(1)
    raw, (red, blue) = _crossing()
    many = _tube((4, 4, 4), (28, 60, 30)) | _tube((10, 30, 50), (12, 60, 60), 1.5)
    many |= rng.random(SHAPE) > 0.995  # isolated voxels: many one-voxel components
    many[20:24, 2:6, 40:60] = True  # a flat slab: plateaus of equal EDT
    sponge = ndimage.gaussian_filter(rng.random(SHAPE), 1.5) > 0.5
    return [(raw, red | blue), (raw, many), (rng.random((3, *SHAPE), dtype=np.float32), sponge)]


@pytest.mark.parametrize("spacing", [1, 6])
def test_supervoxels_equal_the_reference(spacing: int) -> None:
    from fisbe_bench.methods.colour_clustering.supervoxels import supervoxels

    for raw, mask in _test_masks():
        sv = supervoxels(raw[:, mask], mask, spacing)
        expected = _reference_supervoxels(raw, mask, spacing)
        assert sv.labels.dtype == expected[0].dtype
        for got, want in zip(sv[:5], expected, strict=True):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(sv.colour, raw[:, sv.labels > 0])


def test_foreground_slabs_equal_the_whole_volume(monkeypatch: pytest.MonkeyPatch) -> None:
    from fisbe_bench.methods.colour_clustering import foreground

    raw, _ = _crossing()
    monkeypatch.setattr(foreground, "_SLAB", 5)  # several slabs and a partial last one
    mask = foreground.denoise_and_foreground(raw, 1.0, 0.05, 0.3, 16)
    brightest = raw.max(axis=0)
    expected = (brightest > 0.05) & (brightest >= 0.3 * ndimage.maximum_filter(brightest, 7))
    np.testing.assert_array_equal(mask, expected)
