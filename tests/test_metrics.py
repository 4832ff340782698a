"""FISBe metrics on synthetic volumes with hand-computed expectations, plus properties."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from skimage.morphology import skeletonize

from fisbe_bench.errors import FisbeError
from fisbe_bench.metrics import SampleResult, aggregate, combine, evaluate_sample
from fisbe_bench.metrics.aggregate import F1_KEYS
from fisbe_bench.metrics.localize import collect_instances, localize, skeleton
from fisbe_bench.metrics.match import greedy_one_to_one, many_to_many
from fisbe_bench.volumes import as_volume

SHAPE = (16, 48, 100)
LOW = ("0.1", "0.2", "0.3", "0.4", "0.5", "0.6")
HIGH = ("0.7", "0.8", "0.9")


def bar(z: int, y: int, x0: int, x1: int, width: int = 5) -> np.ndarray:
    """Boolean mask of a straight neurite: a width x width x (x1 - x0) box."""
    mask = np.zeros(SHAPE, dtype=bool)
    mask[z : z + width, y : y + width, x0:x1] = True
    return mask


def gt_stack(*masks: np.ndarray) -> np.ndarray:
    """FISBe GT layout: channel i holds i + 1."""
    return np.stack([m.astype(np.uint8) * (i + 1) for i, m in enumerate(masks)])


def label_image(*masks: np.ndarray, dtype: type = np.uint16) -> np.ndarray:
    labels = np.zeros(SHAPE, dtype=dtype)
    for i, mask in enumerate(masks):
        labels[mask] = i + 1
    return labels


def counts(result: SampleResult, keys: tuple[str, ...]) -> set[tuple[int, int, int]]:
    return {(result.TP[k], result.FP[k], result.FN[k]) for k in keys}


A = bar(1, 1, 10, 70)  # 1500 voxels
B = bar(1, 30, 10, 70)  # same shape, far from A
LONG = bar(9, 10, 10, 90)  # 2000 voxels


def test_perfect_label_image_scores_one() -> None:
    r = evaluate_sample(gt_stack(A, B), label_image(A, B))
    assert (r.n_gt, r.n_pred) == (2, 2)
    assert counts(r, F1_KEYS) == {(2, 0, 0)}
    assert (r.S, r.avF1, r.C, r.FS, r.FM) == (1.0, 1.0, 1.0, 0, 0)
    assert r.tp_cldice == [1.0, 1.0]


def test_merge_of_two_neurons() -> None:
    # one prediction covers both GT neurons: clRecall 1 each, clPrecision 1/2 each,
    # clDice 2/3; coverage goes to the first GT (tie), the other gets 0
    r = evaluate_sample(gt_stack(A, B), label_image(A | B))
    assert counts(r, LOW) == {(1, 0, 1)}
    assert counts(r, HIGH) == {(0, 1, 2)}
    assert r.tp_cldice == [pytest.approx(2 / 3)]
    assert r.avF1 == pytest.approx(6 * (2 / 3) / 9)
    assert r.coverage == [1.0, 0.0]
    assert (r.FS, r.FM) == (0, 1)


def test_split_into_two_fragments_above_800_voxels() -> None:
    first, second = LONG.copy(), LONG.copy()
    first[..., 50:] = False
    second[..., :50] = False  # 1000 voxels each
    for partly in (False, True):
        r = evaluate_sample(gt_stack(LONG), label_image(first, second), partly=partly)
        assert r.n_pred == 2
        assert r.coverage == [pytest.approx(1.0, abs=1e-6)]  # halves cover the skeleton
        assert (r.FS, r.FM) == (1, 0)
        assert (r.TP["0.5"], r.FP["0.5"], r.FN["0.5"]) == (1, 1, 0)  # FP lies in GT
        assert (r.TP["0.9"], r.FP["0.9"], r.FN["0.9"]) == (0, 2, 1)


def test_fragments_at_and_above_800_voxels() -> None:
    at_800 = np.zeros(SHAPE, bool)
    at_800[10:14, 40:44, 0:50] = True  # 800 voxels: deleted
    above = np.zeros(SHAPE, bool)
    above[12:15, 30:33, 5:94] = True  # 801 voxels: kept, in unlabelled background
    pred = label_image(A, at_800, above)
    r = evaluate_sample(gt_stack(A), pred)
    assert r.n_pred == 2
    assert counts(r, F1_KEYS) == {(1, 1, 0)}
    partly = evaluate_sample(gt_stack(A), pred, partly=True)
    assert counts(partly, F1_KEYS) == {(1, 0, 0)}  # background prediction ignored
    assert partly.S == 1.0


def test_size_filter_counts_an_id_over_all_channels() -> None:
    half_a = np.zeros(SHAPE, bool)
    half_a[10:15, 40:45, 0:20] = True  # 500 voxels
    half_b = np.zeros(SHAPE, bool)
    half_b[10:15, 40:45, 50:70] = True  # 500 voxels
    same_id = np.stack([A.astype(np.uint8), half_a * np.uint8(7), half_b * np.uint8(7)])
    assert evaluate_sample(gt_stack(A), same_id).n_pred == 3  # 1000 voxels of id 7: kept
    other_id = same_id.copy()
    other_id[2][half_b] = 8
    assert evaluate_sample(gt_stack(A), other_id).n_pred == 1


def test_overlapping_channel_stacks() -> None:
    cross = bar(1, 20, 0, 100)
    vertical = np.zeros(SHAPE, bool)
    vertical[1:6, :, 40:45] = True  # crosses `cross`: shared voxels
    gt = gt_stack(cross, vertical)
    perfect = evaluate_sample(gt, gt.copy())
    assert (perfect.S, perfect.C, perfect.FS, perfect.FM) == (1.0, 1.0, 0, 0)
    assert counts(perfect, F1_KEYS) == {(2, 0, 0)}
    # duplicated prediction of one neuron, GT and prediction both overlapping:
    # coverage is the clRecall of the union, the consumed duplicate is no false split
    duplicated = evaluate_sample(gt, gt_stack(cross, cross, vertical))
    assert duplicated.coverage == [1.0, 1.0]
    assert (duplicated.FS, duplicated.FM) == (0, 0)
    assert counts(duplicated, F1_KEYS) == {(2, 1, 0)}


def test_coverage_sums_overlapping_predictions_when_gt_has_no_overlap() -> None:
    # official quirk: without GT overlaps coverage sums clRecall and may exceed 1
    r = evaluate_sample(gt_stack(A), gt_stack(A, A))
    assert r.coverage == [2.0]
    assert (r.FS, r.FM) == (0, 0)  # the second copy is consumed by the first match
    assert counts(r, F1_KEYS) == {(1, 1, 0)}


def test_shifted_and_dilated_predictions() -> None:
    shifted = bar(1, 2, 10, 70)  # one voxel along y: IoU 4/6, centrelines inside
    r = evaluate_sample(gt_stack(A), label_image(shifted), iou=True)
    assert counts(r, F1_KEYS) == {(1, 0, 0)} and r.C == 1.0
    assert r.iou["TP"] == {k: int(k in LOW) for k in F1_KEYS}
    assert r.iou["avF1"] == pytest.approx(6 / 9)
    dilated = np.zeros(SHAPE, bool)
    dilated[0:7, 0:7, 10:70] = True  # IoU 25/49
    r = evaluate_sample(gt_stack(A), label_image(dilated), iou=True)
    assert counts(r, F1_KEYS) == {(1, 0, 0)} and r.C == 1.0
    assert r.iou["TP"] == {k: int(float(k) <= 25 / 49) for k in F1_KEYS}


@pytest.mark.parametrize(
    "pred",
    [
        np.zeros(SHAPE, np.uint32),
        np.zeros((3, *SHAPE), np.uint8),
        label_image(bar(10, 40, 0, 20, width=4)),  # 320 voxels only
    ],
    ids=["zero-label-image", "zero-stack", "only-small"],
)
def test_empty_prediction_scores_zero(pred: np.ndarray) -> None:
    r = evaluate_sample(gt_stack(A, B), pred)
    assert r.n_pred == 0
    assert counts(r, F1_KEYS) == {(0, 0, 2)}
    assert (r.S, r.C, r.FS, r.FM, r.tp_cldice) == (0.0, 0.0, 0, 0, [])


def test_partly_prediction_in_unlabelled_background_is_ignored() -> None:
    pred = label_image(A, B)
    completely = evaluate_sample(gt_stack(A), pred)
    partly = evaluate_sample(gt_stack(A), pred, partly=True)
    assert counts(completely, F1_KEYS) == {(1, 1, 0)}
    assert counts(partly, F1_KEYS) == {(1, 0, 0)}
    assert completely.false_split["0.5"] == partly.false_split["0.5"] == 0


def test_greedy_matching_strict_threshold_and_ties() -> None:
    scores = np.zeros((4, 4), np.float32)
    scores[1, 1:] = [0.8, 0.8, 0.5]
    scores[2, 1:] = [0.8, 0.3, 0.0]
    scores[3, 3] = 0.5
    # ties by (gt, pred): (1, 1) first, then (2, 1) is blocked; 0.5 is not > 0.5
    assert greedy_one_to_one(scores, 0.5) == [(1, 1)]
    assert greedy_one_to_one(scores, 0.4) == [(1, 1), (3, 3)]
    assert greedy_one_to_one(scores, 0.2) == [(1, 1), (3, 3), (2, 2)]  # by score


def test_many_to_many_without_overlaps_is_thresholded_recall() -> None:
    first, second = LONG.copy(), LONG.copy()
    first[..., 50:] = False
    second[..., :50] = False
    loc = localize(
        collect_instances(as_volume(gt_stack(LONG))),
        collect_instances(as_volume(label_image(first, second)), min_size=800),
    )
    assert many_to_many(loc, 0.05) == {1: [1, 2]}
    assert many_to_many(loc, 0.9) == {}


@pytest.mark.parametrize("seed", range(4))
def test_skeleton_equals_full_volume_skeleton(seed: int) -> None:
    rng = np.random.default_rng(seed)
    mask = np.zeros((24, 40, 40), bool)
    point = np.array([12, 20, 20])
    for _ in range(300):  # a random walk thickened to a tube, sometimes touching the border
        point = np.clip(point + rng.integers(-1, 2, 3), 0, np.array(mask.shape) - 1)
        lo = np.maximum(point - rng.integers(0, 3), 0)
        mask[lo[0] : point[0] + 2, lo[1] : point[1] + 2, lo[2] : point[2] + 2] = True
    full = np.flatnonzero(skeletonize(mask))
    assert np.array_equal(skeleton(np.flatnonzero(mask), mask.shape), full)


def test_spatial_shape_mismatch_center_crops_with_warning(caplog: pytest.LogCaptureFixture) -> None:
    padded = np.zeros((SHAPE[0] + 2, SHAPE[1] + 4, SHAPE[2] + 6), np.uint16)
    padded[1:-1, 2:-2, 3:-3] = label_image(A, B)
    with caplog.at_level(logging.WARNING):
        r = evaluate_sample(gt_stack(A, B), padded)
    assert "center-cropping the prediction" in caplog.text
    assert r.S == 1.0
    with caplog.at_level(logging.WARNING):
        r = evaluate_sample(
            np.pad(gt_stack(A, B), ((0, 0), (1, 1), (2, 2), (3, 3))), label_image(A, B)
        )
    assert "center-cropping the GT" in caplog.text and r.S == 1.0
    crossed = np.zeros((SHAPE[0] + 2, SHAPE[1] - 2, SHAPE[2]), np.uint16)
    with pytest.raises(FisbeError, match="neither contains the other"):
        evaluate_sample(gt_stack(A), crossed)


def test_huge_uint64_and_integer_float_ids() -> None:
    top = np.uint64(2**64 - 1)
    pred = np.zeros(SHAPE, np.uint64)
    pred[A], pred[B] = top, top - np.uint64(1)
    assert evaluate_sample(gt_stack(A, B), pred).S == 1.0
    assert evaluate_sample(gt_stack(A, B), label_image(A, B).astype(np.float32)).S == 1.0


@pytest.mark.parametrize(
    ("value", "message"),
    [(-3, "negative label id"), (np.nan, "NaN"), (1.5, "non-integer")],
)
def test_invalid_label_values(value: float, message: str) -> None:
    pred = label_image(A).astype(np.float64 if not isinstance(value, int) else np.int32)
    pred[0, 0, 0] = value
    with pytest.raises(FisbeError, match=message):
        evaluate_sample(gt_stack(A), pred)


def test_wrong_ndim_is_an_error() -> None:
    with pytest.raises(FisbeError, match="ZYX label image or a CZYX"):
        evaluate_sample(gt_stack(A), np.zeros((5, 5), np.uint8))


def test_aggregate_pools_counts_and_combine_averages_sets() -> None:
    def sample(tp: int, fp: int, fn: int, cov: list[float], partly: bool) -> SampleResult:
        return SampleResult(
            n_gt=tp + fn,
            n_pred=tp + fp,
            TP=dict.fromkeys(F1_KEYS, tp),
            FP=dict.fromkeys(F1_KEYS, fp),
            FN=dict.fromkeys(F1_KEYS, fn),
            coverage=cov,
            tp_cldice=[0.5] * tp,
            FS=1,
            FM=2,
            partly=partly,
        )

    completely = aggregate([sample(1, 0, 1, [1.0, 0.0], False), sample(2, 2, 0, [0.5, 0.5], False)])
    assert completely["F1"]["0.5"] == pytest.approx(2 * 3 / (2 * 3 + 2 + 1))  # pooled
    assert completely["C"] == pytest.approx(0.5)  # mean over the 4 GT coverages
    assert completely["tp"] == pytest.approx(3 / 4)
    assert (completely["FS"], completely["FM"], completely["num_images"]) == (2, 4, 2)
    partly = aggregate([sample(0, 0, 3, [0.1, 0.2, 0.3], True)])
    both = combine(completely, partly)
    assert both["S"] == pytest.approx((completely["S"] + partly["S"]) / 2)
    assert both["C"] == pytest.approx((0.5 + 0.2) / 2)
    assert both["F1"]["0.1"] == pytest.approx((completely["F1"]["0.1"] + 0.0) / 2)
    assert both["tp"] == pytest.approx(3 / 7)
    assert both["clDice_TP"] == pytest.approx(0.5)
    assert (both["FS"], both["FM"], both["num_gt"]) == (3, 6, 7)


# --- properties ------------------------------------------------------------------------

ROWS = [(z, y) for z in (1, 9) for y in (1, 9, 17, 25, 33, 41)]


@st.composite
def neurons(draw: st.DrawFn) -> list[np.ndarray]:
    """2-5 separate straight neurites of different lengths (each > 800 voxels)."""
    slots = draw(st.lists(st.sampled_from(ROWS), min_size=2, max_size=5, unique=True))
    lengths = draw(st.lists(st.integers(40, 90), min_size=len(slots), max_size=len(slots)))
    starts = draw(st.lists(st.integers(0, 10), min_size=len(slots), max_size=len(slots)))
    return [bar(z, y, x, x + n) for (z, y), n, x in zip(slots, lengths, starts, strict=True)]


def _signature(r: SampleResult) -> tuple:
    return (r.n_gt, r.n_pred, r.TP, r.FP, r.FN, r.coverage, sorted(r.tp_cldice), r.FS, r.FM)


PROPERTY = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(masks=neurons())
def test_property_perfect_prediction_scores_one(masks: list[np.ndarray]) -> None:
    r = evaluate_sample(gt_stack(*masks), label_image(*masks))
    assert (r.S, r.avF1, r.C, r.FS, r.FM) == (1.0, 1.0, 1.0, 0, 0)


@PROPERTY
@given(masks=neurons(), data=st.data())
def test_property_invariant_to_label_permutation_and_channel_order(
    masks: list[np.ndarray], data: st.DataObject
) -> None:
    # an imperfect prediction: neurites truncated and two of them merged
    preds = [m.copy() for m in masks]
    for p in preds:  # keep > 800 voxels: a binary stack's size filter pools its channels
        columns = np.flatnonzero(p.any(axis=(0, 1)))
        p[..., columns[: data.draw(st.integers(0, len(columns) - 33))]] = False
    preds = [preds[0] | preds[1], *preds[2:]]
    gt = gt_stack(*masks)
    loc = localize(
        collect_instances(as_volume(gt)),
        collect_instances(as_volume(label_image(*preds)), min_size=800),
    )
    values = loc.cldice[1:, 1:][loc.cldice[1:, 1:] > 0]
    assume(len(np.unique(values)) == len(values))  # exact ties make greedy order-dependent
    reference = _signature(evaluate_sample(gt, label_image(*preds)))
    order = data.draw(st.permutations(range(len(preds))))
    ids = data.draw(st.lists(st.integers(1, 2**40), min_size=len(preds), unique=True))
    relabelled = np.zeros(SHAPE, np.uint64)
    for i in order:
        relabelled[preds[i]] = ids[i]
    assert _signature(evaluate_sample(gt, relabelled)) == reference
    stack = np.stack([preds[i].astype(np.uint8) for i in order])
    assert _signature(evaluate_sample(gt, stack)) == reference
