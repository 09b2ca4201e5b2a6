"""Interpolated weight optimisation and weight-space interpolation.

Objective: ``L(theta) + lam * L(alpha*theta0 + (1-alpha)*theta)`` with theta0 the frozen original weights.
The interpolated pass runs functionally (the caller's ``loss_of`` uses ``torch.func.functional_call``), so no
state dict is copied, swapped or reloaded; the extra memory is theta0 and the interpolated tensors.
"""

from __future__ import annotations

from typing import Callable, Dict, Mapping, Tuple

import torch

from ..weights import check_compatible, check_ratio

GRADIENTS = ("paper", "official")

LossOf = Callable[[Mapping[str, torch.Tensor]], torch.Tensor]


class BatchLoss:
    """The loss of given weights on one batch: called with the weights (the interpolated objective calls it twice,
    at theta and at the interpolated weights). ``parts``: the terms the objective logs beside its total, by
    ``train_log.csv`` column, detached (FROSTER's classification and distillation terms; none for the others),
    from the first call: every step evaluates theta first, and the log reports the terms at theta."""

    def __init__(self, terms: Callable[[Mapping[str, torch.Tensor]], Tuple[torch.Tensor, Dict[str, torch.Tensor]]]):
        self._terms = terms
        self.parts: Dict[str, torch.Tensor] = {}
        self._called = False

    def __call__(self, weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        total, parts = self._terms(weights)
        if not self._called:
            self.parts, self._called = parts, True
        return total


def interpolated_params(
    params: Mapping[str, torch.Tensor], theta0: Mapping[str, torch.Tensor], alpha: float, gradient: str = "paper"
) -> Dict[str, torch.Tensor]:
    """theta_alpha = alpha*theta0 + (1-alpha)*theta, differentiable with respect to ``params``.

    ``gradient="paper"``: d theta_alpha / d theta = (1-alpha) (chain rule, the paper's gradient).
    ``gradient="official"``: same values, but the gradient passes through unscaled, as the released code does
    (it evaluates the loss at theta_alpha and adds that gradient to theta's).
    """
    if gradient not in GRADIENTS:
        raise ValueError(f"gradient must be one of {GRADIENTS}, got {gradient!r}")
    alpha = check_ratio(alpha, "alpha")
    check_compatible(theta0, params, ("theta0", "params"))
    out = {}
    for key, p in params.items():
        t0 = theta0[key].to(p.dtype)
        if gradient == "paper":
            # lerp(p, t0, alpha) = p + alpha*(t0 - p): one new tensor, and its backward scales by (1 - alpha).
            out[key] = torch.lerp(p, t0, alpha)
        else:
            # Same value; the detached offset lets the gradient through unscaled.
            with torch.no_grad():
                offset = torch.lerp(p, t0, alpha).sub_(p)
            out[key] = p + offset
    return out


def interpolated_loss(
    loss_of: LossOf,
    params: Mapping[str, torch.Tensor],
    theta0: Mapping[str, torch.Tensor],
    alpha: float,
    lam: float = 0.5,
    gradient: str = "paper",
) -> torch.Tensor:
    """``loss_of(params) + lam * loss_of(theta_alpha)``, differentiable with respect to ``params``.

    Summing keeps both passes' activations alive until backward; ``interpolated_backward`` gives the same
    gradient with one pass's activations at a time.
    """
    theta_alpha = interpolated_params(params, theta0, alpha, gradient)
    return loss_of(params) + lam * loss_of(theta_alpha)


def interpolated_backward(
    loss_of: LossOf,
    params: Mapping[str, torch.Tensor],
    theta0: Mapping[str, torch.Tensor],
    alpha: float,
    lam: float = 0.5,
    gradient: str = "paper",
    scale: Callable[[torch.Tensor], torch.Tensor] = lambda x: x,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Accumulate the objective's gradient into ``params[k].grad``, backpropagating each pass in turn.

    Same gradient as ``interpolated_loss(...).backward()``, but the first pass's activations are freed before
    the second pass runs. ``scale`` wraps each loss before backward (an AMP GradScaler's ``scale``).
    Returns the two losses, detached.
    """
    loss = loss_of(params)
    scale(loss).backward()
    theta_alpha = interpolated_params(params, theta0, alpha, gradient)
    loss_alpha = loss_of(theta_alpha)
    scale(lam * loss_alpha).backward()
    return loss.detach(), loss_alpha.detach()
