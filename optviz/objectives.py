r"""DRO baselines as *objectives*: per-sample losses and group ids in, one scalar out.

The ALSO paper compares its optimizer with AdamW and five distributionally robust methods
(``methods.md``, "DRO baselines"). Here each baseline is written as an objective that any optimizer
(SGD, Adam, AdamW, …) can minimise, so the comparison isolates *what is minimised* from *how*:

======================  =================================================================================================
:class:`ERM`            the plain mean :math:`\frac1n\sum_i \ell_i`
:class:`StaticWeights`  per-sample weights :math:`\propto 1/n_{g(i)}` (inverse group frequency)
:class:`RECOVER`        exponential tilt :math:`(\mathrm{mean}\,e^{\mathrm{clip}(\tau\ell)}-1)/\tau` after a warm-up
:class:`SpectralRisk`   :math:`\max_{q\in\mathcal P(\sigma)}\langle q,\ell\rangle-\nu\,\mathrm{KL}(q\|\mathbf 1/n)` (PAV)
:class:`FastDRO`        batch best response for KL-regularised CVaR or χ² (bisection)
:class:`DRAGO`          group loss table (SAGA-type control variate) + KL-prox mirror step on π
======================  =================================================================================================

The protocol (shared with the trainer, :func:`optviz.train.train`)::

    loss = objective(losses, groups)   # losses: (B,) per-sample, groups: (B,) long
    loss.backward(); optimizer.step()
    objective.after_step()             # state updates (warm-up counter, π step, tables)
    objective.pi                       # current group weights (tensor) or None
    objective.state_dict() / objective.load_state_dict(state)

Every weighted objective treats its weights as a *best response* (Danskin's theorem): the weights
are computed without gradient, so the gradient of the returned value is
:math:`\sum_i w_i\nabla\ell_i` — exactly the gradient of the max-function
:math:`\max_w \{\langle w,\ell\rangle - \text{penalty}(w)\}`. The returned *value* is the full
regularised objective (penalty included, a constant for autograd).

Training with Adam is not part of any objective: the authors ran RECOVER with Adam, which here is
simply ``optimizer = Adam(...)``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._checks import check_choice, check_int, check_probability_vector, check_range
from .optim._dro import _as_group_tensor
from .optim._functional import kl_mirror_step

__all__ = [
    "DRAGO",
    "ERM",
    "RECOVER",
    "FastDRO",
    "Objective",
    "SpectralRisk",
    "StaticWeights",
    "chi2_best_response",
    "cvar_best_response",
    "extremile_spectrum",
    "permutahedron_kl_argmax",
    "superquantile_spectrum",
    "tilted_risk",
]


# ============================================================================================
# shared helpers
# ============================================================================================

def _check_losses(losses) -> torch.Tensor:
    if not isinstance(losses, torch.Tensor):
        raise ValueError(f"Параметр losses должен быть тензором потерь по объектам, получено {type(losses).__name__}.")  # noqa: TRY004
    if losses.dim() != 1:
        raise ValueError(
            "Параметр losses должен быть одномерным тензором (потеря каждого объекта батча, "
            f"reduction='none'), получена форма {tuple(losses.shape)}."
        )
    if losses.numel() == 0:
        raise ValueError("Параметр losses пуст: в батче должен быть хотя бы один объект.")
    if not losses.is_floating_point():
        raise ValueError(f"Параметр losses должен быть вещественным тензором, получен тип {losses.dtype}.")
    return losses


def _check_groups(groups, losses: torch.Tensor, n_groups: int) -> torch.Tensor:
    if groups is None:
        raise ValueError("Параметр groups обязателен для этой цели: передайте номер группы каждого объекта.")
    groups = _as_group_tensor(groups, n_groups, device=losses.device)
    if groups.numel() != losses.numel():
        raise ValueError(
            f"Параметры losses и groups должны иметь одинаковую длину, получено {losses.numel()} и {groups.numel()}."
        )
    return groups


def _group_means(losses: torch.Tensor, groups: torch.Tensor, n_groups: int):
    """Differentiable per-group batch means and the mask of groups present in the batch."""
    sums = losses.new_zeros(n_groups).index_add(0, groups, losses)
    counts = torch.bincount(groups, minlength=n_groups).to(losses.dtype)
    present = counts > 0
    means = sums / counts.clamp_min(1)
    return means, present


def _kl_to_uniform(p: np.ndarray) -> float:
    r""":math:`\mathrm{KL}(p\,\|\,\mathbf 1/m) = \sum_i p_i\log(m p_i)` (with :math:`0\log 0 = 0`)."""
    m = p.shape[0]
    pos = p > 0
    return float(np.sum(p[pos] * np.log(m * p[pos])))


def _chi2_to_uniform(p: np.ndarray) -> float:
    r""":math:`D_{\chi^2}(p\,\|\,\mathbf 1/m) = \frac1{2m}\sum_i (m p_i - 1)^2`."""
    m = p.shape[0]
    return float(0.5 / m * np.sum((m * p - 1.0) ** 2))


def _logsumexp(x: np.ndarray) -> float:
    top = float(np.max(x))
    return top + math.log(float(np.sum(np.exp(x - top))))


def _as_numpy(losses: torch.Tensor) -> np.ndarray:
    return losses.detach().to("cpu", torch.float64).numpy()


class Objective:
    """Base class: the protocol every objective follows (see the module docstring).

    Subclasses implement :meth:`forward`; :meth:`after_step`, :meth:`state_dict` and
    :meth:`load_state_dict` default to "no state".
    """

    #: Name used in comparison tables (the seeds' spelling).
    name = "objective"

    def __init__(self):
        self._pi = None

    @property
    def pi(self):
        """Current group weights (a detached tensor) or ``None`` for objectives without them."""
        return self._pi

    def __call__(self, losses, groups=None) -> torch.Tensor:
        return self.forward(_check_losses(losses), groups)

    def forward(self, losses: torch.Tensor, groups) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def after_step(self) -> None:
        """Called by the trainer after each optimizer step."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class _WeightedBatchObjective(Objective):
    """Shared part of objectives that re-weight the units of a batch (samples or groups).

    ``over="samples"``: the units are the batch's samples; ``over="groups"``: the units are the
    groups present in the batch, each represented by its mean loss. When ``n_groups`` is given,
    :attr:`pi` reports the total weight that the last batch put on each group.
    """

    def __init__(self, over: str, n_groups):
        super().__init__()
        check_choice("over", over, ("samples", "groups"))
        if n_groups is not None:
            check_int("n_groups", n_groups, 1)
        if over == "groups" and n_groups is None:
            raise ValueError("Параметр n_groups обязателен при over='groups' (число групп в данных).")
        self.over = over
        self.n_groups = n_groups
        #: Weights of the units of the last batch (detached, float64, CPU).
        self.last_weights = None

    def _weights(self, unit_losses: np.ndarray):
        """Return ``(weights, penalty)`` for a 1-D float64 array of unit losses."""
        raise NotImplementedError

    def forward(self, losses, groups):
        if self.over == "samples":
            units = losses
            if groups is not None and self.n_groups is not None:
                groups = _check_groups(groups, losses, self.n_groups)
            else:
                groups = None
        else:
            groups = _check_groups(groups, losses, self.n_groups)
            means, present = _group_means(losses, groups, self.n_groups)
            present_idx = torch.nonzero(present).flatten()
            units = means[present_idx]
        w, penalty = self._weights(_as_numpy(units))
        self.last_weights = torch.from_numpy(w)
        w_t = torch.from_numpy(w).to(device=losses.device, dtype=losses.dtype)
        value = torch.dot(w_t, units) - penalty
        if self.n_groups is not None:
            if self.over == "groups":
                pi = torch.zeros(self.n_groups, dtype=torch.float64)
                pi[present_idx.cpu()] = self.last_weights
                self._pi = pi
            elif groups is not None:
                self._pi = torch.zeros(self.n_groups, dtype=torch.float64).index_add_(
                    0, groups.cpu(), self.last_weights)
        return value


