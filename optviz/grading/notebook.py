"""The solution-notebook format: task cells, solution regions, and the generated exercise notebooks.

A *task cell* is a code cell whose first line is a header ``# Задание <id> · <N> балл(а/ов)``;
``<id>`` is the name of the function the student writes, ``<N>`` its points. Solution regions are
lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (code cells; replaced by a Russian stub
raising ``NotImplementedError``) or between ``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->``
(markdown cells; replaced by «*Впишите ответ здесь.*»). See ``solutions/README.md``.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

__all__ = ["FormatError", "TaskCell", "parse_tasks", "strip_solutions", "exercise_notebook", "dumps",
           "solution_fragments", "TASK_HEADER", "rules_line"]

TASK_HEADER = re.compile(
    r"^#\s*Задание\s+(?P<id>[A-Za-z_][A-Za-z0-9_]*)\s*[·:—-]\s*(?P<points>\d+(?:[.,]\d+)?)\s*балл\w*\s*$")
_BEGIN = re.compile(r"^(?P<indent>\s*)###\s*BEGIN SOLUTION\s*$")
_END = re.compile(r"^\s*###\s*END SOLUTION\s*$")
_MD_BEGIN = re.compile(r"^\s*<!--\s*BEGIN SOLUTION\s*-->\s*$")
_MD_END = re.compile(r"^\s*<!--\s*END SOLUTION\s*-->\s*$")
MD_STUB = "*Впишите ответ здесь.*"


class FormatError(ValueError):
    """A solution notebook breaks the authoring format (Russian message naming the file and cell)."""


@dataclass(frozen=True)
class TaskCell:
    id: str
    points: float
    cell_index: int  # among all cells


def parse_tasks(nb, name: str = "ноутбук", *, require_solution: bool = True) -> list[TaskCell]:
    """Task cells of a notebook, in order (validates headers, uniqueness and, for solutions, the regions)."""
    tasks: list[TaskCell] = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        first = cell.source.split("\n", 1)[0]
        if re.match(r"^#\s*Задание\b", first):
            m = TASK_HEADER.match(first)
            if not m:
                raise FormatError(f"{name}, ячейка {i + 1}: заголовок задания «{first}» не по формату "
                                  "«# Задание <имя_функции> · <N> балла»")
            points = float(m["points"].replace(",", "."))
            if points <= 0:
                raise FormatError(f"{name}, ячейка {i + 1}: у задания {m['id']} должно быть больше 0 баллов")
            if any(t.id == m["id"] for t in tasks):
                raise FormatError(f"{name}: задание {m['id']} встречается дважды")
            if require_solution and not any(_BEGIN.match(ln) for ln in cell.source.splitlines()):
                raise FormatError(f"{name}, ячейка {i + 1}: в ячейке задания {m['id']} нет области "
                                  "### BEGIN SOLUTION … ### END SOLUTION")
            tasks.append(TaskCell(m["id"], points, i))
    return tasks


def _strip_regions(source: str, begin: re.Pattern, end: re.Pattern, stub, markers: tuple[str, str],
                   where: str) -> str:
    """Replace every ``begin … end`` region of ``source`` by ``stub(match_of_begin)`` (a list of lines)."""
    out, inside = [], False
    for line in source.split("\n"):
        b = begin.match(line)
        if b:
            if inside:
                raise FormatError(f"{where}: вложенный {markers[0]}")
            inside = True
            out += stub(b)
            continue
        if end.match(line):
            if not inside:
                raise FormatError(f"{where}: {markers[1]} без {markers[0]}")
            inside = False
            continue
        if not inside:
            out.append(line)
    if inside:
        raise FormatError(f"{where}: {markers[0]} без {markers[1]}")
    return "\n".join(out)


def _strip_code(source: str, task_id: str | None, where: str) -> str:
    what = f"Задание {task_id}: напишите решение" if task_id else "Напишите решение"

    def stub(b):
        ind = b["indent"]
        return [f"{ind}# ваше решение здесь", f'{ind}raise NotImplementedError("{what}")']

    return _strip_regions(source, _BEGIN, _END, stub, ("### BEGIN SOLUTION", "### END SOLUTION"), where)


def _strip_markdown(source: str, where: str) -> str:
    return _strip_regions(source, _MD_BEGIN, _MD_END, lambda _b: [MD_STUB],
                          ("<!-- BEGIN SOLUTION -->", "<!-- END SOLUTION -->"), where)


def strip_solutions(nb, name: str = "ноутбук"):
    """A copy of ``nb`` with every solution region replaced by its stub (outputs cleared)."""
    tasks = {t.cell_index: t.id for t in parse_tasks(nb, name)}
    out = copy.deepcopy(nb)
    for i, cell in enumerate(out.cells):
        where = f"{name}, ячейка {i + 1}"
        if cell.cell_type == "code":
            cell.source = _strip_code(cell.source, tasks.get(i), where)
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "markdown":
            cell.source = _strip_markdown(cell.source, where)
    return out


def rules_line(forbid, allow=()) -> str:
    """The Russian comment that states a task's rules in the exercise notebook."""
    text = f"# Нельзя использовать в решении: {', '.join(forbid)} — иначе 0 баллов за задание"
    if allow:
        text += f" (разрешено: {', '.join(allow)})"
    return text + "."


def exercise_notebook(solution_path: Path, spec=None):
    """The student version of a solution notebook (metadata ``optviz.exercise`` = file stem).

    With the exercise's public ``spec``, every task cell states the task's rules (what the function
    may not use) right under its header.
    """
    solution_path = Path(solution_path)
    nb = nbformat.read(solution_path, as_version=4)
    ex = strip_solutions(nb, f"solutions/{solution_path.name}")
    if spec is not None:
        for t in parse_tasks(ex, f"exercises/{solution_path.name}", require_solution=False):
            task = spec.task(t.id)
            header, _, rest = ex.cells[t.cell_index].source.partition("\n")
            ex.cells[t.cell_index].source = header + "\n" + rules_line(task.rules, task.allow) + "\n" + rest
    meta = {k: ex.metadata[k] for k in ("kernelspec", "language_info") if k in ex.metadata}
    meta["optviz"] = {"exercise": solution_path.stem}
    ex.metadata = nbformat.from_dict(meta)
    return ex


def dumps(nb) -> str:
    """Deterministic file text of a notebook (sorted keys, one-space indent, final newline)."""
    text = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"


def solution_regions(nb, min_len: int = 24) -> list[list[str]]:
    """The distinctive stripped lines (≥ ``min_len`` characters, not comments) of each solution region of ``nb``."""
    regions, current = [], None
    for cell in nb.cells:
        for line in cell.source.split("\n"):
            if _BEGIN.match(line) or _MD_BEGIN.match(line):
                current = []
                continue
            if _END.match(line) or _MD_END.match(line):
                if current:
                    regions.append(current)
                current = None
                continue
            s = line.strip()
            if current is not None and len(s) >= min_len and not s.startswith("#"):
                current.append(s)
    return regions


def solution_fragments(nb, min_len: int = 24) -> list[str]:
    """Distinctive stripped lines inside the solution regions of ``nb`` (all regions together)."""
    return [line for region in solution_regions(nb, min_len) for line in region]
