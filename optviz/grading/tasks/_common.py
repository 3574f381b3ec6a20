"""Helpers shared by the exercise specs: quadratics, traces from a student's points, figures."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ...run import Trace

__all__ = ["quadratic_grad", "trace_from_points", "race_figure", "LazyInputs"]


def quadratic_grad(matrix: np.ndarray, center: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Gradient :math:`A(x - c)` of :math:`f(x) = \\tfrac12 (x - c)^\\top A (x - c)`."""
    return np.asarray(matrix, dtype=np.float64) @ (np.asarray(x, dtype=np.float64) - np.asarray(center, dtype=np.float64))


def trace_from_points(problem, points, method: str) -> Trace:
    """A :class:`~optviz.run.Trace` of one run through ``points`` ``(K+1, d)`` on ``problem``.

    Non-finite points (a diverging or broken student method) end the run there: later points are
    frozen at the last good one and ``diverged_at`` records the step, as :func:`optviz.run.run` does.
    """
    pts = np.array(points, dtype=np.float64)
    bad = ~np.isfinite(pts).all(axis=1)
    diverged = int(np.argmax(bad)) if bad.any() else -1
    if diverged == 0:
        pts[:] = 0.0
    elif diverged > 0:
        pts[diverged:] = pts[diverged - 1]
    loss = np.asarray(problem.value_np(pts), dtype=np.float64)
    grads = np.asarray(problem.grad_np(pts), dtype=np.float64)
    K = pts.shape[0] - 1
    return Trace(points=pts[:, None, :], loss=loss[:, None], grad_norm=np.linalg.norm(grads, axis=1)[:, None],
                 step_size=np.zeros((K, 1)), diverged_at=np.array([diverged], dtype=np.int64), method=method,
                 problem=getattr(problem, "name", ""), f_star=float(getattr(problem, "f_star", np.nan)))


def race_figure(problem, reference, student_points, title: str, *, reference_label: str):
    """The student's trajectory (orange) over the reference one, on the problem's contour.

    ``reference``: a :class:`~optviz.run.Trace` or the reference points ``(K+1, d)`` (stored data).
    """
    from ...viz import trajectory_figure

    if not isinstance(reference, Trace):
        reference = trace_from_points(problem, reference, "эталон")
    student = trace_from_points(problem, student_points, "ваш метод")
    return trajectory_figure(problem, [reference, student], animate=False, labels=[reference_label, "ваша реализация"],
                             colors=["#1f77b4", "#ff7f0e"], title=title, height=460)


class LazyInputs(Mapping):
    """Keyword arguments of a figure's driver, made on first use (keeps the import of a spec module light)."""

    def __init__(self, make):
        self._make, self._data = make, None

    def _get(self) -> dict:
        if self._data is None:
            self._data = self._make()
        return self._data

    def __getitem__(self, key):
        return self._get()[key]

    def __iter__(self):
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())
