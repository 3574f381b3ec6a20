"""Grade a folder of submitted notebooks against the hidden checks: grade sheet and feedback files."""

from __future__ import annotations

import csv
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .project import ExerciseBundle, load_bundle, solution_paths
from .sandbox import Limits, run_submission
from .values import compare, decode, normalise

__all__ = ["TaskResult", "SubmissionResult", "grade_notebook", "grade_folder", "find_submissions"]


@dataclass
class TaskResult:
    id: str
    points: float
    score: float
    lines: list[str]


@dataclass
class SubmissionResult:
    path: str                      # relative to the submissions folder
    student: str
    exercise: str
    tasks: list[TaskResult] = field(default_factory=list)
    status: str = "проверено"
    cell_errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    max_score: float = 0.0

    @property
    def total(self) -> float:
        return round(sum(t.score for t in self.tasks), 2)


class _Expected:
    """Expected values of the hidden checks, computed once per exercise in this (trusted) process."""

    def __init__(self, bundle: ExerciseBundle):
        self.values = [normalise(bundle.spec.task(c.task).run(c, bundle.spec.task(c.task).reference))
                       for c in bundle.hidden]


def _score(bundle: ExerciseBundle, expected: _Expected, outcomes) -> list[TaskResult]:
    results = []
    for t in bundle.tasks:
        idx = [k for k, c in enumerate(bundle.hidden) if c.task == t.id]
        total_w = sum(bundle.hidden[k].weight for k in idx)
        got_w, lines = 0.0, []
        for k in idx:
            c = bundle.hidden[k]
            kind, payload = outcomes.get(k, ("error", "не проверено"))
            if kind == "value":
                try:
                    msg = compare(expected.values[k], decode(payload), rtol=c.rtol, atol=c.atol, steps=c.steps,
                                  detail=False)
                except (ValueError, TypeError):
                    msg = "результат не удалось прочитать"
            else:
                msg = str(payload)
            if msg is None:
                got_w += c.weight
                lines.append(f"  ✓ {c.label}")
            else:
                hint = f" Подсказка: {c.hint}" if c.hint and kind == "value" else ""
                lines.append(f"  ✗ {c.label}: {msg}.{hint}")
        score = round(t.points * got_w / total_w, 2) if total_w else 0.0
        results.append(TaskResult(t.id, t.points, score, lines))
    return results


def _code_cells(nb) -> list[str]:
    return [c.get("source", "") if isinstance(c.get("source", ""), str) else "".join(c.get("source", []))
            for c in nb.cells if c.get("cell_type") == "code"]


def grade_notebook(path: Path, bundle: ExerciseBundle, limits: Limits, *, rel: str = "", student: str = "",
                   expected: _Expected | None = None) -> SubmissionResult:
    """Grade one notebook of exercise ``bundle``; never raises."""
    res = SubmissionResult(rel or Path(path).name, student or Path(path).stem, bundle.id, max_score=bundle.max_score)
    zero = [TaskResult(t.id, t.points, 0.0, ["  ✗ не проверено"]) for t in bundle.tasks]
    try:
        nb = nbformat.read(str(path), as_version=4)
        cells = _code_cells(nb)
    except Exception as err:  # noqa: BLE001 - any unreadable file
        res.tasks, res.status = zero, f"файл не читается как ноутбук ({type(err).__name__})"
        return res
    try:
        expected = expected or _Expected(bundle)
        rec = run_submission(cells, bundle.hidden, bundle.id, limits)
        res.tasks = _score(bundle, expected, rec.outcomes)
        res.cell_errors = [f"ячейка кода №{i + 1}: {msg}" for i, msg in sorted(rec.cell_errors.items())]
        res.notes = rec.notes
    except Exception as err:  # noqa: BLE001 - the batch must always complete
        res.tasks, res.status = zero, f"ошибка проверяющей программы: {type(err).__name__}: {err}"
    return res


