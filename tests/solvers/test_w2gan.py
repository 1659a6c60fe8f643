"""W2GAN and the WGAN-GP / WGAN-LP map learners: accuracy, training contract, discriminator map, the paper's
options (c-equality penalty, ψ = −φ + ε, generator forms, reconstruction pre-training), bad input."""

from __future__ import annotations

import pytest
import torch

from monge.errors import DimensionMismatchError, InvalidInputError, TrainingDiverged
from monge.metrics import discrete_w2, evaluate
from monge.nets import MLPMap, MLPPotential, Potential, ResidualMap, build_network
from monge.pairs import GaussianPair
from monge.samplers import Sampler, StandardNormal
from monge.solvers import W2GAN, SOLVERS, W2Result, WGANGPMap, WGANLPMap, get_solver
from monge.solvers.w2.w2gan import MLP_PRETRAIN_STEPS, DisplacementMap, NegatedPotential


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# About 10 s per fit on one thread (paper defaults: widths 128, n_critic 20, 5000 steps of batch 512).
FAST = dict(generator_sizes=[64, 64], critic_sizes=[64, 64], n_critic=10, generator_lr=3e-4, critic_lr=1e-3)
STEPS, BATCH = 300, 128
# Measured with this budget (seed 0): L2-UVP W2GAN 80.7 %, WGAN-GP map 198 %, WGAN-LP map 66 %, identity
# 103 %; discrete W2(mapped, target) / W2(source, target): W2GAN 0.13, WGAN-GP 0.56, WGAN-LP 0.11.
W2GAN_TOL = 90.0
WGAN_W2_RATIO = 0.7


@pytest.fixture(scope="module")
def gaussian_fits():
    pair = GaussianPair(2, seed=1)
    fits = {}
    for name in ("w2gan", "wgan-gp-map", "wgan-lp-map"):
        fits[name] = get_solver(name, **FAST).fit(pair.source, pair.target, steps=STEPS, batch_size=BATCH,
                                                  generator=gen(0))
    return pair, fits


# ----------------------------------------------------------------------------------------- accuracy
def test_w2gan_improves_on_the_identity_map(gaussian_fits):
    """Measured (seed 0, 300 steps × 10 critic steps, batch 128): L2-UVP 80.7 % against 103 % for the
    identity. The adversarial generator is a rough OT solver at this budget; the tolerance is honest."""
    pair, fits = gaussian_fits
    metrics = evaluate(fits["w2gan"], pair, n=4096, generator=gen(1))
    assert metrics["l2_uvp_fwd"] < W2GAN_TOL, metrics
    assert metrics["cos_fwd"] > 0.6, metrics
    x, y = pair.source.sample(1024, gen(2)), pair.target.sample(1024, gen(3))
    assert discrete_w2(fits["w2gan"].forward(x), y) < 0.3 * discrete_w2(x, y)


@pytest.mark.parametrize("name", ["wgan-gp-map", "wgan-lp-map"])
def test_wgan_maps_push_towards_the_target_but_are_not_ot(gaussian_fits, name):
    """The W1 map learners move the source samples closer to the target (exact discrete W2 on 1024
    points). They do not aim at the OT map: WGAN-GP's is much worse than W2GAN's (198 % vs 80.7 %). At this
    small budget WGAN-LP's happens to be better (66 %), so no ordering is asserted for it."""
    pair, fits = gaussian_fits
    x, y = pair.source.sample(1024, gen(2)), pair.target.sample(1024, gen(3))
    assert discrete_w2(fits[name].forward(x), y) < WGAN_W2_RATIO * discrete_w2(x, y)
    ours = evaluate(fits[name], pair, n=4096, generator=gen(1))["l2_uvp_fwd"]
    w2gan = evaluate(fits["w2gan"], pair, n=4096, generator=gen(1))["l2_uvp_fwd"]
    if name == "wgan-gp-map":
        assert ours > 1.5 * w2gan, (ours, w2gan)
    assert not fits[name].has_inverse and isinstance(fits[name].forward_potential, ResidualMap)


