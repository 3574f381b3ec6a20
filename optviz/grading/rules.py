"""Per-task rules (what a task function may not use): the static scan of a submission's source.

Runs in the trusted grader. A task's rules are :attr:`optviz.grading.spec.Task.rules` (dotted module
names, ``optviz.grading`` always among them) and :attr:`~optviz.grading.spec.Task.allow` (dotted
names of functions that stay allowed). The scan reads the Python code of the task's *reachable*
cells: the task cell itself and, transitively, every cell the student wrote or changed (a cell that
is not a verbatim cell of the released exercise) that defines a name the scanned code uses. In that
code it reports

* imports of a forbidden module (``import torch.optim``, ``from torch import optim``, ``from
  optviz.optim import Adam``, ``from optviz.grading.tasks.ex01_1 import quadratic_run``);
* uses of a name bound to a forbidden module or to something imported from it anywhere in the
  notebook (``torch.optim.Adam``, ``T.optim`` after ``import torch as T``, ``check`` after ``from
  optviz.grading import check``), and the fused kernels ``torch._fused_*`` when ``torch.optim`` is
  forbidden;
* forbidden names spelled as strings for dynamic access (``getattr(torch, "optim")``,
  ``importlib.import_module("torch.optim")``, ``sys.modules["optviz.optim"]``);
* constructs that have no place in a task function and serve to get around the rules: dynamic code
  and imports (``exec``, ``eval``, ``compile``, ``__import__``, ``importlib``), introspection of the
  interpreter (frames, ``gc``, ``ctypes``, profiling hooks, ``sys.modules``), other processes and
  threads.

Every cell the student wrote or changed is also scanned, reachable or not, for *tampering with the
grader* (frames, ``gc``, ``ctypes``, profiling and audit hooks, the grader's private modules): that
zeroes every task. The runtime guard in the sandbox (:mod:`optviz.grading._child`) catches what a
static scan cannot see, such as forbidden code reached through an innocent-looking object.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

__all__ = ["Violation", "scan_task", "scan_tampering", "template_sources", "normalise_source"]

#: bare names that have no place in a task function (dynamic code and namespaces)
DODGE_NAMES = {"exec", "eval", "compile", "__import__", "globals", "vars", "locals", "__builtins__", "breakpoint"}
#: modules whose use in a task function would get around the rules (processes, threads, dynamic
#: imports, serialised code, introspection)
DODGE_MODULES = {"importlib", "builtins", "threading", "_thread", "multiprocessing", "subprocess", "concurrent",
                 "socket", "pickle", "marshal", "dill", "cloudpickle", "runpy", "pkgutil", "inspect", "linecache",
                 "gc", "ctypes", "cffi", "signal", "code", "codeop", "asyncio"}
#: dotted names with the same role
DODGE_DOTTED = {"sys.modules", "sys._getframe", "sys.setprofile", "sys.settrace", "sys.monitoring", "sys.addaudithook",
                "sys.audit", "sys._current_frames", "sys.setrecursionlimit", "sys.setswitchinterval", "os.fork",
                "os.forkpty", "os.system", "os.popen", "os.posix_spawn", "os.posix_spawnp", "os.execv", "os.execve",
                "os.execl", "os.execlp", "os.execvp", "os.spawnv", "os.spawnl", "os.kill", "os.killpg",
                "os.register_at_fork", "types.FunctionType", "types.CodeType", "types.ModuleType", "torch.multiprocessing",
                "torch.jit", "torch.compile", "torch.library", "torch.ops", "numpy.ctypeslib"}
#: attribute names that reach into the interpreter (frames, code objects, closures)
DODGE_ATTRS = {"f_back", "f_globals", "f_locals", "f_code", "f_builtins", "tb_frame", "tb_next", "gi_frame",
               "cr_frame", "ag_frame", "__globals__", "__code__", "__closure__", "cell_contents", "__subclasses__",
               "_getframe", "setprofile", "settrace", "_current_frames", "addaudithook", "__builtins__", "__loader__",
               "__spec__", "__reduce__", "__reduce_ex__", "__wrapped__", "__self__", "__func__", "__dict__",
               "__getattribute__", "__import__"}
#: tampering with the grader, forbidden in every cell the student wrote or changed
TAMPER_ATTRS = {"f_back", "f_globals", "f_locals", "f_code", "f_builtins", "tb_frame", "tb_next", "gi_frame", "cr_frame",
                "ag_frame", "_getframe", "setprofile", "settrace", "_current_frames", "addaudithook",
                "setprofile_all_threads", "settrace_all_threads"}
TAMPER_MODULES = {"ctypes", "cffi"}
TAMPER_DOTTED = {"sys.monitoring", "sys._getframe", "sys.setprofile", "sys.settrace", "sys.addaudithook",
                 "sys._current_frames", "gc.get_objects", "gc.get_referrers", "gc.get_referents", "numpy.ctypeslib",
                 "torch.multiprocessing"}
_GRADER_PRIVATE = ("optviz.grading._child", "optviz.grading.sandbox", "optviz.grading.grade",
                   "optviz.grading.rules", "optviz.grading.wire", "optviz.grading.project")
#: functions that take a name to look up (argument number): a computed name hides what is used
_COMPUTED_NAME = {"getattr": 2, "setattr": 2, "delattr": 2, "__getattribute__": 1, "import_module": 1,
                  "__import__": 1}
_DYNAMIC_ACCESS = {"getattr", "__import__", "import_module", "__getattribute__", "find_spec", "find_module",
                   "reload", "get", "pop", "setdefault"}


@dataclass(frozen=True)
class _Words:
    names: frozenset
    modules: frozenset
    dotted: frozenset
    attrs: frozenset


_DODGES = _Words(frozenset(DODGE_NAMES), frozenset(DODGE_MODULES), frozenset(DODGE_DOTTED), frozenset(DODGE_ATTRS))
_TAMPER = _Words(frozenset(), frozenset(TAMPER_MODULES), frozenset(TAMPER_DOTTED), frozenset(TAMPER_ATTRS))


@dataclass(frozen=True)
class Violation:
    """One broken rule: ``what`` in Russian, ``cell`` (index among code cells), ``line``."""

    what: str
    cell: int
    line: int

    def __str__(self) -> str:
        return f"{self.what} (ячейка кода №{self.cell + 1}, строка {self.line})"


def normalise_source(source: str) -> str:
    """A cell's source for comparison with the template: no trailing spaces, no blank ends."""
    return "\n".join(line.rstrip() for line in source.strip().split("\n"))