# ============================================================================================
# ERM and static weights
# ============================================================================================

class ERM(Objective):
    r"""Empirical risk: :math:`\frac1B\sum_{i=1}^B \ell_i` (``groups`` is ignored)."""

    name = "ERM"

    def forward(self, losses, groups):
        return losses.mean()


class StaticWeights(Objective):
    r"""Inverse-frequency ("static") weights — the classical fix for class imbalance.

    Every sample of group :math:`g` gets the constant weight

    .. math::
        w_g = \frac{N}{G_+\,n_g}, \qquad
        \text{loss} = \frac1B\sum_{i=1}^B w_{g_i}\,\ell_i ,

    where :math:`n_g` is the group's size in the training set, :math:`N=\sum_g n_g` and
    :math:`G_+` the number of non-empty groups. Over the whole training set every group then has
    the same total weight :math:`N/G_+`, the average weight is 1 (the scale of ERM is kept), and the
    minibatch loss is an unbiased estimate of the *balanced risk*
    :math:`\frac1{G_+}\sum_g \frac1{n_g}\sum_{i\in g}\ell_i` under uniform sampling.
    ``normalize="batch"`` instead divides by the batch's total weight,
    :math:`\sum_i w_{g_i}\ell_i / \sum_i w_{g_i}` (a self-normalised, slightly biased estimate).

    Give either ``counts`` (group sizes, length ``n_groups``) or ``groups`` (the group id of every
    training sample). :attr:`pi` is the corresponding prior of the ALSO paper,
    :math:`\hat\pi_g \propto 1/n_g` (zero for empty groups).
    """

    name = "Static Weights"

    def __init__(self, n_groups: int, counts=None, *, groups=None, normalize: str = "dataset"):
        super().__init__()
        check_int("n_groups", n_groups, 1)
        check_choice("normalize", normalize, ("dataset", "batch"))
        if (counts is None) == (groups is None):
            raise ValueError("Задайте ровно один из параметров counts (размеры групп) или groups (номера групп).")
        if groups is not None:
            g = _as_group_tensor(groups, n_groups, device=None)
            counts = torch.bincount(g.cpu(), minlength=n_groups).to(torch.float64)
        else:
            try:
                counts = torch.as_tensor(counts, dtype=torch.float64).cpu()
            except (TypeError, ValueError, RuntimeError):
                raise ValueError(f"Параметр counts должен быть вектором размеров групп, получено {counts!r}.") from None
            if counts.dim() != 1 or counts.numel() != n_groups:
                raise ValueError(
                    f"Параметр counts должен иметь длину n_groups = {n_groups}, получена форма {tuple(counts.shape)}."
                )
            if not torch.isfinite(counts).all() or (counts < 0).any():
                raise ValueError(f"Параметр counts должен содержать неотрицательные конечные числа, получено {counts.tolist()}.")
        if float(counts.sum()) <= 0:
            raise ValueError("Параметр counts: все группы пусты, веса не определены.")
        self.n_groups = n_groups
        self.normalize = normalize
        self.counts = counts
        nonempty = counts > 0
        total, g_plus = float(counts.sum()), int(nonempty.sum())
        #: Per-group sample weight :math:`w_g = N/(G_+ n_g)` (0 for empty groups).
        self.weights = torch.where(nonempty, total / (g_plus * counts.clamp_min(1e-300)), torch.zeros_like(counts))
        inv = torch.where(nonempty, 1.0 / counts.clamp_min(1e-300), torch.zeros_like(counts))
        self._pi = inv / inv.sum()

    def forward(self, losses, groups):
        groups = _check_groups(groups, losses, self.n_groups)
        w = self.weights.to(device=losses.device, dtype=losses.dtype)[groups]
        if self.normalize == "dataset":
            return (w * losses).mean()
        total = w.sum()
        if float(total) == 0.0:
            raise ValueError("Параметр groups: в батче только объекты пустых (по counts) групп, сумма весов равна 0.")
        return (w * losses).sum() / total

    def __repr__(self):
        return f"StaticWeights(n_groups={self.n_groups}, normalize={self.normalize!r})"