# ----------------------------------------------------------------------------------------- contract
@pytest.mark.parametrize("cls", [W2GAN, WGANGPMap, WGANLPMap])
def test_every_parameter_trains(cls):
    pair = GaussianPair(2, seed=0)
    solver = cls(**cls.smoke_options)
    fresh_gen, fresh_critics = solver._build(2, torch.float32, torch.device("cpu"), gen(0))
    solver.fit(pair.source, pair.target, steps=3, batch_size=32, generator=gen(0))
    trained = solver.networks_
    assert len(trained["critics"]) == (2 if cls is W2GAN else 1)
    pairs = [(fresh_gen, trained["generator"])] + list(zip(fresh_critics, trained["critics"]))
    for fresh, net in pairs:
        for (name, p0), p1 in zip(fresh.named_parameters(), net.parameters()):
            if cls is not W2GAN and isinstance(net, MLPPotential) and name == "net.4.bias":
                # the W1 critic's output bias cancels in E D(x) − E D(G(z)) and in the gradient penalty
                assert torch.equal(p0, p1)
                continue
            assert not torch.equal(p0, p1), (type(net).__name__, name)


def test_generator_starts_at_the_identity_and_seeding_is_deterministic():
    state = torch.random.get_rng_state()
    a, _ = W2GAN(**W2GAN.smoke_options)._build(3, torch.float64, torch.device("cpu"), gen(1))
    b, _ = W2GAN(**W2GAN.smoke_options)._build(3, torch.float64, torch.device("cpu"), gen(1))
    c, _ = W2GAN(**W2GAN.smoke_options)._build(3, torch.float64, torch.device("cpu"), gen(2))
    assert torch.equal(torch.random.get_rng_state(), state)
    x = torch.randn(5, 3, generator=gen(0), dtype=torch.float64)
    assert torch.equal(a(x), x)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.net[0].weight, c.net[0].weight)


def test_history_callback_and_float64_tensors():
    pair = GaussianPair(2, seed=1, dtype=torch.float64)
    x, y = pair.source.sample(500, gen(0)), pair.target.sample(500, gen(1))
    seen = []
    result = W2GAN(**W2GAN.smoke_options).fit(x, y, steps=10, batch_size=32, generator=gen(0),
                                               callback=lambda p: seen.append(p.step) or p.step == 4)
    assert result.steps == 4 and seen == [1, 2, 3, 4]
    assert set(result.history) >= {"loss", "critic_loss", "dual", "transport_cost", "train_time_s"}
    assert result.forward(x[:3]).dtype == torch.float64
    assert result.cost_estimate == pytest.approx(sum(result.history["transport_cost"]) / 4)


# ----------------------------------------------------------------------------------------- discriminator map
def test_discriminator_map_option_and_persistence(tmp_path):
    pair = GaussianPair(2, seed=0)
    solver = W2GAN(**W2GAN.smoke_options, map="discriminator")
    result = solver.fit(pair.source, pair.target, steps=5, batch_size=32, generator=gen(0))
    assert result.settings["map"] == "discriminator"
    net = result.forward_potential
    assert isinstance(net, DisplacementMap) and net.dim == 2
    g, phi = solver.networks_["generator"], solver.networks_["critics"][0]
    assert net.base is g and net.potential is phi
    x = pair.source.sample(16, gen(1))
    gx = g(x).detach()
    expected = gx - phi.gradient(gx).detach()
    torch.testing.assert_close(result.forward(x), expected)
    # Same seed, generator map: the same generator, so the maps differ exactly by −∇φ(G(x)).
    gen_result = W2GAN(**W2GAN.smoke_options).fit(pair.source, pair.target, steps=5, batch_size=32, generator=gen(0))
    torch.testing.assert_close(gen_result.forward(x), gx)

    loaded = W2Result.load(result.save(tmp_path / "disc"))
    assert isinstance(loaded.forward_potential, DisplacementMap)
    assert torch.equal(loaded.forward(x), result.forward(x))
    assert loaded.settings == result.settings and not loaded.has_inverse


