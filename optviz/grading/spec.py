"""The authoring format of graded tasks: :class:`Check`, :class:`Task`, :class:`Figure`, :class:`Exercise`.

An exercise ``NN-K-slug`` has

* a public spec module ``optviz.grading.tasks.exNN_K`` (shipped to students) defining ``EXERCISE``:
  for each task the *drivers* that call a task function on given inputs and return plain values,
  the *public* checks of the self-check, an optional figure and the task's rules (what the
  function may not use). It holds **no reference implementation**;
* the full notebook ``solutions/NN-K-slug.ipynb`` (task cells, solution regions, points);
* the trusted answer key ``solutions/hidden/NN-K-slug.py``: ``REFERENCES`` (task id → reference
  function) and ``CHECKS`` (the hidden :class:`Check` list), never shipped;
* the expected values of the public checks and the reference curves of the figures,
  ``optviz/grading/expected/NN-K-slug.json``, computed from the answer key by
  ``python -m optviz.grading generate`` and shipped as data.

A check is evaluated by ``task.drivers[check.driver](fn, **check.inputs)``. When grading, the
driver always runs in the trusted grader process; ``fn`` is then a proxy that calls the student's
function in the sandbox on plain values. The reference runs only in the trusted process.
"""

from __future__ import annotations

import copy
import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = ["AnswerError", "Check", "Task", "Figure", "Exercise", "as_float_array", "as_pair", "exercises",
           "get_exercise", "find_task", "DEFAULT_FORBID"]

#: what no task function may use: the grader itself (checks, drivers, expected values)
DEFAULT_FORBID = ("optviz.grading",)


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


@dataclass(frozen=True)
class Figure:
    """The self-check figure of a task: the student's function at work over the reference.

    ``driver(fn, **inputs)`` is run with the student's function; the reference value of the same
    driver call is precomputed by ``generate`` (stored in ``optviz/grading/expected``).
    ``draw(reference, student)`` gets both as plain values (after the JSON round trip, as
    :func:`optviz.grading.values.normalise` returns them) and returns a plotly figure.
    """

    driver: str
    inputs: dict
    draw: Callable


@dataclass
class Task:
    """A task of an exercise: the function ``id`` the student writes.

    ``forbid``: dotted module names the task function may not use (their code must not run during
    a call of the function, and the function's source may not import or name them), in addition to
    :data:`DEFAULT_FORBID`; ``allow``: dotted names of functions that stay allowed inside a
    forbidden module (``"optviz.optim._functional.kl_mirror_step"``). The grader gives 0 for the
    task when a rule is broken; the exercise notebook states the rules in Russian.
    """

    id: str
    title: str
    drivers: dict[str, Callable]
    public: list[Check]
    figure: Figure | None = None
    forbid: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()

    def run(self, check: Check, fn: Callable) -> Any:
        """Driver ``check.driver`` applied to ``fn`` on a private copy of the inputs."""
        return self.drivers[check.driver](fn, **copy.deepcopy(dict(check.inputs)))

    def run_figure(self, fn: Callable) -> Any:
        """The figure's driver applied to ``fn`` (``None`` when the task has no figure)."""
        if self.figure is None:
            return None
        return self.drivers[self.figure.driver](fn, **copy.deepcopy(dict(self.figure.inputs)))

    @property
    def rules(self) -> tuple[str, ...]:
        """Every module the task function may not use (the defaults first)."""
        return tuple(dict.fromkeys((*DEFAULT_FORBID, *self.forbid)))


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


def _module_name(exercise_id: str) -> str | None:
    """``"03-1-adaptivnye-shagi"`` → ``"ex03_1"`` (the spec module's name), else None."""
    parts = exercise_id.split("-")
    if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
        return f"ex{parts[0]}_{parts[1]}"
    return None


def get_exercise(exercise_id: str) -> Exercise:
    """The public spec of ``exercise_id`` (``KeyError`` with a Russian message when unknown).

    Imports only the exercise's own module when its name follows the ``exNN_K`` convention.
    """
    from . import tasks

    name = _module_name(exercise_id)
    if name and any(info.name == name for info in pkgutil.iter_modules(tasks.__path__)):
        ex = getattr(importlib.import_module(f"{tasks.__name__}.{name}"), "EXERCISE", None)
        if isinstance(ex, Exercise) and ex.id == exercise_id:
            return ex
    found = exercises()
    if exercise_id not in found:
        known = ", ".join(sorted(found)) or "нет ни одного"
        raise KeyError(f"Упражнение {exercise_id!r} не описано в optviz/grading/tasks (известны: {known}).")
    return found[exercise_id]


def find_task(task_id: str) -> tuple[Exercise, Task]:
    """The exercise and task with this id (task ids are unique across the course).

    A spec module that fails to import does not hide the tasks of the others; its error is
    reported only when the task is not found elsewhere.
    """
    from . import tasks

    known, broken = [], []
    for info in sorted(pkgutil.iter_modules(tasks.__path__), key=lambda i: i.name):
        if not info.name.startswith("ex"):
            continue
        try:
            ex = getattr(importlib.import_module(f"{tasks.__name__}.{info.name}"), "EXERCISE", None)
        except Exception as err:  # noqa: BLE001 - reported below if it matters
            broken.append(f"{info.name}: {type(err).__name__}: {err}")
            continue
        if not isinstance(ex, Exercise):
            continue
        for t in ex.tasks:
            if t.id == task_id:
                return ex, t
            known.append(t.id)
    extra = f" Не загрузились описания: {'; '.join(broken)}." if broken else ""
    raise KeyError(f"Задание {task_id!r} не найдено. Известные задания: {', '.join(known)}.{extra}")
