"""B3 prediction: B1's tiled inference with the consensus head, so the written outputs
are numinst and consensus affinities (the patch channels never leave the device)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fisbe_bench.methods.patchperpix.config import METHOD
from fisbe_bench.methods.patchperpix.consensus import consensus_head
from fisbe_bench.methods.unet_affinity import predict as b1
from fisbe_bench.methods.unet_affinity.config import TrainConfig
from fisbe_bench.methods.unet_affinity.predict import Head


def head_of(config: TrainConfig) -> Head:
    """The consensus head of a B3 checkpoint's configuration."""
    return consensus_head(config.model.offsets)


def predict(
    checkpoint: str | Path, raw_path: str | Path, out_path: str | Path, **kwargs: Any
) -> dict[str, object]:
    """Network outputs of one sample (see
    :func:`fisbe_bench.methods.unet_affinity.predict.predict`, same keywords)."""
    return b1.predict(checkpoint, raw_path, out_path, head_of=head_of, method=METHOD, **kwargs)
