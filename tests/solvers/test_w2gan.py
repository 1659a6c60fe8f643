"""W2GAN and the WGAN-GP / WGAN-LP map learners: accuracy, training contract, discriminator map, bad input."""

from __future__ import annotations

import pytest
import torch

from monge.errors import DimensionMismatchError, InvalidInputError, TrainingDiverged
from monge.metrics import discrete_w2, evaluate
from monge.nets import MLPPotential, ResidualMap, build_network
from monge.pairs import GaussianPair
from monge.samplers import Sampler, StandardNormal
from monge.solvers import W2GAN, SOLVERS, W2Result, WGANGPMap, WGANLPMap, get_solver
from monge.solvers.w2.w2gan import DisplacementMap


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
