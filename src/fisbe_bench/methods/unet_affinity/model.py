"""A plain 3-D U-Net with a numinst head (3 classes) and an affinity head.

Same padding, no normalisation layers: every output voxel depends only on its receptive
field, so tiled inference (with tile starts on the pooling grid and a discarded margin at
least the receptive-field radius) reproduces whole-volume inference.
"""

from __future__ import annotations

import torch
from torch import nn

from fisbe_bench.methods.unet_affinity.config import ModelConfig

NUMINST_CLASSES = 3  # background, one neuron, two or more neurons
CHROMA_EPS = 0.05  # brightness floor of the chromaticity channels (normalised raw scale)


def _block(channels_in: int, channels_out: int, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width_in in (channels_in, channels_out):
        layers.append(nn.Conv3d(width_in, channels_out, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm3d(channels_out))
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class AffinityUNet(nn.Module):
    """U-Net whose output is ``3 + len(offsets)`` logits per voxel.

    Channels 0..2 are numinst logits (softmax over them), the rest are affinity logits,
    one per offset (sigmoid each).
    """

    def __init__(self, config: ModelConfig, in_channels: int = 3) -> None:
        super().__init__()
        self.config = config
        widths = [config.base * config.factor**level for level in range(config.depth + 1)]
        self.down = nn.ModuleList()
        previous = 2 * in_channels if config.chromaticity else in_channels
        for width in widths:
            self.down.append(_block(previous, width, config.batch_norm))
            previous = width
        self.pool = nn.MaxPool3d(2)
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for level in reversed(range(config.depth)):
            self.up.append(nn.ConvTranspose3d(widths[level + 1], widths[level], 2, stride=2))
            self.merge.append(_block(2 * widths[level], widths[level], config.batch_norm))
        self.head = nn.Conv3d(widths[0], NUMINST_CLASSES + len(config.offsets), 1)
        for module in self.modules():
            if isinstance(module, nn.Conv3d | nn.ConvTranspose3d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, Z, Y, X) normalised raw -> (B, 3 + K, Z, Y, X) logits."""
        if self.config.chromaticity:
            x = torch.cat([x, x / (x.sum(dim=1, keepdim=True).clamp_min(0) + CHROMA_EPS)], dim=1)
        skips = []
        for level, block in enumerate(self.down):
            if level:
                x = self.pool(x)
            x = block(x)
            skips.append(x)
        skips.pop()
        for up, merge in zip(self.up, self.merge, strict=True):
            x = merge(torch.cat([skips.pop(), up(x)], dim=1))
        return self.head(x)


def receptive_radius(config: ModelConfig) -> int:
    """Voxels of context on each side that influence one output voxel (upper bound)."""
    radius = 0
    for level in range(config.depth + 1):
        radius += 2 * 2**level  # two 3^3 convs on the way down
        if level < config.depth:
            radius += 4 * 2**level  # pooling, upsampling and two convs on the way up
    return radius


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Logits -> numinst softmax (3 channels) followed by affinity sigmoids, float32."""
    logits = logits.float()
    return torch.cat(
        [logits[:, :NUMINST_CLASSES].softmax(dim=1), logits[:, NUMINST_CLASSES:].sigmoid()],
        dim=1,
    )
