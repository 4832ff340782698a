"""B3 training: B1's loop (:mod:`fisbe_bench.methods.unet_affinity.train`) on patch targets.

Patch channel d at voxel c is B1's affinity target for offset d (1 iff c and c + d share
a neuron), so the crops, sampling, augmentation, loss and checkpoints are B1's; validation
scores the consensus decoding (:func:`.consensus.consensus_head`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fisbe_bench.methods.patchperpix.config import load_preset
from fisbe_bench.methods.patchperpix.consensus import consensus_head
from fisbe_bench.methods.unet_affinity import train as b1
from fisbe_bench.methods.unet_affinity.config import TrainConfig
from fisbe_bench.methods.unet_affinity.predict import Head


def read_preset(path: str | Path) -> tuple[TrainConfig, Head]:
    """Training configuration and validation head of a B3 preset."""
    config = load_preset(path)
    return config, consensus_head(config.model.offsets)


def train_to_outputs(preset: str | Path, **kwargs: Any) -> dict[str, Any]:
    """Workflow step: :func:`fisbe_bench.methods.unet_affinity.train.train_to_outputs` with
    a B3 preset (same keywords)."""
    return b1.train_to_outputs(preset, preset_reader=read_preset, **kwargs)