# ============================================================================================
# RECOVER: exponential tilt
# ============================================================================================

def tilted_risk(losses: torch.Tensor, tau: float) -> torch.Tensor:
    r"""The tilted (KL-DRO) risk :math:`\frac1\tau\log\frac1n\sum_i e^{\tau\ell_i}`.

    Equal to :math:`\max_{p\in\Delta}\langle p,\ell\rangle-\frac1\tau\mathrm{KL}(p\|\mathbf 1/n)`;
    it tends to the mean as :math:`\tau\to0` and to :math:`\max_i\ell_i` as :math:`\tau\to\infty`.
    """
    check_range("tau", tau, 0.0, low_open=True)
    n = losses.shape[-1]
    return (torch.logsumexp(tau * losses, dim=-1) - math.log(n)) / tau


class RECOVER(Objective):
    r"""RECOVER (Qi et al., 2021) as the ALSO authors ran it: an exponentially tilted loss.

    .. math::
        \text{loss}_t = \begin{cases}
            \frac1B\sum_i \ell_i & t < T_{\text{warm}} \\[4pt]
            \dfrac{\frac1B\sum_i \exp\big(\mathrm{clip}(\tau\ell_i,\,-C,\,C)\big) - 1}{\tau} & t \ge T_{\text{warm}}
        \end{cases}

    with tilt :math:`\tau` = ``tau`` (the inverse of Qi et al.'s KL regulariser :math:`\lambda`),
    clip level :math:`C` = ``clip`` (``None``: no clipping) and :math:`T_{\text{warm}}` =
    ``warmup_steps`` (the step counter :math:`t` advances in :meth:`after_step`). The gradient is
    :math:`\frac1B\sum_i e^{\tau\ell_i}\nabla\ell_i`: per-sample weights :math:`\propto e^{\tau\ell_i}`
    (hard samples count more), *not* normalised — their scale :math:`\frac1B\sum_i e^{\tau\ell_i}` acts
    as a learning-rate multiplier. As :math:`\tau\to0` the loss tends to the mean; the normalised
    weights tend to uniform (:math:`\tau\to0`) and to the arg-max sample (:math:`\tau\to\infty`),
    like the tilted risk :func:`tilted_risk`. ``clip`` uses :func:`torch.clamp`, so a sample whose
    :math:`\tau\ell_i` exceeds :math:`C` contributes a constant and **no gradient** — as in the
    authors' runs; pick :math:`C` large enough that this only guards against overflow.

    ``gamma`` (optional, :math:`\gamma\in(0,1]`) switches to Qi et al.'s normalisation: a moving
    average :math:`u\leftarrow(1-\gamma)u+\gamma\,\frac1B\sum_i e^{\mathrm{clip}(\tau\ell_i)}` (updated
    once per batch, :math:`u_0` = the first batch's value) and the gradient
    :math:`\frac{1}{u}\frac1B\sum_i e^{\tau\ell_i}\nabla\ell_i` — the stochastic gradient of the
    tilted risk (with :math:`\gamma=1` exactly the gradient of :func:`tilted_risk` on the batch).
    The value returned is then :math:`\frac1\tau\log u` plus a term with zero value carrying the
    gradient.

    The authors trained RECOVER with Adam; the optimizer is the caller's choice.
    """

    name = "RECOVER"

    def __init__(self, tau: float = 1.0, clip: float | None = 10.0, warmup_steps: int = 0, *, gamma=None):
        super().__init__()
        check_range("tau", tau, 0.0, low_open=True)
        if clip is not None:
            check_range("clip", clip, 0.0, low_open=True)
        check_int("warmup_steps", warmup_steps, 0)
        if gamma is not None:
            check_range("gamma", gamma, 0.0, 1.0, low_open=True)
        self.tau = float(tau)
        self.clip = None if clip is None else float(clip)
        self.warmup_steps = warmup_steps
        self.gamma = None if gamma is None else float(gamma)
        self.step_count = 0
        self.u = None  # Qi et al.'s moving average of the batch mean of exp(tau * loss)
        self._pending_u = None

    @property
    def in_warmup(self) -> bool:
        return self.step_count < self.warmup_steps

    def forward(self, losses, groups):
        self._pending_u = None
        if self.in_warmup:
            return losses.mean()
        z = self.tau * losses
        if self.clip is not None:
            z = torch.clamp(z, -self.clip, self.clip)
        e = torch.exp(z)
        if self.gamma is None:
            return (e.mean() - 1.0) / self.tau
        batch_mean = float(e.detach().mean())
        u = batch_mean if self.u is None else (1 - self.gamma) * self.u + self.gamma * batch_mean
        self._pending_u = u
        # value log(u)/tau; gradient mean(e * grad l)/u (the second term is zero in value)
        return math.log(u) / self.tau + (e.mean() - e.detach().mean()) / (self.tau * u)

    def after_step(self):
        if self._pending_u is not None:
            self.u = self._pending_u
            self._pending_u = None
        self.step_count += 1

    def state_dict(self):
        return {"step_count": self.step_count, "u": self.u}

    def load_state_dict(self, state):
        self.step_count = int(state["step_count"])
        self.u = state.get("u")
        self._pending_u = None

    def __repr__(self):
        return (f"RECOVER(tau={self.tau:g}, clip={self.clip}, warmup_steps={self.warmup_steps}, "
                f"gamma={self.gamma})")


