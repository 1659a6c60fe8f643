"""Build pairs from short specs such as ``"gaussian:16"`` or ``"toy:swiss_roll"``.

A spec is ``"<family>:<argument>"``. Families are registered with :func:`register_pair_family`; the
factory receives the argument string and ``seed``, ``dtype``, ``device`` and ``root`` keywords (``root``
is the folder of published files for families that load them, ``None`` otherwise). Each family has a
construction ``version`` (:func:`pair_version`), which stored runs record.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Protocol

import torch

from monge.errors import InvalidInputError, UnknownNameError
from monge.pairs.base import SamplePair


class PairFactory(Protocol):
    """``factory(arg, *, seed, dtype, device, root) -> SamplePair``: builds one member of a pair family."""

    def __call__(self, arg: str, *, seed: int, dtype: torch.dtype, device: str | torch.device,
                 root: Path | None) -> SamplePair: ...


@dataclass(frozen=True)
class _Family:
    factory: PairFactory
    choices: Callable[[], Iterable[str]] | None
    placeholder: str
    description: str
    needs_root: bool
    version: int


_FAMILIES: dict[str, _Family] = {}


def register_pair_family(
    prefix: str,
    factory: PairFactory,
    *,
    choices: Iterable[str] | Callable[[], Iterable[str]] | None = None,
    placeholder: str = "dim",
    description: str = "",
    needs_root: bool = False,
    replace: bool = False,
    version: int = 1,
) -> None:
    """Register a family of pairs under ``prefix`` (specs ``"<prefix>:<arg>"``).

    Args:
        prefix: family name, lower case, without ``":"`` (e.g. ``"mix3tomix10"``).
        factory: ``factory(arg, *, seed, dtype, device) -> SamplePair``; it should raise
            :class:`InvalidInputError` for a malformed argument and :class:`UnknownNameError` for an unknown one.
        choices: the finite set of valid arguments (or a callable returning it), listed one by one by
            :func:`available_pairs`; ``None`` means an open set shown as ``"<prefix>:<placeholder>"``.
        placeholder: what the argument is, for the listing (default ``"dim"``).
        description: one or two sentences for ``monge pairs list``: what the pairs are and their source paper.
        needs_root: the family loads published files and needs ``root=`` (CLI ``--pair-root``).
        replace: allow overwriting an existing family.
        version: version of the family's construction (a positive integer, default 1). Bump it whenever the
            measures built for a given spec and seed change, and give the pair class the same ``version``
            attribute (:attr:`SamplePair.version`): runs store it, and runs of an older version are neither
            reused by ``monge bench`` nor counted as done by a sweep.
    """
    if not isinstance(prefix, str) or not prefix.strip() or ":" in prefix:
        raise InvalidInputError(f"pair family prefix must be a non-empty string without ':', got {prefix!r}")
    key = prefix.strip().lower()
    if key in _FAMILIES and not replace:
        raise InvalidInputError(f"pair family {key!r} is already registered (pass replace=True to override)")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidInputError(f"pair family {key!r}: version must be a positive integer, got {version!r}")
    if choices is not None and not callable(choices):
        fixed = tuple(choices)
        choices_fn: Callable[[], Iterable[str]] | None = lambda: fixed  # noqa: E731
    else:
        choices_fn = choices  # type: ignore[assignment]
    _FAMILIES[key] = _Family(factory, choices_fn, placeholder, description, needs_root, version)


def available_pairs() -> list[str]:
    """Every spec pattern: ``"gaussian:<dim>"`` for open families, each ``"toy:<name>"`` for finite ones."""
    out: list[str] = []
    for prefix, fam in sorted(_FAMILIES.items()):
        if fam.choices is None:
            out.append(f"{prefix}:<{fam.placeholder}>")
        else:
            out.extend(f"{prefix}:{c}" for c in sorted(fam.choices()))
    return out


def describe_pair_families() -> list[dict[str, object]]:
    """One dict per registered family: ``prefix``, ``pattern``, ``description``, ``needs_root``, ``version``."""
    return [
        {"prefix": prefix, "pattern": f"{prefix}:<{fam.placeholder}>", "description": fam.description,
         "needs_root": fam.needs_root, "version": fam.version}
        for prefix, fam in sorted(_FAMILIES.items())
    ]


def make_pair(
    spec: str, *, seed: int = 0, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu",
    root: str | Path | None = None,
) -> SamplePair:
    """Build the pair named by ``spec`` (``"gaussian:16"`` → ``GaussianPair(16, seed)``; ``"toy:swiss_roll"``).

    ``root`` is the folder holding published pair files, for families that load them.
    Raises :class:`UnknownNameError` for an unknown family or member, :class:`InvalidInputError` for a
    malformed spec (missing or non-integer dimension, dimension ≤ 0...) or a missing ``root``.
    """
    if not isinstance(spec, str):
        raise InvalidInputError(f"pair spec must be a string like 'gaussian:16', got {type(spec).__name__}")
    text = spec.strip()
    prefix, sep, arg = text.partition(":")
    key = prefix.strip().lower()
    if key not in _FAMILIES:
        raise UnknownNameError("pair", spec, available_pairs())
    fam = _FAMILIES[key]
    arg = arg.strip()
    if not sep or not arg:
        what = f"<{fam.placeholder}>" if fam.choices is None else "<name>"
        raise InvalidInputError(f"pair spec {spec!r}: missing argument after '{key}:' (expected '{key}:{what}')")
    if fam.choices is not None and arg not in set(fam.choices()):
        raise UnknownNameError("pair", spec, available_pairs())
    if fam.needs_root and root is None:
        raise InvalidInputError(f"pair {spec!r} loads published files: pass root= (CLI: --pair-root PATH) "
                                f"pointing to the folder that holds them")
    return fam.factory(arg, seed=seed, dtype=dtype, device=device, root=None if root is None else Path(root))


def pair_version(spec: str) -> int:
    """The construction version of the family of pair spec ``spec`` (``"gaussian:16"`` → 2), without building
    the pair. Raises :class:`UnknownNameError` for an unknown family."""
    if not isinstance(spec, str):
        raise InvalidInputError(f"pair spec must be a string like 'gaussian:16', got {type(spec).__name__}")
    key = spec.strip().partition(":")[0].strip().lower()
    if key not in _FAMILIES:
        raise UnknownNameError("pair", spec, available_pairs())
    return _FAMILIES[key].version


def current_pair_version(spec: object) -> int | None:
    """:func:`pair_version` of ``spec``, or ``None`` when it names no registered family (or is not a spec)."""
    try:
        return pair_version(spec)  # type: ignore[arg-type]
    except (InvalidInputError, UnknownNameError):
        return None


def parse_dim(spec_family: str, arg: str) -> int:
    """Parse a positive integer dimension argument, raising :class:`InvalidInputError` naming the problem."""
    try:
        dim = int(arg)
    except ValueError:
        raise InvalidInputError(
            f"pair spec '{spec_family}:{arg}': dimension must be a positive integer, got {arg!r}"
        ) from None
    if dim <= 0:
        raise InvalidInputError(f"pair spec '{spec_family}:{arg}': dimension must be a positive integer, got {dim}")
    return dim


def _gaussian_factory(arg: str, *, seed: int, dtype: torch.dtype, device: str | torch.device,
                      root: Path | None = None) -> SamplePair:
    from monge.pairs.gaussian import GaussianPair

    return GaussianPair(parse_dim("gaussian", arg), seed, dtype=dtype, device=device)


def _toy_factory(arg: str, *, seed: int, dtype: torch.dtype, device: str | torch.device,
                 root: Path | None = None) -> SamplePair:
    from monge.pairs.toy import ToyPair

    return ToyPair(arg, dtype=dtype, device=device)


def _toy_choices() -> list[str]:
    from monge.pairs.toy import toy_names

    return toy_names()


register_pair_family(
    "gaussian", _gaussian_factory, version=3,  # = GaussianPair.version (not imported here: keeps the registry light to load)
    description=("W2GN's Gaussian source (spectrum exp(linspace(log ¼, log 4, D)), Haar-random rotation; Korotin et "
                 "al., 'Wasserstein-2 Generative Networks', ICLR 2021, §5.1) pushed by a random symmetric positive "
                 "definite map (spectrum exp(linspace(log ½, log 2, D))); the target mean is shifted when needed so "
                 "that the identity map's L2-UVP is at least 10 %. Closed-form map and W2; D = 4096 builds in "
                 "about 11 s."))
register_pair_family(
    "toy", _toy_factory, choices=_toy_choices, placeholder="name",
    description=("2-D toy pairs without a known map, scored by exact discrete W2: W2GN's N(0, I) → 8/49/100 Gaussians "
                 "and swiss roll (Korotin et al., ICLR 2021); W2GAN's 4-Gaussians, checkerboard, 2-spirals "
                 "(Leygonie et al., 2019)."))
