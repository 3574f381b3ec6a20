"""Grade a folder of submitted notebooks against the hidden checks: grade sheet and feedback files.

Trusted side. For every submission: the static scan of its source (:mod:`optviz.grading.rules`),
then one sandboxed process (:mod:`optviz.grading.sandbox`) that runs its cells; the trusted
drivers call the student's functions through proxies on the hidden inputs, and the results are
validated and compared here with expected values computed here from the answer key. The feedback
of a hidden check says only its public name, pass or fail (with the authored hint) and, for an
exception, its type. The sheet and the feedback files are written once every process of every
submission is gone, each atomically (temporary file + rename).
"""

from __future__ import annotations

import csv
import io
import os
import re
import stat
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .isolation import detect
from .notebook import TASK_HEADER, exercise_notebook
from .project import ExerciseBundle, load_bundle, solution_paths
from .rules import scan_tampering, scan_task, template_sources
from .sandbox import (Limits, RemoteFunction, SandboxDied, Session, StudentError, StudentMissing, StudentTimeout,
                      running_sessions, stop_all)
from .spec import AnswerError
from .values import compare, normalise

__all__ = ["TaskResult", "SubmissionResult", "grade_notebook", "grade_folder", "find_submissions", "MAX_NOTEBOOK_MB",
           "GradingStopped"]

MAX_NOTEBOOK_MB = 20


class GradingStopped(Exception):
    """The grader was stopped (Ctrl-C, SIGTERM): every submission's processes have been killed."""


_STOP = threading.Event()


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
        self.values = [normalise(bundle.spec.task(c.task).run(c, bundle.references[c.task])) for c in bundle.hidden]
        self.template = template_sources(exercise_notebook(bundle.solution, bundle.spec))


def _code_cells(nb) -> list[str]:
    out = []
    for c in nb.cells:
        if c.get("cell_type") != "code":
            continue
        src = c.get("source", "")
        out.append(src if isinstance(src, str) else "".join(src) if isinstance(src, list) else "")
    return out


def _task_cell(cells: list[str], task_id: str) -> int | None:
    """Index of the task's cell: its header, else the last cell that defines ``def task_id(``."""
    for i, src in enumerate(cells):
        m = TASK_HEADER.match(src.split("\n", 1)[0])
        if m and m["id"] == task_id:
            return i
    pattern = re.compile(rf"^(async\s+)?def\s+{re.escape(task_id)}\s*\(|^{re.escape(task_id)}\s*=", re.M)
    found = [i for i, src in enumerate(cells) if pattern.search(src)]
    return found[-1] if found else None


def _rules_payload(bundle: ExerciseBundle) -> dict:
    return {t.id: {"forbid": list(t.rules), "allow": list(t.allow)} for t in bundle.spec.tasks}


def _outcome_line(label: str, kind: str, detail: str, hint: str) -> str:
    if kind == "pass":
        return f"  ✓ {label}"
    tail = f" Подсказка: {hint}" if hint and kind == "wrong" else ""
    return f"  ✗ {label}: {detail}.{tail}"


def grade_notebook(path: Path, bundle: ExerciseBundle, limits: Limits, *, rel: str = "", student: str = "",
                   expected: _Expected | None = None) -> SubmissionResult:
    """Grade one notebook of exercise ``bundle``; never raises (except when the grader is stopped)."""
    res = SubmissionResult(rel or Path(path).name, student or Path(path).stem, bundle.id, max_score=bundle.max_score)
    zero = [TaskResult(t.id, t.points, 0.0, ["  ✗ не проверено"]) for t in bundle.tasks]
    try:
        if Path(path).stat().st_size > MAX_NOTEBOOK_MB * 1024 * 1024:
            res.tasks, res.status = zero, f"файл больше {MAX_NOTEBOOK_MB} МБ — не проверяется"
            return res
        nb = nbformat.read(str(path), as_version=4)
        cells = _code_cells(nb)
    except Exception as err:  # noqa: BLE001 - any unreadable file
        res.tasks, res.status = zero, f"файл не читается как ноутбук ({type(err).__name__})"
        return res
    try:
        expected = expected or _Expected(bundle)
        _grade(res, Path(path), cells, bundle, expected, limits)
    except GradingStopped:
        raise
    except Exception as err:  # noqa: BLE001 - the batch must always complete
        res.tasks, res.status = zero, f"ошибка проверяющей программы: {type(err).__name__}"
    iso = detect()
    if iso.warning and res.status == "проверено":
        res.status = f"проверено {iso.warning}"
    return res