# ============================================================================================
# Spectral risk: permutahedron argmax by pool-adjacent-violators
# ============================================================================================

def superquantile_spectrum(n: int, alpha: float) -> np.ndarray:
    r"""Superquantile (CVaR) spectrum, sorted **ascending** (weights of the sorted losses).

    The top :math:`\alpha n` losses get :math:`1/(\alpha n)` each; when :math:`\alpha n` is not an
    integer the loss just below the top :math:`\lfloor\alpha n\rfloor` gets the remainder
    :math:`(\alpha n-\lfloor\alpha n\rfloor)/(\alpha n)`. Then
    :math:`\langle\sigma,\ell_{(\cdot)}\rangle` is the empirical CVaR at level :math:`\alpha`, the
    mean of the worst :math:`\alpha` fraction. :math:`\alpha = 1` gives the mean.
    """
    check_int("n", n, 1)
    check_range("alpha", alpha, 0.0, 1.0, low_open=True)
    k = alpha * n
    full = min(math.floor(k + 1e-12), n)
    sigma = np.zeros(n, dtype=np.float64)
    if full > 0:
        sigma[n - full:] = 1.0 / k
    if full < n:
        sigma[n - full - 1] = max(1.0 - full / k, 0.0)
    return sigma / sigma.sum()


def extremile_spectrum(n: int, r: float) -> np.ndarray:
    r"""Extremile spectrum (Daouia et al., 2019), sorted **ascending**.

    .. math::
        \sigma_k = \frac{(k+1)^r - k^r}{n^r}, \qquad k = 0,\dots,n-1,

    applied to the losses sorted ascending :math:`\ell_{(0)}\le\dots\le\ell_{(n-1)}`, so the
    largest loss gets the largest weight :math:`1-(1-1/n)^r`. This is the indexing of Mehta et al.
    (their ``make_extremile_spectrum``): for an integer :math:`r`,
    :math:`\langle\sigma,\ell_{(\cdot)}\rangle` is the expected maximum of :math:`r` i.i.d. draws
    from the batch (since :math:`P(\max\le\ell_{(k)}) = ((k+1)/n)^r`). :math:`r = 1` gives the mean;
    :math:`r\ge1` keeps the spectrum non-decreasing (a convex risk).
    """
    check_int("n", n, 1)
    check_range("r", r, 1.0)
    k = np.arange(n, dtype=np.float64)
    return ((k + 1) ** r - k ** r) / float(n) ** r


def permutahedron_kl_argmax(losses, sigma, nu: float) -> np.ndarray:
    r"""Solve :math:`\max_{q\in\mathcal P(\sigma)}\ \langle q,\ell\rangle-\nu\,\mathrm{KL}(q\,\|\,\mathbf 1/n)`.

    :math:`\mathcal P(\sigma)` is the permutahedron, the convex hull of all permutations of the
    spectrum :math:`\sigma` (:math:`\sigma\ge0`, :math:`\sum\sigma=1`). With :math:`\nu = 0` the
    answer is a vertex: :math:`\sigma` sorted like :math:`\ell` (rank-matching). With :math:`\nu>0`
    (Mehta et al., 2023; Blondel et al., 2020): sort :math:`\ell` descending,
    :math:`s_i = \ell_{(i)}/\nu`, :math:`\sigma` descending; the KKT conditions give
    :math:`q_{(i)} = \exp(s_i - v_i)` with :math:`v` non-increasing, the minimiser of the
    separable convex problem

    .. math::
        \min_{v_1\ge\dots\ge v_n}\ \sum_i e^{s_i-v_i} + \sigma_i v_i ,

    an isotonic regression solved exactly by pool-adjacent-violators: a block :math:`B` of pooled
    indices takes the value :math:`v_B=\log\sum_{i\in B}e^{s_i}-\log\sum_{i\in B}\sigma_i`
    (so :math:`\sum_{i\in B} q_i = \sum_{i\in B}\sigma_i`), and adjacent blocks are merged while
    :math:`v_B < v_{B+1}`. :math:`O(n\log n)` for the sort, :math:`O(n)` for the pooling.
    Inputs are 1-D arrays/tensors; returns a float64 numpy array in the original order.
    """
    check_range("nu", nu, 0.0)
    ell = np.asarray(losses.detach().cpu() if isinstance(losses, torch.Tensor) else losses, dtype=np.float64)
    sig = np.sort(np.asarray(sigma, dtype=np.float64))[::-1]  # descending
    n = ell.shape[0]
    if sig.shape[0] != n:
        raise ValueError(f"Длина спектра sigma ({sig.shape[0]}) должна совпадать с числом потерь ({n}).")
    order = np.argsort(-ell, kind="stable")  # descending losses
    q = np.empty(n, dtype=np.float64)
    if nu == 0:
        q[order] = sig
        return q
    s = (ell[order] / nu).tolist()
    sig_l = sig.tolist()
    # blocks on a stack: start index, log-sum-exp of s, sum of sigma, value v_B
    starts, lses, sigsums, vals = [], [], [], []
    for i in range(n):
        lse, ssum = s[i], sig_l[i]
        val = lse - math.log(ssum) if ssum > 0 else math.inf
        start = i
        while vals and vals[-1] < val:  # violation of v non-increasing: pool with the previous block
            prev = lses.pop()
            lse = max(prev, lse) + math.log1p(math.exp(-abs(prev - lse)))
            ssum += sigsums.pop()
            start = starts.pop()
            vals.pop()
            val = lse - math.log(ssum) if ssum > 0 else math.inf
        starts.append(start), lses.append(lse), sigsums.append(ssum), vals.append(val)
    # q on a block = (its share of sigma) * softmax of its losses, from loss differences so that a
    # tiny nu (huge s) loses no precision; the first element of a block is its largest loss
    ell_sorted = ell[order]
    idx = np.asarray(starts)
    lengths = np.diff(np.append(idx, n))
    e = np.exp((ell_sorted - np.repeat(ell_sorted[idx], lengths)) / nu)
    q_sorted = np.repeat(np.asarray(sigsums), lengths) * e / np.repeat(np.add.reduceat(e, idx), lengths)
    q[order] = q_sorted
    return q


