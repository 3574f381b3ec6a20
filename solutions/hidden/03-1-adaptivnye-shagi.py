"""Ключ ответов упражнения 03-1 (шаги Adagrad, RMSProp, Adam, AdamW): эталоны и скрытые тесты.

Не копируются в exercises/ и в выпуск для студентов и не видны процессу студента при оценивании.
Эталон — один step() torch.optim.Adagrad / RMSprop / Adam / AdamW из данного состояния; ожидаемые
значения считает проверяющий процесс. Входные данные скрытых проверок отличаются от открытых;
названия и подсказки проверок видит студент — входных данных в них нет.
"""

import numpy as np
import torch

from optviz.grading import Check
from optviz.grading.tasks.ex03_1 import METHODS

#: per task: the torch optimizer whose one step() is the reference
TORCH_CLASSES = {"adagrad_step": torch.optim.Adagrad, "rmsprop_step": torch.optim.RMSprop,
                 "adam_step": torch.optim.Adam, "adamw_step": torch.optim.AdamW}


def torch_step(task: str, x, grad, states, k, hyper: dict):
    """One ``step()`` of the torch optimizer of ``task`` from the given state; returns ``(x_new, *states_new)``."""
    spec = METHODS[task]
    p = torch.tensor(np.array(x, dtype=np.float64))
    p.grad = torch.tensor(np.array(grad, dtype=np.float64))
    kw = dict(hyper)
    if "beta1" in kw:
        kw["betas"] = (float(kw.pop("beta1")), float(kw.pop("beta2")))
    if task == "adam_step":
        kw["weight_decay"] = 0.0
    opt = TORCH_CLASSES[task]([p], **{name: (float(v) if not isinstance(v, tuple) else v) for name, v in kw.items()})
    st = opt.state[p]
    done = (int(k) - 1) if spec["counter"] else 0
    st["step"] = torch.tensor(float(done))
    for name, value in zip(spec["state"], states):
        st[name] = torch.tensor(np.array(value, dtype=np.float64))
    with torch.no_grad():
        opt.step()
    return (p.numpy().copy(), *(st[name].numpy().copy() for name in spec["state"]))


def _reference(task: str):
    spec = METHODS[task]
    n_state = len(spec["state"])

    def step(x, grad, *args):
        states = args[:n_state]
        rest = args[n_state:]
        k = rest[0] if spec["counter"] else 0
        hyper = dict(zip(spec["hyper"], rest[1:] if spec["counter"] else rest))
        return torch_step(task, x, grad, states, k, hyper)

    step.__name__ = task
    return step


REFERENCES = {task: _reference(task) for task in METHODS}

_rng = np.random.default_rng(20240301)


def _spd(d: int, kappa: float) -> np.ndarray:
    q, _ = np.linalg.qr(_rng.standard_normal((d, d)))
    return q @ np.diag(np.geomspace(1.0, kappa, d)) @ q.T


def _state(n: int, d: int, zero: bool):
    if zero:
        return [np.zeros(d) for _ in range(n)]
    if n == 1:
        return [_rng.uniform(0.01, 3.0, d)]
    return [_rng.standard_normal(d) * 0.5, _rng.uniform(0.01, 3.0, d)]


def _one(n_state: int, d: int, zero: bool, **hyper):
    return dict(x=_rng.standard_normal(d), grad=_rng.standard_normal(d) * 2.0, state=_state(n_state, d, zero), **hyper)


def _run(d: int, steps: int, **hyper):
    return dict(matrix=_spd(d, 15.0), center=_rng.standard_normal(d), x0=_rng.standard_normal(d) * 2.0, steps=steps,
                **hyper)


CHECKS = [
    # Adagrad
    Check("adagrad_step", "первый шаг, вектор длины 6", "one_step", _one(1, 6, True, lr=0.3, eps=1e-10),
          hint="на первом шаге s = g², и каждая координата сдвигается почти ровно на lr"),
    Check("adagrad_step", "накопленная сумма и заметное ε", "one_step", _one(1, 4, False, lr=0.2, eps=0.3),
          hint="в torch ε стоит снаружи корня: g/(√s + ε), а не g/√(s + ε)"),
    Check("adagrad_step", "30 шагов в R³", "quadratic_run", _run(3, 30, lr=0.4, eps=0.01), steps=True, weight=2,
          hint="сумма квадратов только растёт: s ← s + g²; шаг g/(√s + ε) по новому s, ε — снаружи корня"),
    # RMSProp
    Check("rmsprop_step", "первый шаг, вектор длины 5", "one_step", _one(1, 5, True, lr=0.01, alpha=0.99, eps=1e-8),
          hint="на первом шаге v = (1 − α)g²: без коррекции смещения шаг равен lr/√(1 − α)"),
    Check("rmsprop_step", "короткая память и заметное ε", "one_step", _one(1, 4, False, lr=0.05, alpha=0.5, eps=0.2),
          hint="v ← α·v + (1 − α)·g², ε прибавляется к √v снаружи корня"),
    Check("rmsprop_step", "30 шагов в R³", "quadratic_run", _run(3, 30, lr=0.03, alpha=0.9, eps=1e-6), steps=True,
          weight=2, hint="шаг делается по уже обновлённому v"),
    # Adam
    Check("adam_step", "первый шаг, вектор длины 6", "one_step",
          _one(2, 6, True, k=1, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8),
          hint="с коррекцией смещения первый шаг по каждой координате почти ровно lr"),
    Check("adam_step", "поздний шаг с накопленными моментами", "one_step",
          _one(2, 5, False, k=37, lr=0.05, beta1=0.8, beta2=0.99, eps=1e-8),
          hint="коррекция делит на 1 − β₁ᵏ и 1 − β₂ᵏ с номером текущего шага k"),
    Check("adam_step", "заметное ε", "one_step", _one(2, 4, False, k=3, lr=0.1, beta1=0.9, beta2=0.999, eps=0.05),
          hint="ε прибавляется к √v̂ — после коррекции смещения, а не к √v"),
    Check("adam_step", "без импульса (β₁ = 0)", "one_step", _one(2, 4, False, k=6, lr=0.1, beta1=0.0, beta2=0.9, eps=1e-8),
          hint="при β₁ = 0 момент m равен текущему градиенту"),
    Check("adam_step", "30 шагов в R³", "quadratic_run", _run(3, 30, lr=0.05, beta1=0.9, beta2=0.99, eps=1e-8),
          steps=True, weight=2, hint="номер шага k растёт: 1, 2, 3, …; моменты возвращаются без коррекции"),
    # AdamW
    Check("adamw_step", "без затухания совпадает с Adam", "one_step",
          _one(2, 5, False, k=4, lr=0.05, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0),
          hint="при λ = 0 AdamW — это Adam: проверьте коррекцию смещения"),
    Check("adamw_step", "сильное затухание", "one_step",
          _one(2, 5, False, k=9, lr=0.05, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=2.0),
          hint="затухание x ← x − lr·λ·x не входит в градиент и в моменты и не делится на √v̂"),
    Check("adamw_step", "30 шагов в R³", "quadratic_run",
          _run(3, 30, lr=0.05, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.5), steps=True, weight=2,
          hint="AdamW ≠ Adam + L2: моменты считаются по градиенту одной только функции"),
]