def _grade(res: SubmissionResult, path: Path, cells: list[str], bundle: ExerciseBundle, expected: _Expected,
           limits: Limits) -> None:
    checks = bundle.hidden
    # -- the static scan (trusted) --------------------------------------------------------------
    tamper = scan_tampering(cells, expected.template)
    static: dict[str, list[str]] = {}
    for t in bundle.spec.tasks:
        found = scan_task(cells, t.id, _task_cell(cells, t.id), t.rules, t.allow, expected.template)
        static[t.id] = [str(v) for v in found]
    if tamper:
        res.notes.append("попытка вмешаться в работу проверяющей программы: "
                         + "; ".join(str(v) for v in tamper[:5]))
    # -- the sandbox ----------------------------------------------------------------------------
    outcomes: dict[int, tuple[str, str]] = {}
    runtime: dict[str, list[str]] = {t.id: [] for t in bundle.spec.tasks}
    skip: dict[int, str] = {}
    cell_errors: dict[int, str] = {}
    pending = list(range(len(checks)))
    attempts, startup_failures = 0, 0
    rules = _rules_payload(bundle)
    last_reason = ""
    while pending and attempts < limits.attempts:
        if _STOP.is_set():
            raise GradingStopped()
        attempts += 1
        session = Session(path, cells, set(skip), rules, limits)
        try:
            session.start()
            rep = session.run_cells()
            if not rep.ready:
                last_reason = rep.reason
                if not rep.booted:
                    startup_failures += 1
                    res.notes.append(f"процесс проверки не запустился ({rep.reason})"
                                     + ("; запущен повторно" if startup_failures < 2 else ""))
                    if startup_failures >= 2:
                        break
                    attempts -= 1
                    continue
                if rep.died_in is not None:
                    skip[rep.died_in] = rep.reason
                    res.notes.append(f"ячейка кода №{rep.died_in + 1} остановила процесс ({rep.reason}); "
                                     "она пропущена")
                    continue
                res.notes.append(f"процесс остановился после ячеек ({rep.reason})")
                break
            cell_errors = dict(rep.errors)
            died = False

            def skip_rest(task_id: str, what: str) -> None:
                """The checks of ``task_id`` not yet run fail: the previous one ``what``."""
                for j in pending:
                    if j not in outcomes and checks[j].task == task_id:
                        outcomes[j] = ("error", f"не проверялось: предыдущая проверка этого задания {what}")
            for k in list(pending):
                if _STOP.is_set():
                    raise GradingStopped()
                c = checks[k]
                task = bundle.spec.task(c.task)
                proxy = RemoteFunction(session, c.task, limits.soft_check)
                try:
                    actual = normalise(task.run(c, proxy))
                except StudentMissing:
                    outcomes[k] = ("error", f"функция {c.task} не определена")
                except StudentTimeout:
                    outcomes[k] = ("error", "превышен лимит времени на проверку "
                                            f"({limits.soft_check:g} с процессорного времени)")
                except StudentError as err:
                    word = err.args[0]
                    outcomes[k] = ("error", "код вызвал sys.exit()" if word == "SystemExit" else
                                   "ответ не того вида (не числа и не массивы)" if word == "AnswerError" else
                                   "функция ещё не написана (NotImplementedError)" if word == "NotImplementedError"
                                   else f"ошибка {word}")
                except SandboxDied as err:
                    outcomes[k] = ("error", str(err))
                    last_reason = str(err)
                    skip_rest(c.task, "остановила процесс")
                    died = True
                except AnswerError:
                    outcomes[k] = ("error", "ответ не того вида (AnswerError)")
                except (GradingStopped, KeyboardInterrupt):
                    raise
                except Exception as err:  # noqa: BLE001 - the trusted driver choked on the answer
                    outcomes[k] = ("error", f"ответ не того вида ({type(err).__name__})")
                else:
                    ok = compare(expected.values[k], actual, rtol=c.rtol, atol=c.atol, steps=c.steps,
                                 detail=False) is None
                    outcomes[k] = ("pass", "") if ok else ("wrong", "неверный результат")
                runtime[c.task] += [v for v in proxy.violations if v not in runtime[c.task]]
                if outcomes[k][1].startswith("превышен лимит времени"):
                    skip_rest(c.task, "превысила лимит времени")
                if died:
                    break
            pending = [k for k in pending if k not in outcomes]
            if not died:
                break
        finally:
            session.close()
    for k in pending:
        outcomes[k] = ("error", f"не проверено: {last_reason or 'закончились попытки'}")
    res.cell_errors = [f"ячейка кода №{i + 1}: " + _cell_error_text(e) for i, e in sorted(cell_errors.items())]
    res.cell_errors += [f"ячейка кода №{i + 1}: остановила процесс ({why}), пропущена" for i, why in sorted(skip.items())]
    # -- scoring --------------------------------------------------------------------------------
    for t in bundle.tasks:
        idx = [k for k, c in enumerate(checks) if c.task == t.id]
        total_w = sum(checks[k].weight for k in idx)
        got_w, lines = 0.0, []
        for k in idx:
            c = checks[k]
            kind, detail = outcomes.get(k, ("error", "не проверено"))
            if kind == "pass":
                got_w += c.weight
            lines.append(_outcome_line(c.label, kind, detail, c.hint))
        broken = static.get(t.id, []) + runtime.get(t.id, []) + [str(v) for v in tamper]
        if broken:
            lines.insert(0, "  ✗ нарушено правило задания — 0 баллов: " + "; ".join(dict.fromkeys(broken[:4])))
            score = 0.0
        else:
            score = round(t.points * got_w / total_w, 2) if total_w else 0.0
        res.tasks.append(TaskResult(t.id, t.points, score, lines))


