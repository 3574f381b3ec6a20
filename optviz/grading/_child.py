"""The untrusted side of grading: runs ONE submission and answers calls of its task functions.

Started by :mod:`optviz.grading.sandbox` (inside the operating-system sandbox when there is one) as
``python -I -c BOOT IN_FD OUT_FD``. This code is *not imported as a module* there: the boot line
executes it in a private namespace, so the student's code cannot import it and patch it. Protocol,
JSON lines in :mod:`optviz.grading.wire` form (never pickle):

1. reads the config line on ``IN_FD``: cells, cells to skip, limits, the rules of every task;
2. sets the resource limits, warms up the heavy imports (numpy, torch, torch.optim with one step of
   each optimizer family, optviz) before any timer runs, reports ``booted``;
3. installs the runtime guard (an audit hook, which cannot be removed) and executes the code cells
   one by one, each under a soft limit of *CPU* time (``ITIMER_PROF``: waiting for the CPU does
   not count), reporting ``cell_start`` / ``cell_end`` (the exception type only);
4. reports ``ready`` and then only answers requests: ``{"op": "call", "id", "task", "args",
   "kwargs", "budget"}`` calls the student's function ``task`` on the given plain values (the
   grader runs the drivers and compares; nothing here knows an expected value) and answers ``{"id",
   "ok": value}`` or ``{"id", "error": type name}`` or ``{"id", "timeout": true}``, with the CPU
   seconds used and the rule violations seen during the call. A callable argument ``{"f": k}``
   becomes a proxy that asks the grader (``{"op": "callback", ...}``) and waits for its answer.

The runtime guard watches, during a call of a task function, which Python code runs (a profile
function checks each call's code file against the task's forbidden modules) and refuses to start
threads or processes, to change the profile/trace functions, or to walk the garbage collector. It
is a second line behind the grader's static scan (:mod:`optviz.grading.rules`): a determined cheat
inside the student's own process could reach it, the static scan sees the attempt.
"""

# NOTE: executed by exec() in a fresh dict; everything it needs is imported here or in main().
import builtins
import json
import os
import resource
import signal
import sys
import threading
import time
import _thread


class _SoftTimeout(BaseException):
    """Raised by SIGPROF when a cell or a call exceeds its soft CPU-time limit."""


class _Denied(RuntimeError):
    """Raised into the student's code when the guard refuses an operation."""


# bound before any student code runs: patching json/os later changes nothing here
_dumps, _loads, _write, _read = json.dumps, json.loads, os.write, os.read


def _send(fd, msg):
    data = (_dumps(msg, allow_nan=True, separators=(",", ":")) + "\n").encode("utf-8")
    while data:
        n = _write(fd, data)
        data = data[n:]


class _Reader:
    def __init__(self, fd):
        self.fd, self.buf = fd, bytearray()

    def line(self):
        while b"\n" not in self.buf:
            chunk = _read(self.fd, 1 << 16)
            if not chunk:
                raise EOFError
            self.buf += chunk
        line, _, rest = bytes(self.buf).partition(b"\n")
        self.buf = bytearray(rest)
        return line


def _limits(memory_mb, cpu_s, files_mb):
    mem = int(memory_mb) * 1024 * 1024
    for res, val in ((resource.RLIMIT_AS, mem), (resource.RLIMIT_CPU, int(cpu_s)), (resource.RLIMIT_CORE, 0),
                     (resource.RLIMIT_FSIZE, int(files_mb) * 1024 * 1024)):
        try:
            resource.setrlimit(res, (val, val))
        except (ValueError, OSError):
            pass


def _python_source(source):
    """Cell source without IPython magics and shell escapes (a ``%%`` cell is skipped entirely)."""
    import re

    if source.lstrip().startswith("%%"):
        return ""
    magic = re.compile(r"^\s*[%!]")
    return "\n".join("pass" if magic.match(line) else line for line in source.split("\n"))


def _warm_up():
    """Import and exercise what students use, before any timer runs (a timer firing inside a first
    import would leave a half-imported module behind)."""
    import numpy  # noqa: F401
    import torch

    p = torch.zeros(2, requires_grad=True)
    for cls in (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW, torch.optim.Adagrad, torch.optim.RMSprop):
        opt = cls([p], lr=0.1)
        p.grad = torch.ones(2)
        opt.step()
    import scipy.linalg  # noqa: F401

    import optviz  # noqa: F401
    import optviz.grading  # noqa: F401
    import optviz.optim  # noqa: F401
    import optviz.problems  # noqa: F401