def feedback_text(res: SubmissionResult, bundle: ExerciseBundle | None) -> str:
    """The Russian feedback for one submission (no hidden test code, inputs or expected values)."""
    title = f"«{bundle.spec.title}»" if bundle else ""
    lines = [f"Отзыв о работе {res.path}", f"Упражнение {res.exercise} {title}".rstrip(),
             f"Итого баллов: {_num(res.total)} из {_num(res.max_score)}", f"Статус: {res.status}", ""]
    for t in res.tasks:
        lines.append(f"Задание {t.id} — баллов: {_num(t.score)} из {_num(t.points)}")
        lines += t.lines
        lines.append("")
    if res.cell_errors:
        lines.append("Ошибки при выполнении ноутбука:")
        lines += [f"  {e}" for e in res.cell_errors]
        lines.append("")
    if res.notes:
        lines.append("Замечания:")
        lines += [f"  {n}" for n in res.notes]
        lines.append("")
    lines.append("Проверка скрытыми тестами: входные данные отличаются от открытых проверок в ноутбуке.")
    return "\n".join(lines) + "\n"


def _num(x: float) -> str:
    return f"{x:g}"



def find_submissions(folder: Path) -> list[Path]:
    """Every ``*.ipynb`` under ``folder`` (checkpoints excluded), sorted."""
    return sorted(p for p in Path(folder).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts and p.is_file())


def _exercise_of(path: Path, folder: Path, known: list[str]) -> str | None:
    rel = path.relative_to(folder).as_posix()
    for ex in sorted(known, key=len, reverse=True):
        if ex in rel:
            return ex
    try:
        nb = nbformat.read(str(path), as_version=4)
        ex = nb.metadata.get("optviz", {}).get("exercise")
        return ex if ex in known else None
    except Exception:  # noqa: BLE001
        return None


def _student_of(path: Path, folder: Path, exercise: str | None) -> str:
    rel = path.relative_to(folder)
    if len(rel.parts) > 1:
        return rel.parts[0]
    stem = path.stem.replace(exercise or "\0", "")
    return re.sub(r"^[-_. ]+|[-_. ]+$", "", stem) or path.stem


def grade_folder(folder: Path, out_csv: Path, *, solutions_dir: Path, feedback_dir: Path | None = None,
                 limits: Limits = Limits(), jobs: int = 2) -> list[SubmissionResult]:
    """Grade every notebook under ``folder``; write the grade sheet and one feedback file per notebook."""
    folder = Path(folder)
    ids = [p.stem for p in solution_paths(solutions_dir)]
    # each exercise is loaded and its expected values computed only if some submission needs it,
    # once; an exercise that cannot be prepared fails only its own submissions
    prepared: dict[str, tuple[ExerciseBundle | None, _Expected | None, str]] = {}
    lock = threading.Lock()

    def prepare(ex: str):
        with lock:
            if ex not in prepared:
                try:
                    b = load_bundle(solutions_dir, ex)
                    prepared[ex] = (b, _Expected(b), "")
                except Exception as err:  # noqa: BLE001 - the batch must always complete
                    prepared[ex] = (None, None, f"{type(err).__name__}: {err}")
            return prepared[ex]

    subs = find_submissions(folder)

    def one(path: Path) -> SubmissionResult:
        ex = _exercise_of(path, folder, ids)
        rel = path.relative_to(folder).as_posix()
        student = _student_of(path, folder, ex)
        if ex is None:
            return SubmissionResult(rel, student, "", status="не удалось определить упражнение по имени файла")
        bundle, expected, problem = prepare(ex)
        if bundle is None:
            return SubmissionResult(rel, student, ex, status=f"упражнение не готово к проверке: {problem}")
        return grade_notebook(path, bundle, limits, rel=rel, student=student, expected=expected)

    with ThreadPoolExecutor(max_workers=max(1, int(jobs))) as pool:
        results = list(pool.map(one, subs))

    bundles = {ex: b for ex, (b, _, _) in prepared.items() if b is not None}
    task_cols = [t.id for ex in ids if ex in bundles for t in bundles[ex].tasks]
    out_csv = Path(out_csv)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with open(out_csv, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["submission", "student", "exercise", *task_cols, "total", "max", "status"])
        for r in results:
            scores = {t.id: _num(t.score) for t in r.tasks}
            w.writerow([r.path, r.student, r.exercise, *[scores.get(c, "") for c in task_cols], _num(r.total),
                        _num(r.max_score), r.status])
    feedback_dir = Path(feedback_dir) if feedback_dir else out_csv.parent / "feedback"
    for r in results:
        target = feedback_dir / Path(r.path).with_suffix(".txt")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(feedback_text(r, bundles.get(r.exercise)), encoding="utf-8")
    return results
