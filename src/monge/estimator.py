"""``monge.OTMap``: an optimal transport map as a scikit-learn transformer.

>>> import numpy as np
>>> from monge import OTMap
>>> rng = np.random.default_rng(0)
>>> Xs, Xt = rng.normal(size=(500, 2)), rng.normal(size=(400, 2)) * 2 + 3
>>> ot = OTMap(steps=200, batch_size=128, random_state=0).fit(Xs, Xt)
>>> mapped = ot.transform(Xs)
>>> mapped.dtype, mapped.shape
(dtype('float64'), (500, 2))

It follows scikit-learn's estimator conventions (constructor parameters stored as given, ``get_params`` /
``set_params``, ``sklearn.base.clone``, fitted attributes ending in ``_``, ``n_features_in_`` and
``feature_names_in_``), so it works as a step of a :class:`sklearn.pipeline.Pipeline`. It needs
scikit-learn (``pip install 'monge[sklearn]'``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from monge.errors import DimensionMismatchError, InvalidInputError, MissingDependencyError

try:
    from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
    from sklearn.utils import check_random_state
    from sklearn.utils.validation import check_array, check_is_fitted
    from sklearn.utils.validation import validate_data as _validate_data        # scikit-learn >= 1.6
except ImportError:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("scikit-learn>=1.6", "sklearn", "monge.OTMap") from None

_FLOATS = (np.float64, np.float32)


class OTMap(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """The optimal transport (quadratic-cost, W2) map from source samples onto target samples.

    ``fit(X, Y)`` learns the Monge map T with T#P = Q from samples ``X`` ~ P and ``Y`` ~ Q (the two sizes may
    differ) with :func:`monge.fit`; ``transform(X)`` applies T, ``inverse_transform(Y)`` applies its inverse
    when the solver learns one. Without ``Y`` the target is the standard normal N(0, I) in X's dimension (the
    map then Gaussianises the data, and ``inverse_transform`` of normal draws samples like X). A 1-D ``Y`` is
    taken for class labels, which scikit-learn passes to every step of a Pipeline: it is not used (the target
    is then N(0, I)) and a warning says so.

    NumPy in gives NumPy out in the input's floating dtype (other inputs are converted to float64, as in
    scikit-learn); a torch tensor in gives a tensor out in its dtype, differentiable when it requires grad.
    Training itself runs in float32 on ``device``.

    Parameters:
        solver: a registered W2 solver name (``monge.available_solvers("w2")``); ``"auto"`` (default) picks the
            solver and its settings from the data's dimension, size and budget.
        steps: training steps; default 5000 when ``time_budget`` is not given either.
        time_budget: seconds of training; the steps are planned to end within it (``steps`` then caps them).
        batch_size: samples of each distribution per step.
        device: where to train and map (``"cpu"``, ``"cuda"``, a :class:`torch.device`); ``None`` is the CPU.
        random_state: ``None``, an int seed, a :class:`numpy.random.RandomState` or a :class:`torch.Generator`:
            the network initialisation and the batches are drawn from it.
        verbose: show a progress bar while fitting (:class:`~monge.solvers.progress.ProgressBar`).
        solver_options: keyword options for the solver's constructor (see its docstring for the defaults),
            for example ``{"hidden_sizes": [64, 64]}``.

    Attributes:
        result_: the fitted :class:`~monge.solvers.W2Result` (save it with ``result_.save(path)``).
        solver_: the solver that was trained (``auto``'s choice when ``solver="auto"``).
        cost_: the solver's estimate of ½·W2²(P, Q).
        n_features_in_: the data's dimension.
        feature_names_in_: column names, when ``X`` was a DataFrame with string column names.
    """

    def __init__(self, solver: str = "auto", *, steps: int | None = None, time_budget: float | None = None,
                 batch_size: int = 1024, device: str | torch.device | None = None, random_state: Any = None,
                 verbose: bool = False, solver_options: dict[str, Any] | None = None):
        self.solver = solver
        self.steps = steps
        self.time_budget = time_budget
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.solver_options = solver_options

    # ---------------------------------------------------------------------------------------------- fit
    def fit(self, X: Any, Y: Any = None, *, y: Any = None) -> "OTMap":
        """Learn the map from samples ``X`` (n, d) onto samples ``Y`` (m, d), or onto N(0, I) when ``Y`` is
        ``None``; returns ``self``. ``y`` is scikit-learn's keyword for the second argument and means ``Y``."""
        from monge.api import fit
        from monge.samplers import StandardNormal

        if y is not None:
            if Y is not None:
                raise InvalidInputError("OTMap.fit: give the target samples as Y or y, not both")
            Y = y
        source = self._check(X, "X", reset=True)
        if Y is not None and not isinstance(Y, torch.Tensor):
            Y = check_array(Y, dtype=_FLOATS, ensure_2d=False, input_name="Y")
        if Y is not None and Y.ndim == 1:
            warnings.warn(f"OTMap.fit: Y of shape {np.shape(Y)} is 1-D, so it is taken for class labels (as "
                          f"scikit-learn passes them to every step of a Pipeline) and not used: X is mapped onto "
                          f"N(0, I). Target samples are a 2-D array of shape (m, {self.n_features_in_}).",
                          UserWarning, stacklevel=2)
            Y = None
        if Y is None:
            target: Any = StandardNormal(self.n_features_in_)
        else:
            target = self._check_target(Y)
        options = self.solver_options if self.solver_options is not None else {}
        if not isinstance(options, dict):
            raise InvalidInputError(f"solver_options must be a dict of solver options or None, got {options!r}")
        self.result_ = fit(source, target, solver=self.solver, steps=self.steps, time_budget=self.time_budget,
                           batch_size=self.batch_size, generator=self._generator(), device=self._device(),
                           dtype=torch.float32, progress=bool(self.verbose), **options)
        self.solver_ = str(self.result_.settings.get("chosen_solver", self.result_.solver))
        self.cost_ = float(self.result_.cost_estimate)
        return self

    def transform(self, X: Any) -> Any:
        """Map source samples ``X`` (n, d) onto the target: T(X), same kind and dtype as ``X``."""
        check_is_fitted(self, "result_")
        return self._map(self.result_.forward, X, "X")

    def inverse_transform(self, Y: Any) -> Any:
        """Map target samples ``Y`` (m, d) back onto the source with the learned inverse map; raises
        :class:`~monge.errors.NoInverseError` when the solver learns no inverse map."""
        check_is_fitted(self, "result_")
        return self._map(self.result_.inverse, Y, "Y")

    def fit_transform(self, X: Any, Y: Any = None, *, y: Any = None) -> Any:
        """``fit(X, Y)`` then ``transform(X)``."""
        return self.fit(X, Y, y=y).transform(X)

    # ---------------------------------------------------------------------------------------------- helpers
    def _map(self, apply: Any, data: Any, name: str) -> Any:
        if isinstance(data, torch.Tensor):
            return apply(data)
        array = self._check(data, name, reset=False)
        return apply(array)

    def _check(self, data: Any, name: str, *, reset: bool) -> Any:
        if isinstance(data, torch.Tensor):
            from monge._checks import check_samples

            checked = check_samples(data, name=name, dim=None if reset else self.n_features_in_)
            if reset:
                self.n_features_in_ = int(checked.shape[1])
                if hasattr(self, "feature_names_in_"):
                    del self.feature_names_in_
            return checked
        return _validate_data(self, data, reset=reset, dtype=_FLOATS)

    def _check_target(self, Y: Any) -> Any:
        if isinstance(Y, torch.Tensor):
            from monge._checks import check_samples

            return check_samples(Y, name="Y", dim=self.n_features_in_)
        if Y.ndim != 2:
            raise InvalidInputError(f"Y must be target samples of shape (m, {self.n_features_in_}), got shape "
                                    f"{Y.shape}")
        if Y.shape[1] != self.n_features_in_:
            raise DimensionMismatchError(f"Y has {Y.shape[1]} features but X has {self.n_features_in_}")
        return Y

    def _generator(self) -> torch.Generator:
        state = self.random_state
        if isinstance(state, torch.Generator):
            return state
        if isinstance(state, (int, np.integer)) and not isinstance(state, bool):
            seed = int(state)
        else:
            seed = int(check_random_state(state).randint(np.iinfo(np.int32).max))
        return torch.Generator().manual_seed(seed)

    def _device(self) -> torch.device:
        try:
            return torch.device("cpu" if self.device is None else self.device)
        except (RuntimeError, TypeError) as exc:
            raise InvalidInputError(f"device must be a torch device such as 'cpu' or 'cuda', got {self.device!r}") \
                from exc

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.input_tags.allow_nan = False
        return tags
