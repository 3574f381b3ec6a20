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


def matrix_inverse_root(a: torch.Tensor, p: float, *, eps: float = 0.0, compute_dtype=torch.float64,
                        pinv_atol: float | None = None, pinv_rtol: float | None = None) -> torch.Tensor:
    r"""Inverse p-th root :math:`A^{-1/p}` of a symmetric PSD matrix by eigendecomposition.

    :math:`A = Q \Lambda Q^\top \Rightarrow A^{-1/p} = Q\,\max(\Lambda, \varepsilon)^{-1/p} Q^\top`,
    computed in ``compute_dtype`` (float64 by default: float32 ``eigh`` is unstable for
    ill-conditioned factors) and returned in ``a``'s dtype. Works on a batch ``(..., d, d)``.

    Pseudo-inverse root: when ``pinv_atol`` or ``pinv_rtol`` is given, eigenvalues
    :math:`\lambda_i \le \text{atol} + \text{rtol}\cdot\lambda_{\max}` are treated as exact zeros
    and get :math:`0` instead of :math:`\lambda_i^{-1/p}` (Moore–Penrose semantics: the root acts
    only on the numerical range of ``a``).
    """
    work = a.to(compute_dtype)
    work = 0.5 * (work + work.transpose(-1, -2))
    evals, evecs = torch.linalg.eigh(work)
    floor = eps if eps > 0 else torch.finfo(compute_dtype).tiny
    inv_root = evals.clamp_min(floor).pow(-1.0 / p)
    if pinv_atol is not None or pinv_rtol is not None:
        lam_max = evals[..., -1:].clamp_min(0.0)
        cutoff = (pinv_atol or 0.0) + (pinv_rtol or 0.0) * lam_max
        inv_root = torch.where(evals > cutoff, inv_root, torch.zeros_like(inv_root))
    root = (evecs * inv_root.unsqueeze(-2)) @ evecs.transpose(-1, -2)
    return root.to(a.dtype)


# -- fused float / tensor-hyperparameter arithmetic (torch's rounding for plain numbers) --------
def _plus_scaled(x: torch.Tensor, y: torch.Tensor, a) -> torch.Tensor:
    """New tensor ``x + a·y``."""
    return x + a * y if isinstance(a, torch.Tensor) else x.add(y, alpha=a)


def _add_scaled_(x: torch.Tensor, y: torch.Tensor, a) -> torch.Tensor:
    """In place ``x ← x + a·y``."""
    return x.add_(a * y) if isinstance(a, torch.Tensor) else x.add_(y, alpha=a)
