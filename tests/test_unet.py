"""B1 (unet_affinity): network, targets, loss, tiling, instances, training, CLI."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
import zarr

from fisbe_bench import sample_io
from fisbe_bench.cli import main
from fisbe_bench.contract import PRED_KEY, RAW_CLIP, RAW_KEY
from fisbe_bench.methods.unet_affinity.config import (
    Augment,
    ModelConfig,
    config_from_dict,
    load_config,
)
from fisbe_bench.methods.unet_affinity.config import Params as InstanceParams
from fisbe_bench.methods.unet_affinity.data import CropDataset, dark_background, index_sample
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
    batch_targets,
    count_members,
    loss_terms,
    pack_membership,
)
from fisbe_bench.methods.unet_affinity.train import train, validation_samples
from fisbe_bench.splits import SplitEntry, split_file_text
from fisbe_bench.training import method_training

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "config" / "unet" / "tiny.yaml"
TINY_PARTLY = ROOT / "config" / "unet" / "tiny_partly.yaml"
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


def built_numinst(bits: np.ndarray) -> np.ndarray:
    """The numinst target of a whole (margin-free) label image."""
    carried = (bits.view(np.int64), count_members(bits), np.ones(bits.shape[1:], dtype=bool))
    weight = torch.ones((1, *bits.shape[1:]))
    targets = batch_targets(*(torch.from_numpy(a)[None] for a in carried), weight, [], 0)
    return targets.numinst[0].numpy()


def test_targets_on_a_crossing() -> None:
    gt = two_neurons()
    bits = pack_membership(gt)
    counts = count_members(bits)
    numinst = built_numinst(bits)
    assert counts[4, 4, 6] == 2 and numinst[4, 4, 6] == 2
    assert numinst[4, 4, 0] == 1 and numinst[0, 0, 0] == 0
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


def test_pair_classes_of_every_count_combination() -> None:
    """Pair classes for neuron counts 0-3 at both ends, inside or not (the classes are built
    with uint8 arithmetic, so every case is spelt out here)."""
    expected = {}
    for a in range(4):
        for b in range(4):
            most, least = max(a, b), min(a, b)
            expected[a, b] = (
                OVERLAP if most >= 2 else FOREGROUND if least == 1 else
                BOUNDARY if most == 1 else BACKGROUND
            )  # fmt: skip
    cases = [(a, b) for a in range(4) for b in range(4)]
    counts = torch.zeros((len(cases), 3, 3, 4), dtype=torch.uint8)  # margin 1: centre 1x1x2
    for n, (a, b) in enumerate(cases):
        counts[n, 1, 1, 1], counts[n, 1, 1, 2] = a, b
    bits = torch.zeros((len(cases), 1, 3, 3, 4), dtype=torch.int64)
    for b_inside in (True, False):
        inside = torch.ones(counts.shape, dtype=torch.bool)
        inside[:, 1, 1, 2] = b_inside
        targets = batch_targets(bits, counts, inside, torch.ones(counts.shape), [(0, 0, 1)], 1)
        got = targets.classes[:, 0, 0, 0, 0].tolist()
        assert got == [expected[case] if b_inside else INVALID for case in cases]


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


def test_loss_ignores_voxels_and_pairs_of_weight_zero() -> None:
    torch.manual_seed(0)
    classes = torch.full((2, 4, 3, 4, 5), FOREGROUND)
    affinities = torch.randint(0, 2, classes.shape)
    numinst = torch.randint(0, 3, (2, 3, 4, 5))
    logits = torch.randn(2, 7, 3, 4, 5, requires_grad=True)
    weight = torch.ones(2, 3, 4, 5)
    weight[0, :, :2] = 0.0  # unlabelled background of a partly labelled image
    pair_weight = torch.ones(classes.shape)
    pair_weight[0, :, :, :2] = 0.0
    pair_weight[1, 2] = 0.01

    def terms(values: torch.Tensor, *weights: torch.Tensor | None) -> torch.Tensor:
        ce, bce = loss_terms(
            values, numinst, affinities, classes, 0.0, 0.1, 0.0, (1.0, 2.0, 3.0), *weights
        )
        return torch.stack([ce, bce])

    base = terms(logits, weight, pair_weight)
    changed = logits.detach().clone()
    changed[0, :, :, :2] += torch.randn(7, 3, 2, 5) * 5  # predictions where the weight is 0
    assert torch.allclose(base, terms(changed, weight, pair_weight))
    base.sum().backward()
    assert logits.grad is not None
    assert not logits.grad[0, :, :, :2].any() and logits.grad[0, :, :, 2:].abs().sum() > 0
    # all-one weights are the unweighted loss; 0.01 counts, if little
    ones = torch.ones_like(weight), torch.ones_like(pair_weight)
    assert torch.allclose(terms(logits, *ones), terms(logits, None, None))
    assert not torch.allclose(base, terms(logits, weight, (pair_weight > 0.5).float()))


def test_pair_weights_take_the_smaller_voxel_weight() -> None:
    weight = torch.ones((1, 5, 5, 5))
    weight[0, 2, 2, 3] = 0.01
    carried = torch.zeros((1, 1, 5, 5, 5), dtype=torch.int64), torch.zeros((1, 5, 5, 5))
    inside = torch.ones((1, 5, 5, 5), dtype=torch.bool)
    targets = batch_targets(carried[0], carried[1], inside, weight, [(0, 0, 1), (1, 0, 0)], 1)
    pairs = targets.pair_weight[0].numpy()
    assert pairs.shape == (2, 3, 3, 3)
    assert pairs[0, 1, 1, 1] == np.float32(0.01)  # (2,2,2) -> (2,2,3)
    assert pairs[0, 1, 1, 2] == np.float32(0.01)  # (2,2,3) -> (2,2,4): partner in the margin
    assert pairs[1, 1, 1, 2] == pairs[1, 0, 1, 2] == np.float32(0.01)  # both pairs along z
    assert (pairs == 1).sum() == 2 * 27 - 4


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
    numinst_class = built_numinst(pack_membership(gt))
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


def built(data: CropDataset, item: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One loader item with the targets the training builds from it (``batch_targets``)."""
    carried = (torch.from_numpy(item[k])[None] for k in ("bits", "counts", "inside", "weight"))
    targets = batch_targets(*carried, data.offsets, data.margin)
    return {"raw": item["raw"], **{k: v[0].numpy() for k, v in vars(targets).items()}}


