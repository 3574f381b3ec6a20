"""Run every benchmark side by side and write ``benchmarks/RESULTS.md``.

Usage: ``make bench`` (or ``python -m benchmarks.run_all``). Each ``benchmarks/bench_*.py`` module
exposes ``main() -> str`` returning a Markdown section; this script only collects them.
``python -m benchmarks.run_all bench_grading`` reruns the named modules only and replaces just their
sections in the existing file. Speed is reported as ratios measured in one run, never asserted in tests.
"""

from __future__ import annotations

import datetime
import importlib
import os
import pathlib
import platform
import sys

import torch

HERE = pathlib.Path(__file__).resolve().parent
MODULES = ["bench_train_step", "bench_toys", "bench_landscape", "bench_widgets", "bench_grading"]


def header() -> str:
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "нет"
    return (
        "# Результаты бенчмарков optviz\n\n"
        "Файл создаётся командой `make bench` (`python -m benchmarks.run_all`). Все скорости — отношения,\n"
        "измеренные бок о бок в одном запуске; в тестах времени нет.\n\n"
        f"- дата: {datetime.date.today().isoformat()}\n"
        f"- машина: {platform.machine()}, ядер CPU: {os.cpu_count()}, потоков torch: {torch.get_num_threads()}\n"
        f"- Python {platform.python_version()}, torch {torch.__version__}, GPU: {cuda}\n"
    )


def _split(text: str) -> tuple[str, list[str]]:
    """The header and the ``## `` sections of an existing RESULTS.md."""
    parts = text.split("\n## ")
    return parts[0], ["## " + p for p in parts[1:]]


def main(argv: list[str] | None = None) -> int:
    names = (argv if argv else None) or MODULES
    new = {}
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"== {name}", file=sys.stderr, flush=True)
        new[name] = module.main().strip()
    path = HERE / "RESULTS.md"
    if argv and path.is_file():  # a subset: replace only its sections (matched by title), keep the rest
        head, old = _split(path.read_text(encoding="utf-8"))
        stamp = f"\n\n_Замер этого раздела: {datetime.date.today().isoformat()} (остальные — от даты в начале файла)._"
        titles = {s.split("\n", 1)[0]: s + stamp for s in new.values()}
        sections = [titles.pop(s.split("\n", 1)[0], s.strip()) for s in old] + list(titles.values())
        sections = [head.strip()] + [s.strip() for s in sections]
    else:
        sections = [header().strip()] + list(new.values())
    text = "\n\n".join(sections) + "\n"
    path.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
