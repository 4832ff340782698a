"""B1 (unet_affinity): network, targets, loss, tiling, instances, training, CLI."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr

from fisbe_bench import sample_io
from fisbe_bench.cli import main
from fisbe_bench.contract import PRED_KEY, RAW_CLIP, RAW_KEY
from fisbe_bench.methods.unet_affinity.config import ModelConfig, config_from_dict, load_config
from fisbe_bench.methods.unet_affinity.config import Params as InstanceParams
from fisbe_bench.methods.unet_affinity.data import CropDataset, index_sample
from fisbe_bench.methods.unet_affinity.instances import extract_instances
from fisbe_bench.methods.unet_affinity.model import AffinityUNet, receptive_radius
from fisbe_bench.methods.unet_affinity.predict import predict_array, predict_zarr
from fisbe_bench.methods.unet_affinity.targets import (
    BACKGROUND,
    BOUNDARY,
    FOREGROUND,
    INVALID,
    OVERLAP,
    affinity_target,
    count_members,
    loss_terms,
    numinst_target,
    pack_membership,
)
from fisbe_bench.methods.unet_affinity.train import train

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "config" / "unet" / "tiny.yaml"
OFFSETS = ((1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 3, 0))


def two_neurons(shape: tuple[int, int, int] = (8, 12, 12)) -> np.ndarray:
    """Neuron 1 along x at (4, 4), neuron 2 along y at (4, x=6); they cross at (4, 4, 6)."""
    gt = np.zeros((2, *shape), dtype=np.uint8)
    gt[0, 4, 4, :] = 1
    gt[1, 4, :, 6] = 2
    return gt


def test_model_shapes_and_receptive_field() -> None:
    config = ModelConfig(base=4, depth=2, offsets=OFFSETS)
    model = AffinityUNet(config)
    out = model(torch.zeros(2, 3, 16, 24, 32))
    assert out.shape == (2, 3 + len(OFFSETS), 16, 24, 32)
    assert receptive_radius(ModelConfig(depth=1)) == 10
    assert config.divisor == 4


def test_targets_on_a_crossing() -> None:
    gt = two_neurons()
    bits = pack_membership(gt)
    counts = count_members(bits)
    numinst = numinst_target(counts)
    assert numinst[4, 4, 6] == 2 and numinst[4, 4, 0] == 1 and numinst[0, 0, 0] == 0
    assert (numinst == 2).sum() == 1
    affinities, classes = affinity_target(bits, OFFSETS, margin=3)
    z, y, x = 4 - 3, 4 - 3, 6 - 3  # the crossing inside the margin-free centre (2, 6, 6)
    # (0, 0, 1): the crossing and its right neighbour share neuron 1
    assert affinities[2, z, y, x] == 1 and classes[2, z, y, x] == OVERLAP
    # (0, 1, 0): the crossing and the voxel below share neuron 2
    assert affinities[1, z, y, x] == 1
    # a neuron-1 voxel and a neuron-2 voxel one step apart share nothing
    assert affinities[1, z, y - 1, x - 2 + 2] == 1  # (4,3,6)->(4,4,6): both in neuron 2
    assert affinities[2, z, y, x - 1] == 1  # (4,4,5)->(4,4,6): both in neuron 1
    assert affinities[2, z, y + 1, x - 1] == 0  # (4,5,5)->(4,5,6): background -> neuron 2
    assert classes[2, z, y + 1, x - 1] == BOUNDARY
    assert classes[2, z, y, x - 2] == FOREGROUND  # (4,4,4)->(4,4,5): both in neuron 1 only
    assert classes[0, 0, 0, 0] == BACKGROUND and affinities[0, 0, 0, 0] == 0
    inside = np.zeros(bits.shape[1:], dtype=bool)
    inside[:, :, :8] = True
    _, classes = affinity_target(bits, OFFSETS, margin=3, inside=inside)
    assert classes[2, 0, 0, 8 - 3 - 1] == INVALID  # partner x = 8 lies outside the volume
    assert classes[2, 0, 0, 8 - 3 - 2] != INVALID


def test_more_than_64_neurons_pack_into_several_words() -> None:
    gt = np.zeros((70, 1, 1, 2), dtype=np.uint8)
    gt[69] = 70
    gt[0, 0, 0, 0] = 1
    bits = pack_membership(gt)
    assert bits.shape[0] == 2
    assert count_members(bits).tolist() == [[[2, 1]]]


def test_loss_masks_pairs_touching_overlaps() -> None:
    torch.manual_seed(0)
    classes = torch.tensor([INVALID, BACKGROUND, BOUNDARY, FOREGROUND, OVERLAP])
    classes = classes.view(1, 5, 1, 1, 1).expand(1, 5, 2, 2, 2).clone()
    affinities = torch.randint(0, 2, classes.shape)
    numinst = torch.randint(0, 3, (1, 2, 2, 2))
    logits = torch.randn(1, 8, 2, 2, 2)

    def bce(values: torch.Tensor, overlap_weight: float = 0.0) -> torch.Tensor:
        return loss_terms(values, numinst, affinities, classes, 0.0, 0.1, overlap_weight)[1]

    base = bce(logits)
    changed = logits.clone()
    changed[:, 3 + 0] += 5.0  # invalid pairs
    changed[:, 3 + 1] -= 5.0  # background pairs (weight 0 here)
    changed[:, 3 + 4] -= 5.0  # pairs touching an overlap voxel
    assert torch.allclose(base, bce(changed))
    for k in (2, 3):  # boundary and foreground pairs do count
        moved = logits.clone()
        moved[:, 3 + k] += 5.0
        assert not torch.allclose(base, bce(moved))
    assert not torch.allclose(base, bce(logits, overlap_weight=0.5))


@pytest.mark.parametrize("batch_norm", [False, True])
def test_tiled_inference_equals_whole_volume(tmp_path: Path, batch_norm: bool) -> None:
    torch.manual_seed(0)
    config = ModelConfig(base=4, depth=1, offsets=OFFSETS, batch_norm=batch_norm)
    model = AffinityUNet(config).eval()
    raw = np.random.default_rng(0).random((3, 36, 44, 40), dtype=np.float32)
    whole = predict_array(model, raw)
    margin = [receptive_radius(config)] * 3
    tiled = predict_array(model, raw, tile=(28, 28, 28), overlap=(20, 20, 20), margin=margin)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    sample = tmp_path / "s.zarr"
    sample_io.write_array(sample, RAW_KEY, (raw * RAW_CLIP).astype(np.uint16), (3, 16, 16, 16))
    predict_zarr(model, sample, tmp_path / "p.zarr", (28, 28, 28), (20, 20, 20), margin)
    numinst = zarr.open_array(str(tmp_path / "p.zarr" / "volumes/numinst"), mode="r")
    affinities = zarr.open_array(str(tmp_path / "p.zarr" / "volumes/affinities"), mode="r")
    assert numinst.dtype == np.float16 and affinities.attrs["offsets"] == [list(o) for o in OFFSETS]
    quantised = predict_array(model, np.round(raw * RAW_CLIP) / RAW_CLIP)
    stored = np.concatenate([numinst[...], affinities[...]]).astype(np.float32)
    np.testing.assert_allclose(stored, quantised, atol=2e-3)


def test_instances_split_touching_tubes_and_share_the_overlap() -> None:
    gt = np.zeros((2, 12, 14, 40), dtype=np.uint8)
    gt[0, 5:7, 4:7, 2:38] = 1  # tube 1 along x
    gt[1, 5:7, 7:10, 2:38] = 2  # tube 2, touching tube 1 all along
    gt[0, 5, 7, 20] = 1  # a voxel in both
    offsets = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 3, 0), (0, 0, 3)]
    bits = pack_membership(np.pad(gt, ((0, 0), (3, 3), (3, 3), (3, 3))))
    affinities, _ = affinity_target(bits, offsets, margin=3)
    affinities = affinities * 0.9 + 0.05
    numinst_class = numinst_target(count_members(pack_membership(gt)))
    numinst = np.stack([numinst_class == c for c in range(3)]).astype(np.float32)
    params = InstanceParams(min_size=10)
    labels, extra = extract_instances(numinst, affinities, offsets, params)
    assert labels.max() == 2
    for ident in (1, 2):
        mask = labels == ident
        mask[tuple(extra.get(ident, np.empty((0, 3), int)).T)] = True
        matching = [c for c in range(2) if np.array_equal(mask, gt[c] > 0)]
        assert matching, f"instance {ident} matches no tube"
    assert all((5, 7, 20) in map(tuple, extra[i].tolist()) for i in (1, 2))


def test_instances_of_an_empty_prediction() -> None:
    numinst = np.zeros((3, 4, 5, 6), dtype=np.float32)
    numinst[0] = 1.0
    labels, extra = extract_instances(numinst, np.zeros((4, 4, 5, 6)), list(OFFSETS))
    assert labels.shape == (4, 5, 6) and not labels.any() and extra == {}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fisbe_bench.synth import write_dataset

    root = tmp_path_factory.mktemp("synth")
    write_dataset(root, 3, 1, (32, 64, 64), 1)
    return root


def tiny(**changes: object) -> object:
    config = load_config(TINY)
    return dataclasses.replace(config, **changes)


def test_crop_dataset_is_seeded(dataset: Path) -> None:
    index = index_sample(dataset / "completely/train/synth_c000.zarr")
    assert len(index.foreground) and index.shape == (32, 64, 64)
    config = tiny()
    data = CropDataset([index], (32, 32, 32), config.model.offsets, seed=3)
    first, again = data[5], data[5]
    assert first["raw"].shape == (3, 32, 32, 32) and first["raw"].dtype == np.float32
    assert first["affinities"].shape == (len(config.model.offsets), 32, 32, 32)
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(str(path), map_location="cpu", weights_only=True)["model"]


def test_resume_and_seed_give_identical_weights(dataset: Path, tmp_path: Path) -> None:
    split = dataset / "sample_list_per_split.txt"
    config = tiny(steps=4, checkpoint_every=2, val_every=0)
    train(config, dataset, split, tmp_path / "straight", "cpu", progress=False)
    stopped = train(
        config, dataset, split, tmp_path / "resumed", "cpu", stop_after=2, progress=False
    )
    assert stopped["step"] == 2
    assert _weights(tmp_path / "resumed" / "last.pt").keys()
    train(config, dataset, split, tmp_path / "resumed", "cpu", progress=False)
    train(config, dataset, split, tmp_path / "again", "cpu", progress=False)
    straight = _weights(tmp_path / "straight" / "last.pt")
    for other in ("resumed", "again"):
        weights = _weights(tmp_path / other / "last.pt")
        assert all(torch.equal(straight[k], weights[k]) for k in straight), other
    rows = (tmp_path / "resumed" / "loss.csv").read_text().splitlines()
    assert rows[0].startswith("step,loss") and len(rows) == 5
    different = tiny(steps=2, checkpoint_every=2, val_every=0, seed=1)
    train(different, dataset, split, tmp_path / "seed1", "cpu", progress=False)
    seed1 = _weights(tmp_path / "seed1" / "last.pt")
    assert not all(torch.equal(straight[k], seed1[k]) for k in straight)


def test_config_errors_name_the_problem(tmp_path: Path) -> None:
    from fisbe_bench.errors import FisbeError

    with pytest.raises(FisbeError, match="unknown config keys"):
        config_from_dict({"stepz": 3})
    with pytest.raises(FisbeError, match="multiples of 4"):
        config_from_dict({"model": {"depth": 2}, "crop": [30, 32, 32]})
    bad = tmp_path / "bad.yaml"
    bad.write_text("crop: [1, 2\n")
    with pytest.raises(FisbeError, match="cannot read config"):
        load_config(bad)


def test_cli_train_predict_instances(dataset: Path, tmp_path: Path) -> None:
    split = dataset / "sample_list_per_split.txt"
    run = tmp_path / "run"
    argv = ["unet-affinity", "train", "--config", str(TINY), "--data-root", str(dataset)]
    argv += ["--split-file"]
    assert main([*argv, str(split), "--out", str(run), "--device", "cpu", "--no-progress"]) == 0
    for name in ("best.pt", "last.pt", "loss.csv", "loss.png", "val.csv"):
        assert (run / name).is_file(), name
    assert len((run / "val.csv").read_text().splitlines()) == 2  # header + the final step
    sample = dataset / "completely/test/synth_c002.zarr"
    probs, pred = tmp_path / "probs.zarr", tmp_path / "pred.zarr"
    predict = ["unet-affinity", "predict", "--checkpoint", str(run / "best.pt"), "--raw"]
    predict += [str(sample)]
    assert main([*predict, "--out", str(probs), "--device", "cpu", "--no-progress"]) == 0
    assert main(["unet-affinity", "decode", "--probs", str(probs), "--out", str(pred)]) == 0
    instances = zarr.open_array(str(pred / PRED_KEY), mode="r")
    assert instances.ndim == 4 and instances.shape[1:] == (32, 64, 64)
    assert main(["unet-affinity", "predict", "--checkpoint", str(tmp_path / "nope.pt"), "--raw",
                 str(sample), "--out", str(probs), "--device", "cpu"]) == 2  # fmt: skip
