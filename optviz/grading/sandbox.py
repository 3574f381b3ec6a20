"""One sandboxed process of a submission, seen from the trusted grader: start, cells, calls, end.

:class:`Session` starts the untrusted child (:mod:`optviz.grading._child`) inside the isolation of
:mod:`optviz.grading.isolation`, sends it the cells, follows their execution, then lets trusted
drivers call the student's functions through :class:`RemoteFunction` proxies: plain values go in,
plain values come back (:mod:`optviz.grading.wire`), and only the grader compares them with
expected values. Limits: CPU time of the whole submission (the cgroup's, measured from outside,
or ``RLIMIT_CPU``), a generous wall-clock backstop, memory and process count of the whole
submission (cgroup) or of each process (``RLIMIT_AS``). Whatever happens, :meth:`Session.close`
leaves no process of the submission alive.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import wire
from .isolation import NOBODY, CGroup, Isolation, bwrap_args, detect, drop_privileges
from .selfcheck import GRADING_ENV

__all__ = ["Limits", "Session", "RemoteFunction", "SandboxDied", "StudentError", "StudentTimeout", "StudentMissing",
           "CellReport", "running_sessions", "stop_all"]

_PKG_PARENT = str(Path(__file__).resolve().parents[2])
_CHILD = str(Path(__file__).resolve().parent / "_child.py")
_BOOT = ("import sys; sys.path.insert(0, {root!r}); g = {{'__name__': '__optviz_child__'}}; "
         "exec(compile(open({child!r}, encoding='utf-8').read(), '<optviz-grading-child>', 'exec'), g); "
         "del sys.path[0]; g['main']()")
_BOOT_NONE = ("import ctypes, os, signal, sys; ctypes.CDLL(None).prctl(1, signal.SIGKILL); "
              "os.getppid() == {ppid} or os._exit(70); ") + _BOOT
_ENV_KEEP = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "LANG", "LC_ALL")


@dataclass(frozen=True)
class Limits:
    """Limits of one submission (per attempt of its process).

    ``timeout``: CPU seconds for the whole submission's code (cells and checks, its child processes
    included where cgroups work); ``memory``: MB for the whole submission (cgroup) or per process;
    ``processes``: processes and threads of the submission (cgroup); ``attempts``: how many times a
    process that died is started again (skipping what killed it).
    """

    timeout: float = 60.0
    memory: int = 2048
    processes: int = 64
    attempts: int = 4

    @property
    def soft_cell(self) -> float:
        """CPU seconds one cell may use before it is interrupted and skipped."""
        return max(1.0, self.timeout / 2)

    @property
    def soft_check(self) -> float:
        """CPU seconds one check (all the calls its driver makes) may use."""
        return max(1.0, self.timeout / 4)

    @property
    def wall(self) -> float:
        """Wall-clock backstop of one process (waiting for the CPU does not count against the CPU limits)."""
        return 4 * self.timeout + 120.0


class SandboxDied(Exception):
    """The submission's process is gone (the Russian reason is ``args[0]``)."""


class StudentError(Exception):
    """The student's function raised; ``args[0]`` is the exception's type name (nothing else);
    ``violations``: the rule violations the guard saw during the call."""

    def __init__(self, word: str, violations: list[str] | None = None):
        super().__init__(word)
        self.violations = list(violations or [])


class StudentTimeout(StudentError):
    """The student's function ran out of its CPU time."""

    def __init__(self, violations: list[str] | None = None):
        super().__init__("timeout", violations)


class StudentMissing(Exception):
    """The submission does not define the task function."""


@dataclass
class CellReport:
    """What the cells did: error type per cell, the cell that was running when the process died."""

    errors: dict[int, str] = field(default_factory=dict)
    ready: bool = False
    booted: bool = False
    died_in: int | None = None
    reason: str = ""


_SESSIONS: set["Session"] = set()
_SESSIONS_LOCK = threading.Lock()


def running_sessions() -> list["Session"]:
    with _SESSIONS_LOCK:
        return list(_SESSIONS)


def stop_all() -> None:
    """Kill every running submission (the grader is being stopped)."""
    for s in running_sessions():
        s.kill()


