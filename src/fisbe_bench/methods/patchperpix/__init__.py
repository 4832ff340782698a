"""B3, PatchPerPix-style (``kind: patchperpix``): a 3-D U-Net predicts per voxel numinst
and a local shape patch (does each voxel of the (2r+1)^3 cube around it belong to a neuron
of the centre voxel); consensus affinities sum the votes of every patch covering a voxel
pair (:mod:`.consensus`, computed per tile on the device, so the cube's channels are never
written); B1's decoding turns them into instances, overlap voxels joining every instance
whose patches contain them. Training, tiling, tuning and the GPU benchmark are B1's
(:mod:`fisbe_bench.methods.unet_affinity`). Modules: ``config`` (presets with
``patch_radius``), ``consensus``, ``train``, ``predict``, ``instances``, ``tuning``,
``oracle`` and ``cli``; torch is imported only by ``consensus``, ``train``, ``predict``
and ``oracle``."""

from fisbe_bench.methods.patchperpix.config import METHOD, WORKFLOW_KEYS, Params

__all__ = ["METHOD", "WORKFLOW_KEYS", "Params"]
