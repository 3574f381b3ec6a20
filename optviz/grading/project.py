"""Where things live (solutions/, exercises/, the answer keys, the public expected values) and the
consistency of an exercise."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import nbformat
import numpy as np

from .notebook import FormatError, TaskCell, dumps, exercise_notebook, parse_tasks
from .spec import Check, Exercise, get_exercise

__all__ = ["default_root", "ExerciseBundle", "AnswerKey", "load_bundle", "load_hidden", "load_answer_key",
           "solution_paths", "generate", "stale_exercises", "EXPECTED_DIR", "expected_data", "load_expected"]

#: the generated public expected values (shipped with the package: they are data, not references)
EXPECTED_DIR = Path(__file__).resolve().parent / "expected"


def default_root() -> Path:
    """The course checkout: the working directory if it has ``solutions/``, else the one holding optviz."""
    cwd = Path.cwd()
    if (cwd / "solutions").is_dir():
        return cwd
    return Path(__file__).resolve().parents[2]


def solution_paths(solutions_dir: Path) -> list[Path]:
    """Solution notebooks ``NN-K-*.ipynb`` (sorted)."""
    return sorted(p for p in Path(solutions_dir).glob("[0-9][0-9]-*.ipynb") if p.is_file())


@dataclass
class AnswerKey:
    """The trusted file ``solutions/hidden/<id>.py``: reference functions and hidden checks."""

    references: dict[str, Callable]
    checks: list[Check]


def load_answer_key(solutions_dir: Path, exercise_id: str) -> AnswerKey:
    """``REFERENCES`` and ``CHECKS`` of ``solutions/hidden/<exercise_id>.py`` (trusted instructor code)."""
    path = Path(solutions_dir) / "hidden" / f"{exercise_id}.py"
    if not path.is_file():
        raise FormatError(f"нет скрытых тестов {path}")
    spec = importlib.util.spec_from_file_location("_optviz_hidden_" + exercise_id.replace("-", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    checks = getattr(module, "CHECKS", None)
    if not isinstance(checks, (list, tuple)) or not all(isinstance(c, Check) for c in checks):
        raise FormatError(f"{path}: нужен список CHECKS из optviz.grading.Check")
    refs = getattr(module, "REFERENCES", None)
    if not isinstance(refs, dict) or not all(isinstance(k, str) and callable(v) for k, v in refs.items()):
        raise FormatError(f"{path}: нужен словарь REFERENCES «id задания → эталонная функция»")
    return AnswerKey(dict(refs), list(checks))


def load_hidden(solutions_dir: Path, exercise_id: str) -> list[Check]:
    """The hidden ``CHECKS`` of ``solutions/hidden/<exercise_id>.py``."""
    return load_answer_key(solutions_dir, exercise_id).checks


@dataclass
class ExerciseBundle:
    """Everything the grader knows about one exercise (all of it trusted)."""

    id: str
    solution: Path
    spec: Exercise
    tasks: list[TaskCell]          # from the solution notebook: ids and points
    hidden: list[Check]
    references: dict[str, Callable]

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
    key = load_answer_key(solutions_dir, exercise_id)
    hidden = key.checks
    _validate_checks(hidden, spec, f"solutions/hidden/{exercise_id}.py")
    if sorted(key.references) != sorted(spec.task_ids):
        raise FormatError(f"solutions/hidden/{exercise_id}.py: эталоны REFERENCES {sorted(key.references)} не "
                          f"совпадают с заданиями {spec.task_ids}")
    for t in spec.tasks:
        _validate_checks(t.public, spec, f"открытые проверки задания {t.id}")
        if not t.public:
            raise FormatError(f"у задания {t.id} нет открытых проверок")
        if t.figure is not None and t.figure.driver not in t.drivers:
            raise FormatError(f"у задания {t.id} нет драйвера {t.figure.driver!r} для графика")
        if not any(c.task == t.id for c in hidden):
            raise FormatError(f"solutions/hidden/{exercise_id}.py: у задания {t.id} нет скрытых проверок")
    if len(hidden) < 2:
        raise FormatError(f"solutions/hidden/{exercise_id}.py: нужно хотя бы две скрытые проверки")
    return ExerciseBundle(exercise_id, path, spec, tasks, hidden, key.references)


def expected_data(bundle: ExerciseBundle) -> dict:
    """The public expected values of ``bundle``: per task, the encoded reference result of every public
    check and of the figure's driver call (computed here, in the trusted process)."""
    from .values import encode, normalise

    tasks = {}
    for t in bundle.spec.tasks:
        ref = bundle.references[t.id]
        tasks[t.id] = {"public": [encode(normalise(t.run(c, ref))) for c in t.public],
                       "figure": None if t.figure is None else encode(normalise(t.run_figure(ref)))}
    return {"exercise": bundle.id, "tasks": tasks}


