"""``check(task_id, fn)``: the student's self-check against the public checks, in Russian.

The expected values are data (``optviz/grading/expected/<exercise>.json``, written by
``generate`` from the answer key): no reference implementation is imported or shipped.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass, field

from .spec import find_task
from .values import compare, decode, normalise

__all__ = ["check", "SelfCheck", "GRADING_ENV"]

GRADING_ENV = "OPTVIZ_GRADING_CHILD"  # set in the grading sandbox: self-checks do nothing there


def describe_exception(err: BaseException) -> str:
    """Russian one-line description of an exception raised by the student's code."""
    if isinstance(err, NotImplementedError):
        return "функция ещё не написана (NotImplementedError)"
    if isinstance(err, SystemExit):
        return "код вызвал sys.exit()"
    if isinstance(err, MemoryError):
        return "не хватило памяти (MemoryError)"
    try:
        text = str(err)
    except Exception:  # noqa: BLE001 - a student's exception with a broken __str__
        text = ""
    text = text if len(text) <= 300 else text[:300] + "…"
    return f"ошибка {type(err).__name__}: {text}" if text else f"ошибка {type(err).__name__}"


@dataclass
class SelfCheck:
    """The outcome of :func:`check`: per-check lines, the passed share of the weight and the figure."""

    task: str
    lines: list[str]
    fraction: float
    passed: int
    total: int
    figure: object = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"<самопроверка {self.task}: пройдено {self.passed} из {self.total}, {round(100 * self.fraction)} %>"

    def _repr_mimebundle_(self, include=None, exclude=None):
        if self.figure is not None:
            return self.figure._repr_mimebundle_(include, exclude)
        return {"text/plain": repr(self)}


def check(task_id: str, fn=None, *, figure: bool = True, quiet: bool = False):
    """Check the function ``fn`` of task ``task_id`` against the public checks and print the result.

    ``fn`` defaults to the variable named ``task_id`` in the caller's namespace. Prints one Russian
    line per check (✓ / ✗ with what differs and a hint), then the share of the task's points these
    checks would give. For method tasks the returned :class:`SelfCheck` displays (in Jupyter) the
    student's trajectory over the reference one. Inside the grading sandbox it does nothing.
    """
    if os.environ.get(GRADING_ENV) == "1":
        return None
    exercise, task = find_task(task_id)
    if fn is None:
        frame = inspect.currentframe().f_back
        fn = frame.f_globals.get(task_id, frame.f_locals.get(task_id))
    lines = [f"Самопроверка: задание {task_id} — {task.title} (упражнение {exercise.id})"]
    if not callable(fn):
        lines.append(f"  ✗ функция {task_id} не определена — выполните ячейку с заданием")
        result = SelfCheck(task_id, lines, 0.0, 0, len(task.public))
        if not quiet:
            print("\n".join(lines))
        return result
    from .project import load_expected

    stored = load_expected(exercise.id)["tasks"][task_id]
    total_w = sum(c.weight for c in task.public)
    got_w, passed, works = 0.0, 0, False
    for c, exp in zip(task.public, stored["public"]):
        expected = decode(exp)
        try:
            actual = normalise(task.run(c, fn))
        except Exception as err:  # noqa: BLE001 - whatever the student's code raises is reported
            msg = describe_exception(err)
        else:
            works = True
            msg = compare(expected, actual, rtol=c.rtol, atol=c.atol, steps=c.steps, detail=True)
        if msg is None:
            got_w += c.weight
            passed += 1
            lines.append(f"  ✓ {c.label}")
        else:
            hint = f" — {c.hint}" if c.hint and "NotImplementedError" not in msg else ""
            lines.append(f"  ✗ {c.label}: {msg}{hint}")
    frac = got_w / total_w if total_w else 0.0
    verdict = "все открытые проверки пройдены" if passed == len(task.public) else "есть ошибки"
    lines.append(f"Итог: пройдено {passed} из {len(task.public)} проверок, {round(100 * frac)} % баллов "
                 f"задания по открытым проверкам ({verdict}). При оценивании работу проверят скрытые тесты "
                 "с другими входными данными.")
    fig = None
    if figure and works and task.figure is not None and stored.get("figure") is not None:
        try:
            fig = task.figure.draw(decode(stored["figure"]), normalise(task.run_figure(fn)))
        except Exception as err:  # noqa: BLE001
            lines.append(f"(график не построен: {describe_exception(err)})")
    if not quiet:
        print("\n".join(lines))
    return SelfCheck(task_id, lines, frac, passed, len(task.public), fig)
