"""Ключ ответов упражнения 04-2 (итерация Ньютона–Шульца и шаг Muon): эталоны и скрытые тесты.

Не копируются в exercises/ и в выпуск для студентов и не видны процессу студента при оценивании.
Эталоны — lecture_04.newton_schulz в float64 и один step() torch.optim.Muon из данного буфера (с
итерацией Ньютона–Шульца в float64); ожидаемые значения считает проверяющий процесс. Входные данные
скрытых проверок отличаются от открытых; названия и подсказки проверок видит студент — входных
данных в них нет.
"""

import contextlib

import numpy as np
import torch

from optviz.grading import Check
from optviz.grading.tasks.ex04_2 import CUBIC, MAX_CUBIC_STEPS, MUON


def _ref_newton_schulz(G, steps, coeffs):
    from optviz.course.lecture_04 import newton_schulz

    return newton_schulz(torch.tensor(np.asarray(G, dtype=np.float64)), int(steps),
                         tuple(float(c) for c in coeffs))[-1].numpy()


@contextlib.contextmanager
def float64_muon():
    """Within the block :class:`torch.optim.Muon` orthogonalises in float64 (lecture_04.newton_schulz)."""
    from torch.optim import _muon

    from optviz.course.lecture_04 import newton_schulz

    saved = _muon._zeropower_via_newtonschulz

    def exact(grad, ns_coefficients, ns_steps, eps):
        return newton_schulz(grad, ns_steps, ns_coefficients, eps)[-1].to(grad.dtype)

    _muon._zeropower_via_newtonschulz = exact
    try:
        yield
    finally:
        _muon._zeropower_via_newtonschulz = saved


def _ref_muon_step(W, G, buf, lr, momentum, weight_decay):
    p = torch.tensor(np.asarray(W, dtype=np.float64))
    p.grad = torch.tensor(np.asarray(G, dtype=np.float64))
    opt = torch.optim.Muon([p], lr=float(lr), momentum=float(momentum), weight_decay=float(weight_decay))
    opt.state[p]["momentum_buffer"] = torch.tensor(np.asarray(buf, dtype=np.float64))
    with float64_muon(), torch.no_grad():
        opt.step()
    return p.numpy().copy(), opt.state[p]["momentum_buffer"].numpy().copy()


def _min_singular(X: torch.Tensor) -> float:
    return float(torch.linalg.svdvals(X).min())


def _ref_catch_up(G, quintic_steps):
    from optviz.course.lecture_04 import newton_schulz

    G = torch.tensor(np.asarray(G, dtype=np.float64))
    target = _min_singular(newton_schulz(G, int(quintic_steps), MUON)[-1])
    for k, X in enumerate(newton_schulz(G, MAX_CUBIC_STEPS, CUBIC)):
        if _min_singular(X) >= target:
            return k
    raise ValueError("многочлен третьей степени не догнал многочлен пятой степени за отведённое число итераций")


REFERENCES = {"newton_schulz_iterate": _ref_newton_schulz, "muon_step": _ref_muon_step,
              "cubic_catch_up": _ref_catch_up}

_rng = np.random.default_rng(40402)
_MUON = (3.4445, -4.7750, 2.0315)
_CUBIC = (1.5, -0.5, 0.0)


def _spectrum(m: int, n: int, sigmas) -> np.ndarray:
    k = min(m, n)
    U, _ = np.linalg.qr(_rng.standard_normal((m, k)))
    V, _ = np.linalg.qr(_rng.standard_normal((n, k)))
    return (U * np.asarray(sigmas, dtype=float)) @ V.T


def _ls(samples: int, m: int, n: int):
    X = _rng.standard_normal((samples, m)) * np.geomspace(1.0, 0.3, m)
    return dict(X=X, Y=X @ _rng.standard_normal((m, n)))


_NS_HINT = "X₀ = G/‖G‖_F, затем X ← aX + b(XXᵀ)X + c(XXᵀ)²X; ровно steps итераций"