def template_sources(nb) -> set[str]:
    """Normalised sources of the code cells of the released exercise notebook ``nb``."""
    return {normalise_source(c.source) for c in nb.cells if c.cell_type == "code"}


_MAGIC = re.compile(r"^\s*[%!]")


def _python(source: str) -> str:
    if source.lstrip().startswith("%%"):
        return ""
    return "\n".join("pass" if _MAGIC.match(line) else line for line in source.split("\n"))


def _parse(source: str):
    try:
        return ast.parse(_python(source))
    except (SyntaxError, ValueError):
        return None


def _matches(name: str, forbidden: tuple[str, ...], allow: tuple[str, ...]) -> str | None:
    """The forbidden module ``name`` falls under (``None`` if allowed or not forbidden)."""
    if any(name == a or name.startswith(a + ".") for a in allow):
        return None
    for f in forbidden:
        if name == f or name.startswith(f + "."):
            return f
    return None


@dataclass
class _Cell:
    index: int
    tree: ast.AST | None
    template: bool
    defines: set[str] = field(default_factory=set)
    uses: set[str] = field(default_factory=set)


def _targets(node) -> set[str]:
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            out.add(n.id)
    return out


def _analyse(index: int, source: str, template: bool) -> _Cell:
    tree = _parse(source)
    cell = _Cell(index, tree, template)
    if tree is None:
        return cell
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            cell.defines.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                cell.defines.add((a.asname or a.name).split(".")[0])
        else:
            cell.defines |= _targets(node)
    bound_inside = _local_names(tree) - cell.defines   # parameters and locals of its functions
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id not in bound_inside:
            cell.uses.add(n.id)
    return cell


def _aliases(cells: list[_Cell]) -> dict[str, str]:
    """Local name → dotted name of what it was imported as, over the whole notebook."""
    out: dict[str, str] = {}
    for c in cells:
        if c.tree is None:
            continue
        for n in ast.walk(c.tree):
            if isinstance(n, ast.Import):
                for a in n.names:
                    if a.asname:
                        out[a.asname] = a.name
                    else:
                        top = a.name.split(".")[0]
                        out.setdefault(top, top)
            elif isinstance(n, ast.ImportFrom) and n.module and not n.level:
                for a in n.names:
                    if a.name != "*":
                        out[a.asname or a.name] = f"{n.module}.{a.name}"
    return out


def _dotted(node, aliases: dict[str, str]) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    base = aliases.get(node.id)
    if base is None:
        return None
    return ".".join([base, *reversed(parts)])


def _strings(node) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _under(name: str, roots) -> bool:
    return any(name == r or name.startswith(r + ".") for r in roots)


def _local_names(tree) -> set[str]:
    """Names a cell binds itself other than by import: parameters, assignments, loop variables."""
    out = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.arg):
            out.add(n.arg)
        elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            out.add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(n.name)
    return out


