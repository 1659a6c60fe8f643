"""The Wasserstein-1 "MinFunnel" benchmark pairs (Korotin, Kolesov, Burnaev, "Kantorovich Strikes Back!
Wasserstein GANs are not Optimal Transport?", NeurIPS 2022).

A MinFunnel u(x) = min_n (‖x − a_n‖ + b_n) is 1-Lipschitz. The input P is uniform on the cube [−s, s]^D
(s = 2.5). Each x ~ P is moved along the ray from the centre a of its funnel through x: with ``up`` the end of
that ray inside the region where funnel a is minimal (and inside the cube), t = ‖x − a‖/‖up − a‖ and
T(x) = a + t^p (up − a) (p = 8). T moves x straight down its funnel, so u(x) − u(T(x)) = ‖x − T(x)‖: the plan
(x, T(x)) is optimal for the distance cost, W1(P, Q) = E‖x − T(x)‖ with Q = T♯P, and f* = −u is an optimal
critic for "maximise E_Q f − E_P f" (the convention of every monge W1 solver); ∇f*(y) = −(y − a)/‖y − a‖.

Two families are registered:

- ``"w1b-funnel:<D>:<N>"``: the published pairs (D = 2, 4, …, 128 funnels in dimension D with N = 4, 16, 64, 256
  centres, degree 8), files ``nd/dim_{D}/width_{N}/deg_8_seed_987.pt`` of the authors' repository
  https://github.com/justkolesov/Wasserstein1Benchmark, folder ``benchmarks/nd/`` (MIT licence). monge
  downloads nothing: pass ``root=`` the folder that contains ``nd/``.
- ``"funnel:<D>:<N>[:<p>]"``: new pairs generated like the authors' code generates missing ones (centres
  uniform in [−2.5, 2.5]^D, biases 0.1·N(0, 1)), from a private generator seeded with the ``seed`` of
  :func:`~monge.pairs.make_pair`.

Note on the authors' code: there ``input_sampler`` draws the moved points T(x) and ``output_sampler`` the cube;
monge names them the other way round (source = cube = P, target = T♯P = Q), which changes no number.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from monge._checks import check_parameter, check_samples
from monge._integrity import read_tensor_state
from monge.errors import CheckpointError, InvalidInputError
from monge.pairs.base import W1BenchmarkPair
from monge.pairs.registry import register_pair_family

W1BENCH_DIMS: tuple[int, ...] = (2, 4, 8, 16, 32, 64, 128)
"""Dimensions D of the published MinFunnel pairs (``benchmarks/nd/dim_{D}``)."""
W1BENCH_WIDTHS: tuple[int, ...] = (4, 16, 64, 256)
"""Numbers of funnels N of the published MinFunnel pairs (``width_{N}``)."""
W1BENCH_DEGREE = 8
"""Degree p of the published pairs (from the file names ``deg_8_seed_987.pt``)."""
W1BENCH_SEED = 987
"""Seed in the published file names (the files are fixed: it only names them)."""
HALF_SIDE = 2.5
"""Half side s of the input cube [−s, s]^D of the published setup (``semi_length_square``)."""
FOLDER = "nd"
KEYS = ("net.centers", "net.bias")
"""Tensors of a published state dict: centres (N × D) and biases (N,)."""
_CHUNK = 8192


def _as_param(value: Any, name: str, ndim: int) -> torch.Tensor:
    """A finite float64 CPU tensor with ``ndim`` axes, or :class:`InvalidInputError` naming ``name``."""
    try:
        t = torch.as_tensor(value.detach() if isinstance(value, torch.Tensor) else value)
    except Exception as exc:  # noqa: BLE001 - any conversion failure is a bad input
        raise InvalidInputError(f"{name}: expected a tensor or array, got {type(value).__name__}") from exc
    if t.is_complex() or t.dtype == torch.bool:
        raise InvalidInputError(f"{name}: expected real numbers, got dtype {t.dtype}")
    return check_parameter(t.to("cpu", torch.float64), name, ndim=ndim)


class MinFunnel:
    """The 1-Lipschitz function u(x) = min_n (‖x − a_n‖ + b_n) ("MinFunnels" of Korotin et al., NeurIPS 2022).

    Nothing is trained: the centres a (N × D) and biases b (N,) are kept as float64 CPU tensors (copies are
    cached per device). Every method accepts ``(n, D)`` samples of any floating dtype on any device, computes
    in float64 by chunks of 8192 rows (memory O(8192·N)) and returns the input's dtype and device.

    Args:
        centers: (N, D) finite real numbers.
        biases: (N,) finite real numbers.
    """

    def __init__(self, centers: Any, biases: Any):
        self.centers = _as_param(centers, "centers", 2)
        self.biases = _as_param(biases, "biases", 1)
        if self.biases.shape[0] != self.centers.shape[0]:
            raise InvalidInputError(f"biases: expected {self.centers.shape[0]} values (one per centre), got "
                                    f"{self.biases.shape[0]}")
        self._cache: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}
        # rows per chunk: at most 8192, fewer when N is large so each (rows × N) float64 block stays ~4 MB
        self._rows = max(256, min(_CHUNK, (1 << 19) // self.width))

    @property
    def dim(self) -> int:
        return int(self.centers.shape[1])

    @property
    def width(self) -> int:
        """Number of funnels N."""
        return int(self.centers.shape[0])

    def _params(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        p = self._cache.get(device)
        if p is None:
            p = (self.centers.to(device), self.biases.to(device))
            self._cache[device] = p
        return p

    def _check(self, x: Any, name: str) -> torch.Tensor:
        return check_samples(x, name=name, dim=self.dim)

    def _index64(self, x64: torch.Tensor) -> torch.Tensor:
        """Index of the minimising funnel for float64 rows ``x64`` (one chunk)."""
        a, b = self._params(x64.device)
        dist = torch.cdist(x64, a, compute_mode="donot_use_mm_for_euclid_dist")
        return (dist + b).argmin(dim=1)

    def index(self, x: torch.Tensor) -> torch.Tensor:
        """argmin_n (‖x − a_n‖ + b_n), int64 tensor of shape (n,) (the first one at a tie)."""
        x = self._check(x, "x")
        with torch.no_grad():
            return torch.cat([self._index64(c.to(torch.float64)) for c in x.split(self._rows)])

    def value(self, x: torch.Tensor) -> torch.Tensor:
        """u(x), shape (n,), differentiable with respect to ``x`` (autograd flows through the minimising funnel)."""
        x = self._check(x, "x")
        out = []
        for c in x.split(self._rows):
            c64 = c.to(torch.float64)
            with torch.no_grad():
                idx = self._index64(c64.detach())
            a, b = self._params(c.device)
            out.append(((c64 - a[idx]).norm(dim=1) + b[idx]).to(x.dtype))
        return torch.cat(out)

    __call__ = value

    def gradient(self, x: torch.Tensor) -> torch.Tensor:
        """∇u(x) = (x − a(x))/‖x − a(x)‖, shape (n, D); the zero vector exactly at a centre (no NaN)."""
        x = self._check(x, "x")
        out = []
        with torch.no_grad():
            for c in x.split(self._rows):
                c64 = c.to(torch.float64)
                a, _ = self._params(c.device)
                diff = c64 - a[self._index64(c64)]
                norm = diff.norm(dim=1, keepdim=True)
                out.append(torch.where(norm > 0, diff / norm.clamp_min(1e-300), 0.0).to(x.dtype))
        return torch.cat(out)

    def _ray64(self, x: torch.Tensor, half_side: float):
        """For float64 rows x (one chunk): (index, centre a, ‖x − a‖, unit e, r) with up = x + r·e.

        r = min(distance along e to the boundary of [−s, s]^D, smallest valid r_m over the other funnels m),
        r_m = ½(‖x − a_m‖² − δ_m²)/(δ_m − ⟨x − a_m, e⟩), δ_m = u(x) − b_m: the point where ‖x + r e − a_m‖ + b_m
        = u(x) + r, i.e. where funnel m takes over. Candidates that are non-positive, non-finite, ≤ −δ_m or
        from the minimising funnel itself are discarded.
        """
        a, b = self._params(x.device)
        dist_all = torch.cdist(x, a, compute_mode="donot_use_mm_for_euclid_dist")      # (B, N)
        idx = (dist_all + b).argmin(dim=1)
        centre = a[idx]
        diff = x - centre
        dist = diff.norm(dim=1)                                                         # exact, (B,)
        at_centre = dist == 0
        e = torch.where(at_centre[:, None], 0.0, diff / dist.clamp_min(1e-300)[:, None])
        u = dist + b[idx]
        # (i) distance along e to the cube boundary
        safe_e = torch.where(e == 0, 1.0, e)
        steps = torch.where(e == 0, math.inf, (torch.sign(e) * half_side - x) / safe_e)
        r_cube = steps.min(dim=1).values.clamp_min(0.0)
        # (ii) first point where another funnel takes over
        delta = u[:, None] - b[None, :]                                                 # (B, N)
        proj = (x * e).sum(dim=1, keepdim=True) - e @ a.T                               # ⟨x − a_m, e⟩
        r_m = (dist_all - delta).mul_(dist_all + delta).mul_(0.5).div_(delta - proj)
        # keep r_m > max(0, −δ_m); NaN fails the comparison, +inf (zero denominator) never wins the min
        r_m.masked_fill_(~(r_m > (-delta).clamp_min_(0.0)), math.inf)
        r_m[torch.arange(x.shape[0], device=x.device), idx] = math.inf                  # the funnel itself
        r_funnel = r_m.min(dim=1).values
        r = torch.minimum(r_cube, r_funnel)
        return idx, centre, dist, e, r

    def ray_end(self, x: torch.Tensor, half_side: float = HALF_SIDE) -> tuple[torch.Tensor, torch.Tensor]:
        """(a, up): the minimising centre and the upper end of the ray from a through x (see the module doc).
        Both of shape (n, D) in ``x``'s dtype; at a centre, up = a."""
        x = self._check(x, "x")
        lows, ups = [], []
        with torch.no_grad():
            for c in x.split(self._rows):
                c64 = c.to(torch.float64)
                _, centre, dist, e, r = self._ray64(c64, float(half_side))
                up = torch.where((dist == 0)[:, None], centre, c64 + r[:, None] * e)
                lows.append(centre.to(x.dtype))
                ups.append(up.to(x.dtype))
        return torch.cat(lows), torch.cat(ups)

    def transport(self, x: torch.Tensor, degree: float = W1BENCH_DEGREE, half_side: float = HALF_SIDE) -> torch.Tensor:
        """T(x) = a + t^p (up − a), t = ‖x − a‖/‖up − a‖ (= ‖x − a‖/(‖x − a‖ + r)); T(a) = a.

        Computed in float64, returned in ``x``'s dtype and device, shape (n, D)."""
        x = self._check(x, "x")
        out = []
        with torch.no_grad():
            for c in x.split(self._rows):
                c64 = c.to(torch.float64)
                _, centre, dist, e, r = self._ray64(c64, float(half_side))
                at_centre = dist == 0                                                    # x = a: T(x) = a
                full = torch.where(at_centre, 1.0, dist + r)                             # ‖up − a‖ > 0
                t = torch.where(at_centre, 0.0, dist / full)
                moved = centre + (t.pow(degree) * full)[:, None] * e
                out.append(moved.to(x.dtype))
        return torch.cat(out)

    def __repr__(self) -> str:
        return f"MinFunnel(dim={self.dim}, width={self.width})"