def test_displacement_map_without_base_rebuilds_from_config():
    phi = MLPPotential(3, [8], quadratic=True)  # φ = MLP + ½‖x‖²: x − ∇φ(x) = −∇MLP(x)
    net = DisplacementMap(phi)
    x = torch.randn(4, 3, generator=gen(0))
    rebuilt = build_network(net.config())
    rebuilt.load_state_dict(net.state_dict())
    assert torch.equal(rebuilt.gradient(x), net(x))
    torch.testing.assert_close(net(x), x - phi.gradient(x))
    with pytest.raises(DimensionMismatchError):
        DisplacementMap(phi, base=ResidualMap(2, [4]))


# ----------------------------------------------------------------------------------------- the paper's options
def test_option_defaults_depend_on_the_form_and_settings_rebuild_the_solver():
    plain = W2GAN().settings()
    assert (plain["equality_weight"], plain["potential_form"], plain["eps_weight"], plain["generator_form"],
            plain["generator_scale"], plain["generator_pretrain_steps"]) == (0.0, "two", None, "residual", None, 0)
    tied = W2GAN(potential_form="neg_plus_eps").settings()
    assert tied["eps_weight"] == 10.0                         # lambda_eps of the authors' image experiments
    assert W2GAN(generator_form="bounded").settings()["generator_scale"] == 2.0
    mlp = W2GAN(generator_form="mlp").settings()
    assert mlp["generator_pretrain_steps"] == MLP_PRETRAIN_STEPS == 500
    for settings in (plain, tied, mlp, W2GAN(generator_form="bounded", generator_scale=0.5, equality_weight=3.0,
                                             potential_form="neg_plus_eps", eps_weight=0.0).settings()):
        assert get_solver("w2gan", **settings).settings() == settings


class _Quadratic(Potential):
    """q(x) = ½‖x‖² − (½ xᵀMx + vᵀx + k): with f(a) = ½ aᵀAa + mᵀa (A ≻ 0), the optimal W2 dual pair of the
    map T = ∇f is φ = ½‖·‖² − f (M = A, v = m) and ψ = ½‖·‖² − f* (M = A⁻¹, v = −A⁻¹m, k = ½ mᵀA⁻¹m)."""

    def __init__(self, matrix, shift, const=0.0):
        super().__init__()
        self.dim = matrix.shape[0]
        self.matrix, self.shift, self.const = matrix, shift, const

    def forward(self, x):
        return 0.5 * x.square().sum(1) - (0.5 * ((x @ self.matrix) * x).sum(1) + x @ self.shift + self.const)


def _optimal_quadratic_pair():
    a = torch.tensor([[2.0, 0.5], [0.5, 0.7]], dtype=torch.float64)
    m = torch.tensor([1.0, -2.0], dtype=torch.float64)
    inv = torch.linalg.inv(a)
    return a, m, _Quadratic(a, m), _Quadratic(inv, -inv @ m, 0.5 * m @ inv @ m)


def test_equality_penalty_is_zero_on_the_optimal_pair_and_positive_otherwise():
    """φ + ψ = c exactly on the optimal coupling's pairs (a, T a) and (S x, x), so the c-equality penalty
    vanishes there (and the inequality penalty everywhere); shifting φ by 0.5 or taking ψ of another map
    leaves the constraint unequal on those pairs."""
    a, m, phi, psi = _optimal_quadratic_pair()
    fake = torch.randn(256, 2, generator=gen(0), dtype=torch.float64)
    real = fake @ a + m + 0.3 * torch.randn(256, 2, generator=gen(1), dtype=torch.float64)
    solver = W2GAN(equality_weight=1.0)
    assert solver._equality_violation(phi, psi, fake, real).item() < 1e-20
    assert solver._violation(phi, psi, fake, real).item() == 0.0           # feasible on every pair
    shifted = _Quadratic(a, m, const=-0.5)                                  # φ + 0.5
    assert solver._equality_violation(shifted, psi, fake, real).item() == pytest.approx(2 * 0.25)
    other = _Quadratic(torch.linalg.inv(2 * a), -torch.linalg.inv(2 * a) @ m, 0.25 * m @ torch.linalg.inv(a) @ m)
    assert solver._equality_violation(phi, other, fake, real).item() > 0.1


