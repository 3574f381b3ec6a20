"""Exercise 10-1: the training schedule of two clients (client 2 joins late, then they alternate).

Tasks (the functions the student writes)::

    alternating_clients(n1, n2, batch_size, delay, epochs) -> (S,)        client (0 or 1) of every step
    alternating_batch_sizes(n1, n2, batch_size, delay, epochs) -> (S,)    number of objects in every step's batch
    epoch_alternating_clients(n1, n2, batch_size, delay, epochs) -> (S,)  client of every step, epochs alternate

``n1``, ``n2`` — training objects of client 1 and client 2. The references (in the answer key
``solutions/hidden/10-1-raspisanie-klientov.py``) read the plan of :class:`optviz.data.TwoClientSchedule`
(the batches :func:`optviz.train.train` takes, as :func:`optviz.course.lecture_10.step_clients` does) on a
training split with these client sizes; the task functions may use neither ``optviz.data``,
``optviz.train`` nor ``optviz.course.lecture_10``.
"""

from __future__ import annotations

import numpy as np

from ..spec import AnswerError, Check, Exercise, Figure, Task, as_float_array

__all__ = ["EXERCISE", "per_step", "RULES"]

#: what the task functions may not use (besides optviz.grading): the schedule itself, the trainer
#: that takes its batches and the lecture's replay of it
RULES = ("optviz.data", "optviz.train", "optviz.course.lecture_10")


# -- driver ------------------------------------------------------------------------------------

def per_step(fn, *, n1, n2, batch_size, delay, epochs):
    """Driver of every task: ``{"шаги": (S,)}`` — one number per training step."""
    out = fn(int(n1), int(n2), int(batch_size), int(delay), int(epochs))
    if out is None:
        raise AnswerError("функция должна вернуть массив с числом на каждый шаг обучения, а вернула None")
    arr = as_float_array(out, "результат")
    if arr.ndim != 1:
        raise AnswerError(f"нужен одномерный массив (число на каждый шаг), получена форма {arr.shape}")
    return {"шаги": arr}


_DRIVERS = {"per_step": per_step}


# -- figure ------------------------------------------------------------------------------------

#: the figure: the client sizes of the lecture, batch 64, delay 2, 4 epochs
_FIG_INPUTS = dict(n1=541, n2=538, batch_size=64, delay=2, epochs=4)


def _strip_figure(what: str, axis: str) -> Figure:
    def draw(reference, student):
        import plotly.graph_objects as go

        from ...viz._plotly import LAYOUT_DEFAULTS

        fig = go.Figure()
        for vals, name, color, symbol, size in ((reference["шаги"], "эталон: TwoClientSchedule.plan", "#1f77b4",
                                                 "circle-open", 10),
                                                (student["шаги"], "ваша реализация", "#ff7f0e", "x", 6)):
            fig.add_trace(go.Scatter(x=np.arange(1, len(vals) + 1), y=vals, mode="markers", name=name,
                                     marker=dict(symbol=symbol, size=size, color=color)))
        fig.update_layout(**LAYOUT_DEFAULTS)
        fig.update_layout(title=dict(text=f"{what}: задержка 2 эпохи, 4 эпохи, батч 64 (размеры клиентов лекции)"),
                          xaxis=dict(title=dict(text="шаг обучения")), yaxis=dict(title=dict(text=axis)), height=360)
        return fig
    return Figure("per_step", _FIG_INPUTS, draw)


def _checks(task: str, hint_join: str, hint_alt: str, hint_edge: str) -> list[Check]:
    return [
        Check(task, "клиенты 10 и 6 объектов, батч 3, задержка 1, 3 эпохи", "per_step",
              dict(n1=10, n2=6, batch_size=3, delay=1, epochs=3), steps=True, atol=0, hint=hint_join),
        Check(task, "клиент 2 больше клиента 1, без задержки, 2 эпохи", "per_step",
              dict(n1=5, n2=11, batch_size=4, delay=0, epochs=2), steps=True, atol=0, weight=2, hint=hint_alt),
        Check(task, "батч больше клиента, задержка 2, 4 эпохи", "per_step",
              dict(n1=7, n2=3, batch_size=8, delay=2, epochs=4), steps=True, atol=0, hint=hint_edge),
    ]


EXERCISE = Exercise(
    id="10-1-raspisanie-klientov",
    title="Расписание двух клиентов",
    tasks=[
        Task("alternating_clients", "Клиент каждого шага: чередование батчей", _DRIVERS,
             _checks("alternating_clients",
                     "первые delay эпох — один проход по клиенту 1 (0), затем эпоха начинается с клиента 1",
                     "после подключения в эпохе 2·max(b₁, b₂) шагов: клиенты 0, 1, 0, 1, …, b_k = ⌈n_k / batch⌉",
                     "неполный последний батч — тоже шаг: число батчей ⌈n / batch⌉"),
             figure=_strip_figure("Клиент каждого шага (чередование батчей)", "клиент (0 или 1)"), forbid=RULES),
        Task("alternating_batch_sizes", "Размер батча каждого шага: меньший клиент перемешивается заново", _DRIVERS,
             _checks("alternating_batch_sizes",
                     "у большего клиента последний батч прохода неполный, а меньший берёт полные батчи из "
                     "повторных перемешиваний",
                     "меньшим считается клиент с меньшим числом батчей ⌈n / batch⌉; его поток объектов не "
                     "обрывается на конце прохода",
                     "до подключения клиента 2 батчи — обычный проход по клиенту 1"),
             figure=_strip_figure("Размер батча каждого шага", "объектов в батче"), forbid=RULES),
        Task("epoch_alternating_clients", "Клиент каждого шага: чередование эпох", _DRIVERS,
             _checks("epoch_alternating_clients",
                     "эпоха delay целиком принадлежит клиенту 2, следующая — клиенту 1, и так далее",
                     "в эпохе одного клиента ⌈n_k / batch⌉ шагов — по его собственному размеру",
                     "неполный последний батч — тоже шаг"),
             figure=_strip_figure("Клиент каждого шага (чередование эпох)", "клиент (0 или 1)"), forbid=RULES),
    ],
)
