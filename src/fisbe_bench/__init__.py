"""fisbe-bench: the FISBe 3-D neuron instance segmentation benchmark as a workflow.

Kept import-light on purpose: each workflow step imports only the submodules it needs,
so every conda environment carries only its own dependencies.
"""

__version__ = "0.1.0"
