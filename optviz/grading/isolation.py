"""Operating-system isolation of one submission: bubblewrap namespaces, cgroup limits, clean-up.

Three modes, chosen once per grader process (:func:`detect`):

``bwrap``
    run as root: ``bwrap`` gives the submission its own PID, network, IPC, UTS and cgroup
    namespaces, its own session and a mount view with only the Python environment and the
    ``optviz`` package (read-only), a read-only copy of the submission and a private ``/tmp``
    (tmpfs); inside, ``setpriv`` drops to the unprivileged user ``nobody`` (65534) with no
    capabilities and ``no_new_privs``. A cgroup per submission limits memory and the number of
    processes of the *whole* submission and measures its CPU time; when the submission ends every
    process in it is killed (the PID namespace dies with its first process, the cgroup is emptied).
``bwrap-user``
    run as an ordinary user: the same with an unprivileged user namespace (the submission is
    ``nobody`` inside and the instructor's user outside); cgroups only if delegated, else per-process
    ``RLIMIT_*`` limits.
``none``
    no working bubblewrap: today's mode (a child process in its own session with ``RLIMIT_*``),
    with a Russian warning in the log and in the grade sheet.

``OPTVIZ_GRADING_ISOLATION=none`` forces the last mode (e.g. to compare timings).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Isolation", "detect", "CGroup", "NOT_ISOLATED", "NOBODY"]

NOBODY = 65534
NOT_ISOLATED = ("без изоляции ОС: bubblewrap недоступен, работы выполнялись от имени проверяющего "
                "(см. README, «Модель угроз»)")


def _package_dir() -> Path:
    return Path(__file__).resolve().parents[1]


def _python_paths() -> list[str]:
    """Directories the sandboxed interpreter needs (read-only): the environment and the package."""
    out = []
    for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
              os.path.dirname(os.path.realpath(sys.executable)), str(_package_dir())):
        p = os.path.realpath(p)
        if p not in ("/", "") and os.path.isdir(p):
            out.append(p)
    # an interpreter found through a symlink chain: every link's directory
    exe = sys.executable
    seen = 0
    while os.path.islink(exe) and seen < 8:
        target = os.readlink(exe)
        exe = target if os.path.isabs(target) else os.path.join(os.path.dirname(exe), target)
        out.append(os.path.dirname(os.path.abspath(exe)))
        seen += 1
    # keep the outermost directories only
    out = sorted(set(out), key=len)
    keep: list[str] = []
    for p in out:
        if not any(p == k or p.startswith(k.rstrip("/") + "/") for k in keep):
            keep.append(p)
    return keep


_SYSTEM = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")
_ETC = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/alternatives",
        "/etc/ssl/certs")


def bwrap_args(submission_copy: Path, *, as_root: bool) -> list[str]:
    """The ``bwrap`` command line (up to the program to run) for one submission."""
    args = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    if not as_root:
        args += ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY), "--cap-drop", "ALL"]
    for p in _SYSTEM:
        if os.path.exists(p):
            args += ["--ro-bind", p, p] if not os.path.islink(p) else ["--symlink", os.readlink(p), p]
    for p in _ETC:
        if os.path.exists(p):
            args += ["--ro-bind", p, p]
    # /proc, /dev and the private /tmp first: binds made later may lie below /tmp (a checkout in /tmp)
    args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
    made = {"/", *[p for p in _SYSTEM if os.path.exists(p)], "/etc", "/tmp", "/proc", "/dev"}
    args += ["--perms", "0755", "--dir", "/etc"]
    for p in _python_paths():
        if any(p == s or p.startswith(s + "/") for s in _SYSTEM if os.path.exists(s) and not os.path.islink(s)):
            continue
        parts = Path(p).parts
        for k in range(2, len(parts)):
            d = str(Path(*parts[:k]))
            if d not in made:
                args += ["--perms", "0755", "--dir", d]
                made.add(d)
        args += ["--ro-bind", p, p]
        made.add(p)
    args += ["--perms", "0755", "--dir", "/sandbox", "--ro-bind", str(submission_copy), "/sandbox/submission.ipynb",
             "--chdir", "/tmp", "--clearenv"]
    return args


def drop_privileges() -> list[str]:
    """``setpriv`` prefix that runs the program as ``nobody`` with no capabilities (root mode)."""
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--no-new-privs", "--"]


# -- cgroups -------------------------------------------------------------------------------------

class CGroup:
    """One submission's cgroup (v2, or v1 with the memory, pids and cpuacct controllers)."""

    def __init__(self, dirs: dict[str, Path], v2: bool):
        self.dirs, self.v2 = dirs, v2

    @property
    def procs_files(self) -> list[str]:
        return sorted({str(d / "cgroup.procs") for d in self.dirs.values()})

    def _write(self, ctrl: str, name: str, value) -> bool:
        try:
            (self.dirs[ctrl] / name).write_text(str(value))
            return True
        except (OSError, KeyError):
            return False

    def _read(self, ctrl: str, name: str) -> str:
        try:
            return (self.dirs[ctrl] / name).read_text()
        except (OSError, KeyError):
            return ""

    def limit(self, memory_mb: int, processes: int) -> None:
        mem = int(memory_mb) * 1024 * 1024
        if self.v2:
            self._write("memory", "memory.max", mem)
            self._write("memory", "memory.swap.max", 0)
            self._write("pids", "pids.max", processes)
        else:
            self._write("memory", "memory.limit_in_bytes", mem)
            self._write("memory", "memory.memsw.limit_in_bytes", mem)
            self._write("pids", "pids.max", processes)

    def cpu_seconds(self) -> float:
        if self.v2:
            for line in self._read("cpu", "cpu.stat").splitlines():
                if line.startswith("usage_usec"):
                    return int(line.split()[1]) / 1e6
            return 0.0
        text = self._read("cpuacct", "cpuacct.usage").strip()
        return int(text) / 1e9 if text.isdigit() else 0.0

    def oom_kills(self) -> int:
        name = "memory.events" if self.v2 else "memory.oom_control"
        for line in self._read("memory", name).splitlines():
            if line.startswith("oom_kill "):
                try:
                    return int(line.split()[1])
                except ValueError:
                    return 0
        return 0

    def pids(self) -> list[int]:
        out = set()
        for f in self.procs_files:
            try:
                out |= {int(x) for x in Path(f).read_text().split()}
            except (OSError, ValueError):
                pass
        return sorted(out)

    def kill_all(self, timeout: float = 5.0) -> bool:
        """SIGKILL every process of the cgroup until it is empty; True when it is."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.v2 and self._write("pids", "cgroup.kill", 1):
                pass
            pids = self.pids()
            if not pids:
                return True
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.02)
        return not self.pids()

    def remove(self) -> None:
        self.kill_all()
        for d in sorted(set(self.dirs.values()), key=lambda p: len(str(p)), reverse=True):
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


class _CGroupFactory:
    """Creates per-submission cgroups under this process's own cgroups."""

    _counter = 0
    _lock = threading.Lock()

    def __init__(self, parents: dict[str, Path], v2: bool):
        self.parents, self.v2 = parents, v2

    def create(self) -> CGroup | None:
        with self._lock:
            _CGroupFactory._counter += 1
            name = f"optviz-grade-{os.getpid()}-{_CGroupFactory._counter}"
        dirs = {}
        try:
            for ctrl, parent in self.parents.items():
                d = parent / name
                if d not in dirs.values():
                    d.mkdir()
                dirs[ctrl] = d
        except OSError:
            CGroup(dirs, self.v2).remove()
            return None
        return CGroup(dirs, self.v2)

    @classmethod
    def detect(cls) -> "_CGroupFactory | None":
        root = Path("/sys/fs/cgroup")
        try:
            lines = Path("/proc/self/cgroup").read_text().splitlines()
        except OSError:
            return None
        v1 = {}
        v2_path = None
        for line in lines:
            parts = line.split(":", 2)
            if len(parts) != 3:
                continue
            _, ctrls, path = parts
            if ctrls == "":
                v2_path = path
            for c in ctrls.split(","):
                v1[c] = path
        needed = ("memory", "pids", "cpuacct")
        if all(c in v1 for c in needed):
            parents = {}
            for c in needed:
                base = root / c
                if not base.is_dir():
                    for alt in root.iterdir() if root.is_dir() else ():
                        if c in alt.name.split(","):
                            base = alt
                parents[c] = base / v1[c].lstrip("/")
            f = cls(parents, v2=False)
            if f._works():
                return f
        if v2_path is not None:
            base = root / "unified" if (root / "unified" / "cgroup.controllers").is_file() and \
                not (root / "cgroup.controllers").is_file() else root
            parent = base / v2_path.lstrip("/")
            try:
                ctrls = (parent / "cgroup.controllers").read_text().split()
            except OSError:
                return None
            if {"memory", "pids", "cpu"} <= set(ctrls):
                f = cls({"memory": parent, "pids": parent, "cpu": parent}, v2=True)
                if f._works():
                    return f
        return None

    def _works(self) -> bool:
        cg = self.create()
        if cg is None:
            return False
        try:
            if self.v2:
                return (cg.dirs["memory"] / "memory.max").exists() and (cg.dirs["pids"] / "pids.max").exists()
            return (cg.dirs["memory"] / "memory.limit_in_bytes").exists() and (cg.dirs["pids"] / "pids.max").exists()
        finally:
            cg.remove()


