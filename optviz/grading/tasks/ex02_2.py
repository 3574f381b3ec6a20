"""Exercise 02-2: mini-batch SGD, the decreasing step (2k+1)/(2μ(k+1)²) and the noise floor.

Tasks (the functions the student writes)::

    decreasing_step(k, mu, lr0) -> float                 min(α₀, (2k+1)/(2μ(k+1)²)), k = 0, 1, …
    sgd_trajectory(A, y, x0, batches, step_sizes)        SGD iterates on least squares, shape (K+1, d)
    noise_floor_bound(A, y, lr, b) -> float              L σ_b² α/(4μ), σ_b² the batch variance at x*

Least squares :math:`f_i(x) = \\tfrac12 (a_i^\\top x - y_i)^2` as in exercise 02-1 (the same
:class:`~optviz.problems.LeastSquares`). The references (in the answer key
``solutions/hidden/02-2-pol-shuma.py``): the lecture's schedule :func:`optviz.widgets.sgd.step_schedule`,
``torch.optim.SGD`` driven by autograd mini-batch gradients, and ``FiniteSum.grad_variance`` / ``mu`` /
``L`` of the course's finite-sum problem. The task functions may not use them (see the rules of each task).
"""

from __future__ import annotations

import numpy as np

from ...problems import LinearRegression
from ..spec import AnswerError, Check, Exercise, Figure, Task, as_float_array
from ._common import race_figure

__all__ = ["EXERCISE", "SCHEDULE_RULES", "SGD_RULES", "FLOOR_RULES"]

# What each task function may not use (besides optviz.grading):
#: decreasing_step — the lecture's schedule step_schedule / lr_scheduler (lecture 02 runs them too);
SCHEDULE_RULES = ("optviz.widgets.sgd", "optviz.course.lecture_02")
#: sgd_trajectory — the optimizers, the runner, the finite sums' autograd gradients, the lecture's SGD runs;
SGD_RULES = ("torch.optim", "optviz.optim", "optviz.run", "optviz.problems", "optviz.course.lecture_02")
#: noise_floor_bound — the finite sums' μ, L, optimum, grad_variance, noise_floor and the floors built on them.
FLOOR_RULES = ("optviz.problems", "optviz.viz.sgd", "optviz.course.lecture_02")


# -- drivers ------------------------------------------------------------------------------------

def schedule(fn, *, ks, mu, lr0):
    """Driver of ``decreasing_step``: ``{"alpha": α_k for k in ks}``."""
    vals = []
    for k in ks:
        a = fn(int(k), float(mu), float(lr0))
        if a is None:
            raise AnswerError("функция должна вернуть число — шаг α_k, а вернула None")
        vals.append(as_float_array(a, "шаг α_k", ()))
    return {"alpha": np.array(vals)}


def trajectory(fn, *, A, y, x0, batches, step_sizes):
    """Driver of ``sgd_trajectory``: ``{"x": (K+1, d)}`` (batches passed as an int array ``(K, b)``)."""
    A = np.array(A, dtype=np.float64)
    batches = np.array(batches, dtype=np.int64)
    if batches.ndim == 1:
        batches = batches[:, None]
    steps = np.array(step_sizes, dtype=np.float64).reshape(-1)
    pts = fn(A, np.array(y, dtype=np.float64).reshape(-1), np.array(x0, dtype=np.float64).reshape(-1), batches,
             steps)
    if pts is None:
        raise AnswerError("функция должна вернуть массив точек формы (K + 1, d), а вернула None")
    return {"x": as_float_array(pts, "массив точек", (batches.shape[0] + 1, A.shape[1]))}


def floor(fn, *, A, y, lr, b):
    """Driver of ``noise_floor_bound``: ``{"floor": Lσ_b²α/(4μ)}``."""
    v = fn(np.array(A, dtype=np.float64), np.array(y, dtype=np.float64).reshape(-1), float(lr), int(b))
    if v is None:
        raise AnswerError("функция должна вернуть число — оценку шумового плато, а вернула None")
    return {"floor": as_float_array(v, "шумовое плато", ())}


# -- figure -------------------------------------------------------------------------------------