def _expected_text(data: dict) -> str:
    # keys keep the drivers' order (the self-check reports the first difference in that order)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=True) + "\n"


def load_expected(exercise_id: str, expected_dir: Path | None = None) -> dict:
    """The stored public expected values of ``exercise_id`` (``FileNotFoundError`` with a Russian message)."""
    path = Path(expected_dir or EXPECTED_DIR) / f"{exercise_id}.json"
    if not path.is_file():
        raise FileNotFoundError(f"нет ожидаемых значений открытых проверок {path.name}: выполните "
                                "python -m optviz.grading generate")
    return json.loads(path.read_text(encoding="utf-8"))


def _same_data(a, b) -> bool:
    """Equal up to 1e-9 relative (another BLAS may round the last digits differently)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same_data(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_data(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or isinstance(a, bool) \
                or isinstance(b, bool):
            return False
        return bool(np.isclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True))
    return a == b


def generate(solutions_dir: Path, exercises_dir: Path, *, write: bool = True,
             only: list[str] | None = None, expected_dir: Path | None = None) -> dict[Path, str]:
    """Exercise notebooks and public expected values generated from the solutions: ``{path: text}``;
    written when ``write``.

    ``only``: exercise ids to generate (default: all of them); ``expected_dir``: where the expected
    values go (default: :data:`EXPECTED_DIR`, inside the package).
    """
    out: dict[Path, str] = {}
    expected_dir = Path(expected_dir or EXPECTED_DIR)
    paths = solution_paths(solutions_dir)
    if only:
        known = {p.stem for p in paths}
        missing = sorted(set(only) - known)
        if missing:
            raise FormatError(f"нет решений для упражнений: {', '.join(missing)} (есть: {', '.join(sorted(known))})")
        paths = [p for p in paths if p.stem in set(only)]
    for path in paths:
        bundle = load_bundle(solutions_dir, path.stem)  # the format is checked before anything is written
        out[Path(exercises_dir) / path.name] = dumps(exercise_notebook(path, bundle.spec))
        out[expected_dir / f"{path.stem}.json"] = _expected_text(expected_data(bundle))
    if write:
        for p, text in out.items():
            p.parent.mkdir(parents=True, exist_ok=True)
            if p.suffix == ".json" and p.is_file() and _same_data(json.loads(p.read_text(encoding="utf-8")),
                                                                  json.loads(text)):
                continue
            if not p.is_file() or p.read_text(encoding="utf-8") != text:
                p.write_text(text, encoding="utf-8")
    return out


def stale_exercises(solutions_dir: Path, exercises_dir: Path, expected_dir: Path | None = None) -> list[str]:
    """Russian descriptions of how ``exercises/`` and the expected values differ from what ``generate``
    would write."""
    expected = generate(solutions_dir, exercises_dir, write=False, expected_dir=expected_dir)
    problems = []
    for p, text in expected.items():
        if not p.is_file():
            problems.append(f"нет файла {p.name}")
        elif p.suffix == ".json":
            if not _same_data(json.loads(p.read_text(encoding="utf-8")), json.loads(text)):
                problems.append(f"ожидаемые значения {p.name} не совпадают с эталонами из solutions/hidden/")
        elif p.read_text(encoding="utf-8") != text:
            problems.append(f"{p.name} не совпадает с версией из solutions/")
    names = {p.name for p in expected}
    for p in sorted(Path(exercises_dir).glob("*.ipynb")):
        if p.name not in names:
            problems.append(f"{p.name} есть в exercises/, но нет в solutions/")
    return problems
