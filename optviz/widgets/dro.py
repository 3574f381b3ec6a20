r"""The π explorer: how ALSO / Optimistic Mirror-Prox move the group weights on the DRO toy.

Controls: the method (ALSO, Optimistic Mirror-Prox, Adam = ERM), the π step η_π and the KL weight τ
(log sliders; the checkbox «τ = ∞ (ERM)» freezes π at the prior π̂, the ERM limit), the prior π̂
(uniform or inverse group frequency), the step sizes, the number of steps, the view (one method's
π evolution, or all three methods against the ERM and DRO solutions) and the step shown — with a
▶ button that walks the step slider (a live figure cannot play plotly frames; the builders'
animated versions are :meth:`PiExplorer.animated_figure`).

The computation is a plug-in: ``pi_explorer(compute=...)`` takes any function
``params -> PiRun`` (e.g. training a network on class-imbalanced data with the classes as groups,
once ``optviz.train`` exists) and extra controls; the default, :func:`toy_compute`, runs
:func:`optviz.run.run` on :class:`~optviz.problems.dro_toy.DROToy`. Runs are cached by setting,
so moving only the step slider redraws without recomputing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import ipywidgets as W
import numpy as np
import torch

from .._cache import LRUCache
from ..viz._style import fmt_num, method_label
from ..viz.dro import dro_race_figure, pi_figure
from ._base import Explorer, log_slider

__all__ = ["PiRun", "PiExplorer", "pi_explorer", "toy_compute", "weighted_erm_solution", "METHODS"]

#: methods of the explorer: control value (optimizer class name) → label shown in the dropdown
METHODS = {
    "ALSO": "ALSO",
    "OptimisticMirrorProx": "Optimistic Mirror-Prox",
    "Adam": "Adam (ERM)",
}


@dataclass
class PiRun:
    """What a compute function of :func:`pi_explorer` returns.

    ``traces`` — the runs (one for the π view; several for the race view, first the DRO ones);
    ``problem`` — a 2-D problem for the contour panel (or ``None``); ``group_losses`` — per-step
    group losses of ``traces[0]`` (``(K+1, G)``), when not derivable from the problem;
    ``solution`` — the reference saddle point (``theta``, ``pi``) or ``None``; ``note`` — a caption
    line; ``title`` — replaces the computed main title; ``group_names`` — legend names.
    """

    traces: list
    problem: object | None = None
    group_losses: np.ndarray | None = None
    solution: object | None = None
    note: str = ""
    title: str | None = None
    group_names: list | None = None


@dataclass(frozen=True)
class _Solution:
    theta: np.ndarray
    pi: np.ndarray
    value: float


def weighted_erm_solution(problem, weights) -> _Solution:
    r"""Minimiser of :math:`\sum_g w_g F_g(\theta)` — the τ = ∞ (ERM) limit of the DRO problem with prior ``w``.

    Computed by BFGS on the problem's ``group_losses`` (autograd gradient); with uniform weights
    this is the ERM minimiser.
    """
    from scipy.optimize import minimize

    w = torch.as_tensor(np.asarray(weights, dtype=np.float64))

    def fun(th):
        t = torch.tensor(th, dtype=torch.float64, requires_grad=True)
        val = (problem.group_losses(t) * w).sum()
        (g,) = torch.autograd.grad(val, t)
        return float(val.detach()), g.numpy()

    x0 = np.asarray(problem.minimizers[0] if len(getattr(problem, "minimizers", [])) else problem.start, float)
    res = minimize(fun, x0, jac=True, method="BFGS", options={"gtol": 1e-12, "maxiter": 2000})
    return _Solution(res.x, np.asarray(weights, dtype=float), float(res.fun))


# ------------------------------------------------------------------------------ default compute
def toy_compute(problem=None) -> Callable[[Mapping], PiRun]:
    """The default compute of :func:`pi_explorer`: runs on the DRO toy with :func:`optviz.run.run`.

    Reads ``method``, ``view``, ``pi_lr``, ``tau``, ``erm``, ``prior``, ``lr``, ``lr_gd``, ``steps``.
    """
    from ..optim.adaptive import Adam
    from ..optim.also import ALSO
    from ..optim.mirror_prox import OptimisticMirrorProx
    from ..problems.dro_toy import DROToy
    from ..run import run

    problem = problem if problem is not None else DROToy()
    G = problem.n_groups
    solutions: dict = {}

    def solution_for(tau, prior, erm):
        key = ("erm", prior) if erm else (float(tau), prior)
        if key not in solutions:
            solutions[key] = (weighted_erm_solution(problem, problem.prior(prior)) if erm
                              else problem.dro_solution(float(tau), prior))
        return solutions[key]

    def one(method, p):
        steps = int(p["steps"])
        if method == "Adam":
            tr = run(problem, Adam, problem.start, steps, lr=float(p["lr"]))
            # ERM minimises the mean loss = (1/G) Σ_g F_g: the DRO objective with π frozen at uniform
            return dataclasses.replace(tr, pi=np.full((steps + 1, G), 1.0 / G))
        cls = ALSO if method == "ALSO" else OptimisticMirrorProx
        lr = float(p["lr"] if method == "ALSO" else p["lr_gd"])
        prior = problem.prior(p["prior"]).tolist()  # a list: an array would be read as a sweep by run()
        kw = dict(n_groups=G, lr=lr, prior=prior)
        if method == "ALSO":
            kw["weight_decay"] = 0.0
        if p["erm"]:  # τ = ∞: the mirror step returns the prior; η_π = 0 keeps π at π₀ = π̂
            kw.update(pi_lr=0.0, pi_decay=0.0)
        else:
            kw.update(pi_lr=float(p["pi_lr"]), pi_decay=float(p["tau"]))
        return run(problem, cls, problem.start, steps, **kw)

    def compute(p: Mapping) -> PiRun:
        if int(p["steps"]) < 1:
            raise ValueError(f"Число шагов должно быть не меньше 1, получено {p['steps']}.")
        tau_text = "∞ (ERM)" if p["erm"] else fmt_num(p["tau"])
        prior_text = "равномерное" if p["prior"] == "uniform" else "обратно частоте групп"
        if p["view"] == "race":
            traces = [one(m, p) for m in ("ALSO", "OptimisticMirrorProx", "Adam")]
            traces[-1] = dataclasses.replace(traces[-1], pi=None)  # ERM has no π of its own to draw
            sol = solution_for(p["tau"], p["prior"], p["erm"])
            notes = [f"τ = {tau_text}, π̂ {prior_text}"]
            for tr in traces:
                th = tr.points[-1, 0]
                notes.append(f"{method_label(tr.method)}: ‖θ_K − θ*‖ = {fmt_num(float(np.linalg.norm(th - sol.theta)))}")
            return PiRun(traces, problem, None, sol, " · ".join(notes))
        method = p["method"]
        tr = one(method, p)
        points = tr.points[:, 0]
        losses = problem.group_losses(torch.as_tensor(points)).numpy()
        erm_theta = problem.minimizers[0]
        th = points[-1]
        if method == "Adam":
            sol = _Solution(erm_theta, np.full(G, 1.0 / G), float(problem.f_star))
            note = (f"Adam минимизирует среднюю потерю (ERM) — это π ≡ (1/{G}, …, 1/{G}); η_π, τ и π̂ не "
                    f"используются<br>θ_K = ({th[0]:.3f}, {th[1]:.3f}), ★ ERM θ = ({erm_theta[0]:.3f}, {erm_theta[1]:.3f}), "
                    f"‖θ_K − θ_ERM‖ = {fmt_num(float(np.linalg.norm(th - erm_theta)))}")
            return PiRun([tr], problem, losses, sol, note)
        sol = solution_for(p["tau"], p["prior"], p["erm"])
        pi_k = tr.pi[-1]
        what = "минимум Σ π̂_g F_g (τ = ∞)" if p["erm"] else f"решение DRO (τ = {tau_text}, π̂ {prior_text})"
        note = (f"итог: θ_K = ({th[0]:.3f}, {th[1]:.3f}); {what}: θ* = ({sol.theta[0]:.3f}, {sol.theta[1]:.3f})<br>"
                f"‖θ_K − θ*‖ = {fmt_num(float(np.linalg.norm(th - sol.theta)))}, "
                f"‖π_K − π*‖₁ = {fmt_num(float(np.abs(pi_k - sol.pi).sum()))}; "
                f"до ERM ‖θ_K − θ_ERM‖ = {fmt_num(float(np.linalg.norm(th - erm_theta)))}")
        title = None
        if p["erm"]:
            lr = p["lr"] if method == "ALSO" else p["lr_gd"]
            label = "ALSO" if method == "ALSO" else "Mirror-Prox"
            title = f"Эволюция весов групп π: {label} (η = {fmt_num(lr)}, τ = ∞: π заморожено на π̂)"
        return PiRun([tr], problem, losses, sol, note, title)

    compute.problem = problem
    return compute


def _toy_controls(steps: int = 150) -> dict:
    style = {"description_width": "initial"}
    sliders = {
        "pi_lr": log_slider(0.5, 1e-3, 10.0, "шаг по π η_π"),
        "tau": log_slider(0.5, 1e-3, 1e3, "вес KL τ"),
        "lr": log_slider(0.05, 1e-3, 1.0, "шаг η (ALSO, Adam)"),
        "lr_gd": log_slider(0.2, 1e-3, 2.0, "шаг η (Mirror-Prox)"),
    }
    for s in sliders.values():  # each value is a new run: recompute on release, not on every pixel
        s.continuous_update = False
    return {
        "view": W.Dropdown(options=[("π одного метода", "pi"), ("ERM против DRO: все методы", "race")], value="pi",
                           description="вид", style=style),
        "method": W.Dropdown(options=[(v, k) for k, v in METHODS.items()], value="ALSO", description="метод",
                             style=style),
        "pi_lr": sliders["pi_lr"],
        "tau": sliders["tau"],
        "erm": W.Checkbox(value=False, description="τ = ∞ (ERM: π = π̂)", style=style),
        "prior": W.Dropdown(options=[("обратно частоте групп", "inverse_frequency"), ("равномерное", "uniform")],
                            value="inverse_frequency", description="априорное π̂", style=style),
        "lr": sliders["lr"],
        "lr_gd": sliders["lr_gd"],
        "steps": W.IntSlider(value=steps, min=10, max=600, step=10, description="число шагов", style=style,
                             continuous_update=False),
    }


# ------------------------------------------------------------------------------------ explorer
class PiExplorer(Explorer):
    """:class:`Explorer` with a cache of runs, a step slider with ▶ and the animated figure."""

    def __init__(self, controls, compute: Callable[[Mapping], PiRun], *, step: W.IntSlider, play: W.Play,
                 cache_size: int = 16, static_values=None, controls_box=None):
        self.compute = compute
        self._cache: LRUCache[tuple, PiRun] = LRUCache(int(cache_size))
        self.step_slider = step
        self.play = play
        controls = dict(controls)
        controls["step"] = step
        # keep the step slider's range equal to the number of steps, before the explorer reacts
        if "steps" in controls:
            controls["steps"].observe(self._on_steps, names="value")
        super().__init__(controls, self._build, static_values=static_values,
                         controls_box=controls_box, extra=[W.HBox([play])])

    # -- compute (cached) and build -----------------------------------------------------------
    def result(self, params: Mapping | None = None) -> PiRun:
        """The :class:`PiRun` of ``params`` (default: the current controls), from the cache when possible."""
        params = dict(self.params if params is None else params)
        key = tuple(sorted((k, _hashable(v)) for k, v in params.items() if k != "step"))
        return self._cache.get_or_compute(key, lambda: self.compute(params))

    def _figure_for(self, params: Mapping, *, animate: bool):
        res = self.result(params)
        K = res.traces[0].points.shape[0] - 1
        step = None if animate else min(int(params.get("step", K)), K)
        if params.get("view", "pi") == "race":
            return dro_race_figure(res.problem, res.traces, solution=res.solution, animate=animate, step=step,
                                   note=res.note or None, title=res.title, group_names=res.group_names)
        return pi_figure(res.traces[0], problem=res.problem, group_losses=res.group_losses, solution=res.solution,
                         animate=animate, step=step, note=res.note or None, title=res.title,
                         group_names=res.group_names)

    def _build(self, params: Mapping):
        return self._figure_for(params, animate=False)

    def animated_figure(self, **overrides):
        """The animated (plotly frames) figure of the current settings — for a lecture page or HTML export."""
        params = self.params
        params.update(overrides)
        return self._figure_for(params, animate=True)

    def _on_steps(self, change) -> None:
        at_end = self.step_slider.value >= self.step_slider.max
        new = int(change["new"])
        self.step_slider.max = new
        self.play.max = new
        self.play.step = max(1, new // 60)
        if at_end or self.step_slider.value > new:
            self.step_slider.value = new


def _hashable(v):
    if isinstance(v, (list, np.ndarray)):
        return tuple(np.asarray(v).reshape(-1).tolist())
    return v


def pi_explorer(problem=None, *, compute: Callable[[Mapping], PiRun] | None = None,
                controls: Mapping[str, W.ValueWidget] | None = None, steps: int = 150,
                static_values: Mapping | None = None) -> PiExplorer:
    r"""The π explorer (lecture 09): group weights of ALSO / Mirror-Prox / Adam on a DRO problem.

    Parameters
    ----------
    problem : optional
        The DRO toy (default :class:`~optviz.problems.dro_toy.DROToy`), for the default compute.
    compute : callable ``params -> PiRun``, optional
        Replaces the computation (e.g. a class-imbalanced network with the classes as groups). It
        receives the values of all controls; ``PiRun.problem`` may be ``None`` (no contour panel,
        pass ``group_losses``).
    controls : mapping, optional
        Replaces the default controls (must contain ``steps``; ``view`` chooses the race figure
        when it equals ``"race"``). A step slider «показать шаг» and a ▶ button are always added.
    steps : int
        Default number of steps.
    static_values : mapping, optional
        Settings swept by the static stand-in (default: τ over four decades).
    """
    if compute is None:
        compute = toy_compute(problem)
    if controls is None:
        controls = _toy_controls(steps)
    controls = dict(controls)
    n_steps = int(controls["steps"].value) if "steps" in controls else int(steps)
    step = W.IntSlider(value=n_steps, min=0, max=n_steps, step=1, description="показать шаг",
                       style={"description_width": "initial"}, continuous_update=True)
    play = W.Play(value=n_steps, min=0, max=n_steps, step=max(1, n_steps // 60), interval=80,
                  description="▶ Пуск", tooltip="проиграть шаги")
    W.jslink((play, "value"), (step, "value"))
    if static_values is None and "tau" in controls:
        static_values = {"tau": [0.01, 0.1, 1.0, 10.0]}
    return PiExplorer(controls, compute, step=step, play=play, static_values=static_values)
