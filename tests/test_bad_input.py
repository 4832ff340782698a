"""Bad input, end to end: one line naming the file and the problem, exit 2, nothing lost.

One table (``CASES``) runs every kind of broken input through the real CLI
(``fisbe_bench.cli.main``): ``evaluate``, the method steps ``threshold-cc predict``,
``unet-affinity predict`` and ``unet-affinity decode``. An error must be exactly one stderr
line (log lines ``fisbe-bench CMD: INFO:`` / ``WARNING:`` aside) that names the file, with
exit status 2, and must leave the output written by an earlier successful run
byte-identical (no temp folder left beside it). Cases
with a documented non-error behaviour (center-crop with a warning, extra samples ignored,
huge ids relabelled) must give exactly the reference scores. Further tests: the installed
``fisbe-bench`` entry point, the config schema (names restricted, no shell commands) and the
same error surfacing through a Snakemake run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
import zarr
from conftest import CORES

from fisbe_bench import sample_io
from fisbe_bench.cli import main
from fisbe_bench.contract import GT_KEY, PRED_KEY, RAW_KEY
from fisbe_bench.metrics.directories import NO_SET_WARNING

ROOT = Path(__file__).resolve().parents[1]
SHAPE = (12, 32, 80)
LOG_LINE = re.compile(r"^fisbe-bench [\w-]+: (INFO|WARNING): ")
RAW_SHAPE = (3, 16, 32, 32)
PRED = "pred/beta.zarr"
CC = "threshold-cc predict"
UNET_PREDICT, UNET_DECODE = "unet-affinity predict", "unet-affinity decode"
OUT = {"evaluate": "out", CC: "out.zarr", UNET_PREDICT: "out.zarr"}
OUT[UNET_DECODE] = "out.zarr"


def bars(*rows: int) -> np.ndarray:
    """GT channel stack: one 5 x 5 x 60 neurite per row offset (channel i holds i + 1)."""
    stack = np.zeros((len(rows), *SHAPE), np.uint8)
    for i, y in enumerate(rows):
        stack[i, 2:7, y : y + 5, 10:70] = i + 1
    return stack


GT = {"alpha": bars(1, 12), "beta": bars(5, 20)}
BETA = GT["beta"].max(axis=0).astype(np.uint32)  # label image 0, 1, 2


def put_array(path: Path, data: np.ndarray, key: str = PRED_KEY) -> None:
    """Write ``data`` as zarr v2 array ``key`` of a fresh group at ``path``."""
    shutil.rmtree(path, ignore_errors=True)
    chunks = (1,) * (data.ndim - 3) + tuple(min(8, s) for s in data.shape[-3:])
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    group.create_array(key, data=data, chunks=chunks if data.ndim >= 3 else data.shape)


def corrupt_first_chunk(array_dir: Path) -> None:
    chunk = next(p for p in sorted(array_dir.iterdir()) if not p.name.startswith("."))
    chunk.write_bytes(b"\x02\x01garbage" * 3)


def relabel(ids: list[int], dtype: type) -> np.ndarray:
    """BETA with its ids 1, 2 replaced by ``ids`` (as ``dtype``)."""
    out = np.zeros(SHAPE, dtype)
    for old, new in enumerate(ids, start=1):
        out[np.equal(BETA, old)] = dtype(new)
    return out


def replace_beta(w: Path, data: np.ndarray | None = None, **kwargs: object) -> None:
    """Remove the good beta prediction; write ``data`` instead (zarr) if given."""
    for old in (w / "pred").glob("beta.*"):
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    if data is not None:
        put_array(w / PRED, data, **kwargs)  # type: ignore[arg-type]


def write_text(path: Path, text: str = "not a volume\n") -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.write_text(text)


def truncated_hdf(path: Path) -> None:
    with h5py.File(path, "w") as handle:
        handle.create_dataset(PRED_KEY, data=BETA, chunks=(4, 8, 8), compression="gzip")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def raw_volume() -> np.ndarray:
    raw = np.zeros(RAW_SHAPE, np.uint16)
    raw[0, 2:14, 10:14, 2:30] = 1200
    raw[1, 2:14, 20:24, 2:30] = 900
    return raw


def probabilities(path: Path, numinst: np.ndarray | None = None, key: str = "volumes/numinst"):
    """A ``fisbe-bench unet-affinity predict`` zarr: numinst (3, Z, Y, X) and affinities."""
    shutil.rmtree(path, ignore_errors=True)
    if numinst is None:
        numinst = np.zeros((3, *RAW_SHAPE[1:]), np.float16)
        numinst[0] = 1
        numinst[0, 2:14, 10:14, 2:30] = 0
        numinst[1, 2:14, 10:14, 2:30] = 1
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    chunks = (1, 8, 16, 16)[-numinst.ndim :]
    group.create_array(key, data=numinst, chunks=chunks)
    affinities = np.full((3, *RAW_SHAPE[1:]), 0.9, np.float16)
    group.create_array("volumes/affinities", data=affinities, chunks=(1, 8, 16, 16))
    group["volumes/affinities"].attrs["offsets"] = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]


@dataclass(frozen=True)
class Case:
    """One bad (or borderline) input: how to make it and what must happen."""

    cli: str
    make: Callable[[Path], object]
    bad: str = ""  # the file the message must name (relative to the workspace)
    message: str = ""  # part of the error line; empty: no error (exit 0)
    warning: str = ""  # an expected log warning (exit 0 cases)
    same_scores: bool = False  # exit 0 and exactly the reference summary / per-sample rows
    check: Callable[[Path], None] | None = None
    args: tuple[str, ...] = ()


def beta_row(w: Path) -> dict[str, str]:
    import csv

    rows = list(csv.DictReader((w / "out" / "per_sample.csv").open()))
    return next(r for r in rows if r["sample"] == "beta")


def no_prediction_scored(w: Path) -> None:
    row = beta_row(w)
    assert (row["num_pred"], row["TP_0.5"], row["FN_0.5"]) == ("0", "0", "2")


def empty_instances(w: Path) -> None:
    stack = zarr.open_array(str(w / "out.zarr" / PRED_KEY), mode="r")
    assert stack.shape == (0, *RAW_SHAPE[1:])


HUGE = 2**64 - 1
CASES: dict[str, Case] = {
    # --- evaluate: the prediction --------------------------------------------------------
    "missing-key": Case("evaluate", lambda w: replace_beta(w, BETA, key="volumes/other"),
                        PRED, "missing key 'volumes/instances'"),
    "ndim-2": Case("evaluate", lambda w: replace_beta(w, BETA[0]), PRED, "got shape (32, 80)"),
    "ndim-5": Case("evaluate", lambda w: replace_beta(w, np.stack([GT["beta"]] * 2)), PRED,
                   "expected a ZYX label image or a CZYX channel stack"),
    "negative-ids": Case("evaluate", lambda w: replace_beta(w, -BETA.astype(np.int32)), PRED,
                         "negative label id"),
    "negative-ids-jobs2": Case("evaluate", lambda w: replace_beta(w, -BETA.astype(np.int32)),
                               PRED, "negative label id", args=("--jobs", "2")),
    "float-labels": Case("evaluate", lambda w: replace_beta(w, BETA * np.float32(0.5)), PRED,
                         "non-integer float values"),
    "nan": Case("evaluate", lambda w: replace_beta(w, np.where(BETA > 0, np.nan, 0)), PRED,
                "NaN or infinite"),
    "infinite": Case("evaluate", lambda w: replace_beta(w, np.where(BETA > 0, np.inf, 0)),
                     PRED, "NaN or infinite"),
    "complex-dtype": Case("evaluate", lambda w: replace_beta(w, BETA.astype(complex)), PRED,
                          "not a label volume: dtype complex128"),
    "shape-not-croppable": Case(
        "evaluate", lambda w: replace_beta(w, np.pad(BETA, ((2, 2), (0, 0), (0, 0)))[:, 1:-1]),
        PRED, "neither contains the other"),
    "prediction-missing": Case("evaluate", lambda w: replace_beta(w), "pred",
                               "no prediction for sample beta"),
    "two-predictions": Case("evaluate", lambda w: shutil.copytree(w / PRED, w / "pred/beta.h5"),
                            "pred/beta.zarr", "two predictions for sample 'beta'"),
    "corrupt-chunk": Case("evaluate",
                          lambda w: corrupt_first_chunk(w / PRED / PRED_KEY),
                          PRED, "corrupt zarr chunk"),
    "broken-zarr-metadata": Case(
        "evaluate", lambda w: write_text(w / PRED / PRED_KEY / ".zarray", "{"),
        f"{PRED}/{PRED_KEY}/.zarray", "unreadable zarr metadata"),
    "empty-zarr-folder": Case("evaluate", lambda w: (replace_beta(w), (w / PRED).mkdir()),
                              PRED, "not a readable zarr"),
    "text-as-zarr": Case("evaluate", lambda w: (replace_beta(w), write_text(w / PRED)),
                         PRED, "not a readable zarr"),
    "text-as-hdf5": Case("evaluate", lambda w: (replace_beta(w), write_text(w / "pred/beta.h5")),
                         "pred/beta.h5", "not a readable HDF5 file"),
    "text-as-tiff": Case("evaluate",
                         lambda w: (replace_beta(w), write_text(w / "pred/beta.tif")),
                         "pred/beta.tif", "not a readable TIFF file"),
    "truncated-hdf5": Case("evaluate",
                           lambda w: (replace_beta(w), truncated_hdf(w / "pred/beta.h5")),
                           "pred/beta.h5", "not a readable HDF5 file"),
    "key-leaves-file": Case("evaluate", lambda w: None, "pred/alpha.zarr", "invalid key",
                            args=("--pred-key", "../../gt")),
    # --- evaluate: the ground truth ------------------------------------------------------
    "gt-corrupt-chunk": Case(
        "evaluate",
        lambda w: corrupt_first_chunk(w / "gt/completely/test/beta.zarr" / GT_KEY),
        "gt/completely/test/beta.zarr", "corrupt zarr chunk"),
    "gt-missing-key": Case("evaluate", lambda w: None, "gt/completely/test/alpha.zarr",
                           "missing key 'volumes/other'", args=("--gt-key", "volumes/other")),
    # --- evaluate: documented non-errors -------------------------------------------------
    "integer-valued-floats": Case("evaluate", lambda w: replace_beta(w, BETA.astype(np.float32)),
                                  same_scores=True),
    "all-zero-prediction": Case("evaluate", lambda w: replace_beta(w, np.zeros(SHAPE, np.uint32)),
                                check=no_prediction_scored),
    "empty-channel-stack": Case("evaluate",
                                lambda w: replace_beta(w, np.zeros((0, *SHAPE), np.uint8)),
                                check=no_prediction_scored),
    "prediction-larger": Case("evaluate", lambda w: replace_beta(w, np.pad(BETA, 3)),
                              warning="center-cropping the prediction", same_scores=True),
    "gt-larger": Case("evaluate", lambda w: replace_beta(w, BETA[1:-1, 2:-2, 1:-1]),
                      warning="center-cropping the GT", same_scores=True),
    "extra-sample": Case("evaluate", lambda w: shutil.copytree(w / PRED, w / "pred/gamma.zarr"),
                         warning="ignoring prediction without a GT sample", same_scores=True),
    "ids-uint64-max": Case("evaluate",
                           lambda w: replace_beta(w, relabel([HUGE, HUGE - 1], np.uint64)),
                           same_scores=True),
    "ids-uint64-stack": Case(
        "evaluate",
        lambda w: replace_beta(w, np.stack([relabel([HUGE, 0], np.uint64),
                                            relabel([0, HUGE], np.uint64)])),
        same_scores=True),
    "ids-uint32-max": Case("evaluate",
                           lambda w: replace_beta(w, relabel([2**32 - 1, 2**32 - 2], np.uint32)),
                           same_scores=True),
    "ids-int64-max": Case("evaluate",
                          lambda w: replace_beta(w, relabel([2**63 - 1, 1], np.int64)),
                          same_scores=True),
    # --- threshold-cc (B0): the raw sample -----------------------------------------------
    "cc-missing-sample": Case(CC, lambda w: shutil.rmtree(w / "s.zarr"), "s.zarr",
                              "no array 'volumes/raw'"),
    "cc-missing-key": Case(CC,
                           lambda w: put_array(w / "s.zarr", raw_volume(), "volumes/other"),
                           "s.zarr", "no array 'volumes/raw'"),
    "cc-ndim": Case(CC, lambda w: put_array(w / "s.zarr", raw_volume()[0], RAW_KEY),
                    "s.zarr", "must be (C, Z, Y, X)"),
    "cc-corrupt-chunk": Case(CC,
                             lambda w: corrupt_first_chunk(w / "s.zarr" / RAW_KEY),
                             "s.zarr", "blosc"),
    "cc-broken-metadata": Case(
        CC, lambda w: write_text(w / "s.zarr" / RAW_KEY / ".zarray", "{"),
        "s.zarr", "cannot open 'volumes/raw'"),
    "cc-not-a-volume": Case(CC, lambda w: write_text(w / "s.zarr"), "s.zarr",
                            "no array 'volumes/raw'"),
    "cc-nan": Case(CC,
                   lambda w: put_array(w / "s.zarr", np.full(RAW_SHAPE, np.nan), RAW_KEY),
                   "s.zarr", "NaN"),
    "cc-complex": Case(CC,
                       lambda w: put_array(w / "s.zarr", raw_volume().astype(complex), RAW_KEY),
                       "s.zarr", "dtype complex128"),
    "cc-all-zero": Case(CC,
                        lambda w: put_array(w / "s.zarr", 0 * raw_volume(), RAW_KEY),
                        check=empty_instances),
    # --- predict (B1 inference): the raw sample and the checkpoint -----------------------
    "unet-missing-key": Case(UNET_PREDICT,
                             lambda w: put_array(w / "s.zarr", raw_volume(), "volumes/other"),
                             "s.zarr", "no array 'volumes/raw'"),
    "unet-ndim": Case(UNET_PREDICT, lambda w: put_array(w / "s.zarr", raw_volume()[0], RAW_KEY),
                      "s.zarr", "must be (3, Z, Y, X)"),
    "unet-not-a-checkpoint": Case(
        UNET_PREDICT, lambda w: write_text(w / "model.pt"), "model.pt",
        "not a fisbe-bench checkpoint"),
    "unet-corrupt-chunk": Case(
        UNET_PREDICT, lambda w: corrupt_first_chunk(w / "s.zarr" / RAW_KEY), "s.zarr", "chunk"),
    "unet-nan": Case(
        UNET_PREDICT, lambda w: put_array(w / "s.zarr", np.full(RAW_SHAPE, np.nan), RAW_KEY),
        "s.zarr", "NaN"),
    # --- instances (B1): the probability zarr --------------------------------------------
    "inst-missing": Case(UNET_DECODE, lambda w: shutil.rmtree(w / "probs.zarr"), "probs.zarr",
                         "not a prediction zarr"),
    "inst-missing-key": Case(UNET_DECODE,
                             lambda w: probabilities(w / "probs.zarr", key="volumes/other"),
                             "probs.zarr", "not a prediction zarr"),
    "inst-ndim": Case(
        UNET_DECODE,
        lambda w: probabilities(w / "probs.zarr", np.zeros(RAW_SHAPE[1:], np.float16)),
        "probs.zarr", "disagree"),
    "inst-not-a-volume": Case(UNET_DECODE, lambda w: write_text(w / "probs.zarr"), "probs.zarr",
                              "not a prediction zarr"),
    "inst-corrupt-chunk": Case(
        UNET_DECODE, lambda w: corrupt_first_chunk(w / "probs.zarr/volumes/numinst"),
        "probs.zarr", "chunk"),
    "inst-nan": Case(
        UNET_DECODE,
        lambda w: probabilities(w / "probs.zarr", np.full((3, *RAW_SHAPE[1:]), np.nan, np.float16)),
        "probs.zarr", "NaN"),
}  # fmt: skip


def argv(cli: str, w: Path) -> list[str]:
    if cli == "evaluate":
        return ["evaluate", "--gt", str(w / "gt"), "--pred", str(w / "pred"),
                "--out", str(w / "out")]  # fmt: skip
    if cli == CC:
        return [*CC.split(), "--raw", str(w / "s.zarr"), "--out", str(w / "out.zarr")]
    if cli == UNET_PREDICT:
        return [*UNET_PREDICT.split(), "--checkpoint", str(w / "model.pt"), "--raw",
                str(w / "s.zarr"), "--out", str(w / "out.zarr"), "--device", "cpu",
                "--no-progress"]  # fmt: skip
    return [*UNET_DECODE.split(), "--probs", str(w / "probs.zarr"), "--out", str(w / "out.zarr"),
            "--min-size", "10"]  # fmt: skip


def snapshot(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` (or ``path`` itself) by relative name, with its bytes."""
    if path.is_file():
        return {".": path.read_bytes()}
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p.relative_to(path)): p.read_bytes() for p in files}