class SpectralRisk(_WeightedBatchObjective):
    r"""Spectral risk measure with a KL shift penalty (Mehta et al., 2023).

    .. math::
        \text{loss} = \max_{q\in\mathcal P(\sigma)}\ \sum_{i=1}^B q_i\ell_i - \nu\,\mathrm{KL}(q\,\|\,\mathbf 1/B),

    where :math:`\mathcal P(\sigma)` is the permutahedron of the spectrum :math:`\sigma` (all
    re-weightings that are "majorised" by :math:`\sigma`). Spectra (see
    :func:`superquantile_spectrum`, :func:`extremile_spectrum`):

    * ``"superquantile"`` — :math:`\sigma_i = 1/(\alpha B)` on the top :math:`\alpha B` losses,
      0 elsewhere (fractional part handled): CVaR at level ``alpha``;
    * ``"extremile"`` — :math:`\sigma_k = ((k+1)^r-k^r)/B^r` on the ascending order: expected
      maximum of ``r`` draws.

    The maximiser :math:`q^\star` is computed exactly by :func:`permutahedron_kl_argmax` (PAV;
    ``nu = 0`` is plain sorting) without gradient; the gradient is
    :math:`\sum_i q_i^\star\nabla\ell_i` (Danskin). ``nu`` (:math:`\nu\ge0`) pulls :math:`q` towards
    uniform (:math:`\nu\to\infty`: ERM). ``over="groups"`` re-weights the mean losses of the groups
    present in the batch instead of the samples (then ``n_groups`` is required).
    The spectrum is rebuilt for every batch size (a smaller last batch is fine).
    """

    name = "Spectral Risk"

    def __init__(self, spectrum: str = "superquantile", *, alpha: float = 0.5, r: float = 2.0, nu: float = 0.1,
                 over: str = "samples", n_groups: int | None = None):
        check_choice("spectrum", spectrum, ("superquantile", "extremile"))
        check_range("alpha", alpha, 0.0, 1.0, low_open=True)
        check_range("r", r, 1.0)
        check_range("nu", nu, 0.0)
        super().__init__(over, n_groups)
        self.spectrum = spectrum
        self.alpha, self.r, self.nu = float(alpha), float(r), float(nu)
        self._cache: dict[int, np.ndarray] = {}

    def sigma(self, n: int) -> np.ndarray:
        """The spectrum for a batch of ``n`` units (ascending)."""
        if n not in self._cache:
            if self.spectrum == "superquantile":
                self._cache[n] = superquantile_spectrum(n, self.alpha)
            else:
                self._cache[n] = extremile_spectrum(n, self.r)
        return self._cache[n]

    def _weights(self, unit_losses):
        q = permutahedron_kl_argmax(unit_losses, self.sigma(unit_losses.shape[0]), self.nu)
        return q, (self.nu * _kl_to_uniform(q) if self.nu > 0 else 0.0)

    def __repr__(self):
        par = f"alpha={self.alpha:g}" if self.spectrum == "superquantile" else f"r={self.r:g}"
        return f"SpectralRisk({self.spectrum!r}, {par}, nu={self.nu:g}, over={self.over!r})"


# ============================================================================================
# FastDRO: batch best responses (Levy et al., 2020)
# ============================================================================================

_BISECTION_ITERS = 200