_FIG_LIN = LinearRegression()
_FIG_K, _FIG_LR0 = 120, 0.15
#: the steps min(α₀, (2k+1)/(2μ(k+1)²)), k = 0..119, at μ of LinearRegression() and α₀ = 0.15, stored as data
#: (the schedule is the answer of decreasing_step: this module does not compute it)
_FIG_STEPS = np.concatenate([np.full(13, 0.15), np.array([
    0.14143802668106056, 0.1323347726181314, 0.12433122831512211, 0.11723967148187872, 0.11091276440695878,
    0.10523325838627795, 0.10010669221759509, 0.09545611677240302, 0.09121821922773021, 0.08734043235503425,
    0.0837787488288278, 0.0804960478959944, 0.0774607996221719, 0.07464605096595323, 0.07202862469868825,
    0.06958848082445099, 0.06730820331439442, 0.0651725843835033, 0.06316828535365075, 0.06128355813749317,
    0.05950801507034753, 0.05783243757625588, 0.05624861623495767, 0.054749216398902, 0.05332766472277599,
    0.051978052905509685, 0.05069505567429495, 0.04947386061181655, 0.04831010787871616, 0.04719983824102055,
    0.04613944809774726, 0.045125650433002665, 0.044155440801711764, 0.043226067607973644,
    0.042335006057120435, 0.04147993526247279, 0.04065871806991554, 0.03986938323121129, 0.03911010961315542,
    0.03837921217642006, 0.037675129496966955, 0.03699641263561895, 0.036341715188883614, 0.03570978437732555,
    0.03509945304742045, 0.03450963247949271, 0.033939305908529394, 0.03338752267677977, 0.03285339294742175,
    0.0323360829174807, 0.0318348104758478, 0.03134884125885545, 0.0308774850615831, 0.03042009256802131,
    0.02997605236752581, 0.02954478822873998, 0.029125756605433213, 0.028718444351560096, 0.028322366625348403,
    0.027937064964420687, 0.027562105515885595, 0.02719707740703666, 0.026841591243797248,
    0.026495277725377735, 0.026157786364785718, 0.025828784305872134, 0.025507955228521825,
    0.025194998334420265, 0.024889627406562028, 0.024591569936320914, 0.024300566312486744,
    0.024016369067196976, 0.023738742174160336, 0.023467460394990293, 0.023202308669844168,
    0.02294308154890354, 0.022689582661537856, 0.022441624220269088, 0.02219902655690454, 0.021961617688430076,
    0.02172923291045987, 0.02150171441622328, 0.02127891093923685, 0.021060677417961367, 0.020846874680881942,
    0.02063736915057462, 0.020432032565437356, 0.020230741717867394, 0.020033378207762107, 0.01983982821030716,
    0.019649982257095074, 0.01946373502968998, 0.019280985164820554, 0.01910163507044418, 0.018925590751981063,
    0.018752761648068245, 0.01858306047523062, 0.018416403080909197, 0.01825270830432668, 0.01809189784470715,
    0.017933896136400222, 0.017778630230491418, 0.017626029682508967, 0.017476026445864004,
    0.01732855477068544, 0.01718355110773362, 0.01704095401709774])])


def _sgd_draw(reference, student):
    return race_figure(_FIG_LIN, reference["x"], student["x"],
                       f"SGD (b = 1) с шагом min(α₀, (2k+1)/(2μ(k+1)²)), α₀ = {_FIG_LR0}, на линейной регрессии "
                       "лекции", reference_label="эталон: torch.optim.SGD")


_SGD_FIGURE = Figure("trajectory", dict(A=_FIG_LIN.A, y=_FIG_LIN.y, x0=_FIG_LIN.starts[0],
                                        batches=_FIG_LIN.sample_batches(_FIG_K, 1, 0), step_sizes=_FIG_STEPS),
                     _sgd_draw)


# -- public checks -------------------------------------------------------------------------------

_A = np.array([[1.0, 2.0], [0.5, -1.0], [2.0, 0.0], [-1.0, 1.0], [0.0, 3.0], [1.5, 0.5]])
_Y = np.array([1.0, 0.0, 2.0, -1.0, 0.5, 1.0])
_BATCHES = np.array([[0, 3], [5, 1], [2, 4], [1, 0], [3, 2], [4, 5]])

EXERCISE = Exercise(
    id="02-2-pol-shuma",
    title="Шумовое плато и убывающий шаг SGD",
    tasks=[
        Task("decreasing_step", "Убывающий шаг (2k+1)/(2μ(k+1)²), ограниченный α₀",
             {"schedule": schedule}, [
                 Check("decreasing_step", "μ = 1, α₀ = 10: первые шаги", "schedule",
                       dict(ks=[0, 1, 2, 5, 10], mu=1.0, lr0=10.0), rtol=1e-10,
                       hint="α_k = (2k + 1)/(2μ(k + 1)²); нумерация шагов начинается с k = 0"),
                 Check("decreasing_step", "ограничение сверху α₀", "schedule",
                       dict(ks=[0, 1, 3, 20, 100], mu=0.5, lr0=0.3), rtol=1e-10,
                       hint="шаг не должен превышать α₀: возьмите минимум из α₀ и формулы"),
             ], forbid=SCHEDULE_RULES),
        Task("sgd_trajectory", "Мини-батч SGD на наименьших квадратах",
             {"trajectory": trajectory}, [
                 Check("sgd_trajectory", "один шаг, батч из двух объектов", "trajectory",
                       dict(A=_A, y=_Y, x0=[0.0, 0.0], batches=_BATCHES[:1], step_sizes=[0.1]), steps=True,
                       hint="шаг делается по среднему градиенту батча aᵢ(aᵢᵀx − yᵢ), а не по сумме"),
                 Check("sgd_trajectory", "6 шагов с убывающим шагом", "trajectory",
                       dict(A=_A, y=_Y, x0=[1.0, -1.0], batches=_BATCHES, step_sizes=[0.3, 0.25, 0.2, 0.15, 0.1, 0.05]),
                       steps=True, weight=2,
                       hint="на шаге k используйте k-й батч и k-й шаг; первая строка ответа — x0"),
             ], figure=_SGD_FIGURE, forbid=SGD_RULES),
        Task("noise_floor_bound", "Оценка шумового плато Lσ_b²α/(4μ) для батча размера b",
             {"floor": floor}, [
                 Check("noise_floor_bound", "b = 1", "floor", dict(A=_A, y=_Y, lr=0.1, b=1), rtol=1e-8,
                       hint="μ и L — крайние собственные числа AᵀA/n; σ² = (1/n)Σ‖∇fᵢ(x*)‖² считается в минимуме x*"),
                 Check("noise_floor_bound", "b = 3", "floor", dict(A=_A, y=_Y, lr=0.05, b=3), rtol=1e-8,
                       hint="дисперсия батча без возвращения: σ_b² = σ²·(n − b)/(b(n − 1)), а не σ²/b"),
             ], forbid=FLOOR_RULES),
    ],
)
