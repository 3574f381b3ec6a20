"""Command line: ``python -m optviz.grading {generate,grade,release}`` (messages in Russian)."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from .notebook import FormatError
from .project import default_root, generate, stale_exercises


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m optviz.grading",
                                description="Проверяемые упражнения курса: генерация, оценивание, выпуск.")
    p.add_argument("--root", type=Path, default=None, help="корень курса (по умолчанию — текущая папка)")
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate", help="solutions/ → exercises/")
    g.add_argument("--check", action="store_true", help="только проверить, что exercises/ не устарели")
    g.add_argument("--only", nargs="+", metavar="ID", default=None,
                   help="сгенерировать только эти упражнения (id вида 02-1-slug)")
    gr = sub.add_parser("grade", help="оценить папку присланных ноутбуков")
    gr.add_argument("submissions", type=Path, help="папка с ноутбуками студентов")
    gr.add_argument("--out", type=Path, required=True, help="файл ведомости (CSV)")
    gr.add_argument("--feedback", type=Path, default=None, help="папка отзывов (по умолчанию рядом с ведомостью)")
    gr.add_argument("--timeout", type=float, default=60.0,
                    help="лимит процессорного времени на работу, с (60; ожидание процессора не считается)")
    gr.add_argument("--memory", type=int, default=2048, help="лимит памяти на всю работу, МБ (2048)")
    gr.add_argument("--processes", type=int, default=64, help="лимит числа процессов и потоков работы (64)")
    gr.add_argument("--jobs", type=int, default=2, help="сколько работ проверять одновременно (2)")
    r = sub.add_parser("release", help="собрать выпуск для студентов (без решений и скрытых тестов)")
    r.add_argument("out_dir", type=Path)
    return p


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    root = (args.root or default_root()).resolve()
    solutions, exercises = root / "solutions", root / "exercises"
    try:
        if args.cmd == "generate":
            if args.check:
                stale = stale_exercises(solutions, exercises)
                if stale:
                    print("exercises/ устарели относительно solutions/:", *[f"  • {s}" for s in stale],
                          "Выполните: python -m optviz.grading generate", sep="\n", file=sys.stderr)
                    return 1
                print("exercises/ соответствуют solutions/.")
                return 0
            written = generate(solutions, exercises, only=args.only)
            print(f"Сгенерировано ноутбуков: {sum(p.suffix == '.ipynb' for p in written)} → {exercises}")
            return 0
        if args.cmd == "grade":
            from .grade import GradingStopped, grade_folder
            from .sandbox import Limits

            if not args.submissions.is_dir():
                print(f"Нет папки {args.submissions}", file=sys.stderr)
                return 2
            limits = Limits(timeout=args.timeout, memory=args.memory, processes=args.processes)
            previous = signal.signal(signal.SIGTERM, _interrupt)
            try:
                results = grade_folder(args.submissions, args.out, solutions_dir=solutions, feedback_dir=args.feedback,
                                       limits=limits, jobs=args.jobs, log=lambda text: print(text, flush=True))
            except GradingStopped:
                print("Проверка остановлена: все процессы работ завершены, ведомость не записана.", file=sys.stderr)
                return 130
            finally:
                signal.signal(signal.SIGTERM, previous)
            print(f"Проверено работ: {len(results)}; ведомость: {args.out}")
            return 0
        if args.cmd == "release":
            from .release import ReleaseError, build_release

            try:
                build_release(root, args.out_dir)
            except ReleaseError as err:
                print(f"Выпуск не собран: {err}", file=sys.stderr)
                return 1
            print(f"Выпуск для студентов собран в {args.out_dir}")
            return 0
    except FormatError as err:
        print(f"Ошибка формата упражнений: {err}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