def _bisect_decreasing(f, lo: float, hi: float, iters: int = _BISECTION_ITERS) -> float:
    """Root of a non-increasing ``f`` with ``f(lo) >= 0 >= f(hi)``."""
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if mid == lo or mid == hi:
            break
        if f(mid) >= 0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def cvar_best_response(losses, alpha: float, reg: float) -> np.ndarray:
    r"""Best response of KL-regularised CVaR (Levy et al., 2020).

    .. math::
        p^\star = \arg\max_{p\in\Delta_m,\ p_i\le\frac{1}{\alpha m}}\ \langle p,\ell\rangle - \mathrm{reg}\cdot\mathrm{KL}(p\,\|\,\mathbf 1/m)
        \quad\Longrightarrow\quad
        p_i = \frac1m\min\Big(e^{(\ell_i-\eta)/\mathrm{reg}},\ \frac1\alpha\Big),

    with :math:`\eta` the unique root of :math:`\sum_i p_i(\eta)=1` (the sum decreases in
    :math:`\eta`), found by bisection on
    :math:`[\min\ell-\mathrm{reg}\log\frac1\alpha,\ \max\ell]`; then :math:`\eta` is recomputed in
    closed form on the un-capped set, so :math:`\sum p = 1` to rounding. ``reg = 0`` is the plain
    CVaR: :math:`1/(\alpha m)` on the top :math:`\lfloor\alpha m\rfloor` losses, the remainder on the
    next one (by sorting).
    """
    check_range("alpha", alpha, 0.0, 1.0, low_open=True)
    check_range("reg", reg, 0.0)
    ell = np.asarray(losses, dtype=np.float64)
    m = ell.shape[0]
    if alpha >= 1.0:
        return np.full(m, 1.0 / m)
    if reg == 0:
        return permutahedron_kl_argmax(ell, superquantile_spectrum(m, alpha), 0.0)
    log_cap = math.log(1.0 / alpha)

    def p_of(eta):
        return np.exp(np.minimum((ell - eta) / reg, log_cap)) / m

    eta = _bisect_decreasing(lambda e: p_of(e).sum() - 1.0, float(ell.min()) - reg * log_cap, float(ell.max()))
    # polish: capped set from the bisection, eta in closed form on the rest
    capped = (ell - eta) / reg >= log_cap
    free = ~capped
    rest = m - capped.sum() / alpha
    if free.any() and rest > 0:
        eta_exact = reg * (_logsumexp(ell[free] / reg) - math.log(rest))
        p = np.where(capped, 1.0 / (alpha * m), np.exp(np.minimum((ell - eta_exact) / reg, log_cap)) / m)
        if abs(p.sum() - 1.0) < 1e-9:
            return p
    p = p_of(eta)
    return p / p.sum()


def chi2_best_response(losses, rho, reg: float) -> np.ndarray:
    r"""Best response for the χ² uncertainty set with a χ² penalty (Levy et al., 2020).

    .. math::
        p^\star = \arg\max_{p\in\Delta_m,\ D_{\chi^2}(p)\le\rho}\ \langle p,\ell\rangle - \mathrm{reg}\cdot D_{\chi^2}(p),
        \qquad D_{\chi^2}(p) = \frac1{2m}\sum_i (m p_i-1)^2 .

    KKT: :math:`p_i = (\ell_i-\eta)_+/(m\kappa)` with :math:`\kappa = \mathrm{reg}+\lambda`; the
    constraint is active only when :math:`\mathrm{reg}` alone leaves :math:`D_{\chi^2}>\rho`, which
    gives :math:`\kappa = \max\big(\mathrm{reg},\ \|(\ell-\eta)_+\|_2/\sqrt{m(1+2\rho)}\big)`, and
    :math:`\eta` solves :math:`\sum_i p_i = 1` by bisection. ``rho=None`` (or ∞): penalty only.
    ``reg = 0``: :math:`p\propto(\ell-\eta)_+` with :math:`\eta` such that :math:`D_{\chi^2}(p)=\rho`
    (or the uniform distribution on the arg-max when the whole ball fits, :math:`\rho\ge(m/k-1)/2`).
    """
    if rho is not None and rho != math.inf:
        check_range("rho", rho, 0.0)
    check_range("reg", reg, 0.0)
    ell = np.asarray(losses, dtype=np.float64)
    m = ell.shape[0]
    unconstrained = rho is None or rho == math.inf
    if unconstrained and reg == 0:
        raise ValueError("Для χ²-версии нужен reg > 0 или конечный rho (иначе задача не ограничена).")
    spread = float(ell.max() - ell.min())
    if m == 1 or spread <= 1e-12 * max(1.0, abs(float(ell.max()))) or (not unconstrained and rho == 0):
        return np.full(m, 1.0 / m)
    top = float(ell.max())
    if reg == 0:
        k = int(np.sum(ell >= top - 1e-12 * max(1.0, abs(top))))
        if k * (1 + 2 * rho) >= m:
            return np.where(ell >= top - 1e-12 * max(1.0, abs(top)), 1.0 / k, 0.0)

        def p_norm(eta):
            w = np.maximum(ell - eta, 0.0)
            return w / w.sum()

        # D(eta) increases from 0 (eta -> -inf) to (m/k - 1)/2 > rho (eta -> max l)
        lo, width = float(ell.min()) - spread, spread
        while _chi2_to_uniform(p_norm(lo)) > rho:
            width *= 2.0
            lo = float(ell.min()) - width
        eta = _bisect_decreasing(lambda e: rho - _chi2_to_uniform(p_norm(e)), lo, top)
        return p_norm(eta)
    bound = None if unconstrained else math.sqrt(m * (1 + 2 * rho))

    def p_of(eta):
        w = np.maximum(ell - eta, 0.0)
        kappa = reg if bound is None else max(reg, float(np.linalg.norm(w)) / bound)
        return w / (m * kappa)

    lo, width = float(ell.min()) - reg, reg
    while p_of(lo).sum() < 1.0:
        width *= 2.0
        lo = float(ell.min()) - width
    eta = _bisect_decreasing(lambda e: p_of(e).sum() - 1.0, lo, top)
    p = p_of(eta)
    return p / p.sum()


