"""Ключ ответов упражнения 01-1 (шаг тяжёлого шарика и шаг Нестерова): эталоны и скрытые тесты.

Не копируются в exercises/ и в выпуск для студентов и не видны процессу студента при оценивании.
Эталон — один step() torch.optim.SGD из данного буфера; ожидаемые значения считает проверяющий
процесс. Входные данные скрытых проверок отличаются от открытых; названия и подсказки проверок
видит студент — входных данных в них нет.
"""

import numpy as np
import torch

from optviz.grading import Check


def torch_sgd_step(x, grad, buf, lr, momentum, *, nesterov: bool):
    """One step of ``torch.optim.SGD(momentum=..., nesterov=...)`` from a given buffer."""
    p = torch.tensor(np.asarray(x, dtype=np.float64))
    p.grad = torch.tensor(np.asarray(grad, dtype=np.float64))
    opt = torch.optim.SGD([p], lr=float(lr), momentum=float(momentum), nesterov=nesterov)
    if float(momentum) > 0:
        opt.state[p]["momentum_buffer"] = torch.tensor(np.asarray(buf, dtype=np.float64))
    with torch.no_grad():
        opt.step()
    new_buf = opt.state[p].get("momentum_buffer") if float(momentum) > 0 else p.grad
    return p.numpy().copy(), new_buf.numpy().copy()


def _reference(nesterov: bool):
    def step(x, grad, buf, lr, momentum):
        return torch_sgd_step(x, grad, buf, lr, momentum, nesterov=nesterov)
    step.__name__ = "nesterov_step" if nesterov else "momentum_step"
    return step


REFERENCES = {"momentum_step": _reference(False), "nesterov_step": _reference(True)}

_rng = np.random.default_rng(20240101)


def _spd(d: int, kappa: float) -> np.ndarray:
    q, _ = np.linalg.qr(_rng.standard_normal((d, d)))
    return q @ np.diag(np.geomspace(1.0, kappa, d)) @ q.T


def _one(d, lr, momentum, zero_buf):
    return dict(x=_rng.standard_normal(d), grad=_rng.standard_normal(d),
                buf=np.zeros(d) if zero_buf else _rng.standard_normal(d), lr=lr, momentum=momentum)


CHECKS = []
for _task, _hint_buf, _hint_run in (
    ("momentum_step", "буфер: b ← μ·b + g (без множителя 1 − μ), шаг: x ← x − lr·b",
     "проверьте, что следующий шаг получает обновлённый буфер и точка сдвигается вдоль него"),
    ("nesterov_step", "буфер: b ← μ·b + g; направление шага — g + μ·b по уже обновлённому буферу",
     "у Нестерова заглядывание вперёд делается по новому буферу, а возвращается сам буфер, не g + μ·b"),
):
    CHECKS += [
        Check(_task, "первый шаг из нулевого буфера, вектор длины 7", "one_step", _one(7, 0.05, 0.9, True),
              hint="при нулевом буфере новый буфер равен градиенту"),
        Check(_task, "шаг с накопленным буфером, вектор длины 5", "one_step", _one(5, 0.3, 0.6, False),
              hint=_hint_buf),
        Check(_task, "25 шагов на квадратичной функции в R³", "quadratic_run",
              dict(matrix=_spd(3, 20.0), center=_rng.standard_normal(3), x0=_rng.standard_normal(3), lr=0.04,
                   momentum=0.85, steps=25), steps=True, weight=2, hint=_hint_run),
    ]
CHECKS.append(Check("momentum_step", "импульс 0: шаг обычного градиентного спуска", "one_step",
                    _one(4, 0.2, 0.0, False), hint="при μ = 0 метод — обычный градиентный спуск: b = g"))
CHECKS.append(Check("nesterov_step", "большой импульс 0.99", "one_step", _one(6, 0.01, 0.99, False),
                    hint=_hint_buf))
