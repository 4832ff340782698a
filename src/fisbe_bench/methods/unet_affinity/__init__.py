"""B1 (``unet_affinity``): a 3-D U-Net with a numinst head and an affinity head.

Modules: ``config`` (``Params`` of the decoding step from the method's config entry,
``TrainConfig`` from a YAML preset), ``model`` (network), ``targets`` (targets and loss
from the multi-channel GT), ``data`` (zarr crop sampling, loss weights), ``augment``
(spatial, overlay and intensity augmentation), ``train``
(``train``: training loop with checkpoints), ``predict`` (``predict``: tiled network
outputs), ``instances`` (``decode``: instances from the network outputs) and ``cli``
(``fisbe-bench unet-affinity {train,predict,decode}``). Import-light: torch is imported
only by ``model``, ``targets``, ``augment``, ``data``, ``train`` and ``predict``.
"""

from fisbe_bench.methods.unet_affinity.config import METHOD, WORKFLOW_KEYS, Params

__all__ = ["METHOD", "WORKFLOW_KEYS", "Params"]
