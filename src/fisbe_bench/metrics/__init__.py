"""FISBe metrics (clDice matching, coverage, false splits/merges), as the official evaluator.

Public API: :func:`evaluate_sample`, :func:`aggregate`, :func:`combine`,
:func:`evaluate_directories` and :class:`SampleResult`.
"""

from fisbe_bench.metrics.aggregate import SampleResult, aggregate, combine
from fisbe_bench.metrics.directories import evaluate_directories
from fisbe_bench.metrics.evaluate import evaluate_sample

__all__ = ["SampleResult", "aggregate", "combine", "evaluate_directories", "evaluate_sample"]
