r"""Experiment 5 — initialisation of a deep ReLU network: a poor one vs He's.

The lecture's figures (He et al., 2015): a 22-layer ReLU net with a good initialisation converges
faster; at 30 layers only the good one converges. Here: an MLP of ``depth`` hidden ReLU layers of
``width`` units on the digits, initialised with :math:`\mathcal N(0, 2/\mathrm{fan\_in})` (He) or
with a poor scheme (default: a fixed :math:`\mathcal N(0, 0.01^2)`, see :func:`optviz.models.init_weights_`).

Measured:

* at initialisation — the standard deviation of every Linear layer's input activations and the norm
  of the gradient of every Linear layer's weight on one full pass over the training set. With a
  fixed σ each ReLU layer multiplies the forward signal by about :math:`\sigma\sqrt{\mathrm{fan\_in}/2}`
  (0.057 for σ = 0.01, width 64) and the backward signal likewise, so the activations vanish
  geometrically with depth, and the weight gradient of layer l, the product of the backward signal
  above it and the activation below it, is of order :math:`(\sigma\sqrt{\mathrm{fan\_in}/2})^{L}`
  for *every* layer (≈ 1e-17 for 12 layers of 32 units): the whole network gets almost no gradient.
  With He's scaling the factor is 1;
* in training (SGD with momentum, same learning rate and epochs for both) — the training loss and
  validation accuracy per epoch, mean over seeds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .harness import markdown_table, resolve_size

__all__ = ["SIZES", "InitResult", "init_experiment", "layer_statistics"]

_TINY = np.finfo(np.float64).tiny

SIZES = {
    "tiny": dict(depth=12, width=32, epochs=2, batch_size=64, lr=0.01, momentum=0.9, seeds=(0,)),
    "cpu": dict(depth=20, width=64, epochs=15, batch_size=64, lr=0.01, momentum=0.9, seeds=(0, 1, 2)),
    "full": dict(depth=30, width=256, epochs=50, batch_size=128, lr=0.01, momentum=0.9, seeds=(0, 1, 2, 3, 4)),
}


def layer_statistics(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
    """Per Linear layer: the std of its input activations and the norm of its weight's gradient.

    One forward/backward of the mean cross-entropy on ``(x, y)``; ``model``'s ``.grad`` are
    overwritten (zeroed first). Returns ``{"activation_std": array, "grad_norm": array}`` ordered
    from the first layer to the last.
    """
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    acts = []
    # float64 for the statistics: with a poor init the values are ~1e-25 and their squares underflow float32
    hooks = [m.register_forward_pre_hook(lambda mod, inp: acts.append(float(inp[0].detach().double().std())))
             for m in linears]
    try:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
    finally:
        for h in hooks:
            h.remove()
    grads = np.array([float(m.weight.grad.detach().double().norm()) for m in linears])
    model.zero_grad(set_to_none=True)
    return {"activation_std": np.array(acts), "grad_norm": grads}


@dataclass
class InitResult:
    """Layer statistics at initialisation and training curves for every initialisation."""

    activation_std: dict     # init -> (seeds, layers)
    grad_norm: dict          # init -> (seeds, layers)
    train_loss: dict         # init -> (seeds, epochs + 1)  (index 0: before training, NaN)
    val_accuracy: dict       # init -> (seeds, epochs + 1)
    config: dict
    seconds: float

    def grad_ratio(self) -> dict:
        """init → geometric mean over seeds of ‖∇W_first‖ / ‖∇W_last‖ (≈ 1: healthy; ≪ 1: vanishing)."""
        out = {}
        for k, g in self.grad_norm.items():
            g = np.maximum(g, _TINY)  # an exactly zero gradient counts as the smallest positive double
            out[k] = float(np.exp((np.log(g[:, 0]) - np.log(g[:, -1])).mean()))
        return out

    def grad_scale(self) -> dict:
        """init → geometric mean over seeds and layers of ‖∇W‖ (the overall size of the gradient)."""
        return {k: float(np.exp(np.log(np.maximum(g, _TINY)).mean())) for k, g in self.grad_norm.items()}

    def table(self, digits: int = 3) -> list[dict]:
        rows = []
        ratio, scale = self.grad_ratio(), self.grad_scale()
        for k in self.grad_norm:
            rows.append({
                "Инициализация": k,
                "std активаций: 1-й → последний слой": (f"{self.activation_std[k][:, 0].mean():.{digits}g} → "
                                                        f"{self.activation_std[k][:, -1].mean():.{digits}g}"),
                "‖∇W‖ (среднее геом. по слоям)": f"{scale[k]:.{digits}g}",
                "‖∇W‖ первого / последнего слоя": f"{ratio[k]:.{digits}g}",
                "Потеря на обучении (финал)": f"{self.train_loss[k][:, -1].mean():.{digits}f}",
                "Точность на валидации (финал)": f"{self.val_accuracy[k][:, -1].mean():.{digits}f}",
            })
        return rows

    def markdown(self, digits: int = 3) -> str:
        return markdown_table(self.table(digits))

    def figure(self):
        """Left: gradient norm per layer at initialisation (log scale); right: training loss per epoch."""
        from plotly.subplots import make_subplots

        from ..viz._style import PALETTE

        fig = make_subplots(rows=1, cols=2, subplot_titles=["‖∇W‖ по слоям при инициализации",
                                                            "потеря на обучении"])
        for i, k in enumerate(self.grad_norm):
            color = PALETTE[i % len(PALETTE)]
            g = self.grad_norm[k].mean(axis=0)
            fig.add_scatter(x=np.arange(1, len(g) + 1), y=g, mode="lines+markers", name=k, line=dict(color=color),
                            row=1, col=1)
            loss = self.train_loss[k][:, 1:].mean(axis=0)  # index 0 (before training) has no training loss
            fig.add_scatter(x=np.arange(1, len(loss) + 1), y=loss, mode="lines", name=k, line=dict(color=color),
                            showlegend=False, row=1, col=2)
        fig.update_yaxes(type="log", title_text="‖∇W‖", row=1, col=1)
        fig.update_xaxes(title_text="слой", row=1, col=1)
        fig.update_xaxes(title_text="эпоха", row=1, col=2)
        fig.update_layout(title=f"Глубокая ReLU-сеть ({self.config['depth']} скрытых слоёв): инициализация",
                          template="plotly_white")
        return fig


def init_experiment(size: str = "cpu", *, inits=("poor", "he"), device=None, data_seed: int = 0,
                    poor_std: float = 0.01, **overrides) -> InitResult:
    """Run experiment 5 at ``size``; keyword arguments override :data:`SIZES` (``depth``, ``width``,
    ``epochs``, ``batch_size``, ``lr``, ``momentum``, ``seeds``). ``inits``: schemes of
    :func:`optviz.models.init_weights_` to compare (``"xavier"`` is the lecture's other «poor» one)."""
    from ..data import load_dataset
    from ..models import mlp
    from ..optim import SGD
    from ..train import train

    cfg = resolve_size(SIZES, size, overrides)
    t0 = time.perf_counter()
    data = load_dataset("digits", seed=data_seed, flatten=True)
    d, c = int(data.train.x.shape[1]), data.train.n_classes
    acts, grads, losses, accs = {}, {}, {}, {}
    for init in inits:
        a_s, g_s, l_s, v_s = [], [], [], []
        for seed in cfg["seeds"]:
            model = mlp(d, (cfg["width"],) * cfg["depth"], c, init=init, poor_std=poor_std, seed=seed)
            stats = layer_statistics(model, data.train.x, data.train.y)
            a_s.append(stats["activation_std"])
            g_s.append(stats["grad_norm"])
            res = train(model, lambda p: SGD(p, lr=cfg["lr"], momentum=cfg["momentum"]), data, epochs=cfg["epochs"],
                        batch_size=cfg["batch_size"], seed=seed, eval_sets=("val",), progress=False, device=device)
            l_s.append(np.asarray(res.train["loss"], dtype=float))
            v_s.append(np.asarray(res.curve("val", "accuracy"), dtype=float))
        acts[init], grads[init], losses[init], accs[init] = map(np.stack, (a_s, g_s, l_s, v_s))
    cfg.update(inits=tuple(inits), poor_std=poor_std, data_seed=data_seed)
    return InitResult(acts, grads, losses, accs, cfg, time.perf_counter() - t0)
