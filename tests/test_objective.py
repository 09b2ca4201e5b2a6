"""The interpolated objective's gradient, weight-space interpolation, and their errors."""

import pytest
import torch
import torch.nn.functional as F

from openvclip.models import enable_temporal_attention, encode_video, video_logits, vision_parameters
from openvclip.train import interpolated_backward, interpolated_loss, interpolated_params
from openvclip.train.objective import BatchLoss
from openvclip.weights import interpolate

from .conftest import make_clip

ALPHA, LAM = 0.37, 0.5


def setup_problem(seed=0):
    model = enable_temporal_attention(make_clip(seed=seed)).train()
    params = vision_parameters(model)
    generator = torch.Generator().manual_seed(seed + 10)
    # theta0 differs from theta (as after some training), so the two passes really differ.
    theta0 = {k: (v.detach() + 0.02 * torch.randn(v.shape, generator=generator)) for k, v in params.items()}
    video = torch.randn(3, 3, 3, 32, 32, generator=generator)
    labels = torch.tensor([0, 2, 1])
    classifier = F.normalize(torch.randn(32, 3, generator=generator), dim=0)

    def loss_of(p):
        logits = video_logits(encode_video(model, video, params=p), classifier, model.logit_scale.detach())
        return F.cross_entropy(logits, labels)

    return model, params, theta0, loss_of


def grad_at(loss_of, point):
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in point.items()}
    loss_of(leaves).backward()
    return {k: v.grad for k, v in leaves.items()}


@pytest.mark.parametrize("gradient,factor", [("paper", 1 - ALPHA), ("official", 1.0)])
def test_gradient_equals_hand_computed(gradient, factor):
    _, params, theta0, loss_of = setup_problem()
    theta0_before = {k: v.clone() for k, v in theta0.items()}
    interpolated_loss(loss_of, params, theta0, ALPHA, LAM, gradient).backward()
    g_theta = grad_at(loss_of, params)
    g_alpha = grad_at(loss_of, {k: ALPHA * theta0[k] + (1 - ALPHA) * params[k].detach() for k in params})
    for key, p in params.items():
        expected = g_theta[key] + LAM * factor * g_alpha[key]
        assert (p.grad - expected).abs().max().item() < 1e-5, key
    for key in theta0:
        assert torch.equal(theta0[key], theta0_before[key]) and theta0[key].grad is None


def test_paper_and_official_gradients_differ():
    grads = []
    for gradient in ("paper", "official"):
        _, params, theta0, loss_of = setup_problem()
        interpolated_loss(loss_of, params, theta0, ALPHA, LAM, gradient).backward()
        grads.append(params["visual.conv1.weight"].grad.clone())
    assert (grads[0] - grads[1]).abs().max().item() > 1e-6


def test_loss_value_is_sum_of_the_two_losses():
    _, params, theta0, loss_of = setup_problem()
    with torch.no_grad():
        expected = loss_of(params) + LAM * loss_of({k: ALPHA * theta0[k] + (1 - ALPHA) * params[k] for k in params})
        got = interpolated_loss(loss_of, params, theta0, ALPHA, LAM)
    assert abs(got.item() - expected.item()) < 1e-6


@pytest.mark.parametrize("gradient", ["paper", "official"])
def test_backward_pass_by_pass_equals_summed_loss(gradient):
    _, params_a, theta0, loss_of_a = setup_problem()
    interpolated_loss(loss_of_a, params_a, theta0, ALPHA, LAM, gradient).backward()
    _, params_b, _, loss_of_b = setup_problem()
    interpolated_backward(loss_of_b, params_b, theta0, ALPHA, LAM, gradient)
    for key in params_a:
        assert torch.allclose(params_a[key].grad, params_b[key].grad, atol=1e-6), key


def test_interpolated_params_values_and_alpha_range():
    params = {"w": torch.tensor([1.0, 2.0], requires_grad=True)}
    theta0 = {"w": torch.tensor([3.0, -2.0])}
    for gradient in ("paper", "official"):
        out = interpolated_params(params, theta0, 0.25, gradient)
        assert torch.allclose(out["w"], torch.tensor([1.5, 1.0]))
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\], got 1.5"):
        interpolated_params(params, theta0, 1.5)
    with pytest.raises(ValueError, match="gradient must be one of"):
        interpolated_params(params, theta0, 0.5, gradient="chain")


def test_interpolate_ends_are_exact_and_middle_is_the_mix():
    generator = torch.Generator().manual_seed(0)
    theta0 = {
        "a": torch.randn(4, 5, generator=generator),
        "b": torch.randn(3, generator=generator),
        "n": torch.tensor(7),
    }
    theta = {
        "a": torch.randn(4, 5, generator=generator),
        "b": torch.randn(3, generator=generator),
        "n": torch.tensor(9),
    }
    at0, at1 = interpolate(theta0, theta, 0.0), interpolate(theta0, theta, 1)
    for key in theta:
        assert torch.equal(at0[key], theta[key]) and torch.equal(at1[key], theta0[key])
    mid = interpolate(theta0, theta, 0.3)
    assert torch.allclose(mid["a"], 0.3 * theta0["a"] + 0.7 * theta["a"])
    assert mid["n"].item() == 9  # counters are not averaged
    half = interpolate({"w": torch.ones(2, dtype=torch.float16)}, {"w": torch.zeros(2, dtype=torch.float16)}, 0.5)
    assert half["w"].dtype == torch.float16 and torch.equal(half["w"], torch.full((2,), 0.5, dtype=torch.float16))


def test_interpolate_state_dicts_of_real_models_key_by_key():
    a, b = make_clip(seed=1), make_clip(seed=2)
    mixed = interpolate(a.state_dict(), b.state_dict(), 0.5)
    assert list(mixed) == list(b.state_dict())
    model = make_clip(seed=3)
    model.load_state_dict(mixed)
    key = "visual.transformer.resblocks.0.attn.in_proj_weight"
    assert torch.allclose(model.state_dict()[key], (a.state_dict()[key] + b.state_dict()[key]) / 2)


def test_interpolate_rejects_bad_input():
    theta0 = {"a": torch.zeros(2), "b": torch.zeros(2)}
    with pytest.raises(ValueError, match=r"different keys: only in theta0: \['b'\].*only in theta: \['c'\]"):
        interpolate(theta0, {"a": torch.zeros(2), "c": torch.zeros(2)}, 0.5)
    with pytest.raises(ValueError, match=r"shape of 'a': theta0 has \(2,\), theta has \(3,\)"):
        interpolate(theta0, {"a": torch.zeros(3), "b": torch.zeros(2)}, 0.5)
    for ratio in (-0.1, 1.01):
        with pytest.raises(ValueError, match=r"ratio must be in \[0, 1\]"):
            interpolate(theta0, theta0, ratio)


def test_the_logged_terms_of_an_interpolated_step_are_those_at_theta():
    # An objective that logs terms (FROSTER's) and interpolates: its second pass, at theta_alpha, must not
    # overwrite what train_log.csv reports for the step.
    params = {"w": torch.tensor([2.0], requires_grad=True)}
    theta0 = {"w": torch.tensor([0.0])}
    loss_of = BatchLoss(lambda weights: (weights["w"].sum() ** 2, {"loss": weights["w"].detach().sum() * 10}))
    loss, loss_alpha = interpolated_backward(loss_of, params, theta0, alpha=0.5, lam=0.5)
    assert loss.item() == 4.0 and loss_alpha.item() == 1.0
    assert loss_of.parts["loss"].item() == 20.0  # theta's term (w = 2), not theta_alpha's (w = 1)
