"""The authoring format of graded tasks: :class:`Check`, :class:`Task`, :class:`Exercise`.

An exercise ``NN-K-slug`` has

* a public spec module ``optviz.grading.tasks.exNN_K`` (shipped to students) defining ``EXERCISE``:
  for each task the trusted *reference* implementation, the *drivers* that call a task function on
  given inputs and return plain values, the *public* checks of the self-check and an optional
  figure (the student's trajectory over the reference one);
* the full notebook ``solutions/NN-K-slug.ipynb`` (task cells, solution regions, points);
* the hidden checks ``solutions/hidden/NN-K-slug.py`` (a ``CHECKS`` list of :class:`Check`), never
  shipped.

A check is evaluated by running ``task.drivers[check.driver](fn, **check.inputs)`` twice: with the
student's function (in the sandboxed child when grading) and with ``task.reference`` (always in the
trusted process); the two results are compared by :func:`optviz.grading.values.compare`.
"""

from __future__ import annotations

import copy
import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = ["AnswerError", "Check", "Task", "Exercise", "as_float_array", "as_pair", "exercises", "get_exercise",
           "find_task"]


class AnswerError(Exception):
    """A task function returned something of the wrong kind; the message (Russian) says what was expected."""


@dataclass(frozen=True)
class Check:
    """One graded comparison of a task function against the reference.

    Attributes
    ----------
    task : id of the task (= the name of the function the student writes).
    label : short Russian description shown to the student («шаг с накопленным буфером, d = 5»);
        for hidden checks it must not reveal the inputs.
    driver : name of a driver of the task (a key of ``Task.drivers``).
    inputs : keyword arguments of the driver (numbers, strings, lists, NumPy arrays).
    weight : share of the task's points carried by this check (task score = points × passed weight /
        total weight).
    rtol, atol : tolerances of :func:`numpy.isclose`.
    steps : the first axis of array results is the step number (messages say «шаг k»).
    hint : Russian advice appended to the message when the check fails.
    """

    task: str
    label: str
    driver: str
    inputs: dict = field(default_factory=dict)
    weight: float = 1.0
    rtol: float = 1e-7
    atol: float = 1e-10
    steps: bool = False
    hint: str = ""


@dataclass
class Task:
    """A task of an exercise: the function ``id`` the student writes.

    ``figure(fn)`` (optional) returns a plotly figure of the student's function at work drawn over
    the reference (for method tasks: the two trajectories on a quadratic).
    """

    id: str
    title: str
    reference: Callable
    drivers: dict[str, Callable]
    public: list[Check]
    figure: Callable | None = None

    def run(self, check: Check, fn: Callable) -> Any:
        """Driver ``check.driver`` applied to ``fn`` on a private copy of the inputs."""
        return self.drivers[check.driver](fn, **copy.deepcopy(dict(check.inputs)))


@dataclass
class Exercise:
    """The public spec of one exercise notebook (``id`` = the notebook's file name without ``.ipynb``)."""

    id: str
    title: str
    tasks: list[Task]

    def task(self, task_id: str) -> Task:
        for t in self.tasks:
            if t.id == task_id:
                return t
        raise KeyError(task_id)

    @property
    def task_ids(self) -> list[str]:
        return [t.id for t in self.tasks]


def as_float_array(value, what: str, shape: tuple | None = None) -> np.ndarray:
    """``value`` (NumPy array, torch tensor, list or number) as a float64 array, else :class:`AnswerError`."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch tensor
        value = value.detach().cpu().numpy()
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise AnswerError(f"{what} должно быть числом или массивом чисел, получено значение типа "
                          f"{type(value).__name__}") from None
    if shape is not None and arr.shape != tuple(shape):
        raise AnswerError(f"{what} должно иметь форму {tuple(shape)}, получена форма {arr.shape}")
    return arr


def as_pair(value, what: str) -> tuple:
    """A pair ``(a, b)`` returned by a task function, else :class:`AnswerError`."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise AnswerError(f"функция должна вернуть пару {what}, а вернула значение типа {type(value).__name__}")
    return value[0], value[1]


def exercises() -> dict[str, Exercise]:
    """Every public exercise spec, by exercise id (modules ``optviz.grading.tasks.ex*``)."""
    from . import tasks

    found: dict[str, Exercise] = {}
    for info in sorted(pkgutil.iter_modules(tasks.__path__), key=lambda i: i.name):
        if not info.name.startswith("ex"):
            continue
        module = importlib.import_module(f"{tasks.__name__}.{info.name}")
        ex = getattr(module, "EXERCISE", None)
        if isinstance(ex, Exercise):
            found[ex.id] = ex
    return found


def get_exercise(exercise_id: str) -> Exercise:
    """The public spec of ``exercise_id`` (``KeyError`` with a Russian message when unknown)."""
    found = exercises()
    if exercise_id not in found:
        known = ", ".join(sorted(found)) or "нет ни одного"
        raise KeyError(f"Упражнение {exercise_id!r} не описано в optviz/grading/tasks (известны: {known}).")
    return found[exercise_id]


def find_task(task_id: str) -> tuple[Exercise, Task]:
    """The exercise and task with this id (task ids are unique across the course)."""
    for ex in exercises().values():
        for t in ex.tasks:
            if t.id == task_id:
                return ex, t
    known = ", ".join(t.id for ex in exercises().values() for t in ex.tasks)
    raise KeyError(f"Задание {task_id!r} не найдено. Известные задания: {known}.")
