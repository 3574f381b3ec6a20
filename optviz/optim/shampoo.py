r"""Shampoo: Kronecker-factored full-matrix AdaGrad (Gupta, Koren, Singer 2018; Anil et al. 2020).

For a weight matrix :math:`W \in \mathbb{R}^{m\times n}` with gradient :math:`G_t` Shampoo keeps two
small statistics instead of AdaGrad's :math:`mn \times mn` matrix,

.. math::
    L_t = \beta_2 L_{t-1} + G_t G_t^\top, \qquad R_t = \beta_2 R_{t-1} + G_t^\top G_t,
    \qquad W_{t+1} = W_t - \eta\, L_t^{-1/4}\, G_t\, R_t^{-1/4},

because :math:`L_t^{1/2} \otimes R_t^{1/2}` approximates the full-matrix AdaGrad statistic
:math:`\sum_s \operatorname{vec}(G_s)\operatorname{vec}(G_s)^\top`. An order-:math:`k` tensor gets one
factor per mode and the exponent :math:`-1/(2k)`; a vector is full-matrix AdaGrad (:math:`-1/2`).

**Muon.** Without accumulation (:math:`L = GG^\top`, :math:`R = G^\top G`) and with
:math:`G = U\Sigma V^\top`, the Shampoo direction is
:math:`(U\Sigma^2U^\top)^{-1/4}\,U\Sigma V^\top (V\Sigma^2V^\top)^{-1/4} = UV^\top`: the
orthogonalised gradient. Muon computes an approximation of :math:`UV^\top` of the (momentum)
gradient by a quintic Newton–Schulz iteration, with no eigendecomposition. Muon ships with PyTorch
as :class:`torch.optim.Muon` (torch ≥ 2.9) and optviz re-exports it as ``optviz.optim.Muon``;
we use it rather than rewrite it. ``Shampoo(params, betas=(0, 0))`` reproduces the exact
:math:`UV^\top` step for comparison.
"""

from __future__ import annotations

import torch

from .._checks import check_betas, check_choice, check_int, check_range
from ._base import Optimizer
from ._functional import adam_direction, adam_moments_, matrix_inverse_root
from .sgd import _is_zero

__all__ = ["Shampoo", "GRAFTING_CHOICES"]

GRAFTING_CHOICES = (None, "adagrad", "adam")
_DEFAULT_GRAFT_EPS = {"adagrad": 1e-10, "adam": 1e-8}  # torch.optim.Adagrad / Adam defaults


