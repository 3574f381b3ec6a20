"""``python -m optviz.site --out site/ [notebooks…]`` — build the static course site."""

from __future__ import annotations

import argparse
import sys
import time

from ._build import SiteBuildError, build_site


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m optviz.site",
                                 description="Собрать статический сайт курса: выполнить лекции и сохранить HTML.")
    ap.add_argument("notebooks", nargs="*", help="ноутбуки (по умолчанию все из --lectures)")
    ap.add_argument("--out", default="site", help="папка для страниц (по умолчанию site/)")
    ap.add_argument("--lectures", default="lectures", help="папка с лекциями (по умолчанию lectures/)")
    ap.add_argument("--timeout", type=float, default=300, help="лимит времени на ячейку, с (по умолчанию 300)")
    ap.add_argument("--allow-warnings", action="store_true",
                    help="не считать ошибкой предупреждения в выводе ячеек")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        build_site(args.out, args.notebooks or None, lectures_dir=args.lectures, timeout=args.timeout,
                   strict=not args.allow_warnings)
    except SiteBuildError as err:
        print(f"Сайт собран не полностью.\n{err}", file=sys.stderr)
        return 1
    print(f"Сборка заняла {time.perf_counter() - t0:.1f} с.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