def _type_name(err):
    """The exception's type name if it is a built-in (or numpy/torch/optviz) one, else a generic word."""
    t = type(err)
    mod = getattr(t, "__module__", "") or ""
    name = getattr(t, "__name__", "")
    if mod == "builtins" or mod.split(".")[0] in ("numpy", "torch", "optviz", "scipy"):
        if isinstance(name, str) and name.isidentifier() and len(name) <= 40:
            return name
    return "Exception"


def main():
    in_fd, out_fd = int(sys.argv[1]), int(sys.argv[2])
    reader = _Reader(in_fd)
    cfg = _loads(reader.line())
    _limits(cfg["memory_mb"], cfg["cpu_s"], cfg.get("files_mb", 256))
    os.chdir(cfg["workdir"])
    _warm_up()
    from optviz.grading import wire

    _send(out_fd, {"ev": "booted"})

    # -- the guard -------------------------------------------------------------------------------
    state = {"task": None, "violations": [], "internal": False}
    rules = {}       # task id → (forbidden roots, allowed code objects)
    for task_id, r in cfg["rules"].items():
        roots, owners = [], []
        for name in r["forbid"]:
            for root in _module_roots(name):
                roots.append(root)
                owners.append(name)
        allowed = set()
        for name in r.get("allow", ()):
            code = getattr(_resolve(name), "__code__", None)
            if code is not None:
                allowed.add(code)
        rules[task_id] = (tuple(roots), frozenset(allowed), tuple(owners))
    getframe = sys._getframe
    setprofile = sys.setprofile
    threading_profile = threading.setprofile
    setitimer, itimer_prof = signal.setitimer, signal.ITIMER_PROF
    process_time = time.process_time

    def record(what):
        if len(state["violations"]) < 20 and what not in state["violations"]:
            state["violations"].append(what)

    def profile(frame, event, arg):
        if event != "call" or state["task"] is None or state["internal"]:
            return
        roots, allowed, owners = rules[state["task"]]
        fname = frame.f_code.co_filename
        if roots and fname.startswith(roots):
            f = frame
            while f is not None:
                if f.f_code in allowed:
                    return
                f = f.f_back
            owner = next((o for r, o in zip(roots, owners) if fname.startswith(r)), "?")
            record(f"во время вызова функции задания выполнялся код модуля {owner}")

    bootstrap = threading.Thread._bootstrap_inner.__code__

    def audit(event, args):
        if state["internal"]:
            return
        if event in ("sys.setprofile", "sys.settrace"):
            caller = getframe(1)
            if event == "sys.setprofile" and caller.f_code is bootstrap and threading._profile_hook is profile:
                return
            record(f"попытка изменить функцию профилирования ({event})")
            raise _Denied("проверяющая программа запрещает sys.setprofile/sys.settrace")
        if event.startswith("gc.get_"):
            record(f"попытка обойти правила ({event})")
            raise _Denied("проверяющая программа запрещает обход сборщика мусора")
        if event.startswith("sys.monitoring"):
            record(f"попытка обойти правила ({event})")
            raise _Denied("проверяющая программа запрещает sys.monitoring")
        if state["task"] is not None and event in ("os.fork", "os.forkpty", "os.posix_spawn", "os.exec", "os.system",
                                                   "subprocess.Popen", "os.spawn", "ctypes.dlopen", "socket.socket",
                                                   "socket.connect", "os.kill", "os.killpg"):
            record(f"в функции задания запрещено: {event}")
            raise _Denied(f"в функции задания запрещено: {event}")
        if state["task"] is not None and event == "open" and args and isinstance(args[0], str):
            roots = rules[state["task"]][0]
            if roots and os.path.abspath(args[0]).startswith(roots):
                record("попытка прочитать исходный код запрещённого модуля")
                raise _Denied("чтение исходного кода запрещённого модуля")

    sys.addaudithook(audit)

    def profiling(hook):
        """Install (or remove, ``None``) the guard's profile function; the audit hook lets only this pass."""
        state["internal"] = True
        try:
            setprofile(hook)
            threading_profile(hook)
        finally:
            state["internal"] = False
    start_new = _thread.start_new_thread

    def guarded_start(function, args, kwargs=None):
        if state["task"] is not None:
            record("в функции задания запрещено запускать потоки")
            raise _Denied("в функции задания запрещено запускать потоки")
        return start_new(function, args, {} if kwargs is None else kwargs)

    _thread.start_new_thread = guarded_start
    threading._start_new_thread = guarded_start

    # -- soft CPU-time limit ---------------------------------------------------------------------
    def on_prof(signum, frame):
        f = frame
        while f is not None:  # never interrupt an import half-way: try again a little later
            if f.f_code.co_filename.startswith("<frozen importlib"):
                setitimer(itimer_prof, 0.05)
                return
            f = f.f_back
        raise _SoftTimeout()

    install_handler = signal.signal
    install_handler(signal.SIGPROF, on_prof)

    def limited(fn, soft):
        install_handler(signal.SIGPROF, on_prof)  # the student's code may have replaced it
        try:
            setitimer(itimer_prof, max(0.01, float(soft)))
            try:
                return True, fn()
            finally:
                setitimer(itimer_prof, 0)
        except BaseException as err:  # noqa: BLE001 - the student's code may raise anything
            try:
                setitimer(itimer_prof, 0)
            except BaseException:  # noqa: BLE001
                pass
            return False, err

    # -- the cells -------------------------------------------------------------------------------
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
            _send(out_fd, {"ev": "cell_end", "i": i, "error": "SyntaxError" if isinstance(err, SyntaxError)
                           else _type_name(err)})
            continue
        ok, res = limited(lambda code=code: exec(code, ns), soft_cell)
        if ok:
            _send(out_fd, {"ev": "cell_end", "i": i, "error": None})
        else:
            _send(out_fd, {"ev": "cell_end", "i": i, "error": "timeout" if isinstance(res, _SoftTimeout)
                           else "SystemExit" if isinstance(res, SystemExit) else _type_name(res)})

    _send(out_fd, {"ev": "ready"})

    # -- answering calls -------------------------------------------------------------------------
    counter = [0]

    def callback_factory(handle):
        def proxy(*args, **kwargs):
            counter[0] += 1
            rid = f"cb{counter[0]}"
            state["internal"] = True
            try:
                _send(out_fd, {"op": "callback", "id": rid, "f": handle,
                               "args": _loads(wire.dump(list(args))), "kwargs": _loads(wire.dump(kwargs))})
                msg = _loads(reader.line())
                if msg.get("id") != rid:
                    raise RuntimeError("нарушен порядок сообщений")
                if "error" in msg:
                    raise RuntimeError(f"ошибка в функции, переданной проверяющей программой: {msg['error']}")
                return wire.from_plain(msg.get("ok"))
            finally:
                state["internal"] = False
        return proxy

    while True:
        try:
            req = _loads(reader.line())
        except EOFError:
            break
        if req.get("op") == "done":
            break
        if req.get("op") != "call":
            continue
        rid, task_id = req.get("id"), req.get("task")
        fn = ns.get(task_id)
        if task_id not in rules or not callable(fn):
            _send(out_fd, {"id": rid, "missing": True})
            continue
        try:
            args = wire.from_plain(req["args"], callback_factory)
            kwargs = wire.from_plain(req["kwargs"], callback_factory)
        except Exception:  # noqa: BLE001
            _send(out_fd, {"id": rid, "error": "протокол"})
            continue
        state["violations"] = []
        cpu0 = process_time()

        def call():
            profiling(profile)
            state["task"] = task_id
            try:
                return fn(*args, **kwargs)
            finally:
                state["task"] = None
                profiling(None)

        ok, res = limited(call, req.get("budget", 10.0))
        state["task"] = None
        cpu = process_time() - cpu0
        reply = {"id": rid, "cpu": cpu, "violations": list(state["violations"])}
        if ok:
            try:
                reply["ok"] = _loads(wire.dump(res))
            except BaseException as err:  # noqa: BLE001 - not plain data, or a lying object
                reply["error"] = "AnswerError" if isinstance(err, wire.WireError) else _type_name(err)
        elif isinstance(res, _SoftTimeout):
            reply["timeout"] = True
        else:
            reply["error"] = "SystemExit" if isinstance(res, SystemExit) else _type_name(res)
        try:
            _send(out_fd, reply)
        except (TypeError, ValueError):
            _send(out_fd, {"id": rid, "error": "AnswerError", "cpu": cpu, "violations": reply["violations"]})
    os._exit(0)


def _module_roots(name):
    """File-name prefixes of the code of module or package ``name`` (empty if it is not importable)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError, AttributeError):
        return []
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return [os.path.join(os.path.abspath(p), "") for p in spec.submodule_search_locations]
    if spec.origin and os.path.isfile(spec.origin):
        return [os.path.abspath(spec.origin)]
    return []


def _resolve(dotted):
    import importlib

    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ImportError:
            continue
        for attr in parts[k:]:
            obj = getattr(obj, attr, None)
        return obj
    return None

