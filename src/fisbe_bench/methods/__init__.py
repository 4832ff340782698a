"""Segmentation methods (baselines) of the benchmark."""
