"""Where things live (solutions/, exercises/, hidden checks) and the consistency of an exercise."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .notebook import FormatError, TaskCell, dumps, exercise_notebook, parse_tasks
from .spec import Check, Exercise, get_exercise

__all__ = ["default_root", "ExerciseBundle", "load_bundle", "load_hidden", "solution_paths", "generate",
           "stale_exercises"]


def default_root() -> Path:
    """The course checkout: the working directory if it has ``solutions/``, else the one holding optviz."""
    cwd = Path.cwd()
    if (cwd / "solutions").is_dir():
        return cwd
    return Path(__file__).resolve().parents[2]


def solution_paths(solutions_dir: Path) -> list[Path]:
    """Solution notebooks ``NN-K-*.ipynb`` (sorted)."""
    return sorted(p for p in Path(solutions_dir).glob("[0-9][0-9]-*.ipynb") if p.is_file())


def load_hidden(solutions_dir: Path, exercise_id: str) -> list[Check]:
    """The ``CHECKS`` of ``solutions/hidden/<exercise_id>.py`` (trusted instructor code)."""
    path = Path(solutions_dir) / "hidden" / f"{exercise_id}.py"
    if not path.is_file():
        raise FormatError(f"нет скрытых тестов {path}")
    spec = importlib.util.spec_from_file_location("_optviz_hidden_" + exercise_id.replace("-", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    checks = getattr(module, "CHECKS", None)
    if not isinstance(checks, (list, tuple)) or not all(isinstance(c, Check) for c in checks):
        raise FormatError(f"{path}: нужен список CHECKS из optviz.grading.Check")
    return list(checks)


@dataclass
class ExerciseBundle:
    """Everything the grader knows about one exercise (all of it trusted)."""

    id: str
    solution: Path
    spec: Exercise
    tasks: list[TaskCell]          # from the solution notebook: ids and points
    hidden: list[Check]

    @property
    def points(self) -> dict[str, float]:
        return {t.id: t.points for t in self.tasks}

    @property
    def max_score(self) -> float:
        return sum(t.points for t in self.tasks)


def _validate_checks(checks: list[Check], spec: Exercise, where: str) -> None:
    for c in checks:
        if c.task not in spec.task_ids:
            raise FormatError(f"{where}: проверка «{c.label}» относится к неизвестному заданию {c.task}")
        if c.driver not in spec.task(c.task).drivers:
            raise FormatError(f"{where}: у задания {c.task} нет драйвера {c.driver!r} (проверка «{c.label}»)")
        if not c.weight > 0:
            raise FormatError(f"{where}: вес проверки «{c.label}» должен быть больше 0")


def load_bundle(solutions_dir: Path, exercise_id: str) -> ExerciseBundle:
    """Load and cross-check a solution notebook, its public spec and its hidden checks."""
    solutions_dir = Path(solutions_dir)
    path = solutions_dir / f"{exercise_id}.ipynb"
    if not path.is_file():
        raise FormatError(f"нет ноутбука с решением {path}")
    nb = nbformat.read(path, as_version=4)
    tasks = parse_tasks(nb, f"solutions/{path.name}")
    try:
        spec = get_exercise(exercise_id)
    except KeyError as err:
        raise FormatError(str(err.args[0])) from None
    ids = [t.id for t in tasks]
    if not tasks:
        raise FormatError(f"solutions/{path.name}: нет ни одной ячейки задания")
    if sorted(ids) != sorted(spec.task_ids):
        raise FormatError(f"solutions/{path.name}: задания ноутбука {ids} не совпадают с заданиями "
                          f"описания optviz.grading.tasks {spec.task_ids}")
    hidden = load_hidden(solutions_dir, exercise_id)
    _validate_checks(hidden, spec, f"solutions/hidden/{exercise_id}.py")
    for t in spec.tasks:
        _validate_checks(t.public, spec, f"открытые проверки задания {t.id}")
        if not t.public:
            raise FormatError(f"у задания {t.id} нет открытых проверок")
        if not any(c.task == t.id for c in hidden):
            raise FormatError(f"solutions/hidden/{exercise_id}.py: у задания {t.id} нет скрытых проверок")
    if len(hidden) < 2:
        raise FormatError(f"solutions/hidden/{exercise_id}.py: нужно хотя бы две скрытые проверки")
    return ExerciseBundle(exercise_id, path, spec, tasks, hidden)


def generate(solutions_dir: Path, exercises_dir: Path, *, write: bool = True,
             only: list[str] | None = None) -> dict[Path, str]:
    """Exercise notebooks generated from the solutions: ``{path: text}``; written when ``write``.

    ``only``: exercise ids to generate (default: all of them).
    """
    out: dict[Path, str] = {}
    paths = solution_paths(solutions_dir)
    if only:
        known = {p.stem for p in paths}
        missing = sorted(set(only) - known)
        if missing:
            raise FormatError(f"нет решений для упражнений: {', '.join(missing)} (есть: {', '.join(sorted(known))})")
        paths = [p for p in paths if p.stem in set(only)]
    for path in paths:
        load_bundle(solutions_dir, path.stem)  # the format is checked before anything is written
        out[Path(exercises_dir) / path.name] = dumps(exercise_notebook(path))
    if write:
        Path(exercises_dir).mkdir(parents=True, exist_ok=True)
        for p, text in out.items():
            if not p.is_file() or p.read_text(encoding="utf-8") != text:
                p.write_text(text, encoding="utf-8")
    return out


def stale_exercises(solutions_dir: Path, exercises_dir: Path) -> list[str]:
    """Russian descriptions of how ``exercises/`` differs from what ``generate`` would write."""
    expected = generate(solutions_dir, exercises_dir, write=False)
    problems = []
    for p, text in expected.items():
        if not p.is_file():
            problems.append(f"нет файла {p.name}")
        elif p.read_text(encoding="utf-8") != text:
            problems.append(f"{p.name} не совпадает с версией из solutions/")
    names = {p.name for p in expected}
    for p in sorted(Path(exercises_dir).glob("*.ipynb")):
        if p.name not in names:
            problems.append(f"{p.name} есть в exercises/, но нет в solutions/")
    return problems
