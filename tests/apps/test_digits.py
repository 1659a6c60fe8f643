"""The shared pieces of the applications: the digits loader, the in-run classifier, the progress callback and
optional-dependency errors."""

from __future__ import annotations

import pytest
import torch

from monge.apps._deps import require
from monge.apps.digits import DigitClassifier, as_images, load_digits, split_indices, train_classifier
from monge.apps.progress import training_progress
from monge.errors import InvalidInputError, MissingDependencyError


def test_digits_are_scaled_pixels_with_labels():
    x, y = load_digits(dtype=torch.float64)
    assert x.shape == (1797, 64) and x.dtype == torch.float64 and y.dtype == torch.int64
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert sorted(y.unique().tolist()) == list(range(10))
    assert as_images(x[:3]).shape == (3, 8, 8)


def test_split_is_disjoint_complete_and_seeded():
    train, test = split_indices(100, 0.3, generator=torch.Generator().manual_seed(4))
    assert len(test) == 30 and len(train) == 70
    assert sorted(torch.cat([train, test]).tolist()) == list(range(100))
    again, _ = split_indices(100, 0.3, generator=torch.Generator().manual_seed(4))
    assert torch.equal(train, again)
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(InvalidInputError, match="test_fraction"):
            split_indices(100, bad)


def test_classifier_learns_digits_without_touching_the_global_rng():
    x, y = load_digits()
    train, test = split_indices(len(x), 0.3, generator=torch.Generator().manual_seed(0))
    state = torch.get_rng_state()
    model = train_classifier(x[train], y[train], steps=200, generator=torch.Generator().manual_seed(0))
    assert torch.equal(state, torch.get_rng_state())
    accuracy = model.accuracy(x[test], y[test])
    assert accuracy > 0.93, accuracy            # measured 0.97-0.98
    assert model.features(x[:5]).shape == (5, 64)
    same = train_classifier(x[train], y[train], steps=200, generator=torch.Generator().manual_seed(0))
    assert torch.equal(model.predict(x[test]), same.predict(x[test]))


def test_classifier_rejects_bad_inputs():
    x, y = load_digits()
    with pytest.raises(InvalidInputError, match="labels"):
        train_classifier(x[:10], y[:9])
    with pytest.raises(InvalidInputError, match="steps"):
        train_classifier(x[:10], y[:10], steps=0)
    bad = x[:10].clone()
    bad[0, 0] = float("nan")
    with pytest.raises(InvalidInputError):
        train_classifier(bad, y[:10])
    with pytest.raises(InvalidInputError, match="classifier shape"):
        DigitClassifier(64, hidden_sizes=())


def test_progress_callback_counts_steps_and_can_be_disabled():
    from io import StringIO

    from rich.console import Console

    class Step:
        def __init__(self, step):
            self.step = step

    out = StringIO()
    with training_progress(4, "fit", console=Console(file=out, force_terminal=False, width=80)) as callback:
        for i in range(1, 5):
            assert callback(Step(i)) is None
    assert "fit" in out.getvalue() and "4/4" in out.getvalue()
    with training_progress(4, "fit", enabled=False) as callback:
        assert callback(Step(1)) is None


def test_missing_optional_package_names_the_extra():
    with pytest.raises(MissingDependencyError, match=r"pip install 'monge\[apps\]'") as info:
        require("monge_no_such_module", purpose="this test", package="no-such-package")
    assert "no-such-package" in str(info.value) and isinstance(info.value, ImportError)


def test_digit_panels_tile_the_digits_and_write_a_png(tmp_path):
    from PIL import Image

    from monge.apps.digits import digit_mosaic, plot_digit_panels

    x, _ = load_digits()
    mosaic = digit_mosaic(x[:10], columns=4)
    assert mosaic.shape == (3 * 9 + 1, 4 * 9 + 1)
    assert abs(mosaic[1:9, 1:9] - (1.0 - x[0].reshape(8, 8).double().numpy())).max() < 1e-12
    path = plot_digit_panels({"a": x[:16], "b": x[16:40]}, tmp_path / "sub" / "panels.png", columns=4,
                             max_images=8)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > image.size[1]
    with pytest.raises(InvalidInputError, match="nothing to draw"):
        plot_digit_panels({}, tmp_path / "none.png")
    with pytest.raises(InvalidInputError):
        plot_digit_panels({"bad": x[:4, :10]}, tmp_path / "bad.png")