def _cell_error_text(word: str) -> str:
    if word == "timeout":
        return "превышен лимит времени на ячейку"
    if word == "SyntaxError":
        return "синтаксическая ошибка (SyntaxError)"
    if word == "SystemExit":
        return "код вызвал sys.exit()"
    if word == "NotImplementedError":
        return "функция ещё не написана (NotImplementedError)"
    return f"ошибка {word}"


def feedback_text(res: SubmissionResult, bundle: ExerciseBundle | None) -> str:
    """The Russian feedback for one submission (no hidden inputs, expected values or student output)."""
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
    lines.append("Проверка скрытыми тестами: входные данные отличаются от открытых проверок в ноутбуке; "
                 "по скрытой проверке сообщается только её название, пройдена ли она и тип ошибки.")
    return "\n".join(lines) + "\n"


def _num(x: float) -> str:
    return f"{x:g}"


# -- the folder ------------------------------------------------------------------------------------

@dataclass
class _Entry:
    path: Path
    rel: str
    problem: str = ""


def find_submissions(folder: Path) -> list[Path]:
    """Every regular ``*.ipynb`` file under ``folder`` (checkpoints and symbolic links excluded), sorted."""
    return [e.path for e in _entries(folder) if not e.problem]


def _entries(folder: Path) -> list[_Entry]:
    """Every ``*.ipynb`` entry under ``folder``, with the reason when it is refused (symbolic links,
    paths that leave the folder, not a regular file)."""
    folder = Path(folder)
    real_root = os.path.realpath(folder)
    out: list[_Entry] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        kept = []
        for d in sorted(dirnames):
            full = Path(dirpath) / d
            if d == ".ipynb_checkpoints":
                continue
            if full.is_symlink():
                out.append(_Entry(full, full.relative_to(folder).as_posix(),
                                  "символическая ссылка на папку — не проверяется"))
                continue
            kept.append(d)
        dirnames[:] = kept
        for name in sorted(filenames):
            if not name.endswith(".ipynb"):
                continue
            full = Path(dirpath) / name
            rel = full.relative_to(folder).as_posix()
            try:
                st = os.lstat(full)
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode):
                out.append(_Entry(full, rel, "символическая ссылка — не проверяется (сдайте сам файл ноутбука)"))
            elif not stat.S_ISREG(st.st_mode):
                out.append(_Entry(full, rel, "не обычный файл — не проверяется"))
            elif not os.path.realpath(full).startswith(real_root.rstrip("/") + "/"):
                out.append(_Entry(full, rel, "путь ведёт за пределы папки работ — не проверяется"))
            else:
                out.append(_Entry(full, rel))
    return sorted(out, key=lambda e: e.rel)