@pytest.mark.parametrize("augment", ["default", "all"])
def test_crop_dataset_is_seeded(dataset: Path, augment: str) -> None:
    index = index_sample(dataset / "completely/train/synth_c000.zarr")
    assert len(index.foreground) and index.shape == (32, 64, 64)
    partly = index_sample(dataset / "partly/train/synth_p000.zarr", partly=True)
    config = tiny()
    every = Augment.parse(dict.fromkeys(Augment.names(), 1.0))
    data = CropDataset(
        [index, partly], (32, 32, 32), config.model.offsets, seed=3,
        augment=every if augment == "all" else True,
    )  # fmt: skip
    box = tuple(32 + 2 * data.margin for _ in range(3))
    for item in (5, 6):
        first, again = data[item], data[item]
        assert first["raw"].shape == (3, 32, 32, 32) and first["raw"].dtype == np.float32
        assert first["bits"].shape == (1, *box) and first["weight"].shape == box
        for key in first:
            np.testing.assert_array_equal(first[key], again[key])
        targets = built(data, first)
        assert targets["affinities"].shape == (len(config.model.offsets), 32, 32, 32)
        assert targets["weight"].shape == (32, 32, 32)


def test_partly_labelled_background_is_down_weighted(dataset: Path) -> None:
    offsets = tiny().model.offsets
    completely = index_sample(dataset / "completely/train/synth_c000.zarr")
    partly = index_sample(dataset / "partly/train/synth_p000.zarr", partly=True)
    plain = CropDataset([completely], (32, 32, 32), offsets, seed=0, augment=False)
    assert all(built(plain, plain[i])["pair_weight"].min() == 1 for i in (0, 1))
    data = CropDataset(
        [partly], (32, 32, 32), offsets, seed=0, augment=False, partly_background_weight=0.05
    )
    item = built(data, data[0])
    assert (item["numinst"] > 0).any() and (item["numinst"] == 0).any()
    expected = np.where(item["numinst"] == 0, 0.05, 1.0).astype(np.float32)
    np.testing.assert_array_equal(item["weight"], expected)
    valid = item["classes"] != INVALID
    touches = np.isin(item["classes"], [BACKGROUND, BOUNDARY]) & valid
    np.testing.assert_allclose(item["pair_weight"][touches], 0.05, rtol=1e-3)
    assert (item["pair_weight"][item["classes"] == FOREGROUND] == 1).all()


def test_dark_background_reaches_two_voxels_beyond_the_smoothing() -> None:
    raw = np.full((3, 15, 15, 15), 0.1, np.float32)
    raw[1, 7, 7, 7] = 1.0  # box-smoothed: +0.9/27 within one voxel; the maximum adds two more
    dark = dark_background(raw, 1.3)
    assert (~dark).sum() == 7**3 and not dark[4:11, 4:11, 4:11].any()
    assert dark_background(raw, 1.4).all()


