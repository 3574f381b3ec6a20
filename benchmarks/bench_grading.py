"""Grading a batch: the 44 control notebooks (every solution and every untouched exercise), graded by
``python -m optviz.grading grade`` with the default limits and ``--jobs 2``, in the isolated mode
(bubblewrap + cgroup) and without isolation (``OPTVIZ_GRADING_ISOLATION=none``), side by side.

The ratio isolated / not isolated is the isolation overhead; per submission it is the extra wall time
of the batch divided by the number of notebooks.
"""

from __future__ import annotations

import csv
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _batch(folder: pathlib.Path) -> int:
    sys.path.insert(0, str(ROOT))
    from optviz.grading.project import solution_paths

    n = 0
    for who, src in (("solution", ROOT / "solutions"), ("exercise", ROOT / "exercises")):
        (folder / who).mkdir(parents=True)
        for p in solution_paths(ROOT / "solutions"):
            shutil.copy(src / p.name, folder / who / p.name)
            n += 1
    return n


def _grade(folder: pathlib.Path, out: pathlib.Path, isolation: str | None) -> tuple[float, list[dict], str]:
    env = dict(os.environ)
    env.pop("OPTVIZ_GRADING_ISOLATION", None)
    if isolation:
        env["OPTVIZ_GRADING_ISOLATION"] = isolation
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "optviz.grading", "--root", str(ROOT), "grade", str(folder),
                           "--out", str(out), "--jobs", "2"], capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    with open(out, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    mode = proc.stdout.splitlines()[0] if proc.stdout else ""
    return wall, rows, mode


def main() -> str:
    with tempfile.TemporaryDirectory(prefix="optviz-bench-grading-") as tmp:
        folder = pathlib.Path(tmp) / "subs"
        n = _batch(folder)
        iso_wall, iso_rows, iso_mode = _grade(folder, pathlib.Path(tmp) / "iso.csv", None)
        none_wall, none_rows, _ = _grade(folder, pathlib.Path(tmp) / "none.csv", "none")
    ok = all((r["submission"].startswith("solution/") and r["total"] == r["max"]) or
             (r["submission"].startswith("exercise/") and float(r["total"]) == 0.0) for r in iso_rows + none_rows)
    ratio = iso_wall / none_wall
    return "\n".join([
        "## Оценивание: набор из 44 контрольных работ",
        "",
        "`python -m optviz.grading grade` с лимитами по умолчанию и `--jobs 2`: все решения (полный балл) и все",
        "нетронутые упражнения (0) — 22 + 22 ноутбука; в изолированном режиме и без изоляции ОС,",
        "один за другим в одном запуске.",
        "",
        f"Режим изоляции: {iso_mode.removeprefix('Режим проверки: ').rstrip('.')}.",
        "",
        "| режим | время набора, с | на работу, с |",
        "|---|---:|---:|",
        f"| изоляция ОС (bubblewrap{' + cgroup' if 'cgroup' in iso_mode else ''}) | {iso_wall:.1f} | {iso_wall / n:.2f} |",
        f"| без изоляции (`OPTVIZ_GRADING_ISOLATION=none`) | {none_wall:.1f} | {none_wall / n:.2f} |",
        "",
        f"Накладные расходы изоляции: ×{ratio:.2f} времени набора, "
        f"{(iso_wall - none_wall) / n:+.2f} с на работу. Оценки контрольных работ "
        f"{'точные в обоих режимах' if ok else 'НЕ совпали с ожидаемыми'} (работ в наборе: {n}).",
    ])


if __name__ == "__main__":
    print(main())
