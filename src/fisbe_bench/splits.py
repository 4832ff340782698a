"""The official FISBe split file, and the sample table the workflow builds from it.

The split file (``sample_list_per_split.txt`` on Zenodo) has one section per labelled set,
``(1) samples for FlyLight completely:`` and ``(2) samples for FlyLight partly:``, each
with ``train:``, ``val:`` and ``test:`` headers followed by one sample name per line.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import random
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from fisbe_bench.atomic import write_text
from fisbe_bench.contract import SETS, SPLITS
from fisbe_bench.errors import FisbeError

if TYPE_CHECKING:  # pandas is imported on use: parsing the split file needs only the stdlib
    import pandas as pd

SHEET_COLUMNS = ["sample", "set", "split"]

_SECTION = re.compile(r"\(\s*(\d+)\s*\)\s*samples\s+for\s+flylight\s+(\S+?)\s*:", re.IGNORECASE)
_SPLIT = re.compile(r"(\w+)\s*:")
_SAMPLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
_MAX_LISTED = 5


class SplitEntry(NamedTuple):
    """One sample of the official split: its name, labelled set and split."""

    sample: str
    set: str
    split: str


def parse_split_file(path: str | Path) -> list[SplitEntry]:
    """Parse an official split file into entries, in file order.

    Blank lines and surrounding whitespace are ignored. A malformed line, an unknown
    header, a sample outside a ``train:``/``val:``/``test:`` block or a sample listed
    twice raises :class:`FisbeError` naming the file and line number.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise FisbeError(f"cannot read split file: {err}", path) from err
    entries: list[SplitEntry] = []
    first_line: dict[str, int] = {}
    seen_blocks: set[tuple[str | None, str | None]] = set()
    current_set: str | None = None
    current_split: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        problem = None
        section = _SECTION.fullmatch(line)
        split = _SPLIT.fullmatch(line)
        if section:
            current_set, current_split = section.group(2).lower(), None
            if current_set not in SETS:
                problem = f"unknown set {section.group(2)!r} (expected one of {SETS})"
            elif (current_set, None) in seen_blocks:
                problem = f"section for set {current_set!r} appears twice"
            seen_blocks.add((current_set, None))
        elif split or line.endswith(":"):
            current_split = split.group(1).lower() if split else line
            if current_split not in SPLITS:
                problem = f"unknown header {line!r} (expected train:, val: or test:)"
            elif current_set is None:
                problem = f"header {line!r} before any '(n) samples for FlyLight <set>:'"
            elif (current_set, current_split) in seen_blocks:
                problem = f"header {line!r} appears twice in set {current_set!r}"
            seen_blocks.add((current_set, current_split))
        elif not _SAMPLE.fullmatch(line):
            problem = f"malformed line {line!r} (expected one sample name)"
        elif current_set is None or current_split is None:
            problem = f"sample {line!r} outside a train:/val:/test: block"
        elif line in first_line:
            problem = f"duplicate sample {line!r} (first listed on line {first_line[line]})"
        else:
            first_line[line] = number
            entries.append(SplitEntry(line, current_set, current_split))
        if problem:
            raise FisbeError(f"line {number}: {problem}", path)
    if not entries:
        raise FisbeError("split file lists no samples", path)
    return entries


def split_file_text(entries: Iterable[SplitEntry]) -> str:
    """Entries in the official split-file format, grouped by set and split (empty sets left out)."""
    entries = list(entries)
    unknown = {(e.set, e.split) for e in entries} - {(s, p) for s in SETS for p in SPLITS}
    if unknown:
        raise ValueError(f"entries with unknown set/split: {sorted(unknown)}")
    blocks: list[str] = []
    for number, set_name in enumerate(SETS, start=1):
        in_set = [entry for entry in entries if entry.set == set_name]
        if not in_set:
            continue
        blocks.append(f"({number}) samples for FlyLight {set_name}:\n\n")
        for split in SPLITS:
            names = [entry.sample for entry in in_set if entry.split == split]
            blocks.append(f"{split}:\n" + "".join(f"{name}\n" for name in names) + "\n")
    return "".join(blocks)