def _exercise_of(path: Path, folder: Path, known: list[str], readable: bool = True) -> str | None:
    rel = path.relative_to(folder).as_posix()
    for ex in sorted(known, key=len, reverse=True):
        if ex in rel:
            return ex
    if not readable:
        return None
    try:
        if path.stat().st_size > MAX_NOTEBOOK_MB * 1024 * 1024:
            return None
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


def _atomic_write(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def grade_folder(folder: Path, out_csv: Path, *, solutions_dir: Path, feedback_dir: Path | None = None,
                 limits: Limits = Limits(), jobs: int = 2, log=None) -> list[SubmissionResult]:
    """Grade every notebook under ``folder``; write the grade sheet and one feedback file per notebook.

    ``log(text)`` receives progress lines in Russian (default: nothing). Raises
    :class:`GradingStopped` (having killed every submission's processes and written nothing) when
    the grader is interrupted.
    """
    folder = Path(folder)
    log = log or (lambda text: None)
    iso = detect()
    log(f"Режим проверки: {iso.describe()}.")
    if iso.warning:
        log(f"ВНИМАНИЕ: работы проверяются {iso.warning}. Причина: {iso.problem}.")
    ids = [p.stem for p in solution_paths(solutions_dir)]
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

    entries = _entries(folder)

    def one(entry: _Entry) -> SubmissionResult:
        path, rel = entry.path, entry.rel
        ex = _exercise_of(path, folder, ids, readable=not entry.problem)
        student = _student_of(path, folder, ex)
        if entry.problem:
            res = SubmissionResult(rel, student, ex or "", status=entry.problem)
            if ex:
                bundle = prepare(ex)[0]
                if bundle is not None:
                    res.max_score = bundle.max_score
                    res.tasks = [TaskResult(t.id, t.points, 0.0, ["  ✗ не проверено"]) for t in bundle.tasks]
            return res
        if ex is None:
            return SubmissionResult(rel, student, "", status="не удалось определить упражнение по имени файла")
        bundle, expected, problem = prepare(ex)
        if bundle is None:
            return SubmissionResult(rel, student, ex, status=f"упражнение не готово к проверке: {problem}")
        res = grade_notebook(path, bundle, limits, rel=rel, student=student, expected=expected)
        log(f"  {rel}: {_num(res.total)} из {_num(res.max_score)}")
        return res

    _STOP.clear()
    pool = ThreadPoolExecutor(max_workers=max(1, int(jobs)))
    try:
        results = list(pool.map(one, entries))
    except BaseException:
        _STOP.set()
        stop_all()
        pool.shutdown(wait=True, cancel_futures=True)
        stop_all()
        raise GradingStopped() from None
    pool.shutdown(wait=True)
    stop_all()  # nothing may run while the sheet is written
    assert not running_sessions()

    bundles = {ex: b for ex, (b, _, _) in prepared.items() if b is not None}
    task_cols = [t.id for ex in ids if ex in bundles for t in bundles[ex].tasks]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["submission", "student", "exercise", *task_cols, "total", "max", "status"])
    for r in results:
        scores = {t.id: _num(t.score) for t in r.tasks}
        w.writerow([r.path, r.student, r.exercise, *[scores.get(c, "") for c in task_cols], _num(r.total),
                    _num(r.max_score), r.status])
    out_csv = Path(out_csv)
    feedback_dir = Path(feedback_dir) if feedback_dir else out_csv.parent / "feedback"
    for r in results:
        _atomic_write(feedback_dir / Path(r.path).with_suffix(".txt"), feedback_text(r, bundles.get(r.exercise)))
    _atomic_write(out_csv, buf.getvalue())
    return results