def test_dark_unlabelled_voxels_of_partly_images_keep_full_weight(dataset: Path) -> None:
    offsets = tiny().model.offsets
    partly = index_sample(dataset / "partly/train/synth_p000.zarr", partly=True)

    def items(threshold: float) -> list[dict[str, np.ndarray]]:
        data = CropDataset(
            [partly], (32, 32, 32), offsets, seed=0, augment=False,
            partly_background_weight=0.05, partly_dark_factor=threshold,
        )  # fmt: skip
        return [built(data, data[i]) for i in range(3)]

    for old, new in zip(items(0.0), items(1.5), strict=True):
        unlabelled = old["numinst"] == 0
        np.testing.assert_array_equal(old["raw"], new["raw"])
        assert (new["weight"][~unlabelled] == 1).all()
        assert np.isin(new["weight"], np.float32([0.05, 1.0])).all()
        bright = unlabelled & (new["raw"].max(axis=0) >= 0.5)
        assert bright.any() and (new["weight"][bright] == 0.05).all()
        assert (new["weight"][unlabelled] == 1).mean() > 0.3  # most of the background is dark
        assert (new["weight"] >= old["weight"]).all()


def test_validation_takes_both_sets_in_turn(tmp_path: Path) -> None:
    names = [("c0", "completely"), ("c1", "completely"), ("c2", "completely"), ("p0", "partly")]
    for name, set_name in names:
        (tmp_path / set_name / "val" / f"{name}.zarr").mkdir(parents=True)
    split = tmp_path / "split.txt"
    split.write_text(split_file_text(SplitEntry(n, s, "val") for n, s in names))
    picked = [path.stem for path, _ in validation_samples(tmp_path, split, 3)]
    assert picked == ["c0", "p0", "c1"]
    assert len(validation_samples(tmp_path, split, 10)) == 4


def test_partly_presets_differ_only_in_sets() -> None:
    for name in ("tiny", "demo", "paper"):
        plain = load_config(ROOT / "config" / "unet" / f"{name}.yaml")
        partly = load_config(ROOT / "config" / "unet" / f"{name}_partly.yaml")
        assert plain.sets == ("completely",) and partly.sets == ("completely", "partly")
        assert dataclasses.replace(partly, sets=plain.sets) == plain, name
    for config_file, preset in (("config.yaml", "demo"), ("fisbe.yaml", "paper")):
        methods = yaml.safe_load((ROOT / "config" / config_file).read_text())["methods"]
        entry = methods["unet_affinity_partly"]
        assert entry["preset"] == f"config/unet/{preset}_partly.yaml"
        assert method_training(entry, ROOT) == "completely+partly"
        assert method_training(methods["unet_affinity"], ROOT) == "completely"


@pytest.mark.parametrize("preset", [TINY, TINY_PARTLY])
def test_both_training_regimes_train(dataset: Path, tmp_path: Path, preset: Path) -> None:
    split = dataset / "sample_list_per_split.txt"
    config = dataclasses.replace(load_config(preset), steps=2, val_every=0)
    summary = train(config, dataset, split, tmp_path, "cpu", progress=False)
    assert summary["step"] == 2 and (tmp_path / "last.pt").is_file()
    indexed = sorted(p.name.split("_")[0] for p in (tmp_path / "sample_index").iterdir())
    assert indexed == (["completely", "partly"] if preset == TINY_PARTLY else ["completely"])
    losses = [row.split(",")[1] for row in (tmp_path / "loss.csv").read_text().splitlines()[1:]]
    assert len(losses) == 2 and all(np.isfinite(float(loss)) for loss in losses)


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


def test_select_last_exports_the_final_weight_average(dataset: Path, tmp_path: Path) -> None:
    split = dataset / "sample_list_per_split.txt"
    config = tiny(steps=4, checkpoint_every=2, val_every=2, val_max_samples=1, ema=0.5)
    last = dataclasses.replace(config, select="last")
    train(last, dataset, split, tmp_path / "last", "cpu", progress=False)
    state = torch.load(str(tmp_path / "last" / "last.pt"), map_location="cpu", weights_only=True)
    exported = torch.load(str(tmp_path / "last" / "best.pt"), map_location="cpu", weights_only=True)
    assert exported["step"] == 4 and len(state["validation"]) == 2
    assert all(torch.equal(exported["model"][k], state["average"][k]) for k in state["average"])
    weights = state["model"]
    assert not all(torch.equal(weights[k], state["average"][k]) for k in weights)
    train(last, dataset, split, tmp_path / "resumed", "cpu", stop_after=2, progress=False)
    train(last, dataset, split, tmp_path / "resumed", "cpu", progress=False)
    again = _weights(tmp_path / "resumed" / "best.pt")
    assert all(torch.equal(exported["model"][k], again[k]) for k in again)


def test_config_errors_name_the_problem(tmp_path: Path) -> None:
    from fisbe_bench.errors import FisbeError

    with pytest.raises(FisbeError, match="unknown config keys"):
        config_from_dict({"stepz": 3})
    with pytest.raises(FisbeError, match="select must be one of"):
        config_from_dict({"select": "middle"})
    with pytest.raises(FisbeError, match="ema must lie"):
        config_from_dict({"ema": 1.0})
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