# -- detection -----------------------------------------------------------------------------------

@dataclass
class Isolation:
    """How submissions are isolated in this grader process."""

    mode: str                         # "bwrap", "bwrap-user" or "none"
    cgroups: _CGroupFactory | None
    problem: str = ""                 # why the stronger mode is not used (Russian), if it is not

    @property
    def isolated(self) -> bool:
        return self.mode != "none"

    @property
    def warning(self) -> str | None:
        return None if self.isolated else NOT_ISOLATED

    def describe(self) -> str:
        if self.mode == "bwrap":
            what = "изоляция ОС: bubblewrap (свои пространства имён PID, сети и файлов), пользователь nobody"
        elif self.mode == "bwrap-user":
            what = "изоляция ОС: bubblewrap в пользовательском пространстве имён (nobody внутри)"
        else:
            what = NOT_ISOLATED
        limits = "; cgroup: память, число процессов и время ЦП всей работы" if self.cgroups else \
            "; ограничения RLIMIT на каждый процесс (cgroup недоступны)"
        return what + limits


_DETECTED: Isolation | None = None
_DETECT_LOCK = threading.Lock()


def _probe(as_root: bool) -> str:
    """'' when a sandboxed interpreter starts and imports optviz; else the Russian reason."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="optviz-probe-") as tmp:
        sub = Path(tmp) / "submission.ipynb"
        sub.write_text("{}")
        os.chmod(tmp, 0o755)
        os.chmod(sub, 0o644)
        cmd = bwrap_args(sub, as_root=as_root)
        if as_root:
            cmd += drop_privileges()
        code = ("import os, sys; sys.path.insert(0, %r); import optviz.grading.wire; "
                "print(os.getuid())") % str(_package_dir().parent)
        cmd += [sys.executable, "-I", "-c", code]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as err:
            return f"bubblewrap не запустился: {type(err).__name__}"
        if proc.returncode != 0 or proc.stdout.strip() != str(NOBODY):
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
            return f"bubblewrap не запустился (код {proc.returncode}): {tail[0][:200]}"
    return ""


def detect() -> Isolation:
    """The strongest isolation that works on this machine (probed once per process)."""
    global _DETECTED
    with _DETECT_LOCK:
        if _DETECTED is not None:
            return _DETECTED
        forced = os.environ.get("OPTVIZ_GRADING_ISOLATION", "").strip().lower()
        if forced == "none":
            _DETECTED = Isolation("none", _CGroupFactory.detect(), "отключено переменной OPTVIZ_GRADING_ISOLATION=none")
            return _DETECTED
        as_root = os.geteuid() == 0
        problem = ""
        if shutil.which("bwrap") is None:
            problem = "не найдена программа bwrap (Debian: apt-get install bubblewrap)"
        elif as_root and shutil.which("setpriv") is None:
            problem = "не найдена программа setpriv (util-linux)"
        else:
            problem = _probe(as_root)
        if problem:
            _DETECTED = Isolation("none", _CGroupFactory.detect(), problem)
        else:
            _DETECTED = Isolation("bwrap" if as_root else "bwrap-user", _CGroupFactory.detect())
        return _DETECTED
