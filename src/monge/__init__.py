"""monge: neural optimal transport in PyTorch, measured against ground truth."""

__version__ = "0.1.0"