def test_equality_penalty_enters_the_critic_loss_with_its_weight():
    pair = GaussianPair(2, seed=0)
    fake, real = pair.source.sample(64, gen(0)), pair.target.sample(64, gen(1))
    solver = W2GAN(**W2GAN.smoke_options, equality_weight=7.0)
    _, critics = solver._build(2, torch.float32, torch.device("cpu"), gen(2))
    with_eq, _ = solver._critic_loss(critics, fake, real, gen(3))
    without, _ = W2GAN(**W2GAN.smoke_options)._critic_loss(critics, fake, real, gen(3))
    expected = 7.0 * solver._equality_violation(critics[0], critics[1], fake, real)
    assert expected.item() > 0
    torch.testing.assert_close(with_eq - without, expected)
    with_eq.backward()                                # differentiable through ∇φ, ∇ψ (double backward)
    assert all(p.grad is not None for c in critics for p in c.parameters())


def test_tied_potentials_and_their_regulariser(tmp_path):
    """potential_form="neg_plus_eps": φ = −ψ + ε, and the critic loss is −(E φ(a) + E ψ(x)) + λ_ε·E φ(a)₊²
    (reg_weight 0: no inequality penalty). Training moves ψ and ε; the discriminator map saves and loads."""
    solver = W2GAN(**W2GAN.smoke_options, potential_form="neg_plus_eps", eps_weight=3.0, reg_weight=0.0)
    _, (phi, psi) = solver._build(2, torch.float32, torch.device("cpu"), gen(0))
    assert isinstance(phi, NegatedPotential) and phi.base is psi and isinstance(phi.correction, MLPPotential)
    pair = GaussianPair(2, seed=0)
    fake, real = pair.source.sample(256, gen(1)), pair.target.sample(256, gen(2))
    with torch.no_grad():
        phi.correction.net[-1].bias.sub_(phi(fake).median())   # φ of both signs on the batch: the ₊ matters
    phi_fake = phi.correction(fake) - psi(fake)
    torch.testing.assert_close(phi(fake), phi_fake)
    assert (phi_fake > 0).any() and (phi_fake < 0).any()
    loss, dual = solver._critic_loss([phi, psi], fake, real, gen(3))
    expected = -(phi_fake.mean() + psi(real).mean()) + 3.0 * torch.relu(phi_fake).square().mean()
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(dual, (phi_fake.mean() + psi(real).mean()).detach())

    solver = W2GAN(**W2GAN.smoke_options, potential_form="neg_plus_eps", map="discriminator")
    fresh_phi = solver._build(2, torch.float32, torch.device("cpu"), gen(0))[1][0]
    result = solver.fit(pair.source, pair.target, steps=5, batch_size=32, generator=gen(0))
    phi = solver.networks_["critics"][0]
    assert phi.base is solver.networks_["critics"][1]
    for (name, p0), p1 in zip(fresh_phi.named_parameters(), phi.parameters()):
        assert not torch.equal(p0, p1), name
    loaded = W2Result.load(result.save(tmp_path / "tied"))
    x = pair.source.sample(16, gen(4))
    assert isinstance(loaded.forward_potential.potential, NegatedPotential)
    assert torch.equal(loaded.forward(x), result.forward(x))


def test_bounded_generator_is_the_identity_at_zero_residual_and_moves_at_most_s():
    solver = W2GAN(**W2GAN.smoke_options, generator_form="bounded", generator_scale=0.75)
    g, _ = solver._build(3, torch.float64, torch.device("cpu"), gen(0))
    assert isinstance(g, ResidualMap) and g.bound == 0.75
    x = 3 * torch.randn(512, 3, generator=gen(1), dtype=torch.float64)
    assert torch.equal(g(x), x)
    with torch.no_grad():
        g.net[-1].weight.copy_(100 * torch.randn(g.net[-1].weight.shape, generator=gen(2), dtype=torch.float64))
    displacement = (g(x) - x).abs()
    # saturates at s, never past it (up to the rounding of (x + r) − x)
    assert 0.74 < displacement.max().item() <= 0.75 + 1e-12
    rebuilt = build_network(g.config()).to(torch.float64)
    rebuilt.load_state_dict(g.state_dict())
    assert rebuilt.bound == 0.75 and torch.equal(rebuilt(x), g(x))