class FastDRO(_WeightedBatchObjective):
    r"""FastDRO (Levy, Carmon, Duchi, Sidford 2020): the robust loss of each minibatch.

    .. math::
        \text{loss} = \langle p^\star,\ell\rangle - \mathrm{reg}\cdot D(p^\star\,\|\,\mathbf 1/B),
        \qquad p^\star = \arg\max_{p\in\mathcal U}\ \langle p,\ell\rangle - \mathrm{reg}\cdot D(p\,\|\,\mathbf 1/B),

    * ``kind="cvar"``: :math:`\mathcal U=\{p\in\Delta: p_i\le 1/(\alpha B)\}`, :math:`D=\mathrm{KL}`;
      :math:`p_i=\min(e^{(\ell_i-\eta)/\mathrm{reg}}, 1/\alpha)/B` with :math:`\eta` by bisection
      (:func:`cvar_best_response`);
    * ``kind="chi2"``: :math:`\mathcal U=\{p\in\Delta: D_{\chi^2}(p)\le\rho\}`, :math:`D=D_{\chi^2}`
      (the χ² geometry of Levy et al. uses a χ² penalty; ``methods.md`` writes KL for the CVaR case)
      — :func:`chi2_best_response`; ``rho=None`` means penalty only.

    :math:`p^\star` is computed without gradient and the penalty is a constant, so the gradient is
    :math:`\sum_i p^\star_i\nabla\ell_i` — by Danskin's theorem the gradient of the batch robust
    loss (Levy et al.'s minibatch estimator: biased, with bias shrinking as the batch grows).
    ``over="groups"`` applies the same to the batch's per-group mean losses.
    """

    name = "FastDRO"

    def __init__(self, kind: str = "cvar", *, alpha: float = 0.5, rho=None, reg: float = 0.0,
                 over: str = "samples", n_groups: int | None = None):
        check_choice("kind", kind, ("cvar", "chi2"))
        check_range("alpha", alpha, 0.0, 1.0, low_open=True)
        if rho is not None and rho != math.inf:
            check_range("rho", rho, 0.0)
        check_range("reg", reg, 0.0)
        if kind == "chi2" and (rho is None or rho == math.inf) and reg == 0:
            raise ValueError("Параметры rho и reg: для kind='chi2' нужен конечный rho или reg > 0.")
        super().__init__(over, n_groups)
        self.kind = kind
        self.alpha = float(alpha)
        self.rho = None if (rho is None or rho == math.inf) else float(rho)
        self.reg = float(reg)

    def best_response(self, unit_losses) -> np.ndarray:
        ell = np.asarray(unit_losses, dtype=np.float64)
        if self.kind == "cvar":
            return cvar_best_response(ell, self.alpha, self.reg)
        return chi2_best_response(ell, self.rho, self.reg)

    def _weights(self, unit_losses):
        p = self.best_response(unit_losses)
        if self.reg == 0:
            return p, 0.0
        d = _kl_to_uniform(p) if self.kind == "cvar" else _chi2_to_uniform(p)
        return p, self.reg * d

    def __repr__(self):
        size = f"alpha={self.alpha:g}" if self.kind == "cvar" else f"rho={self.rho}"
        return f"FastDRO({self.kind!r}, {size}, reg={self.reg:g}, over={self.over!r})"


# ============================================================================================
# DRAGO: loss table (control variate) + KL-prox step on π
# ============================================================================================