CHECKS = [
    Check("newton_schulz_iterate", "многочлен пятой степени, случайная высокая матрица", "ns_path",
          dict(G=_rng.standard_normal((6, 4)), steps=5, coeffs=_MUON), steps=True, rtol=1e-8, atol=1e-11, hint=_NS_HINT),
    Check("newton_schulz_iterate", "другие коэффициенты, широкая матрица", "ns_path",
          dict(G=_rng.standard_normal((3, 7)), steps=4, coeffs=(2.0, -1.5, 0.5)), steps=True, rtol=1e-8, atol=1e-11,
          hint="коэффициенты (a, b, c) берите из аргумента coeffs"),
    Check("newton_schulz_iterate", "плохо обусловленная матрица, 10 итераций", "ns_path",
          dict(G=_spectrum(10, 10, np.geomspace(5.0, 5e-3, 10)), steps=10, coeffs=_MUON), steps=True, weight=2,
          rtol=1e-7, atol=1e-10, hint="нормируйте по норме Фробениуса, а не по наибольшему элементу"),
    Check("newton_schulz_iterate", "многочлен третьей степени на матрице с равными сингулярными числами", "ns_path",
          dict(G=_spectrum(5, 3, [2.0, 2.0, 2.0]), steps=6, coeffs=_CUBIC), steps=True, rtol=1e-8, atol=1e-11,
          hint=_NS_HINT),
    Check("muon_step", "первый шаг, широкая матрица, weight decay", "one_step",
          dict(W=_rng.standard_normal((3, 5)), G=_rng.standard_normal((3, 5)), buf=np.zeros((3, 5)), lr=0.05,
               momentum=0.95, weight_decay=0.1), rtol=1e-7, atol=1e-10,
          hint="для широкой матрицы множитель √max(1, m/n) равен 1; weight decay: W ← (1 − lr·λ)W"),
    Check("muon_step", "накопленный буфер, высокая матрица", "one_step",
          dict(W=_rng.standard_normal((6, 2)), G=_rng.standard_normal((6, 2)), buf=_rng.standard_normal((6, 2)), lr=0.02,
               momentum=0.9, weight_decay=0.0), rtol=1e-7, atol=1e-10,
          hint="буфер — экспоненциальное среднее B ← μB + (1 − μ)G; ортогонализуется (1 − μ)G + μB, не сам буфер"),
    Check("muon_step", "импульс 0", "one_step",
          dict(W=_rng.standard_normal((4, 4)), G=_rng.standard_normal((4, 4)), buf=_rng.standard_normal((4, 4)), lr=0.1,
               momentum=0.0, weight_decay=0.0), rtol=1e-7, atol=1e-10,
          hint="при μ = 0 шаг Muon — это −lr·NS₅(G)"),
    Check("muon_step", "20 шагов на наименьших квадратах с weight decay", "least_squares_run",
          dict(**_ls(48, 6, 3), W0=np.zeros((6, 3)), lr=0.03, momentum=0.9, weight_decay=0.05, steps=20), steps=True,
          weight=2, rtol=1e-6, atol=1e-9, hint="следующий шаг должен получить обновлённый буфер"),
    Check("cubic_catch_up", "случайная матрица, σ_max/σ_min = 50", "catch_up",
          dict(G=_spectrum(8, 5, np.geomspace(1.0, 0.02, 5)), quintic_steps=5), rtol=0.0, atol=0.1,
          hint="цель — наименьшее сингулярное число после quintic_steps итераций многочлена пятой степени"),
    Check("cubic_catch_up", "очень плохо обусловленная матрица", "catch_up",
          dict(G=_spectrum(4, 6, np.geomspace(3.0, 3e-3, 4)), quintic_steps=5), rtol=0.0, atol=0.1,
          hint="считайте итерации многочлена третьей степени с k = 0 и остановитесь на первом k, где σ_min ≥ цели"),
    Check("cubic_catch_up", "две итерации многочлена пятой степени", "catch_up",
          dict(G=_spectrum(7, 7, np.geomspace(1.0, 0.05, 7)), quintic_steps=2), rtol=0.0, atol=0.1,
          hint="число итераций многочлена пятой степени берите из аргумента"),
]