def test_reconstruction_pretraining_brings_a_plain_mlp_generator_to_the_identity():
    """Measured (GaussianPair(2, seed=1) source, E‖z‖² ≈ 4.1, default widths 128-128-128, batch 128): held-out
    E‖G(z) − z‖² is 4.1 before and 4.5e-5 after the default 500 steps (3.0e-4 at widths 64-64)."""
    pair = GaussianPair(2, seed=1)
    z = pair.source.sample(4096, gen(9))
    solver = W2GAN(generator_form="mlp", critic_sizes=[8])
    g, _ = solver._build(2, torch.float32, torch.device("cpu"), gen(0))
    assert isinstance(g, MLPMap) and solver.generator_pretrain_steps == 500
    with torch.no_grad():
        assert (g(z) - z).square().sum(1).mean().item() > 1.0
    last = solver._pretrain_generator(g, pair.source, 128, gen(0))
    with torch.no_grad():
        held_out = (g(z) - z).square().sum(1).mean().item()
    assert held_out < 1e-3 and last < 1e-3, (held_out, last)
    # In fit: pre-training runs before the first step and its last loss is in the history (widths 16-16,
    # 300 steps: 0.14, from about 4).
    fit = W2GAN(**W2GAN.smoke_options, generator_form="mlp", generator_pretrain_steps=300)
    result = fit.fit(pair.source, pair.target, steps=2, batch_size=64, generator=gen(0))
    assert result.history["pretrain_mse"][0] < 0.5
    assert "pretrain_mse" not in W2GAN(**W2GAN.smoke_options).fit(
        pair.source, pair.target, steps=2, batch_size=64, generator=gen(0)).history


# Measured (seed 0, the FAST budget above, GaussianPair(2, seed=1); identity 103 %, default W2GAN 80.7 %):
# L2-UVP / discrete-W2 ratio: equality_weight 10: 72.2 % / 0.19; neg_plus_eps: 66.7 % / 0.09; bounded: 65.8 % / 0.34;
# mlp: 69.9 % / 0.10 (seeds 1, 2: 56–73 %). The bounded generator stays further from the target (W2 ratio about
# 0.34 also with s = 8): with s = 2 a third of the points need a coordinate displacement above 2 on this pair.
# equality_weight = reg_weight = 200 (the code's λ_eq default) made the map worse than the identity (442 %).
OPTION_CASES = {
    "equality": {"equality_weight": 10.0},
    "neg_plus_eps": {"potential_form": "neg_plus_eps"},
    "bounded": {"generator_form": "bounded"},
    "mlp": {"generator_form": "mlp"},
}


@pytest.mark.parametrize("case", sorted(OPTION_CASES))
def test_each_paper_option_still_improves_on_the_identity_map(case):
    pair = GaussianPair(2, seed=1)
    result = W2GAN(**FAST, **OPTION_CASES[case]).fit(pair.source, pair.target, steps=STEPS, batch_size=BATCH,
                                                      generator=gen(0))
    metrics = evaluate(result, pair, n=4096, generator=gen(1))
    assert metrics["l2_uvp_fwd"] < W2GAN_TOL, metrics
    x, y = pair.source.sample(1024, gen(2)), pair.target.sample(1024, gen(3))
    assert discrete_w2(result.forward(x), y) < 0.5 * discrete_w2(x, y)