class DRAGO(Objective):
    r"""DRAGO (Mehta, Diakonikolas, Harchaoui 2024) over groups, written as an objective.

    Problem: :math:`\min_\theta\max_{\pi\in\Delta_G}\sum_g \pi_g L_g(\theta) - \nu\,\mathrm{KL}(\pi\,\|\,\hat\pi)`,
    :math:`L_g` the mean loss of group :math:`g`. State: the weights :math:`\pi`, a **loss table**
    :math:`\hat L\in\mathbb R^G` (the last known loss of every group) and the step counter.
    For a batch whose groups present form :math:`S` (:math:`b=|S|`), with batch group means
    :math:`\bar\ell_g(\theta)`:

    .. math::
        \text{loss} &= \sum_g \pi_g \hat L_g + \frac{G}{b}\sum_{g\in S}\pi_g\big(\bar\ell_g(\theta)-\hat L_g\big)
                       - \nu\,\mathrm{KL}(\pi\,\|\,\hat\pi) \\
        v_g &= \hat L_g + \frac{G}{b}\,[g\in S]\,\big(\bar\ell_g - \hat L_g\big)
             \qquad\text{(SAGA-type control variate, used for the } \pi \text{ step)} \\
        \pi &\leftarrow \operatorname{softmax}\Big(\frac{\log\pi + \eta\nu\log\hat\pi + \eta v}{1+\eta\nu}\Big)
             = \arg\max_{\pi'}\ \langle v,\pi'\rangle - \nu\mathrm{KL}(\pi'\|\hat\pi) - \tfrac1\eta\mathrm{KL}(\pi'\|\pi)

    (the π step is :func:`~optviz.optim._functional.kl_mirror_step` with ``h = -v``,
    ``lr`` :math:`=\eta` = ``pi_lr``, ``decay`` :math:`=\nu`, ``prior`` :math:`=\hat\pi`). Then the
    table is refreshed: every ``refresh_every`` steps, :math:`\hat L_g` becomes the mean loss of group
    :math:`g` over the batches since the last refresh (groups not seen keep their entry); with
    ``refresh_every=1`` this is SAGA's "overwrite the sampled entries". If :math:`S` is a uniformly
    random set of :math:`b` groups, :math:`\mathbb E_S v = \bar\ell` and the loss value is an
    unbiased estimate of the full objective; when every group is in the batch, the value *is* the
    full objective :math:`\sum_g\pi_g\bar\ell_g-\nu\mathrm{KL}`. The table starts at the first batch's
    mean loss. The θ-gradient is :math:`\frac{G}{b}\sum_{g\in S}\pi_g\nabla\bar\ell_g(\theta)`;
    the θ-step itself is the optimizer's.

    **What is simplified relative to the paper** (honestly, these change the algorithm):

    * no *gradient* table: DRAGO's primal estimator
      :math:`\sum_g\hat q_g\hat\nabla_g + \frac{G}{b}\sum_{g\in S}(\pi_g\nabla\ell_g - \hat q_g\hat\nabla_g)`
      would need :math:`G` stored copies of all parameters' gradients (and per-group backward
      passes to refresh them); here only the loss table exists, so the θ-gradient is not
      variance-reduced (its *value* is);
    * one batch plays the roles of the paper's three blocks (primal :math:`I`, dual :math:`J`,
      table refresh :math:`K`), with no cyclic block schedule and without the
      :math:`1/(1+\eta)` factor and the two-step-old table used in the dual extrapolation;
    * the primal update is the optimizer's step, not DRAGO's regularised proximal step on θ with
      a strongly convex :math:`\mu`;
    * groups play the role of samples (with per-sample groups, :math:`G = N`, the dual side is
      DRAGO's); with sample batches, :math:`S` is "groups that happen to appear", not a uniform
      random block.
    """

    name = "DRAGO"

    def __init__(self, n_groups: int, pi_lr: float = 1e-2, nu: float = 1e-2, *, prior=None, init_pi=None,
                 refresh_every: int = 1):
        super().__init__()
        check_int("n_groups", n_groups, 1)
        check_range("pi_lr", pi_lr, 0.0)
        check_range("nu", nu, 0.0)
        check_int("refresh_every", refresh_every, 1)
        self.n_groups = n_groups
        self.pi_lr, self.nu = float(pi_lr), float(nu)
        self.refresh_every = refresh_every
        uniform = torch.full((n_groups,), 1.0 / n_groups, dtype=torch.float64)
        self.prior = uniform if prior is None else check_probability_vector("prior", prior, n_groups, strict=True)
        self._pi = (self.prior.clone() if init_pi is None
                    else check_probability_vector("init_pi", init_pi, n_groups, strict=True).clone())
        self.table = torch.zeros(n_groups, dtype=torch.float64)
        self.initialised = False
        self.step_count = 0
        self._acc_sum = torch.zeros(n_groups, dtype=torch.float64)
        self._acc_cnt = torch.zeros(n_groups, dtype=torch.float64)
        self._pending = None
        #: The control-variate estimate ``v`` of the group losses from the last call (detached).
        self.last_dual_estimate = None

    def forward(self, losses, groups):
        groups = _check_groups(groups, losses, self.n_groups)
        means, present = _group_means(losses, groups, self.n_groups)
        if not self.initialised:
            self.table.fill_(float(losses.detach().mean()))
            self.initialised = True
        dev, dt = losses.device, losses.dtype
        pi, table = self._pi.to(dev, dt), self.table.to(dev, dt)
        present_f = present.to(dt)
        scale = self.n_groups / float(present_f.sum())
        pos = self._pi > 0
        kl = float(torch.sum(self._pi[pos] * torch.log(self._pi[pos] / self.prior[pos])))
        corr = scale * torch.sum(present_f * pi * (means - table))
        value = torch.dot(pi, table) + corr - self.nu * kl
        m_det = means.detach().to("cpu", torch.float64)
        p_cpu = present.cpu()
        v = self.table.clone()
        v[p_cpu] += scale * (m_det[p_cpu] - self.table[p_cpu])
        self.last_dual_estimate = v
        counts = torch.bincount(groups, minlength=self.n_groups).to("cpu", torch.float64)
        self._pending = (v, m_det * counts, counts)
        return value

    def after_step(self):
        if self._pending is None:
            return
        v, sums, counts = self._pending
        self._pending = None
        self._pi = kl_mirror_step(self._pi, -v, self.pi_lr, decay=self.nu, prior=self.prior)
        self._acc_sum += sums
        self._acc_cnt += counts
        self.step_count += 1
        if self.step_count % self.refresh_every == 0:
            seen = self._acc_cnt > 0
            self.table[seen] = self._acc_sum[seen] / self._acc_cnt[seen]
            self._acc_sum.zero_()
            self._acc_cnt.zero_()

    def state_dict(self):
        return {
            "pi": self._pi.clone(), "table": self.table.clone(), "initialised": self.initialised,
            "step_count": self.step_count, "acc_sum": self._acc_sum.clone(), "acc_cnt": self._acc_cnt.clone(),
        }

    def load_state_dict(self, state):
        self._pi = check_probability_vector("pi", state["pi"], self.n_groups).clone()
        self.table = torch.as_tensor(state["table"], dtype=torch.float64).clone()
        self.initialised = bool(state["initialised"])
        self.step_count = int(state["step_count"])
        self._acc_sum = torch.as_tensor(state["acc_sum"], dtype=torch.float64).clone()
        self._acc_cnt = torch.as_tensor(state["acc_cnt"], dtype=torch.float64).clone()
        self._pending = None

    def __repr__(self):
        return (f"DRAGO(n_groups={self.n_groups}, pi_lr={self.pi_lr:g}, nu={self.nu:g}, "
                f"refresh_every={self.refresh_every})")
