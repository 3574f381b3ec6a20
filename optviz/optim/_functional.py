"""Small pure pieces shared by several methods (written once, as in optax).

* :func:`adam_moments_` — the moment update shared by Adam, AdamW, ALSO and Shampoo's grafting;
* :func:`adam_direction` — the bias-corrected Adam direction;
* :func:`kl_mirror_step` — the KL-prox (mirror) step on the simplex shared by ALSO,
  Optimistic Mirror-Prox and the matrix-game solvers;
* :func:`matrix_inverse_root` — ``A^{-1/p}`` of a symmetric PSD matrix, used by Shampoo.

Hyperparameters may be Python floats or tensors broadcastable to the parameter (a grid of runs).
"""

from __future__ import annotations

import torch

__all__ = ["adam_moments_", "adam_direction", "kl_mirror_step", "matrix_inverse_root"]


def adam_moments_(m: torch.Tensor, v: torch.Tensor, g: torch.Tensor, beta1, beta2) -> None:
    r"""In place: :math:`m \leftarrow \beta_1 m + (1-\beta_1) g,\; v \leftarrow \beta_2 v + (1-\beta_2) g^2`."""
    if isinstance(beta1, torch.Tensor):
        m.mul_(beta1).add_(g * (1 - beta1))
    else:
        m.lerp_(g, 1 - beta1)
    if isinstance(beta2, torch.Tensor):
        v.mul_(beta2).add_(g * g * (1 - beta2))
    else:
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)


def adam_direction(m: torch.Tensor, v: torch.Tensor, step: int, beta1, beta2, eps, *, bias_correction: bool = True):
    r"""Bias-corrected Adam direction :math:`\hat m / (\sqrt{\hat v} + \varepsilon)`.

    With :math:`\hat m = m/(1-\beta_1^t)` and :math:`\sqrt{\hat v} = \sqrt{v}/\sqrt{1-\beta_2^t}`
    (ε is added *after* bias-correcting :math:`\sqrt v`, torch's semantics).
    """
    if not bias_correction:
        return m / (v.sqrt() + eps)
    bc1 = 1 - beta1**step
    bc2_sqrt = (1 - beta2**step) ** 0.5
    return (m / bc1) / (v.sqrt() / bc2_sqrt + eps)


def kl_mirror_step(pi: torch.Tensor, h: torch.Tensor, lr, *, decay=0.0, prior: torch.Tensor | None = None,
                   temperature=1.0, eps=0.0) -> torch.Tensor:
    r"""KL-prox step on the simplex (entropic mirror descent with a KL pull towards a prior).

    .. math::
        \mathrm{MD}(\pi, h) = \operatorname{softmax}\Big(
            \frac{\log(\pi + \varepsilon) + \eta\tau \log\hat\pi - \eta h}{(1 + \eta\tau)\,T}\Big)

    with :math:`\eta` = ``lr``, :math:`\tau` = ``decay``, :math:`T` = ``temperature`` and
    :math:`\hat\pi` = ``prior``. ``h`` is the signal to *descend*: for maximisation over π pass
    the negated gain (ALSO passes :math:`h_g = -s\sum_{i\in g}\ell_i`). With ``decay = 0`` this
    is plain multiplicative weights :math:`\pi_g \propto \pi_g e^{-\eta h_g}`.
    Works on the last dimension, so a batch of simplices is handled at once.
    """
    logits = torch.log(pi + eps) - lr * h
    if prior is not None and decay != 0:
        logits = logits + lr * decay * torch.log(prior)
    logits = logits / ((1 + lr * decay) * temperature)
    return torch.softmax(logits, dim=-1)


def matrix_inverse_root(a: torch.Tensor, p: float, *, eps: float = 0.0, compute_dtype=torch.float64) -> torch.Tensor:
    r"""Inverse p-th root :math:`A^{-1/p}` of a symmetric PSD matrix by eigendecomposition.

    :math:`A = Q \Lambda Q^\top \Rightarrow A^{-1/p} = Q\,\max(\Lambda, \varepsilon)^{-1/p} Q^\top`,
    computed in ``compute_dtype`` (float64 by default: float32 ``eigh`` is unstable for
    ill-conditioned factors) and returned in ``a``'s dtype.
    """
    work = a.to(compute_dtype)
    work = 0.5 * (work + work.transpose(-1, -2))
    evals, evecs = torch.linalg.eigh(work)
    floor = eps if eps > 0 else torch.finfo(compute_dtype).tiny
    evals = evals.clamp_min(floor)
    root = (evecs * evals.pow(-1.0 / p).unsqueeze(-2)) @ evecs.transpose(-1, -2)
    return root.to(a.dtype)
