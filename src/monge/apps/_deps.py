"""Optional dependencies of the applications: :mod:`monge._deps`, re-exported where the apps have always found it."""

from monge._deps import require, sklearn_datasets

__all__ = ["require", "sklearn_datasets"]
