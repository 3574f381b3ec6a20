"""Run one submission's code in a sandboxed child process and collect the raw results.

One fresh interpreter per attempt (``python -I``), its own session (the whole process group is
killed at the end), resource limits set in the child before any student code (address space, CPU
time, file size, no core dumps), a wall-clock limit enforced here, stdout/stderr captured to a file
and ignored. Results come back as JSON lines over a private pipe. When the child dies (``os._exit``,
a signal, the memory or time limit) the parent starts it again, skipping the cell that killed it or
marking the check that killed it as failed, so the other tasks keep their points.
"""

from __future__ import annotations

import json
import os
import secrets
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .selfcheck import GRADING_ENV
from .spec import Check
from .values import encode

__all__ = ["Limits", "RunRecord", "run_submission"]

_PKG_PARENT = str(Path(__file__).resolve().parents[2])
_BOOT = ("import sys; sys.path.insert(0, {root!r}); "
         "from optviz.grading._child import main; main()")
_MAX_OUTPUT = 64 * 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Limits of one submission: ``timeout`` s wall clock per process, ``memory`` MB address space."""

    timeout: float = 60.0
    memory: int = 2048
    attempts: int = 4

    @property
    def soft_cell(self) -> float:
        return max(1.0, self.timeout / 2)

    @property
    def soft_check(self) -> float:
        return max(1.0, self.timeout / 5)


@dataclass
class RunRecord:
    """What happened to a submission: cell errors, fatal cells and one outcome per check.

    ``outcomes[k]`` is ``("value", decoded JSON)`` or ``("error", Russian reason)``.
    """

    cell_errors: dict[int, str] = field(default_factory=dict)
    fatal_cells: dict[int, str] = field(default_factory=dict)
    outcomes: dict[int, tuple[str, object]] = field(default_factory=dict)
    attempts: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class _Attempt:
    events: list[dict]
    returncode: int | None
    killed_for_time: bool
    broken: str | None = None  # protocol problem (garbage on the channel, too much output)


def _death_reason(att: _Attempt, limits: Limits) -> str:
    if att.killed_for_time:
        return f"превышен лимит времени ({limits.timeout:g} с), процесс остановлен"
    if att.broken:
        return att.broken
    rc = att.returncode
    if rc is None:
        return "процесс не завершился"
    if rc < 0:
        sig = -rc
        if sig == signal.SIGXCPU:
            return "превышен лимит процессорного времени"
        if sig == signal.SIGKILL:
            return "процесс убит (вероятно, не хватило памяти)"
        if sig == signal.SIGSEGV:
            return "аварийное завершение процесса (SIGSEGV; не хватило памяти?)"
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        return f"процесс завершён сигналом {name}"
    return f"процесс Python завершился преждевременно (код {rc}; os._exit или аварийный выход)"


def _writer(fd: int, payload: bytes) -> threading.Thread:
    def run():
        try:
            data = payload
            while data:
                n = os.write(fd, data)
                data = data[n:]
        except OSError:
            pass
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _attempt(cells, skip, checks_payload, exercise_id, limits: Limits, workdir: Path) -> _Attempt:
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COV_"))}
    env.update({GRADING_ENV: "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                "MPLBACKEND": "Agg", "PLOTLY_RENDERER": "json", "BROWSER": "true", "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONHASHSEED": "0"})
    log = open(workdir / "output.log", "wb")
    start = time.monotonic()
    try:
        proc = subprocess.Popen([sys.executable, "-I", "-c", _BOOT.format(root=_PKG_PARENT), str(in_r), str(out_w)],
                                pass_fds=(in_r, out_w), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                cwd=workdir, env=env, start_new_session=True, close_fds=True)
    finally:
        os.close(in_r)
        os.close(out_w)
        log.close()
    cfg = {"cells": cells, "skip_cells": sorted(skip), "exercise": exercise_id, "workdir": str(workdir),
           "memory_mb": limits.memory, "cpu_s": int(limits.timeout) + 5,
           "soft_cell_s": limits.soft_cell, "soft_check_s": limits.soft_check}
    _writer(in_w, (json.dumps(cfg) + "\n").encode())
    nonce = secrets.token_hex(16)
    events: list[dict] = []
    buf = bytearray()
    total = 0
    killed, broken, sent_checks = False, None, False
    sel = selectors.DefaultSelector()
    sel.register(out_r, selectors.EVENT_READ)
    try:
        while True:
            left = start + limits.timeout - time.monotonic()
            if left <= 0:
                killed = True
                break
            if not sel.select(timeout=min(left, 0.5)):
                if proc.poll() is not None and not sel.select(timeout=0):
                    break  # the child is gone (its own children may still hold the pipe open)
                continue
            chunk = os.read(out_r, 1 << 16)
            if not chunk:
                break
            total += len(chunk)
            if total > _MAX_OUTPUT:
                broken = "слишком много данных в канале результатов"
                break
            buf += chunk
            while b"\n" in buf:
                line, _, rest = buf.partition(b"\n")
                buf = bytearray(rest)
                try:
                    msg = json.loads(line.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError):
                    continue  # garbage written by the student's code: ignored
                if not isinstance(msg, dict):
                    continue
                if msg.get("ev") == "ready" and not sent_checks:
                    sent_checks = True
                    _writer(in_w, (json.dumps({"nonce": nonce, "checks": checks_payload}) + "\n").encode())
                elif msg.get("ev") in ("check_start", "check_end", "done") and msg.get("n") != nonce:
                    continue  # not from our harness
                events.append(msg)
            if events and events[-1].get("ev") == "done":
                break
    finally:
        sel.close()
        if killed or broken:
            _kill_group(proc)
        try:
            proc.wait(timeout=max(1.0, start + limits.timeout - time.monotonic()))
        except subprocess.TimeoutExpired:
            killed = killed or not (events and events[-1].get("ev") == "done")
            _kill_group(proc)
            proc.wait()
        _kill_group(proc)  # whatever the submission left running in its group
        os.close(out_r)
        try:
            os.close(in_w)
        except OSError:
            pass
    return _Attempt(events, proc.returncode, killed, broken)


def run_submission(cells: list[str], checks: list[Check], exercise_id: str, limits: Limits) -> RunRecord:
    """Execute ``cells`` (code cells of a submission) and evaluate ``checks`` in the sandbox."""
    rec = RunRecord()
    pending = list(range(len(checks)))
    payload = {k: {"k": k, "task": c.task, "driver": c.driver, "inputs": encode(dict(c.inputs))}
               for k, c in enumerate(checks)}
    with tempfile.TemporaryDirectory(prefix="optviz-grade-") as tmp:
        workdir = Path(tmp)
        last_reason = ""
        while pending and rec.attempts < limits.attempts:
            rec.attempts += 1
            att = _attempt(cells, rec.fatal_cells.keys(), [payload[k] for k in pending], exercise_id, limits,
                           workdir)
            in_cell = in_check = None
            ready = done = False
            for ev in att.events:
                kind = ev.get("ev")
                i, k = ev.get("i"), ev.get("k")
                if kind == "cell_start" and isinstance(i, int) and 0 <= i < len(cells):
                    in_cell = i
                elif kind == "cell_end" and i == in_cell:
                    if ev.get("error"):
                        rec.cell_errors[i] = str(ev["error"])[:500]
                    else:
                        rec.cell_errors.pop(i, None)
                    in_cell = None
                elif kind == "ready":
                    ready, in_cell = True, None
                elif kind == "check_start" and k in pending:
                    in_check = k
                elif kind == "check_end" and k in pending and k not in rec.outcomes:
                    if "value" in ev:
                        rec.outcomes[k] = ("value", ev["value"])
                    else:
                        rec.outcomes[k] = ("error", str(ev.get("error") or "ошибка")[:500])
                    in_check = None
                elif kind == "done":
                    done = True
            pending = [k for k in pending if k not in rec.outcomes]
            if done or not pending:
                break
            reason = _death_reason(att, limits)
            last_reason = reason
            if not ready and in_cell is not None:
                rec.fatal_cells[in_cell] = reason
                rec.notes.append(f"ячейка кода №{in_cell + 1} остановила процесс ({reason}); она пропущена")
            elif in_check is not None:
                rec.outcomes[in_check] = ("error", reason)
                task = checks[in_check].task
                for k in pending:
                    if k != in_check and checks[k].task == task:
                        rec.outcomes[k] = ("error", "не проверялось: предыдущая проверка этого задания "
                                                    "остановила процесс")
                pending = [k for k in pending if k not in rec.outcomes]
            else:
                rec.notes.append(f"проверка прервана: {reason}")
                break
        for k in pending:
            rec.outcomes.setdefault(k, ("error", f"не проверено: {last_reason or 'закончились попытки'}"))
    return rec
