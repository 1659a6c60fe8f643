"""scikit-learn's handwritten digits as tensors, and the small classifier the applications score with.

The digits (1797 images of 8×8 pixels, 16 grey levels; UCI "Optical Recognition of Handwritten Digits",
shipped inside scikit-learn) are the real data every digits application runs on. :class:`DigitClassifier`
is a small MLP trained in the run (no downloaded weights): its accuracy is the domain-adaptation score and
its penultimate-layer features are the feature space of the Fréchet distance.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import nn

from monge._checks import check_samples
from monge.apps._deps import sklearn_datasets
from monge.errors import InvalidInputError

IMAGE_SHAPE = (8, 8)


def load_digits(*, dtype: torch.dtype = torch.float32, device: Any = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """All 1797 digits: pixels ``(1797, 64)`` scaled to [0, 1] and labels ``(1797,)`` (int64, 0–9)."""
    data = sklearn_datasets("the digits applications").load_digits()
    pixels = torch.as_tensor(data.data, dtype=dtype, device=device) / 16.0
    return pixels, torch.as_tensor(data.target, dtype=torch.int64, device=device)


def as_images(pixels: torch.Tensor) -> torch.Tensor:
    """Rows of 64 pixels → ``(n, 8, 8)`` images."""
    return pixels.reshape(-1, *IMAGE_SHAPE)


def split_indices(n: int, test_fraction: float, *, generator: torch.Generator | None = None,
                  device: Any = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """A random (train, test) split of ``range(n)``; ``generator`` seeds it (never the global RNG's state
    beyond drawing from it when ``generator`` is None)."""
    if not 0.0 < test_fraction < 1.0:
        raise InvalidInputError(f"test_fraction must be in (0, 1), got {test_fraction}")
    n_test = int(round(n * test_fraction))
    if n_test == 0 or n_test == n:
        raise InvalidInputError(f"cannot split {n} samples with test_fraction={test_fraction}")
    order = torch.randperm(n, generator=generator).to(device)
    return order[n_test:], order[:n_test]


class DigitClassifier(nn.Module):
    """An MLP classifier: ``forward(x)`` gives logits, ``features(x)`` the last hidden layer (ReLU).

    Args:
        dim: input dimension (64 for raw digits).
        hidden_sizes: widths of the hidden layers (default ``[128, 64]``); the last is the feature dimension.
        n_classes: number of classes (10).
        generator: draws the initial weights (PyTorch's default uniform bounds ±1/√fan_in, zero biases);
            the global RNG is never used.
    """

    def __init__(self, dim: int = 64, hidden_sizes: Sequence[int] = (128, 64), n_classes: int = 10, *,
                 generator: torch.Generator | None = None):
        super().__init__()
        if dim <= 0 or n_classes < 2 or not hidden_sizes or min(hidden_sizes) <= 0:
            raise InvalidInputError(f"bad classifier shape: dim={dim}, hidden_sizes={list(hidden_sizes)}, "
                                    f"n_classes={n_classes}")
        layers: list[nn.Module] = []
        width = dim
        with torch.device("meta"):          # no draw from the global RNG; weights are set below
            for size in hidden_sizes:
                layers += [nn.Linear(width, size), nn.ReLU()]
                width = size
            self.dim, self.feature_dim = int(dim), int(width)
            self.body = nn.Sequential(*layers)
            self.head = nn.Linear(width, n_classes)
        self.to_empty(device="cpu")
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for module in self.modules():
                if isinstance(module, nn.Linear):
                    bound = 1.0 / math.sqrt(module.in_features)
                    module.weight.copy_(torch.rand(module.weight.shape, generator=generator) * 2 * bound - bound)
                    module.bias.zero_()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features ``(n, feature_dim)``."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted labels ``(n,)``."""
        return self.forward(x).argmax(dim=1)

    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, labels: torch.Tensor) -> float:
        """Fraction of ``x`` classified as ``labels``."""
        return float((self.predict(x) == labels).to(torch.float64).mean())


def train_classifier(x: torch.Tensor, labels: torch.Tensor, *, hidden_sizes: Sequence[int] = (128, 64),
                     steps: int = 300, lr: float = 3e-3, weight_decay: float = 1e-4,
                     generator: torch.Generator | None = None) -> DigitClassifier:
    """Train a :class:`DigitClassifier` on ``(x, labels)`` with full-batch Adam (seconds on CPU for digits).

    The initial weights are drawn from ``generator`` (the global RNG is not reseeded). Returns the
    classifier in eval mode, on ``x``'s device and dtype.
    """
    x = check_samples(x, name="x")
    if labels.shape != (x.shape[0],):
        raise InvalidInputError(f"labels must have shape ({x.shape[0]},), got {tuple(labels.shape)}")
    if steps <= 0:
        raise InvalidInputError(f"steps must be positive, got {steps}")
    n_classes = int(labels.max()) + 1
    model = DigitClassifier(x.shape[1], hidden_sizes, max(n_classes, 2), generator=generator)
    model = model.to(device=x.device, dtype=x.dtype)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(steps):
        optimiser.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), labels)
        loss.backward()
        optimiser.step()
    if not torch.isfinite(loss):
        raise InvalidInputError("classifier training produced a non-finite loss; check the inputs' scale")
    return model.eval()


def digit_mosaic(pixels: torch.Tensor, columns: int) -> Any:
    """Tile rows of 64 pixels into one numpy array of 8×8 digits, ``columns`` per row, with a 1-pixel white gap
    (dark ink on white: values are ``1 − pixel``, clipped to [0, 1])."""
    import numpy as np

    if columns <= 0:
        raise InvalidInputError(f"columns must be a positive integer, got {columns}")
    images = as_images(pixels.detach().to("cpu", torch.float64).clamp(0, 1)).numpy()
    h, w = IMAGE_SHAPE
    rows = max(1, math.ceil(len(images) / columns))
    canvas = np.ones((rows * (h + 1) + 1, columns * (w + 1) + 1))
    for k, image in enumerate(images):
        r, c = divmod(k, columns)
        canvas[1 + r * (h + 1): 1 + r * (h + 1) + h, 1 + c * (w + 1): 1 + c * (w + 1) + w] = 1.0 - image
    return canvas


def plot_digit_panels(panels: dict[str, torch.Tensor], path: Any, *, columns: int = 8, max_images: int | None = None,
                      panel_size: tuple[float, float] = (3.4, 3.8), title: str | None = None) -> Any:
    """Write a PNG with one panel per entry of ``panels`` (name → pixels ``(n, 64)`` in [0, 1]), each a mosaic
    of (at most ``max_images``) digits, ``columns`` per row; returns the path. Agg canvas, no pyplot state."""
    from monge.plot.plots import new_figure, save_figure

    if not panels:
        raise InvalidInputError("panels: nothing to draw")
    fig = new_figure(panel_size[0] * len(panels), panel_size[1])
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, pixels) in zip(axes, panels.items()):
        pixels = check_samples(pixels, name=name, dim=IMAGE_SHAPE[0] * IMAGE_SHAPE[1])
        ax.imshow(digit_mosaic(pixels[:max_images], columns), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