def _check_degree(degree: Any) -> float:
    try:
        p = float(degree)
    except (TypeError, ValueError):
        raise InvalidInputError(f"degree must be a number >= 1, got {degree!r}") from None
    if isinstance(degree, bool) or not (math.isfinite(p) and p >= 1):
        raise InvalidInputError(f"degree must be a number >= 1 (T(x) = a + t^p (up − a)), got {degree!r}")
    return int(p) if p.is_integer() else p


def _check_half_side(value: Any) -> float:
    try:
        s = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"half_side must be a positive number, got {value!r}") from None
    if isinstance(value, bool) or not (math.isfinite(s) and s > 0):
        raise InvalidInputError(f"half_side must be a positive finite number, got {value!r}")
    return s


def _check_count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class FunnelPair(W1BenchmarkPair):
    """A MinFunnel W1 benchmark pair (Korotin, Kolesov, Burnaev, NeurIPS 2022): P = uniform on [−s, s]^D,
    Q = T♯P with the funnel map T (see the module doc); f* = −u.

    Use :meth:`load` for the published pairs and :meth:`generate` for new ones.

    Args:
        centers: (N, D) funnel centres a_n.
        biases: (N,) funnel biases b_n.
        degree: p ≥ 1 of T(x) = a + t^p (up − a) (8 in the paper).
        half_side: s > 0 of the input cube (2.5 in the paper): the rays stop at its boundary.
        name: the pair's spec (default ``"funnel:<D>:<N>:<p>"``).
        dtype: of the samplers.
        device: of the samplers.
        source: the input measure P, a sampler inside [−s, s]^D (default: uniform on that cube, as in the paper;
            the image pairs of :mod:`monge.pairs.images` pass noisy images).

    Attributes: ``funnel`` (the :class:`MinFunnel` u), ``degree``, ``half_side``, ``seed`` (generated pairs) or
    ``file`` (loaded pairs), otherwise ``None``, ``source``
    (:class:`~monge.samplers.UniformCube`), ``target`` (a :class:`~monge.samplers.PushForward` of the source
    through :meth:`true_map`). ``true_w1`` and ``true_w1_stderr`` come from :attr:`w1_samples` = 100 000 float64
    samples drawn with a private generator seeded with :attr:`w1_seed` (computed once, lazily).
    """

    w1_samples: int = 100_000
    w1_seed: int = 0

    def __init__(self, centers: Any, biases: Any, *, degree: float = W1BENCH_DEGREE, half_side: float = HALF_SIDE,
                 name: str | None = None, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu",
                 source: Any = None):
        from monge.samplers import PushForward, Sampler, UniformCube

        self.funnel = MinFunnel(centers, biases)
        self.degree = _check_degree(degree)
        self.half_side = _check_half_side(half_side)
        self.custom_source = source is not None
        if source is None:
            source = UniformCube(self.funnel.dim, half_side, dtype=dtype, device=device)
        elif not isinstance(source, Sampler) or int(source.dim) != self.funnel.dim:
            raise InvalidInputError(f"source must be a monge Sampler of dimension {self.funnel.dim} (the centres'), "
                                    f"got {source!r}")
        target = PushForward(source, self.true_map)
        if name is None:
            name = f"funnel:{self.funnel.dim}:{self.funnel.width}:{self.degree:g}"
        super().__init__(name, source, target)
        self.seed: int | None = None       # set by generate()
        self.file: Path | None = None      # set by load()
        self._w1_cache: tuple[float, float] | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def generate(cls, dim: int, width: int, *, degree: float = W1BENCH_DEGREE, seed: int = 0,
                 half_side: float = HALF_SIDE, dtype: torch.dtype = torch.float32,
                 device: str | torch.device = "cpu") -> "FunnelPair":
        """A new pair built as the authors' code builds missing ones: centres uniform in [−half_side,
        half_side]^dim, biases 0.1·N(0, 1), both drawn in float64 from a private
        ``torch.Generator().manual_seed(seed)`` (the global RNG is untouched; same seed → same pair).
        Named ``"funnel:<dim>:<width>"`` (degree 8) or ``"funnel:<dim>:<width>:<degree>"``."""
        dim, width = _check_count(dim, "dim"), _check_count(width, "width")
        degree = _check_degree(degree)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise InvalidInputError(f"seed must be an integer, got {seed!r}")
        s = _check_half_side(half_side)
        gen = torch.Generator().manual_seed(seed)
        centers = s * (2.0 * torch.rand(width, dim, generator=gen, dtype=torch.float64) - 1.0)
        biases = 0.1 * torch.randn(width, generator=gen, dtype=torch.float64)
        name = f"funnel:{dim}:{width}" + ("" if degree == W1BENCH_DEGREE else f":{degree:g}")
        pair = cls(centers, biases, degree=degree, half_side=half_side, name=name, dtype=dtype, device=device)
        pair.seed = seed
        return pair

    @classmethod
    def load(cls, root: str | Path, dim: int, width: int, *, degree: float = W1BENCH_DEGREE, seed: int = W1BENCH_SEED,
             dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> "FunnelPair":
        """The published pair ``root/nd/dim_{dim}/width_{width}/deg_{degree}_seed_{seed}.pt``.

        ``root`` is the folder that contains ``nd/`` (or ``nd/`` itself). The file is a state dict with
        ``net.centers`` (width × dim) and ``net.bias`` (width), loaded with ``torch.load(weights_only=True)``.
        :class:`CheckpointError` names the file when it is missing, corrupt, has other keys or shapes, or
        holds NaN/inf. The cube half side is 2.5 (published setup, not stored in the file).
        """
        dim, width = _check_count(dim, "dim"), _check_count(width, "width")
        degree = _check_degree(degree)
        file = published_file(root, dim, width, degree=degree, seed=seed)
        centers, biases = _read_state(file, dim, width)
        name = f"w1b-funnel:{dim}:{width}"
        pair = cls(centers, biases, degree=degree, half_side=HALF_SIDE, name=name, dtype=dtype, device=device)
        pair.file = file
        return pair

    # ------------------------------------------------------------------ ground truth
    @property
    def centers(self) -> torch.Tensor:
        """The funnel centres a (N × D), float64 CPU."""
        return self.funnel.centers

    @property
    def biases(self) -> torch.Tensor:
        """The funnel biases b (N,), float64 CPU."""
        return self.funnel.biases

    @property
    def width(self) -> int:
        return self.funnel.width

    def true_map(self, x: torch.Tensor) -> torch.Tensor:
        """The optimal map T(x) = a + t^p (up − a) (float64 inside; ``x``'s dtype and device out)."""
        return self.funnel.transport(check_samples(x, name="x", dim=self.dim), self.degree, self.half_side)

    def plan(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` pairs (x, T(x)) with x ~ P drawn from ``generator``: samples of an optimal W1 plan."""
        x = self.source.sample(n, generator)
        return x, self.true_map(x)

    def true_critic(self, x: torch.Tensor) -> torch.Tensor:
        """f*(x) = −u(x), shape (n,), differentiable (so autograd gives ∇f* away from ties)."""
        return -self.funnel.value(check_samples(x, name="x", dim=self.dim))

    def true_gradient(self, y: torch.Tensor) -> torch.Tensor:
        """∇f*(y) = −(y − a(y))/‖y − a(y)‖ with a(y) the minimising centre: unit vectors, shape (n, D), in
        ``y``'s dtype. Exactly at a centre (possible for float32 samples: t^8 underflows) ∇f* is undefined and
        the zero vector is returned."""
        return -self.funnel.gradient(check_samples(y, name="y", dim=self.dim))

    def _w1_statistics(self) -> tuple[float, float]:
        if self._w1_cache is None:
            from monge.samplers import UniformCube

            gen = torch.Generator().manual_seed(self.w1_seed)
            draw = (self.source if self.custom_source
                    else UniformCube(self.dim, self.half_side, dtype=torch.float64))
            total, total_sq, n, left = 0.0, 0.0, 0, self.w1_samples
            while left > 0:
                m = min(self.funnel._rows, left)
                x = draw.sample(m, gen).to("cpu", torch.float64)
                d = (x - self.funnel.transport(x, self.degree, self.half_side)).norm(dim=1)
                total += float(d.sum())
                total_sq += float(d.square().sum())
                n += m
                left -= m
            mean = total / n
            var = max(total_sq / n - mean * mean, 0.0) * n / (n - 1)
            self._w1_cache = (mean, math.sqrt(var / n))
        return self._w1_cache

    @property
    def true_w1(self) -> float:
        """W1(P, Q) = E‖x − T(x)‖, estimated once from 100 000 float64 samples (private seed ``w1_seed``)."""
        return self._w1_statistics()[0]

    @property
    def true_w1_stderr(self) -> float:
        """Monte-Carlo standard error of :attr:`true_w1` (std of ‖x − T(x)‖ over √100 000)."""
        return self._w1_statistics()[1]

    def __repr__(self) -> str:
        return (f"FunnelPair(name={self.name!r}, dim={self.dim}, width={self.width}, degree={self.degree:g}, "
                f"half_side={self.half_side:g})")


# ---------------------------------------------------------------------------- published files
def published_file(root: Any, dim: int, width: int, *, degree: float = W1BENCH_DEGREE, seed: int = W1BENCH_SEED) -> Path:
    """``root/nd/dim_{dim}/width_{width}/deg_{degree}_seed_{seed}.pt`` (``root`` may also be ``nd/`` itself)."""
    if root is None or not isinstance(root, (str, Path)):
        raise InvalidInputError(f"root must be a path to the folder containing {FOLDER}/, got {root!r}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise InvalidInputError(f"root {root}: not a directory (expected the folder containing {FOLDER}/)")
    folder = root / FOLDER
    if not folder.is_dir() and root.name == FOLDER:
        folder = root
    return folder / f"dim_{dim}" / f"width_{width}" / f"deg_{degree:g}_seed_{seed}.pt"


def _read_state(file: Path, dim: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(centres, biases) from a published state dict, or :class:`CheckpointError` naming ``file``."""
    hint = ""
    if dim not in W1BENCH_DIMS or width not in W1BENCH_WIDTHS:
        hint = (f" (published pairs exist for D in {list(W1BENCH_DIMS)} and N in {list(W1BENCH_WIDTHS)}; "
                f"use 'funnel:{dim}:{width}' for a generated pair)")
    state = read_tensor_state(file, missing_hint=hint)
    missing = [k for k in KEYS if k not in state]
    extra = sorted(str(k) for k in state if k not in KEYS)
    if missing or extra:
        raise CheckpointError(f"{file}: expected exactly the keys {list(KEYS)}; missing {missing}, unexpected {extra}")
    centers, bias = state["net.centers"], state["net.bias"]
    if tuple(centers.shape) != (width, dim):
        raise CheckpointError(f"{file}: net.centers has shape {tuple(centers.shape)}, expected ({width}, {dim}) "
                              f"(width × dim)")
    if tuple(bias.shape) != (width,):
        raise CheckpointError(f"{file}: net.bias has shape {tuple(bias.shape)}, expected ({width},)")
    for key in KEYS:
        t = state[key]
        if not torch.is_floating_point(t):
            raise CheckpointError(f"{file}: {key} has dtype {t.dtype}, expected floating point")
        if not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"{file}: {key} holds NaN or inf")
    return centers.to(torch.float64), bias.to(torch.float64)


# ---------------------------------------------------------------------------- registry
def _parse_ints(family: str, arg: str, names: tuple[str, ...], optional: tuple[str, ...] = ()) -> list[str]:
    parts = [p.strip() for p in arg.split(":")]
    pattern = ":".join(f"<{n}>" for n in names) + "".join(f"[:<{n}>]" for n in optional)
    for name, text in zip(names, parts):
        if not text.isdigit() or int(text) <= 0:
            raise InvalidInputError(f"pair spec '{family}:{arg}': {name} must be a positive integer, got {text!r} "
                                    f"(expected '{family}:{pattern}')")
    if len(parts) < len(names):
        missing = names[len(parts)]
        raise InvalidInputError(f"pair spec '{family}:{arg}': missing <{missing}> (expected '{family}:{pattern}')")
    if len(parts) > len(names) + len(optional):
        raise InvalidInputError(f"pair spec '{family}:{arg}': too many fields (expected '{family}:{pattern}')")
    return parts


def _published_factory(arg: str, *, seed: int, dtype: torch.dtype, device: str | torch.device,
                       root: Path | None = None) -> FunnelPair:
    # ``seed`` is ignored: the published files fix the pair.
    dim, width = (int(p) for p in _parse_ints("w1b-funnel", arg, ("dim", "width")))
    if root is None:
        raise InvalidInputError(f"pair 'w1b-funnel:{arg}' loads published files: pass root= (CLI: --pair-root PATH)")
    return FunnelPair.load(root, dim, width, dtype=dtype, device=device)


def _generated_factory(arg: str, *, seed: int, dtype: torch.dtype, device: str | torch.device,
                       root: Path | None = None) -> FunnelPair:
    parts = _parse_ints("funnel", arg, ("dim", "width"), ("degree",))
    degree: float = W1BENCH_DEGREE
    if len(parts) == 3:
        try:
            degree = float(parts[2])
        except ValueError:
            raise InvalidInputError(f"pair spec 'funnel:{arg}': degree must be a number >= 1, got {parts[2]!r}") from None
        if not (math.isfinite(degree) and degree >= 1):
            raise InvalidInputError(f"pair spec 'funnel:{arg}': degree must be a number >= 1, got {parts[2]!r}")
    return FunnelPair.generate(int(parts[0]), int(parts[1]), degree=degree, seed=int(seed), dtype=dtype, device=device)


register_pair_family(
    "w1b-funnel", _published_factory, needs_root=True, placeholder="dim:width",
    description=("Published W1 MinFunnel benchmark pairs, D in 2..128 (powers of 2), N in 4, 16, 64, 256 funnels: "
                 "uniform cube [-2.5, 2.5]^D moved down a min of N cones (degree 8); known W1, optimal critic and "
                 "its gradient (Korotin, Kolesov, Burnaev, 'Kantorovich Strikes Back! Wasserstein GANs are not "
                 "Optimal Transport?', NeurIPS 2022). Files from github.com/justkolesov/Wasserstein1Benchmark, "
                 "benchmarks/nd/ (MIT licence); monge downloads nothing: pass root= the folder containing nd/."))
register_pair_family(
    "funnel", _generated_factory, placeholder="dim:width[:degree]",
    description=("Generated W1 MinFunnel pairs (any D, N, degree p, default 8): centres uniform in [-2.5, 2.5]^D, "
                 "biases 0.1*N(0,1) from the pair seed, built like the published ones (Korotin, Kolesov, Burnaev, "
                 "NeurIPS 2022)."))
