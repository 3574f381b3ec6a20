"""The student release: lectures, exercises and the library — never solutions or hidden tests."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .notebook import solution_fragments, solution_regions
from .project import solution_paths, stale_exercises

__all__ = ["build_release", "leaks", "secrets", "secret_fragments", "Secret", "ReleaseError"]

FILES = ["README.md", "pyproject.toml", "constraints.txt", "Makefile", "environment.yml"]
DIRS = ["lectures", "exercises", "optviz"]
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info", "solutions", "hidden")


class ReleaseError(RuntimeError):
    """The release cannot be built (stale exercises, a leak); the message is Russian."""


@dataclass(frozen=True)
class Secret:
    """One solution region or one hidden-test file: where it lives and its distinctive lines."""

    where: str
    lines: tuple[str, ...]

    def exposed_in(self, text_lines: set[str]) -> int:
        """How many of its lines a text holds, if that many betray it (else 0).

        One generic line (``for _ in range(steps):``) may legitimately appear anywhere; a region is
        exposed when at least half of its distinctive lines (and at least two, or its only one) are
        present, or any four of them.
        """
        hit = sum(line in text_lines for line in self.lines)
        n = len(self.lines)
        return hit if hit >= 4 or (hit >= min(n, 2) and 2 * hit >= n) else 0


def _hidden_lines(path: Path) -> list[str]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        s = line.strip()
        if len(s) >= 24 and not s.startswith(("import ", "from ", "#", '"""', "hint=")):
            out.append(s)
    return out


def secrets(solutions_dir: Path) -> list[Secret]:
    """Every solution region and every hidden-test file under ``solutions_dir`` (they must not be released)."""
    found: list[Secret] = []
    for p in solution_paths(solutions_dir):
        for k, region in enumerate(solution_regions(nbformat.read(p, as_version=4)), start=1):
            found.append(Secret(f"solutions/{p.name}, решение {k}", tuple(dict.fromkeys(region))))
    for p in sorted((Path(solutions_dir) / "hidden").glob("*.py")):
        lines = _hidden_lines(p)
        if lines:
            found.append(Secret(f"solutions/hidden/{p.name}", tuple(dict.fromkeys(lines))))
    return found


def secret_fragments(solutions_dir: Path) -> list[str]:
    """Distinctive lines of the solution regions and of the hidden tests, all together."""
    frags: list[str] = []
    for p in solution_paths(solutions_dir):
        frags += solution_fragments(nbformat.read(p, as_version=4))
    for p in sorted((Path(solutions_dir) / "hidden").glob("*.py")):
        frags += _hidden_lines(p)
    return sorted(set(frags))


def text_lines(path: Path) -> set[str] | None:
    """The stripped lines of a text file (of a notebook: of its cells' sources); None if not text."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None
    if Path(path).suffix == ".ipynb":  # sources are JSON strings: compare on the notebook's own text
        try:
            text = "\n".join(c.source for c in nbformat.reads(text, as_version=4).cells)
        except Exception:  # noqa: BLE001
            pass
    return {line.strip() for line in text.splitlines()}


def leaks(folder: Path, found_secrets: list[Secret]) -> list[str]:
    """``"file: where (k из n строк)"`` for every secret a text file under ``folder`` exposes."""
    out = []
    for p in sorted(Path(folder).rglob("*")):
        lines = text_lines(p) if p.is_file() else None
        if not lines:
            continue
        for sec in found_secrets:
            hit = sec.exposed_in(lines)
            if hit:
                out.append(f"{p.relative_to(folder)}: {sec.where} ({hit} из {len(sec.lines)} строк)")
    return out


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
        found = leaks(out_dir, secrets(solutions))
        if found:
            shutil.rmtree(out_dir)
            raise ReleaseError("в выпуск попали решения или скрытые тесты, выпуск удалён:\n" + "\n".join(found[:20]))
    return copied
