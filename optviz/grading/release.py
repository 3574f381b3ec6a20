"""The student release: lectures, exercises and the library — never solutions or hidden tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

from .notebook import solution_fragments
from .project import solution_paths, stale_exercises

__all__ = ["build_release", "leaks", "secret_fragments", "ReleaseError"]

FILES = ["README.md", "pyproject.toml", "constraints.txt", "Makefile", "environment.yml"]
DIRS = ["lectures", "exercises", "optviz"]
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info", "solutions", "hidden")


class ReleaseError(RuntimeError):
    """The release cannot be built (stale exercises, a leak); the message is Russian."""


def secret_fragments(solutions_dir: Path) -> list[str]:
    """Distinctive lines of the solution regions and of the hidden tests (they must not be released)."""
    frags: list[str] = []
    for p in solution_paths(solutions_dir):
        frags += solution_fragments(nbformat.read(p, as_version=4))
    for p in sorted((Path(solutions_dir) / "hidden").glob("*.py")):
        for line in p.read_text(encoding="utf-8").splitlines():
            s = line.strip()
            if len(s) >= 24 and not s.startswith(("import ", "from ", "#", '"""', "hint=")):
                frags.append(s)
    return sorted(set(frags))


def leaks(folder: Path, fragments: list[str]) -> list[str]:
    """``"file: fragment"`` for every secret fragment found in a text file under ``folder``."""
    found = []
    for p in sorted(Path(folder).rglob("*")):
        if not p.is_file():
            continue
        try:
            text = p.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if p.suffix == ".ipynb":  # sources are JSON strings: compare on the notebook's own text
            try:
                text = "\n".join(c.source for c in nbformat.reads(text, as_version=4).cells)
            except Exception:  # noqa: BLE001
                pass
        for f in fragments:
            if f in text:
                found.append(f"{p.relative_to(folder)}: {f}")
    return found


def build_release(root: Path, out_dir: Path) -> list[Path]:
    """Copy the student release of the course at ``root`` into ``out_dir`` (which must not exist or be empty)."""
    root, out_dir = Path(root).resolve(), Path(out_dir).resolve()
    solutions = root / "solutions"
    if out_dir == root or root in out_dir.parents and out_dir.parts[len(root.parts)] in ("solutions", *DIRS):
        raise ReleaseError(f"папка выпуска {out_dir} не должна лежать внутри {root}/solutions или папок курса")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ReleaseError(f"папка выпуска {out_dir} не пуста")
    if solutions.is_dir():
        stale = stale_exercises(solutions, root / "exercises")
        if stale:
            raise ReleaseError("exercises/ устарели относительно solutions/: " + "; ".join(stale)
                               + ". Выполните python -m optviz.grading generate.")
    out_dir.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in DIRS:
        if (root / name).is_dir():
            shutil.copytree(root / name, out_dir / name, ignore=_IGNORE)
            copied.append(out_dir / name)
    for name in FILES:
        if (root / name).is_file():
            shutil.copy2(root / name, out_dir / name)
            copied.append(out_dir / name)
    if solutions.is_dir():
        found = leaks(out_dir, secret_fragments(solutions))
        if found:
            shutil.rmtree(out_dir)
            raise ReleaseError("в выпуск попали решения или скрытые тесты, выпуск удалён:\n" + "\n".join(found[:20]))
    return copied