def _scan_tree(cell: _Cell, forbidden: tuple[str, ...], allow: tuple[str, ...], aliases: dict[str, str],
               words: _Words) -> list[Violation]:
    found: list[Violation] = []
    tree = cell.tree
    local = _local_names(tree)

    def add(what, node):
        found.append(Violation(what, cell.index, getattr(node, "lineno", 0)))

    components = {f.split(".")[-1] for f in forbidden}
    inner: set[int] = set()   # attribute chains inside one already reported
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                m = _matches(a.name, forbidden, allow)
                if m:
                    add(f"импорт {a.name} (запрещено: {m})", node)
                elif _under(a.name, words.modules) or _under(a.name, words.dotted):
                    add(f"импорт {a.name}", node)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                full = node.module if a.name == "*" else f"{node.module}.{a.name}"
                m = _matches(full, forbidden, allow)
                if m:
                    add(f"импорт {full} (запрещено: {m})", node)
                elif _under(full, words.modules) or _under(full, words.dotted) or a.name in words.attrs:
                    add(f"импорт {full}", node)
        elif isinstance(node, ast.Attribute):
            dotted = None if id(node) in inner else _dotted(node, aliases)
            if dotted:
                m = _matches(dotted, forbidden, allow)
                if m:
                    add(f"обращение к {dotted} (запрещено: {m})", node)
                elif _under(dotted, words.dotted) or _under(dotted, words.modules):
                    add(f"конструкция {dotted}", node)
                if m or _under(dotted, words.dotted) or _under(dotted, words.modules):
                    sub = node.value
                    while isinstance(sub, ast.Attribute):
                        inner.add(id(sub))
                        sub = sub.value
                    if isinstance(sub, ast.Name):
                        inner.add(id(sub))
            if "torch.optim" in forbidden and node.attr.startswith("_fused_"):
                add(f"ядро {node.attr} из torch.optim (запрещено: torch.optim)", node)
            if node.attr in words.attrs:
                add(f"конструкция .{node.attr}", node)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and id(node) not in inner:
            target = aliases.get(node.id)
            if target and node.id not in local:
                m = _matches(target, forbidden, allow)
                if m:
                    add(f"использование {node.id} = {target} (запрещено: {m})", node)
                elif _under(target, words.modules) or _under(target, words.dotted):
                    add(f"использование {node.id} = {target}", node)
            if node.id in words.names and node.id not in local:
                add(f"конструкция {node.id}", node)
        if isinstance(node, (ast.Call, ast.Subscript)):
            func = node.func if isinstance(node, ast.Call) else None
            fname = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if words is _DODGES and fname in _COMPUTED_NAME and isinstance(node, ast.Call) \
                    and len(node.args) >= _COMPUTED_NAME[fname] \
                    and not (isinstance(node.args[_COMPUTED_NAME[fname] - 1], ast.Constant)):
                add(f"вычисляемое имя в {fname}(...)", node)
            args = [*node.args, *[k.value for k in node.keywords]] if isinstance(node, ast.Call) else [node.slice]
            for arg in args:
                for s in _strings(arg):
                    text = s.strip()
                    m = _matches(text, forbidden, allow)
                    if m and ("." in text or isinstance(node, ast.Subscript) or fname in _DYNAMIC_ACCESS):
                        add(f"строка «{text}» (запрещено: {m})", node)
                    elif (isinstance(node, ast.Subscript) or fname in _DYNAMIC_ACCESS) and (
                            text in components or text in words.attrs or text in words.names
                            or text in words.modules or _under(text, words.dotted)):
                        add(f"динамическое обращение «{text}»", node)
    return found


def _cells(cells: list[str], template: set[str]) -> list[_Cell]:
    return [_analyse(i, src, normalise_source(src) in template) for i, src in enumerate(cells)]


def scan_task(cells: list[str], task_id: str, task_cell: int | None, forbidden: tuple[str, ...],
              allow: tuple[str, ...], template: set[str]) -> list[Violation]:
    """Rule violations in the code reachable from task ``task_id`` (see the module docstring).

    ``cells``: the code cells of the submission; ``task_cell``: the index (among them) of the task's
    cell, if the submission has one; ``template``: :func:`template_sources` of the released exercise.
    """
    analysed = _cells(cells, template)
    aliases = _aliases(analysed)
    seeds = {task_id}
    scan: list[_Cell] = []
    if task_cell is not None and 0 <= task_cell < len(analysed):
        scan.append(analysed[task_cell])
    names = set(seeds)
    for c in scan:
        names |= c.uses
    changed = True
    while changed:
        changed = False
        for c in analysed:
            if c in scan or c.template:
                continue
            if c.defines & names:
                scan.append(c)
                names |= c.uses
                changed = True
    found: list[Violation] = []
    for c in sorted(scan, key=lambda c: c.index):
        if c.tree is None:
            continue
        found += _scan_tree(c, forbidden, allow, aliases, _DODGES)
    return _unique(found)


def scan_tampering(cells: list[str], template: set[str]) -> list[Violation]:
    """Tampering with the grader in any cell the student wrote or changed."""
    found: list[Violation] = []
    analysed = _cells(cells, template)
    aliases = _aliases(analysed)
    for c in analysed:
        if c.template or c.tree is None:
            continue
        found += _scan_tree(c, _GRADER_PRIVATE, (), aliases, _TAMPER)
    return _unique(found)


def _unique(found: list[Violation]) -> list[Violation]:
    seen, out = set(), []
    for v in found:
        key = (v.what, v.cell)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out
