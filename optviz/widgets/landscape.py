r"""The landscape explorer (lecture 05): slices of the loss of a small MLP on scikit-learn digits.

Setup (once, cached): a ReLU MLP 64 → 32 → 10 (:func:`optviz.landscape.digits_mlp`) is trained
full-batch with optviz :class:`~optviz.optim.adaptive.AdamW` on the 1797 digits
(:func:`optviz.landscape.digits_data`), saving the weights every few steps — the trajectory whose
PCA plane the explorer can show. Then every control change recomputes one slice on a fixed subset
of the samples (256 by default) with :mod:`optviz.landscape` and redraws it with
:mod:`optviz.viz.landscape`:

* directions — random Gaussian (normalised per filter / per layer / not at all, with a seed) or the
  PCA plane of the training trajectory (with the path drawn on it);
* ignore biases and BN — zero direction entries for the 1-D parameters (the default of Li et al.);
* centre — the weights at the start or at the end of training (random directions);
* span — the window ``[-span, span]`` (random directions) or the margin around the path (PCA);
* resolution — points per axis (21 by default: a 21×21 plane on 256 samples takes tens of ms);
* kind — contour, 3-D surface, or the two 1-D lines along the directions.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import ipywidgets as W
import numpy as np
import torch
import torch.nn.functional as F

from .. import landscape as ls
from ..viz.landscape import line_figure, plane_figure
from ._base import Explorer

__all__ = ["TrainedDigits", "trained_digits", "landscape_explorer"]


@dataclass(frozen=True)
class TrainedDigits:
    """A briefly trained digits MLP: the model (final weights), the weights along the way, the data."""

    model: torch.nn.Module
    trajectory: tuple          # state dicts of the parameters: start, …, end
    data: tuple                # (inputs, targets)
    losses: np.ndarray         # full-batch training loss at every step
    hidden: tuple
    lr: float
    steps: int

    @property
    def start(self) -> dict:
        return self.trajectory[0]

    @property
    def end(self) -> dict:
        return self.trajectory[-1]


@functools.lru_cache(maxsize=4)
def trained_digits(hidden: tuple = (32,), *, seed: int = 0, steps: int = 150, lr: float = 1e-2,
                   weight_decay: float = 1e-2, record_every: int = 5) -> TrainedDigits:
    """Train :func:`~optviz.landscape.digits_mlp` full-batch with optviz AdamW (cached; well under a second)."""
    from ..optim.adaptive import AdamW

    x, y = ls.digits_data()
    model = ls.digits_mlp(tuple(hidden), seed=seed)
    opt = AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)

    def snapshot():
        return {n: p.detach().clone() for n, p in model.named_parameters()}

    traj, losses = [snapshot()], []
    for k in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if (k + 1) % record_every == 0 or k + 1 == steps:
            traj.append(snapshot())
    model.eval()
    return TrainedDigits(model, tuple(traj), (x, y), np.array(losses), tuple(hidden), float(lr), int(steps))


def _window(coords: np.ndarray, n: int, margin: float) -> np.ndarray:
    lo, hi = float(coords.min()), float(coords.max())
    width = hi - lo if hi > lo else max(abs(hi), 1.0)
    return np.linspace(lo - margin * width, hi + margin * width, n)


def landscape_explorer(*, hidden: Sequence[int] = (32,), subset: int = 256, train_steps: int = 150,
                       resolution: int = 21, seed: int = 0) -> Explorer:
    """The loss-landscape explorer on a briefly trained digits MLP (see the module docstring).

    ``subset`` samples (fixed, drawn once) are evaluated per grid point; ``resolution`` is the
    default number of points per axis. ``explorer.last_update_ms`` holds the time of the last redraw.
    """
    net = trained_digits(tuple(hidden), steps=int(train_steps))
    model, data = net.model, net.data
    pcas: dict = {}

    def pca_for(ignore: bool):
        if ignore not in pcas:
            pcas[ignore] = ls.pca_directions(net.trajectory, model=model, ignore="biasbn" if ignore else None,
                                             warn_below=0.0)
        return pcas[ignore]

    common = dict(subset=int(subset), subset_seed=0, progress=False, max_seconds=None)

    def build(p):
        n = int(p["resolution"])
        if n < 3:
            raise ValueError(f"Разрешение должно быть не меньше 3 точек на ось, получено {n}.")
        span = float(p["span"])
        if not span > 0:
            raise ValueError(f"Размах span должен быть положительным, получено {span}.")
        ignore = bool(p["ignore_biasbn"])
        if p["directions"] == "pca":
            pca = pca_for(ignore)
            center = pca.center
            dirs = pca.directions[:2]
            alphas = _window(pca.coords[:, 0], n, 0.25 * span)
            betas = _window(pca.coords[:, 1], n, 0.25 * span)
            trajectory = pca
            where = "конец обучения (PCA-плоскость проходит через финальную точку)"
        else:
            center = net.start if p["center"] == "start" else net.end
            dirs = ls.random_directions(model, 2, seed=int(p["seed"]), normalization=p["normalization"],
                                        ignore="biasbn" if ignore else None, reference=center)
            alphas = betas = np.linspace(-span, span, n)
            trajectory = None
            where = "начало обучения" if p["center"] == "start" else "конец обучения"
        title_tail = f" · центр w₀: {where} (AdamW, {net.steps} шагов)"
        if p["kind"] == "line":
            lines = [ls.loss_line(model, data, d, alphas=a, center=center, **common) for d, a in zip(dirs, (alphas, betas))]
            fig = line_figure(lines, log_y=True)
        else:
            plane = ls.loss_plane(model, data, dirs, alphas=alphas, betas=betas, center=center, **common)
            fig = plane_figure(plane, kind=p["kind"], trajectory=trajectory, log_z=True)
        fig.layout.title.text = fig.layout.title.text.replace("<br><sup>", title_tail + "<br><sup>", 1)
        return fig

    style = {"description_width": "initial"}
    controls = {
        "kind": W.Dropdown(options=[("линии уровня", "contour"), ("поверхность 3D", "surface"), ("1D-срезы", "line")],
                           value="contour", description="вид", style=style),
        "directions": W.Dropdown(options=[("случайные", "random"), ("PCA траектории", "pca")], value="random",
                                 description="направления", style=style),
        "normalization": W.Dropdown(options=[("по фильтрам (filter)", "filter"), ("по слоям (layer)", "layer"),
                                             ("без нормировки (none)", "none")], value="filter",
                                    description="нормировка", style=style),
        "ignore_biasbn": W.Checkbox(value=True, description="не учитывать смещения и BN", style=style),
        "center": W.Dropdown(options=[("конец обучения", "end"), ("начало обучения", "start")], value="end",
                             description="центр w₀", style=style),
        "seed": W.IntText(value=int(seed), description="seed", style=style),
        "span": W.FloatSlider(value=1.0, min=0.1, max=3.0, step=0.1, description="размах", style=style,
                              continuous_update=False),
        "resolution": W.IntSlider(value=int(resolution), min=5, max=61, step=2, description="разрешение",
                                  style=style, continuous_update=False),
    }
    return Explorer(controls, build, static_values={"span": [0.25, 0.5, 1.0, 2.0]})