def _env() -> dict[str, str]:
    env = {k: os.environ[k] for k in _ENV_KEEP if k in os.environ}
    env.update({GRADING_ENV: "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                "MPLBACKEND": "Agg", "PLOTLY_RENDERER": "json", "BROWSER": "true", "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONHASHSEED": "0", "HOME": "/tmp", "TMPDIR": "/tmp", "USER": "nobody", "LOGNAME": "nobody",
                "MPLCONFIGDIR": "/tmp", "PATH": "/usr/bin:/bin", "LANG": os.environ.get("LANG", "C.UTF-8")})
    return env


class Session:
    """One process of one submission (see the module docstring)."""

    def __init__(self, submission: Path, cells: list[str], skip: set[int], rules: dict, limits: Limits,
                 isolation: Isolation | None = None):
        self.cells, self.skip, self.rules, self.limits = cells, set(skip), rules, limits
        self.iso = isolation or detect()
        self.submission = submission
        self.proc: subprocess.Popen | None = None
        self.cgroup: CGroup | None = None
        self.killed_for = ""
        self._buf = bytearray()
        self._ids = 0
        self._start = 0.0
        self._cpu_boot = 0.0
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._in_w = self._out_r = -1
        self._sel: selectors.BaseSelector | None = None
        self._cpu_checked = 0.0

    # -- process --------------------------------------------------------------------------------

    def start(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="optviz-grade-")
        tmp = Path(self._tmp.name)
        os.chmod(tmp, 0o755)
        copy = tmp / "submission.ipynb"
        copy.write_bytes(self.submission.read_bytes() if self.submission.is_file() else b"{}")
        os.chmod(copy, 0o644)
        work = tmp / "work"
        work.mkdir()
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        env = _env()
        as_root = self.iso.mode == "bwrap"
        if self.iso.isolated:
            boot = _BOOT.format(root=_PKG_PARENT, child=_CHILD)
            cmd = bwrap_args(copy, as_root=as_root)
            for k, v in env.items():
                cmd += ["--setenv", k, v]
            if as_root:
                cmd += drop_privileges()
            cmd += [sys.executable, "-I", "-c", boot, str(in_r), str(out_w)]
            workdir, cwd, run_env = "/tmp", str(tmp), {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        else:
            boot = _BOOT_NONE.format(ppid=os.getpid(), root=_PKG_PARENT, child=_CHILD)
            cmd = [sys.executable, "-I", "-c", boot, str(in_r), str(out_w)]
            env["HOME"] = env["TMPDIR"] = env["MPLCONFIGDIR"] = str(work)
            workdir, cwd, run_env = str(work), str(work), env
        self.cgroup = self.iso.cgroups.create() if self.iso.cgroups else None
        if self.cgroup is not None:
            self.cgroup.limit(self.limits.memory + 64, self.limits.processes)
            run_env = dict(run_env, OPTVIZ_CG=":".join(self.cgroup.procs_files))
            cmd = ["/bin/sh", "-c", 'IFS=:; for f in $OPTVIZ_CG; do echo $$ > "$f" || exit 97; done; '
                                    'unset OPTVIZ_CG; exec "$@"', "sh", *cmd]
        self._start = time.monotonic()
        try:
            self.proc = subprocess.Popen(cmd, pass_fds=(in_r, out_w), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd, env=run_env,
                                         start_new_session=True, close_fds=True)
        finally:
            os.close(in_r)
            os.close(out_w)
        self._in_w, self._out_r = in_w, out_r
        self._sel = selectors.DefaultSelector()
        self._sel.register(out_r, selectors.EVENT_READ)
        with _SESSIONS_LOCK:
            _SESSIONS.add(self)
        cpu_limit = int(self.limits.timeout) + 120  # the warm-up imports come first
        cfg = {"cells": self.cells, "skip_cells": sorted(self.skip), "workdir": workdir, "rules": self.rules,
               "memory_mb": self.limits.memory if self.cgroup is None else self.limits.memory + 1024,
               "cpu_s": cpu_limit, "soft_cell_s": self.limits.soft_cell, "files_mb": 256}
        self._send(cfg)

    def _send(self, msg) -> None:
        data = (json.dumps(msg, allow_nan=True, separators=(",", ":")) + "\n").encode("utf-8")
        try:
            while data:
                n = os.write(self._in_w, data)
                data = data[n:]
        except OSError:
            raise SandboxDied(self.reason()) from None

    def _alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _over_cpu(self) -> bool:
        if self.cgroup is None:
            return False
        return self.cgroup.cpu_seconds() - self._cpu_boot > self.limits.timeout

    def _read(self, deadline: float):
        """The next JSON message from the child (dict), or raise :class:`SandboxDied`."""
        while True:
            while b"\n" in self._buf:
                line, _, rest = bytes(self._buf).partition(b"\n")
                self._buf = bytearray(rest)
                try:
                    msg = json.loads(line.decode("utf-8"))
                except (UnicodeDecodeError, ValueError, RecursionError):
                    continue  # garbage written by the student's code
                if isinstance(msg, dict):
                    return msg
            if len(self._buf) > wire.MAX_LINE:
                self.kill("слишком большое сообщение в канале результатов")
                raise SandboxDied(self.reason())
            now = time.monotonic()
            if now > deadline or now > self._start + self.limits.wall:
                self.kill(f"превышен лимит времени по часам ({self.limits.wall:g} с на процесс)")
                raise SandboxDied(self.reason())
            if now - self._cpu_checked > 0.5:   # a file read: not on every message
                self._cpu_checked = now
                if self._over_cpu():
                    self.kill(f"превышен лимит процессорного времени ({self.limits.timeout:g} с на работу)")
                    raise SandboxDied(self.reason())
            if self._sel.select(timeout=0.25):
                try:
                    chunk = os.read(self._out_r, 1 << 16)
                except OSError:
                    chunk = b""
                if not chunk:
                    self._finish()
                    raise SandboxDied(self.reason())
                self._buf += chunk
            elif not self._alive():
                self._finish()
                raise SandboxDied(self.reason())

    def _finish(self) -> None:
        if self.proc is not None:
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.kill()

    def reason(self) -> str:
        """Why the process is gone, in Russian."""
        if self.killed_for:
            return self.killed_for
        if self.cgroup is not None and self.cgroup.oom_kills() > 0:
            return f"не хватило памяти (лимит {self.limits.memory} МБ на работу)"
        if self._over_cpu():
            return f"превышен лимит процессорного времени ({self.limits.timeout:g} с на работу)"
        rc = self.proc.poll() if self.proc is not None else None
        if rc is None:
            return "процесс не отвечает"
        sig = -rc if rc < 0 else rc - 128 if self.iso.isolated and 128 < rc < 160 else 0
        if sig == signal.SIGXCPU:
            return "превышен лимит процессорного времени процесса"
        if sig == signal.SIGKILL:
            return "процесс убит сигналом SIGKILL"
        if sig == signal.SIGSEGV:
            return f"аварийное завершение процесса (SIGSEGV; возможно, не хватило памяти: лимит {self.limits.memory} МБ)"
        if sig:
            name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
            return f"процесс завершён сигналом {name}"
        if rc == 97:
            return "не удалось поместить процесс в cgroup"
        return f"процесс Python завершился преждевременно (код {rc}; sys.exit/os._exit или аварийный выход)"

    def kill(self, why: str = "") -> None:
        """Kill every process of the submission (idempotent)."""
        if why and not self.killed_for:
            self.killed_for = why
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.kill()
            except OSError:
                pass
        if self.cgroup is not None:
            self.cgroup.kill_all()

    def close(self) -> None:
        """End the process and everything it started; remove the private files and the cgroup."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self._send({"op": "done"})
            except SandboxDied:
                pass
            try:
                self.proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self.iso.mode == "none" and self.proc is not None:
            try:  # whatever the submission left in its process group
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.cgroup is not None:
            self.cgroup.remove()
        if self._sel is not None:
            self._sel.close()
            self._sel = None
        for fd in (self._in_w, self._out_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self._in_w = self._out_r = -1
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        with _SESSIONS_LOCK:
            _SESSIONS.discard(self)

    # -- phases ---------------------------------------------------------------------------------

    def run_cells(self) -> CellReport:
        """Follow the child until it has executed the cells (or died)."""
        rep = CellReport()
        current = None
        deadline = self._start + self.limits.wall
        try:
            while True:
                msg = self._read(deadline)
                ev = msg.get("ev")
                if ev == "booted" and not rep.booted:
                    rep.booted = True
                    if self.cgroup is not None:
                        self._cpu_boot = self.cgroup.cpu_seconds()
                elif ev == "cell_start" and isinstance(msg.get("i"), int) and 0 <= msg["i"] < len(self.cells):
                    current = msg["i"]
                elif ev == "cell_end" and msg.get("i") == current:
                    err = msg.get("error")
                    if err:
                        rep.errors[current] = _safe_word(err)
                    else:
                        rep.errors.pop(current, None)
                    current = None
                elif ev == "ready" and rep.booted:
                    rep.ready = True
                    return rep
        except SandboxDied as died:
            rep.died_in, rep.reason = current, str(died)
            return rep

    def call(self, task: str, args: tuple, kwargs: dict, budget: float):
        """Call the student's function ``task``; returns ``(value, cpu_seconds, violations)``.

        Raises :class:`StudentError`, :class:`StudentTimeout`, :class:`StudentMissing` or
        :class:`SandboxDied`. Callable arguments are served here (they run in this process).
        """
        self._ids += 1
        rid = f"c{self._ids}"
        callbacks: list = []
        payload = {"op": "call", "id": rid, "task": task, "budget": max(0.01, float(budget)),
                   "args": json.loads(wire.dump(tuple(args), callbacks))["t"],
                   "kwargs": json.loads(wire.dump(dict(kwargs), callbacks))}
        self._send(payload)
        deadline = time.monotonic() + budget * 4 + 60
        while True:
            msg = self._read(deadline)
            if msg.get("op") == "callback" and isinstance(msg.get("f"), int) and 0 <= msg["f"] < len(callbacks):
                self._serve_callback(msg, callbacks)
                continue
            if msg.get("id") != rid:
                continue  # stale or forged: ignored
            violations = [_safe_text(v) for v in msg.get("violations", [])[:20]] \
                if isinstance(msg.get("violations"), list) else []
            cpu = msg.get("cpu") if isinstance(msg.get("cpu"), (int, float)) else budget
            if msg.get("missing"):
                raise StudentMissing(task)
            if msg.get("timeout"):
                raise StudentTimeout(violations)
            if "error" in msg:
                raise StudentError(_safe_word(msg.get("error")), violations)
            try:
                value = wire.from_plain(msg.get("ok"))
            except wire.WireError:
                raise StudentError("AnswerError", violations) from None
            return value, max(0.0, float(cpu)), violations

    def _serve_callback(self, msg, callbacks) -> None:
        rid = msg.get("id")
        try:
            args = wire.from_plain(msg.get("args"))
            kwargs = wire.from_plain(msg.get("kwargs"))
            if not isinstance(args, list) or not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
                raise wire.WireError("неверные аргументы")
            out = callbacks[msg["f"]](*args, **kwargs)
            reply = {"id": rid, "ok": json.loads(wire.dump(out))}
        except Exception as err:  # noqa: BLE001 - the student's arguments may break the callback
            reply = {"id": rid, "error": type(err).__name__}
        self._send(reply)


_WORDS = {"timeout", "SystemExit", "SyntaxError", "AnswerError", "Exception", "протокол"}


def _safe_word(text) -> str:
    """An exception type name from the child: an identifier of at most 40 characters, else «Exception»."""
    if isinstance(text, str) and (text in _WORDS or (text.isidentifier() and text.isascii() and len(text) <= 40)):
        return text
    return "Exception"


_VIOLATION_PREFIXES = ("во время вызова функции задания выполнялся код модуля ", "попытка ", "в функции задания запрещено",
                       "чтение исходного кода")


def _safe_text(text) -> str:
    """A runtime-guard message from the child, if it is one of the guard's own forms (else a generic one)."""
    if isinstance(text, str) and len(text) <= 160 and text.startswith(_VIOLATION_PREFIXES) and \
            all(ch.isprintable() for ch in text):
        return text
    return "нарушение правил задания"


class RemoteFunction:
    """A stand-in for the student's function ``task`` that trusted drivers call like the real one.

    Each call is sent to the sandbox with the remaining CPU budget of the check; the CPU time used
    and the guard's rule violations are accumulated on the proxy.
    """

    def __init__(self, session: Session, task: str, budget: float):
        self.session, self.task, self.budget = session, task, float(budget)
        self.violations: list[str] = []
        self.__name__ = task

    def __call__(self, *args, **kwargs):
        if self.budget <= 0:
            raise StudentTimeout()
        try:
            value, cpu, violations = self.session.call(self.task, args, kwargs, self.budget)
        except StudentError as err:   # a timeout too
            self._note(err.violations)
            raise
        self._note(violations)
        self.budget -= cpu
        return value

    def _note(self, violations: list[str]) -> None:
        self.violations += [v for v in violations if v not in self.violations]
