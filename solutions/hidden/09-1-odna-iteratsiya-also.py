"""Ключ ответов упражнения 09-1 (одна итерация ALSO): эталоны и скрытые тесты.

Не копируются в exercises/ и в выпуск для студентов и не видны процессу студента при оценивании.
Эталоны собраны из частей самого optviz.optim.ALSO (его _adam_step, сигнал групп weighted_loss и
mirror_step); ожидаемые значения считает проверяющий процесс. Названия и подсказки проверок видит
студент — входных данных в них нет.
"""

import numpy as np
import torch

from optviz.grading import Check
from optviz.grading.tasks.ex09_1 import toy_inputs
from optviz.optim import ALSO
from optviz.problems.dro_toy import DROToy


def _t(v) -> torch.Tensor:
    return torch.tensor(np.asarray(v, dtype=np.float64))


def _also(theta, hp: dict, n_groups: int):
    p = _t(theta)
    opt = ALSO([p], n_groups=n_groups, lr=float(hp["lr"]), betas=(float(hp["beta1"]), float(hp["beta2"])),
               eps=float(hp["eps"]), weight_decay=float(hp["weight_decay"]), pi_lr=float(hp["pi_lr"]),
               pi_decay=float(hp["tau"]), alpha=float(hp["alpha"]), prior=np.asarray(hp["prior"], float).tolist(),
               loss_scale=float(hp["scale"]))
    return opt, p


def _ref_adam_half_step(g, m, v, k, lr, beta1, beta2, eps):
    opt, p = _also(np.zeros_like(np.asarray(g, float)),
                   dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=0.0, pi_lr=0.0, tau=0.0, alpha=1.0,
                        prior=[1.0], scale=1.0), 1)
    st = opt.state[p]
    st["step"], st["exp_avg"], st["exp_avg_sq"] = int(k) - 1, _t(m), _t(v)
    delta = opt._adam_step(p, _t(g), opt.param_groups[0])
    return delta.numpy(), st["exp_avg"].numpy(), st["exp_avg_sq"].numpy()


def _ref_also_iteration(state, oracle, groups, hp):
    groups_t = torch.as_tensor(np.asarray(groups), dtype=torch.long)
    opt, p = _also(state["theta"], hp, len(hp["prior"]))
    group = opt.param_groups[0]
    st = opt.state[p]
    st["step"], st["exp_avg"], st["exp_avg_sq"] = int(state["k"]), _t(state["m"]), _t(state["v"])
    lam, alpha = group["weight_decay"], group["alpha"]
    theta, pi = _t(state["theta"]), _t(state["pi"])
    # 1. extrapolation (none on the first iteration)
    if state["G_prev"] is None:
        theta_half, pi_half = theta, pi
    else:
        theta_half = theta + opt._adam_step(p, alpha * _t(state["G_prev"]) + lam * theta, group)
        pi_half = opt.mirror_step(pi, _t(state["h_prev"]))
    # 2. one oracle call at (θ½, π½): the weighted gradient and the group signal of ALSO
    losses, grads = oracle(theta_half.numpy().copy())
    opt._pi_half = pi_half
    opt.weighted_loss(_t(losses), groups_t)
    h = opt._take_signal()
    G = (pi_half[groups_t] * opt.loss_scale) @ _t(grads)
    # 3. Adam from the base point θ_t;  4. mirror step from π_t
    theta_new = theta + opt._adam_step(p, G + lam * theta, group)
    pi_new = opt.mirror_step(pi, h)
    return dict(theta=theta_new.numpy(), pi=pi_new.numpy(), G_prev=G.numpy(), h_prev=h.numpy(),
                m=st["exp_avg"].numpy(), v=st["exp_avg_sq"].numpy(), k=int(st["step"]))


REFERENCES = {"adam_half_step": _ref_adam_half_step, "also_iteration": _ref_also_iteration}

_rng = np.random.default_rng(90901)
_F32_EPS = float(np.finfo(np.float32).eps)


def _spd(d: int) -> np.ndarray:
    q, _ = np.linalg.qr(_rng.standard_normal((d, d)))
    return q @ np.diag(_rng.uniform(0.3, 2.0, d)) @ q.T


def _problem(n: int, d: int, c: int) -> dict:
    groups = np.sort(np.r_[np.arange(c), _rng.integers(0, c, n - c)])        # every group present
    centers = _rng.standard_normal((c, d))[groups] * 2.0 + 0.3 * _rng.standard_normal((n, d))
    return dict(centers=centers, curvatures=np.stack([_spd(d) for _ in range(c)]), groups=groups)


