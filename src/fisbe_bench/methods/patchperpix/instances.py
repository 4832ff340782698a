"""B3 instances: B1's decoding (fragments, mutex watershed, overlap voxels joining every
instance whose patches hold them) applied to the consensus affinities."""

from fisbe_bench.methods.unet_affinity.instances import decode

__all__ = ["decode"]
