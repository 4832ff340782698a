"""Snakemake adapter: unpack an external method's prediction archive into its folder.

Members are checked with `fisbe_bench.archive.check_member` (no absolute paths, `..`, links or
zip slip); the archive may hold the prediction files at its root or inside one wrapper folder.
The folder is replaced atomically, only once it holds at least one prediction.
"""

import shutil
import uuid
import zipfile
from pathlib import Path

from fisbe_bench.archive import _replace_dir, check_member
from fisbe_bench.errors import FisbeError
from fisbe_bench.snakemake_adapter import run_step
from fisbe_bench.volumes import VOLUME_SUFFIXES


def predictions_in(folder: Path) -> list[Path]:
    return [path for path in folder.iterdir() if path.suffix.lower() in VOLUME_SUFFIXES]


def unpack_predictions(zip_path: str, dest_dir: str) -> Path:
    """Extract ``zip_path`` into ``dest_dir`` (replaced atomically); the folder it fills."""
    dest = Path(dest_dir)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.unpack-{uuid.uuid4().hex[:8]}")
    try:
        tmp.mkdir()
        root = tmp.resolve()
        with zipfile.ZipFile(zip_path) as archive:
            for info in archive.infolist():
                try:
                    target = check_member(info, root)
                except ValueError as err:
                    raise FisbeError(f"refusing member {info.filename!r}: {err}", zip_path) from err
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as source, open(target, "wb") as sink:
                    shutil.copyfileobj(source, sink, 1 << 20)
        folder = tmp
        entries = list(tmp.iterdir())
        if len(entries) == 1 and entries[0].is_dir() and not predictions_in(tmp):
            folder = entries[0]  # one wrapper folder
        if not predictions_in(folder):
            raise FisbeError(
                f"no <sample>{{{','.join(VOLUME_SUFFIXES)}}} predictions at the archive's root "
                "or in its single top folder",
                zip_path,
            )
        _replace_dir(folder, dest)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as err:
        raise FisbeError(f"not a readable zip archive: {err}", zip_path) from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


if __name__ == "__main__":
    run_step(
        snakemake,  # noqa: F821
        unpack_predictions,
        zip_path=snakemake.input[0],  # noqa: F821
        dest_dir=snakemake.output[0],  # noqa: F821
    )