def _hp(c: int, **kw) -> dict:
    prior = _rng.uniform(0.5, 2.0, c)
    hp = dict(lr=0.05, beta1=0.9, beta2=0.999, eps=_F32_EPS, weight_decay=1e-3, pi_lr=0.3, tau=0.4, alpha=1.0,
              prior=prior / prior.sum(), scale=c / 12.0)
    hp.update(kw)
    return hp


_P3 = _problem(12, 3, 4)
_P2 = _problem(9, 2, 3)


def _mid_state(d: int, c: int, k: int) -> dict:
    pi = _rng.dirichlet(np.full(c, 3.0))
    return dict(theta=_rng.standard_normal(d), pi=pi, G_prev=_rng.standard_normal(d), h_prev=-_rng.uniform(0, 3, c),
                m=0.1 * _rng.standard_normal(d), v=_rng.uniform(1e-4, 1e-2, d), k=k)


CHECKS = [
    # adam_half_step
    Check("adam_half_step", "первый шаг, вектор длины 6", "adam_one",
          dict(g=_rng.standard_normal(6), m=np.zeros(6), v=np.zeros(6), k=1, lr=0.02, beta1=0.9, beta2=0.999,
               eps=1e-8), rtol=1e-10,
          hint="поправка смещения: множитель √(1 − β₂ᵏ)/(1 − β₁ᵏ) при номере шага k"),
    Check("adam_half_step", "накопленные моменты, большой ε", "adam_one",
          dict(g=_rng.standard_normal(4), m=0.1 * _rng.standard_normal(4), v=_rng.uniform(1e-6, 1e-4, 4), k=9, lr=0.05,
               beta1=0.8, beta2=0.99, eps=1e-2), rtol=1e-10,
          hint="ε прибавляется к √v без поправки, а поправка смещения умножает весь шаг: "
               "δ = −η·√(1−β₂ᵏ)/(1−β₁ᵏ)·m/(√v + ε)"),
    Check("adam_half_step", "β₁ = 0 (без первого момента)", "adam_one",
          dict(g=_rng.standard_normal(5), m=_rng.standard_normal(5), v=_rng.uniform(0.1, 1.0, 5), k=3, lr=0.1,
               beta1=0.0, beta2=0.9, eps=1e-8), rtol=1e-10,
          hint="при β₁ = 0 новый m равен g, а (1 − β₁ᵏ) = 1"),
    Check("adam_half_step", "30 шагов на квадратичной функции в R³", "adam_quadratic",
          dict(matrix=_spd(3), center=_rng.standard_normal(3), x0=_rng.standard_normal(3), lr=0.05, beta1=0.9,
               beta2=0.99, eps=1e-8, steps=30), steps=True, weight=2,
          hint="верните обновлённые m и v: следующий шаг должен продолжать с них"),
    # also_iteration
    Check("also_iteration", "первая итерация, 4 группы в R³", "also_one",
          dict(**_mid_state(3, 4, 0) | dict(G_prev=None, h_prev=None, m=np.zeros(3), v=np.zeros(3)), **_P3, hp=_hp(4)),
          rtol=1e-10, atol=1e-12,
          hint="без прошлого градиента экстраполяции нет: один полушаг Adam, k = 1"),
    Check("also_iteration", "итерация с экстраполяцией, 4 группы в R³", "also_one",
          dict(**_mid_state(3, 4, 7), **_P3, hp=_hp(4, weight_decay=0.05)), rtol=1e-10, atol=1e-12,
          hint="экстраполяция: θ½ = θ + AdamStep(αG_prev + λθ), π½ = MD(π, h_prev); "
               "обновление — снова из θ_t и π_t, градиент G взвешен весами π½"),
    Check("also_iteration", "итерация с α = 2", "also_one",
          dict(**_mid_state(2, 3, 4), **_P2, hp=_hp(3, alpha=2.0, scale=0.5)), rtol=1e-10, atol=1e-12,
          hint="α умножает только прошлый градиент в экстраполяции θ, а не λθ"),
    Check("also_iteration", "игрушка DROToy из лекции (другое зерно), 20 итераций", "also_run",
          dict(**toy_inputs(DROToy(seed=5)), steps=20), steps=True, weight=2, rtol=1e-9, atol=1e-12,
          hint="одно состояние Adam на оба полушага (k растёт на 2 за итерацию, кроме первой); "
               "сигнал h — сумма потерь группы со знаком минус, умноженная на s"),
    Check("also_iteration", "равномерное π̂, τ = 0, 15 итераций в R³", "also_run",
          dict(**_P3, theta0=_rng.standard_normal(3), steps=15,
               hp=_hp(4, tau=0.0, pi_lr=0.05, prior=np.full(4, 0.25), alpha=0.5)), steps=True, weight=2,
          rtol=1e-9, atol=1e-12,
          hint="π_{t+1} = MD(π_t, h_{t+1/2}) из базовой π_t, а не из экстраполированной π½"),
]