class Shampoo(Optimizer):
    r"""Shampoo with grafting, a preconditioner refresh period and a diagonal fallback for huge modes.

    Step :math:`t` on a parameter :math:`X` whose gradient :math:`G_t` has order :math:`k`
    (dimensions of size 1 are dropped; a scalar counts as a vector of length 1):

    .. math::
        G_t &\leftarrow \nabla f(X_t) + \lambda X_t \\
        L^{(i)}_t &= \beta_2 L^{(i)}_{t-1} + G_{t,(i)} G_{t,(i)}^\top, \quad
            L^{(i)}_0 = \varepsilon I \qquad (i = 1, \dots, k) \\
        M_t &= \beta_1 M_{t-1} + (1 - \beta_1) G_t, \qquad \hat M_t = M_t / (1 - \beta_1^t) \\
        P^{\text{sh}}_t &= \hat M_t \times_1 \big(L^{(1)}\big)^{-1/(2k)} \times_2 \cdots
            \times_k \big(L^{(k)}\big)^{-1/(2k)} \\
        P_t &= \begin{cases}
            P^{\text{graft}}_t & t < t_0 \\
            \dfrac{\|P^{\text{graft}}_t\|}{\|P^{\text{sh}}_t\|}\, P^{\text{sh}}_t & t \ge t_0,
                \text{ grafting on} \\
            P^{\text{sh}}_t & \text{no grafting}
        \end{cases} \\
        X_{t+1} &= X_t - \eta\, P_t

    Here :math:`G_{(i)}` is the mode-:math:`i` unfolding (the mode-:math:`i` fibres as columns),
    :math:`\times_i` the mode-:math:`i` product, :math:`t_0` = ``start_preconditioning_step``.
    For a matrix this is :math:`L^{-1/4}\hat M R^{-1/4}`; for a vector, full-matrix AdaGrad
    :math:`L^{-1/2}\hat M`.

    Semantics, precisely:

    * ``betas = (β₁, β₂)``. β₂ weights the statistics: β₂ = 1 gives plain sums (original Shampoo),
      β₂ < 1 an exponential average without the lecture's :math:`(1-\beta_2)` factor (that factor
      only rescales the step by :math:`(1-\beta_2)^{-1/2}`), β₂ = 0 keeps only the current gradient
      (then the first step is the Muon direction :math:`UV^\top`). β₁ is momentum on the
      *gradient* (a bias-corrected EMA, as Adam's first moment); the statistics always use the raw
      :math:`G_t`, and β₁ = 0 disables momentum. The same :math:`\hat M_t` feeds the graft.
    * ``weight_decay`` λ is L2 regularisation added to the gradient (coupled, as in
      ``torch.optim.Adagrad``/``Adam``), so it also enters the statistics.
    * Inverse roots come from :func:`~optviz.optim._functional.matrix_inverse_root` (``eigh`` in
      float64) and are recomputed at steps :math:`t = t_0, t_0 + F, t_0 + 2F, \dots` with
      :math:`F` = ``precondition_frequency``; in between the cached roots in the state are used.
      Statistics are updated at every step, also before :math:`t_0`.
    * Pseudo-inverse roots. Eigenvalues at the ε floor — :math:`\lambda \le \beta_2^t\varepsilon
      + d\,u\,\lambda_{\max}` with :math:`\beta_2^t\varepsilon` the part of the initial
      :math:`\varepsilon I` still in the factor, :math:`d` its size and :math:`u` the unit roundoff
      of the factor's dtype — get inverse root 0 instead of :math:`\lambda^{-1/(2k)}`. Their
      eigenvectors are orthogonal to every gradient accumulated, the current one included, so in
      exact arithmetic nothing changes; in floating point it stops roundoff along them from being
      amplified by up to :math:`\varepsilon^{-1/(2k)}`, and it keeps the rank-deficient case exact
      (e.g. a 3×2 gradient: :math:`GG^\top` has rank 2, the step is still :math:`UV^\top`).
      With stale roots (``precondition_frequency > 1``) a newly excited direction is not moved
      along until the next refresh — instead of being multiplied by :math:`\varepsilon^{-1/(2k)}`.
    * ``max_preconditioner_dim``: a mode of size :math:`d_i` larger than it keeps only the diagonal
      of its factor, :math:`D^{(i)}_t = \beta_2 D^{(i)}_{t-1} + \operatorname{diag}(G_{(i)}
      G_{(i)}^\top)` (the squared norms of the mode-:math:`i` slices, :math:`D^{(i)}_0 =
      \varepsilon\mathbf 1`), and scales slice :math:`j` by :math:`(D^{(i)}_j)^{-1/(2k)}` (0 where
      :math:`D^{(i)}_j = 0`). The exponent stays :math:`-1/(2k)`; a vector longer than the limit is
      therefore diagonal AdaGrad :math:`\hat M/\sqrt{\varepsilon + \sum_s G_s^2}`.
    * ``grafting``: ``"adagrad"`` is :math:`P^{\text{graft}} = \hat M/(\sqrt{S_t} + \varepsilon_g)`,
      :math:`S_t = S_{t-1} + G_t^2` (``torch.optim.Adagrad`` when β₁ = 0); ``"adam"`` is
      :math:`\hat M/(\sqrt{\hat V_t} + \varepsilon_g)` with :math:`V_t = \beta_g V_{t-1} +
      (1-\beta_g)G_t^2` (``torch.optim.Adam(betas=(β₁, β_g), eps=ε_g)``), β_g = ``graft_beta2``,
      ε_g = ``graft_eps`` (default: torch's 1e-10 for AdaGrad, 1e-8 for Adam). Norms are Frobenius
      norms per parameter (per run when ``batch_dims > 0``); a zero Shampoo direction stays zero.
      Without grafting ``start_preconditioning_step`` must be 1 (there is nothing to step with
      before it), otherwise ``ValueError``. A scalar parameter needs no special case: as a
      1-vector its grafted step *is* the graft step, and without grafting it is diagonal AdaGrad.
    * dtype and device: statistics and cached roots are kept in the parameter's dtype and device
      (float32 parameters accumulate in float32, so ``state_dict`` round-trips exactly); the roots
      themselves are always computed in float64.
    * ``batch_dims`` (keyword): the first ``batch_dims`` dimensions of every parameter index
      independent runs (a grid of 2-D toy points has shape ``(runs, 2)`` and ``batch_dims=1``): each
      run gets its own factors, roots and graft norm. ``lr`` and ``weight_decay`` may then be
      tensors broadcastable to the parameter; the other hyperparameters are numbers.
    """

    def __init__(self, params, lr=1e-2, betas=(0.9, 1.0), eps=1e-12, weight_decay=0.0,
                 precondition_frequency=1, start_preconditioning_step=1, grafting=None,
                 max_preconditioner_dim=1024, *, graft_beta2=0.999, graft_eps=None, batch_dims=0,
                 nonfinite="raise"):
        check_range("lr", lr, 0.0)
        check_betas(betas, beta2_closed=True)
        beta1, beta2 = (_number(f"betas[{i}]", b) for i, b in enumerate(betas))
        eps = check_range("eps", _number("eps", eps), 0.0, low_open=True)
        check_range("weight_decay", weight_decay, 0.0)
        check_int("precondition_frequency", precondition_frequency, 1)
        check_int("start_preconditioning_step", start_preconditioning_step, 1)
        check_choice("grafting", grafting, GRAFTING_CHOICES)
        check_int("max_preconditioner_dim", max_preconditioner_dim, 1)
        graft_beta2 = _number("graft_beta2", graft_beta2)
        check_range("graft_beta2", graft_beta2, 0.0, 1.0, high_open=True)
        if graft_eps is None:
            graft_eps = _DEFAULT_GRAFT_EPS.get(grafting, 1e-10)
        graft_eps = check_range("graft_eps", _number("graft_eps", graft_eps), 0.0, low_open=True)
        check_int("batch_dims", batch_dims, 0)
        if grafting is None and start_preconditioning_step > 1:
            raise ValueError(
                "Параметр start_preconditioning_step > 1 требует графтинга (grafting='adagrad' "
                f"или 'adam'): до начала предобуславливания шаг делает метод графтинга. Получено "
                f"start_preconditioning_step={start_preconditioning_step}, grafting=None."
            )
        defaults = dict(lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay,
                        precondition_frequency=precondition_frequency,
                        start_preconditioning_step=start_preconditioning_step, grafting=grafting,
                        max_preconditioner_dim=max_preconditioner_dim, graft_beta2=graft_beta2,
                        graft_eps=graft_eps, batch_dims=batch_dims)
        super().__init__(params, defaults, nonfinite=nonfinite)

    # -- one step -------------------------------------------------------------------------------
    def _update_group(self, group):
        lr, wd = group["lr"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        eps, nb = group["eps"], group["batch_dims"]
        graft, t0 = group["grafting"], group["start_preconditioning_step"]
        freq = group["precondition_frequency"]
        for p in self._params_with_grad(group):
            g = p.grad
            if not _is_zero(wd):
                g = g + wd * p
            state = self.state[p]
            if not state:
                self._init_state(p, state, group)
            state["step"] += 1
            t = state["step"]
            G = g.reshape(_work_shape(p, nb))  # size-1 dims dropped, batch dims first
            k = G.dim() - nb

            # statistics: L_i <- beta2 L_i + G_(i) G_(i)^T (or its diagonal for a huge mode)
            for i, factor in enumerate(state["factors"]):
                factor.mul_(beta2).add_(_mode_gram(G, i, nb, diagonal=factor.dim() == nb + 1))

            # first moment (momentum on the gradient) and the grafted direction
            if graft == "adam":
                m, v = state["exp_avg"], state["exp_avg_sq"]
                adam_moments_(m, v, g, beta1, group["graft_beta2"])
                graft_dir = adam_direction(m, v, t, beta1, group["graft_beta2"], group["graft_eps"])
                m_hat = m / (1 - beta1**t)
            else:
                if beta1 > 0:
                    m = state["exp_avg"]
                    m.lerp_(g, 1 - beta1)
                    m_hat = m / (1 - beta1**t)
                else:
                    m_hat = g
                if graft == "adagrad":
                    s = state["sum"]
                    s.addcmul_(g, g)
                    graft_dir = m_hat / (s.sqrt() + group["graft_eps"])

            if t < t0:  # warm-up: the grafted method alone
                direction = graft_dir
            else:
                if (t - t0) % freq == 0 or "roots" not in state:
                    floor = eps * beta2**t  # what is left of the initial eps*I
                    state["roots"] = [_inverse_root(f, 2 * k, floor, nb) for f in state["factors"]]
                P = m_hat.reshape(G.shape)
                for i, root in enumerate(state["roots"]):
                    P = _mode_product(P, root, i, nb)  # P x_i L_i^{-1/(2k)}
                P = P.reshape(p.shape)
                if graft is None:
                    direction = P
                else:  # norm grafting: the graft's step length, Shampoo's direction
                    norm_sh, norm_graft = _norm(P, nb), _norm(graft_dir, nb)
                    scale = torch.where(norm_sh > 0, norm_graft / norm_sh, torch.zeros_like(norm_sh))
                    direction = P * scale

            if isinstance(lr, torch.Tensor):
                p.sub_(lr * direction)
            else:
                p.add_(direction, alpha=-lr)

    def _init_state(self, p, state, group):
        nb = group["batch_dims"]
        if p.dim() < nb:
            raise ValueError(
                f"Shampoo: batch_dims={nb}, а у параметра всего {p.dim()} измерений (форма {tuple(p.shape)})."
            )
        shape = _work_shape(p, nb)
        batch, eps = shape[:nb], group["eps"]
        state["step"] = 0
        factors = []
        for d in shape[nb:]:
            if d > group["max_preconditioner_dim"]:  # diagonal fallback for this mode
                factors.append(torch.full((*batch, d), eps, dtype=p.dtype, device=p.device))
            else:
                eye = torch.eye(d, dtype=p.dtype, device=p.device)
                factors.append((eps * eye).expand(*batch, d, d).clone())
        state["factors"] = factors
        if group["betas"][0] > 0 or group["grafting"] == "adam":
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        if group["grafting"] == "adam":
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        elif group["grafting"] == "adagrad":
            state["sum"] = torch.zeros_like(p, memory_format=torch.preserve_format)


# -- tensor algebra of one step (pure functions) -------------------------------------------------
def _work_shape(p: torch.Tensor, nb: int) -> tuple[int, ...]:
    """Batch dims, then the non-trivial dims of one run (a scalar becomes a 1-vector)."""
    batch, core = tuple(p.shape[:nb]), [d for d in p.shape[nb:] if d != 1]
    return (*batch, *(core or [1]))


def _unfold(x: torch.Tensor, i: int, nb: int) -> torch.Tensor:
    """Mode-i unfolding :math:`X_{(i)}` of every run: shape ``(*batch, d_i, product of the other dims)``."""
    x = x.movedim(nb + i, nb)
    return x.reshape(*x.shape[: nb + 1], -1)


def _mode_gram(x: torch.Tensor, i: int, nb: int, *, diagonal: bool) -> torch.Tensor:
    """:math:`X_{(i)} X_{(i)}^\\top`, or only its diagonal (the squared norms of the mode-i slices)."""
    xi = _unfold(x, i, nb)
    if diagonal:
        return (xi * xi).sum(-1)
    return xi @ xi.transpose(-1, -2)


def _mode_product(x: torch.Tensor, r: torch.Tensor, i: int, nb: int) -> torch.Tensor:
    """Mode product :math:`X \\times_i R`: every mode-i fibre of every run multiplied by the symmetric
    ``r`` of shape ``(*batch, d, d)``, or by ``diag(r)`` when ``r`` has shape ``(*batch, d)``."""
    x = x.movedim(nb + i, -1)  # (*batch, other dims..., d)
    ones = (1,) * (x.dim() - nb - 1)
    if r.dim() == nb + 1:  # diagonal fallback
        y = x * r.reshape(*r.shape[:nb], *ones, r.shape[-1])
    else:
        y = (x.unsqueeze(-2) @ r.reshape(*r.shape[:nb], *ones, *r.shape[-2:])).squeeze(-2)
    return y.movedim(-1, nb + i)


def _inverse_root(factor: torch.Tensor, p: int, floor: float, nb: int) -> torch.Tensor:
    """Pseudo-inverse root :math:`F^{-1/p}` of a factor (matrix or diagonal), in float64."""
    d, unit_roundoff = factor.shape[-1], torch.finfo(factor.dtype).eps
    if factor.dim() == nb + 1:  # diagonal fallback: elementwise, 0 where D = 0
        work = factor.to(torch.float64)
        root = torch.where(work > 0, work.clamp_min(torch.finfo(torch.float64).tiny).pow(-1.0 / p),
                           torch.zeros_like(work))
        return root.to(factor.dtype)
    return matrix_inverse_root(factor, p, pinv_atol=floor, pinv_rtol=d * unit_roundoff)


def _norm(x: torch.Tensor, nb: int) -> torch.Tensor:
    """Frobenius norm of each run (over all dims after the first ``nb``), kept broadcastable."""
    if nb == 0:
        return torch.linalg.vector_norm(x)
    return torch.linalg.vector_norm(x, dim=tuple(range(nb, x.dim())), keepdim=True)


def _number(name: str, value):
    """A plain real number (these hyperparameters cannot be per-run tensors)."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"Параметр {name} должен быть числом, а не тензором формы {tuple(value.shape)}.")
        return float(value)
    return value
