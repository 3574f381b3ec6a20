"""The sandboxed side of grading: runs ONE submission in a fresh interpreter (untrusted code).

Started by :mod:`optviz.grading.sandbox` as ``python -I -c BOOT IN_FD OUT_FD``. Protocol (JSON
lines, never pickle):

1. reads a config line on ``IN_FD`` (cells, cells to skip, limits, exercise id), sets the resource
   limits, imports the exercise's public spec (the drivers);
2. executes the code cells one by one, each under a soft time limit, catching every exception
   (``SystemExit`` included) and reporting ``cell_start`` / ``cell_end`` on ``OUT_FD``;
3. reports ``ready`` and only then reads the checks (driver + inputs) on ``IN_FD``;
4. for each check calls the student's function through the driver and reports the raw encoded
   value (``check_start`` / ``check_end``); the parent computes the expected values and compares.

Output of the student's code goes to stdout/stderr, which the parent captures and ignores.
"""

from __future__ import annotations

import builtins
import json
import os
import re
import resource
import signal
import sys

_write = os.write
_dumps = json.dumps
_loads = json.loads
_setitimer = signal.setitimer
_signal = signal.signal
_exit = os._exit


class _SoftTimeout(BaseException):
    """Raised by SIGALRM when a cell or a check exceeds its soft time limit."""


def _on_alarm(signum, frame):
    raise _SoftTimeout()


def _send(fd: int, msg: dict) -> None:
    data = (_dumps(msg, allow_nan=True) + "\n").encode("utf-8")
    while data:
        n = _write(fd, data)
        data = data[n:]


def _read_line(fd: int) -> str:
    buf = bytearray()
    while not buf.endswith(b"\n"):
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        buf += chunk
    return buf.decode("utf-8")


def _limits(memory_mb: int, cpu_s: int) -> None:
    mem = int(memory_mb) * 1024 * 1024
    for res, val in ((resource.RLIMIT_AS, mem), (resource.RLIMIT_CPU, int(cpu_s)), (resource.RLIMIT_CORE, 0),
                     (resource.RLIMIT_FSIZE, 256 * 1024 * 1024)):
        try:
            resource.setrlimit(res, (val, val))
        except (ValueError, OSError):
            pass


_MAGIC = re.compile(r"^\s*[%!]")


def _python_source(source: str) -> str:
    """Cell source without IPython magics and shell escapes (a ``%%`` cell is skipped entirely)."""
    if source.lstrip().startswith("%%"):
        return ""
    return "\n".join("pass" if _MAGIC.match(line) else line for line in source.split("\n"))


def _describe(err: BaseException, soft: float) -> str:
    if isinstance(err, _SoftTimeout):
        return f"превышен лимит времени {soft:g} с"
    from optviz.grading.selfcheck import describe_exception

    return describe_exception(err)


def _guarded(fn, soft: float):
    """``(ok, value_or_error_text)`` of ``fn()`` under the soft time limit; nothing escapes."""
    _signal(signal.SIGALRM, _on_alarm)
    try:
        _setitimer(signal.ITIMER_REAL, soft)
        try:
            return True, fn()
        finally:
            _setitimer(signal.ITIMER_REAL, 0)
    except BaseException as err:  # noqa: BLE001 - the student's code may raise anything
        _setitimer(signal.ITIMER_REAL, 0)
        try:
            return False, (_describe(err, soft), isinstance(err, _SoftTimeout))
        except BaseException:  # noqa: BLE001
            return False, ("ошибка", isinstance(err, _SoftTimeout))


def main() -> None:
    in_fd, out_fd = int(sys.argv[1]), int(sys.argv[2])
    cfg = _loads(_read_line(in_fd))
    _limits(cfg["memory_mb"], cfg["cpu_s"])
    os.chdir(cfg["workdir"])
    import importlib

    import numpy  # noqa: F401 - imported before the student's code runs
    import torch  # noqa: F401

    from optviz.grading import values
    from optviz.grading.spec import get_exercise

    exercise = get_exercise(cfg["exercise"])
    encode = values.encode
    importlib.import_module("optviz.grading.selfcheck")

    ns = {"__name__": "__main__", "__builtins__": builtins}
    skip = set(cfg["skip_cells"])
    soft_cell = float(cfg["soft_cell_s"])
    for i, source in enumerate(cfg["cells"]):
        if i in skip:
            continue
        _send(out_fd, {"ev": "cell_start", "i": i})
        try:
            code = compile(_python_source(source), f"<ячейка кода {i + 1}>", "exec")
        except BaseException as err:  # noqa: BLE001 - SyntaxError, ValueError (null bytes), ...
            _send(out_fd, {"ev": "cell_end", "i": i, "error": f"синтаксическая ошибка: {type(err).__name__}: {err}"[:400]})
            continue
        ok, res = _guarded(lambda code=code: exec(code, ns), soft_cell)
        _send(out_fd, {"ev": "cell_end", "i": i, "error": None if ok else res[0]})

    _send(out_fd, {"ev": "ready"})
    req = _loads(_read_line(in_fd))
    nonce = req["nonce"]
    soft_check = float(cfg["soft_check_s"])
    timed_out: set[str] = set()
    for chk in req["checks"]:
        k, task_id = chk["k"], chk["task"]
        if task_id in timed_out:
            _send(out_fd, {"ev": "check_end", "k": k, "n": nonce,
                           "error": "не проверялось: предыдущая проверка этого задания превысила лимит времени"})
            continue
        fn = ns.get(task_id)
        if not callable(fn):
            _send(out_fd, {"ev": "check_end", "k": k, "n": nonce, "missing": True,
                           "error": f"функция {task_id} не определена"})
            continue
        task = exercise.task(task_id)
        driver = task.drivers[chk["driver"]]
        inputs = values.decode(chk["inputs"])
        _send(out_fd, {"ev": "check_start", "k": k, "n": nonce})
        ok, res = _guarded(lambda: encode(driver(fn, **inputs)), soft_check)
        if ok:
            _send(out_fd, {"ev": "check_end", "k": k, "n": nonce, "value": res})
        else:
            if res[1]:
                timed_out.add(task_id)
            _send(out_fd, {"ev": "check_end", "k": k, "n": nonce, "error": res[0]})
    _send(out_fd, {"ev": "done", "n": nonce})
    _exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()
