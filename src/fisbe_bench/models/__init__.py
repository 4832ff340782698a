"""B1 (``unet_affinity``): a 3-D U-Net with a numinst head and an affinity head.

Submodules: ``config`` (YAML presets), ``unet`` (network), ``targets`` (targets and
loss from the multi-channel GT), ``data`` (zarr crop sampling and augmentation),
``train`` (training loop with checkpoints) and ``train_cli`` (``fisbe-bench train``).
Import-light: torch is imported only by the submodules that need it.
"""