def error_lines(stderr: str) -> list[str]:
    """stderr without the documented log lines (``fisbe-bench CMD: INFO|WARNING: ...``)."""
    return [line for line in stderr.splitlines() if line.strip() and not LOG_LINE.match(line)]


def save_checkpoint(path: Path) -> None:
    import torch

    from fisbe_bench.methods.unet_affinity.config import load_config
    from fisbe_bench.methods.unet_affinity.model import AffinityUNet

    config = load_config(ROOT / "config/unet/tiny.yaml")
    torch.manual_seed(0)
    model = AffinityUNet(config.model)
    torch.save({"model": model.state_dict(), "config": config.to_dict()}, str(path))


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One workspace per CLI, each holding good inputs and a good earlier output."""
    root = tmp_path_factory.mktemp("templates")
    w = root / "evaluate"
    for name, stack in GT.items():
        sample_io.write_array(w / f"gt/completely/test/{name}.zarr", GT_KEY, stack, (1, 8, 16, 16))
        sample_io.write_instances(w / f"pred/{name}.zarr", stack.max(axis=0))
    w = root / CC
    put_array(w / "s.zarr", raw_volume(), RAW_KEY)
    w = root / UNET_PREDICT
    put_array(w / "s.zarr", raw_volume(), RAW_KEY)
    save_checkpoint(w / "model.pt")
    w = root / UNET_DECODE
    probabilities(w / "probs.zarr")
    for cli in OUT:
        assert main(argv(cli, root / cli)) == 0, cli
    return root


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(
    name: str,
    templates: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    case = CASES[name]
    w = tmp_path / case.cli
    shutil.copytree(templates / case.cli, w)
    out = w / OUT[case.cli]
    before = snapshot(out)
    case.make(w)
    capsys.readouterr()
    code = main([*argv(case.cli, w), *case.args])
    captured = capsys.readouterr()
    if case.message:
        lines = error_lines(captured.err)
        assert code == 2, captured.err
        assert len(lines) == 1, captured.err
        assert lines[0].startswith(f"fisbe-bench {case.cli}: error: ")
        assert str(w / case.bad) in lines[0] and case.message in lines[0], lines[0]
        assert snapshot(out) == before, "the earlier output was changed"
        leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]
        assert leftovers == []
        return
    assert code == 0, captured.err
    assert error_lines(captured.err) == []
    if case.warning:
        assert case.warning in caplog.text
    if case.same_scores:
        after = snapshot(out)
        for table in ("summary.json", "per_sample.csv", "per_threshold.csv"):
            assert after[table] == before[table], table
    if case.check:
        case.check(w)


def test_entry_point_error_is_one_line(templates: Path, tmp_path: Path) -> None:
    """The installed ``fisbe-bench`` script: log lines, then one error line; exit 2."""
    w = tmp_path / "evaluate"
    shutil.copytree(templates / "evaluate", w)
    before = snapshot(w / "out")
    replace_beta(w, np.pad(BETA, ((2, 2), (0, 0), (0, 0)))[:, 1:-1])
    script = Path(sys.executable).parent / "fisbe-bench"
    proc = subprocess.run([str(script), *argv("evaluate", w)], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = error_lines(proc.stderr)
    assert len(lines) == 1 and lines == proc.stderr.splitlines()[-1:], proc.stderr
    assert f"{w / PRED}: spatial shapes differ" in lines[0]
    assert "INFO: evaluating alpha" in proc.stderr and "Traceback" not in proc.stderr
    assert snapshot(w / "out") == before


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_entry_point_warning_is_one_prefixed_line(
    templates: Path, tmp_path: Path, jobs: str
) -> None:
    """A documented warning is one prefixed log line, also from worker processes."""
    w = tmp_path / "evaluate"
    shutil.copytree(templates / "evaluate", w)
    replace_beta(w, np.pad(BETA, 3))
    script = Path(sys.executable).parent / "fisbe-bench"
    command = [str(script), *argv("evaluate", w), "--jobs", jobs]
    proc = subprocess.run(command, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "WARNING" in line]
    assert warnings.pop(0) == f"fisbe-bench evaluate: WARNING: {NO_SET_WARNING}"  # no split file
    assert warnings == [
        f"fisbe-bench evaluate: WARNING: prediction (18, 38, 86) is larger than GT {SHAPE}: "
        f"center-cropping the prediction ({w / PRED})"
    ]


# --- configuration -------------------------------------------------------------------------

SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"
UNSAFE_NAMES = ["a;rm -rf x", "../x", "x/y", "a b", "$(touch x)", "`x`", "x\ny", "", "-x"]


def base_config() -> dict:
    return {
        "run": ["tiny"],
        "datasets": {"tiny": {"source": "synthetic"}},
        "methods": {"threshold_cc": {"kind": "threshold_cc"}},
    }


@pytest.mark.parametrize("bad", UNSAFE_NAMES)
@pytest.mark.parametrize("where", ["methods", "datasets"])
def test_schema_refuses_unsafe_names(where: str, bad: str) -> None:
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    config = base_config()
    config[where] = {bad: next(iter(config[where].values()))}
    with pytest.raises(WorkflowError, match=where):
        validate(config, str(SCHEMA))


@pytest.mark.parametrize(
    ("key", "value"),
    [("pred_key", "volumes/x;rm -rf y"), ("pred_key", "$(x)")],
)
def test_schema_refuses_unsafe_method_values(key: str, value: str) -> None:
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    config = base_config()
    config["methods"]["ext"] = {"kind": "external", "path": "p", key: value}
    with pytest.raises(WorkflowError, match=key):
        validate(config, str(SCHEMA))


def test_no_rule_runs_a_shell_command() -> None:
    """Rules call Python (``script:``), so config text never reaches a shell."""
    files = [ROOT / "Snakefile", *sorted((ROOT / "workflow/rules").glob("*.smk"))]
    assert len(files) > 3
    for path in files:
        text = path.read_text()
        for pattern in (r"^\s*shell\s*:", r"\bshell\s*\(", r"^\s*run\s*:", r"os\.system"):
            assert not re.search(pattern, text, re.M), f"{path.name}: {pattern}"
        rules = len(re.findall(r"^rule\b|^\s+rule\s*:", text, re.M))
        assert len(re.findall(r"^\s+script\s*:", text, re.M)) >= rules - text.count("rule all:")


def test_sample_names_match_the_wildcard_pattern() -> None:
    """Sample names come from committed sheets and the plan; all are plain words."""
    import csv

    from fisbe_bench.plan import plan_dataset

    common = (ROOT / "workflow/rules/common.smk").read_text()
    pattern = re.search(r'sample=r"([^"]+)"', common)[1]  # type: ignore[index]
    with open(ROOT / "config/fisbe_samples.tsv") as handle:
        names = [row["sample"] for row in csv.DictReader(handle, delimiter="\t")]
    names += [s.name for s in plan_dataset(12, 6)]
    assert all(re.fullmatch(pattern, name) for name in names)
    assert not any(re.fullmatch(pattern, bad) for bad in UNSAFE_NAMES)


def test_snakemake_schema_error_names_the_method(tmp_path: Path) -> None:
    config = base_config()
    config["methods"] = {"a;rm -rf x": {"kind": "threshold_cc"}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
         "--directory", str(tmp_path), "--configfile", str(path), "-n"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "a;rm -rf x" in output and "instance['methods']" in output
    assert not (tmp_path / "x").exists()


# --- through the workflow -------------------------------------------------------------------


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]
    command += ["--directory", str(workdir), "--configfile", str(workdir / "config.yaml")]
    return subprocess.run([*command, *CORES, *args], capture_output=True, text=True, timeout=600)


@pytest.mark.slow  # runs the workflow
def test_workflow_bad_external_prediction(tmp_path: Path) -> None:
    """An external method's bad prediction fails its evaluate job with the one-line error;
    another method's finished evaluation is untouched, and Snakemake removes the failed
    job's declared outputs, so no stale summary looks complete."""
    config = {
        "run": ["tiny"],
        "datasets": {"tiny": {"source": "synthetic", "n_completely": 3, "n_partly": 0,
                              "shape": [24, 48, 48], "seed": 1}},
        "methods": {name: {"kind": "external", "path": name, "pred_key": GT_KEY}
                    for name in ("good", "bad")},
    }  # fmt: skip
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    assert snakemake(tmp_path, "results/tiny/splits.tsv").returncode == 0
    sample = tmp_path / "resources/tiny/completely/test/synth_c002.zarr"
    for name in ("good", "bad"):
        shutil.copytree(sample, tmp_path / name / sample.name)
    targets = [f"results/tiny/{name}/evaluation/summary.json" for name in ("good", "bad")]
    proc = snakemake(tmp_path, *targets)
    assert proc.returncode == 0, proc.stderr[-3000:]
    good = tmp_path / "results/tiny/good/evaluation"
    before = snapshot(good)
    stamps = {p.name: p.stat().st_mtime_ns for p in good.iterdir()}

    bad = tmp_path / "bad" / sample.name
    gt = zarr.open_array(str(bad / GT_KEY), mode="r")[...]
    put_array(bad, -gt.astype(np.int32), GT_KEY)
    proc = snakemake(tmp_path, "-k", "--forcerun", targets[1], "--", *targets)
    assert proc.returncode != 0
    error = f"evaluate: error: bad/{sample.name}: negative label id"
    assert [line for line in proc.stderr.splitlines() if error in line] != []
    assert "Traceback" not in proc.stderr
    log = (tmp_path / "logs/tiny/bad/evaluate.log").read_text().splitlines()
    assert len(log) == 1 and log[0].startswith(f"error: bad/{sample.name}: negative label id")
    assert snapshot(good) == before
    assert {p.name: p.stat().st_mtime_ns for p in good.iterdir()} == stamps
    failed = tmp_path / "results/tiny/bad/evaluation"
    assert not any((failed / name).exists() for name in ("summary.json", "per_sample.csv"))