# ----------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(("name", "options", "match"), [
    ("w2gan", {"map": "critic"}, "map must be one of"),
    ("w2gan", {"n_critic": 0}, "n_critic must be"),
    ("w2gan", {"reg_weight": -1.0}, "reg_weight must be"),
    ("w2gan", {"interpolation_penalty": "yes"}, "interpolation_penalty"),
    ("w2gan", {"generator_lr": 0.0}, "generator_lr must be"),
    ("w2gan", {"critic_lr": float("nan")}, "critic_lr must be"),
    ("w2gan", {"betas": (0.5, 1.5)}, "betas must be"),
    ("w2gan", {"activation": "swish"}, "activation must be"),
    ("w2gan", {"generator_sizes": []}, "generator_sizes must be"),
    ("wgan-gp-map", {"critic_sizes": [0, 4]}, "critic_sizes must be"),
    ("wgan-gp-map", {"penalty_weight": float("inf")}, "penalty_weight must be"),
    ("wgan-lp-map", {"n_critic": 2.5}, "n_critic must be"),
    ("wgan-lp-map", {"reg_weight": 1.0}, "has no option .reg_weight.; did you mean .penalty_weight."),
    ("wgan-gp-map", {"map": "generator"}, "has no option .map."),
    ("w2gan", {"equality_weight": -1.0}, "equality_weight must be a finite number >= 0"),
    ("w2gan", {"equality_weight": float("nan")}, "equality_weight must be"),
    ("w2gan", {"potential_form": "tied"}, "potential_form must be one of"),
    ("w2gan", {"potential_form": "neg_plus_eps", "eps_weight": -0.5}, "eps_weight must be a finite number >= 0"),
    ("w2gan", {"eps_weight": 1.0}, "eps_weight applies only with potential_form='neg_plus_eps'"),
    ("w2gan", {"generator_form": "tanh"}, "generator_form must be one of"),
    ("w2gan", {"generator_form": "bounded", "generator_scale": 0.0}, "generator_scale must be a finite number > 0"),
    ("w2gan", {"generator_scale": 2.0}, "generator_scale applies only with generator_form='bounded'"),
    ("w2gan", {"generator_pretrain_steps": -1}, "generator_pretrain_steps must be an integer >= 0"),
    ("w2gan", {"generator_pretrain_steps": 2.5}, "generator_pretrain_steps must be"),
])
def test_bad_options_are_named(name, options, match):
    with pytest.raises(InvalidInputError, match=match):
        get_solver(name, **options)


def test_bad_fit_input():
    solver = W2GAN(**W2GAN.smoke_options)
    with pytest.raises(DimensionMismatchError):
        solver.fit(StandardNormal(2), StandardNormal(3), steps=2, batch_size=8)
    with pytest.raises(InvalidInputError, match="steps"):
        solver.fit(StandardNormal(2), StandardNormal(2), steps=0, batch_size=8)
    with pytest.raises(InvalidInputError, match="source"):
        solver.fit(torch.full((4, 2), float("nan")), StandardNormal(2), steps=2, batch_size=8)


class _PoisonedSampler(Sampler):
    """Standard normal that returns NaN from its ``bad_call``-th draw on."""

    def __init__(self, dim, bad_call):
        self.dim, self.dtype, self.device = dim, torch.float32, torch.device("cpu")
        self.calls, self.bad_call = 0, bad_call

    def sample(self, n, generator=None):
        # Sampler.sample refuses non-finite samples (monge.errors.NonFiniteError); this test needs the NaN to reach
        # the training loss, as a numerical accident inside a step would.
        return self._sample(n, generator)

    def _sample(self, n, generator):
        self.calls += 1
        out = torch.randn(n, self.dim, generator=generator)
        return out * float("nan") if self.calls >= self.bad_call else out


@pytest.mark.parametrize("name", ["w2gan", "wgan-gp-map"])
def test_divergence_keeps_last_finite_parameters(name):
    solver = get_solver(name, **SOLVERS[name].smoke_options)  # n_critic = 2: 3 source draws per step
    # Call 1 is the divergence guard's probe; step 2's draws hold NaN and so does every later one.
    with pytest.warns(RuntimeWarning, match="diverged at step 2"), \
            pytest.raises(TrainingDiverged, match="did not help") as info:
        solver.fit(_PoisonedSampler(2, bad_call=8), StandardNormal(2), steps=20, batch_size=16, generator=gen(0))
    result = info.value.result
    assert result.steps == 0 and len(result.history["divergence_recoveries"]) == 3
    assert all(torch.isfinite(p).all() for p in result.forward_potential.parameters())