def training_subset(
    entries: Iterable[SplitEntry], fraction: float, seed: int = 0
) -> list[SplitEntry]:
    """The entries with the ``train`` split reduced to a ``fraction`` of its images, per set.

    Per labelled set the training images (sorted by name, so the input order does not matter)
    are shuffled by a permutation seeded by ``(seed, set)``, and the first
    ``ceil(fraction * n)`` are kept, at least one when the set has any. Subsets are nested:
    the images kept for a fraction are kept for every larger one. ``val`` and ``test``
    entries are kept unchanged; file order is preserved.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction!r}")
    entries = list(entries)
    kept: set[str] = set()
    for set_name in sorted({e.set for e in entries if e.split == "train"}):
        names = sorted(e.sample for e in entries if e.split == "train" and e.set == set_name)
        key = hashlib.sha256(f"{seed}:{set_name}".encode()).digest()
        random.Random(int.from_bytes(key[:8], "big")).shuffle(names)
        n_kept = math.ceil(round(fraction * len(names), 9))  # 0.7 * 10 is 7.000000000000001
        kept.update(names[: max(1, n_kept)])
    return [e for e in entries if e.split != "train" or e.sample in kept]


def write_training_subset(
    split_file: str | Path, fraction: float, out: str | Path, seed: int = 0
) -> list[SplitEntry]:
    """Write the split file with its training images reduced by :func:`training_subset`."""
    subset = training_subset(parse_split_file(split_file), fraction, seed)
    write_split_file(subset, out)
    return subset


def write_split_file(entries: Iterable[SplitEntry], path: str | Path) -> Path:
    """Write entries in the official split-file format, atomically; return the path."""
    return write_text(path, split_file_text(entries))


def sample_sheet(entries: Iterable[SplitEntry]) -> pd.DataFrame:
    """Entries as a table with columns sample, set, split."""
    import pandas as pd

    return pd.DataFrame([tuple(e) for e in entries], columns=SHEET_COLUMNS, dtype=str)


def split_table(split_file: str | Path, data_root: str | Path) -> pd.DataFrame:
    """Table of sample, set, split and ``path`` = ``data_root/<set>/<split>/<sample>.zarr``.

    Every path must exist; otherwise :class:`FisbeError` lists the first few missing.
    """
    data_root = Path(data_root)
    table = sample_sheet(parse_split_file(split_file))
    table["path"] = [
        str(data_root / row.set / row.split / f"{row.sample}.zarr")
        for row in table.itertuples(index=False)
    ]
    missing = [p for p in table["path"] if not Path(p).is_dir()]
    if missing:
        listed = ", ".join(missing[:_MAX_LISTED])
        more = f" and {len(missing) - _MAX_LISTED} more" if len(missing) > _MAX_LISTED else ""
        raise FisbeError(
            f"{len(missing)} of {len(table)} samples of {split_file} missing: {listed}{more}",
            data_root,
        )
    return table


def read_sample_sheet(path: str | Path) -> pd.DataFrame:
    """Read a tab-separated sample sheet with (at least) columns sample, set, split."""
    import pandas as pd

    try:
        sheet = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment="#")
    except (OSError, ValueError) as err:
        raise FisbeError(f"cannot read sample sheet: {err}", path) from err
    lacking = [column for column in SHEET_COLUMNS if column not in sheet.columns]
    if lacking:
        raise FisbeError(f"sample sheet lacks column(s) {', '.join(lacking)}", path)
    return sheet[SHEET_COLUMNS]


def compare_sheets(table: pd.DataFrame, expected: pd.DataFrame) -> list[str]:
    """Differences between two sample sheets (empty when they list the same assignments)."""

    def assignment(frame: pd.DataFrame) -> dict[str, tuple[str, str]]:
        return {s: (a, b) for s, a, b in frame[SHEET_COLUMNS].itertuples(index=False)}

    got, want = assignment(table), assignment(expected)
    problems = []
    if len(expected) != len(want):
        problems.append("expected sheet lists a sample twice")
    absent = [s for s in want if s not in got]
    extra = [s for s in got if s not in want]
    moved = [
        f"{s} ({'/'.join(got[s])} vs expected {'/'.join(want[s])})"
        for s in got
        if s in want and got[s] != want[s]
    ]
    for label, names in (("missing", absent), ("unexpected", extra), ("moved", moved)):
        if names:
            listed = ", ".join(names[:_MAX_LISTED])
            more = f" and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else ""
            problems.append(f"{len(names)} {label}: {listed}{more}")
    return problems


def write_split_table(
    split_file: str | Path,
    data_root: str | Path,
    out: str | Path,
    expected: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Write :func:`split_table` to ``out`` (TSV, atomically) and return it.

    With ``expected`` (a sample sheet: sample, set, split) the table must list exactly
    the same samples in the same sets and splits, or nothing is written.
    """
    table = split_table(split_file, data_root)
    if expected is not None:
        lacking = [column for column in SHEET_COLUMNS if column not in expected.columns]
        if lacking:
            raise FisbeError(f"expected sample sheet lacks column(s) {', '.join(lacking)}")
        problems = compare_sheets(table, expected)
        if problems:
            raise FisbeError(
                "differs from the expected sample sheet: " + "; ".join(problems), split_file
            )
    write_table(table, out)
    return table


def write_table(table: pd.DataFrame, path: str | Path) -> None:
    """Write a table as tab-separated text, atomically."""
    write_text(path, table.to_csv(sep="\t", index=False, lineterminator="\n"))


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``fisbe-bench splits``."""
    parser.add_argument("--split-file", required=True, type=Path, help="official split file")
    parser.add_argument(
        "--data-root", required=True, type=Path, help="folder holding <set>/<split>/<sample>.zarr"
    )
    parser.add_argument("--out", required=True, type=Path, help="sample table to write (TSV)")
    parser.add_argument(
        "--expect", type=Path, help="sample sheet (sample, set, split) the split file must match"
    )


def run(args: argparse.Namespace) -> int:
    """Build the sample table, check it against ``--expect`` and write it."""
    expected = None if args.expect is None else read_sample_sheet(args.expect)
    write_split_table(args.split_file, args.data_root, args.out, expected)
    return 0
