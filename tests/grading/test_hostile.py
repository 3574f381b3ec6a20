"""The hostile-student suite: one batch of honest controls and cheating submissions, graded in the
isolated mode exactly as an instructor does (``python -m optviz.grading grade``).

Every submission has its exact expected total; honest controls (every solution: full marks, every
untouched exercise: zero) are in the same batch. After the batch nothing outside it has changed, no
process of any submission is alive, and no feedback file shows a hidden input. The submissions that
attack the grader's files, the sheet or other submissions embed the real absolute paths of this
batch, so the attacks would work if the isolation did not hold.

CI runs as root on Debian with bubblewrap installed (``.ci/run``): there the suite must run
(``OPTVIZ_REQUIRE_ISOLATION=1``); elsewhere it is skipped when the machine cannot isolate.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

from optviz.grading.isolation import detect
from optviz.grading.notebook import parse_tasks
from optviz.grading.project import load_answer_key, load_bundle, solution_paths

ROOT = Path(__file__).resolve().parents[2]
SOL, EXS = ROOT / "solutions", ROOT / "exercises"
STATIC = ROOT / "tests" / "grading_submissions"
EX1, EX2, EX3 = "01-1-moment-nesterov", "01-2-optimalnyi-shag", "03-1-adaptivnye-shagi"
ALL = [p.stem for p in solution_paths(SOL)]
MARK = "optviz-hostile-marker"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]   # the batch is graded in the first test


def _require_isolation():
    iso = detect()
    if not iso.isolated or iso.cgroups is None:
        if os.environ.get("OPTVIZ_REQUIRE_ISOLATION") == "1":
            pytest.fail(f"изоляция недоступна: {iso.describe()} ({iso.problem})")
        pytest.skip(f"нет изоляции ОС на этой машине: {iso.problem or 'нет cgroup'}")


# -- building submissions ------------------------------------------------------------------------

def _nb(name: str, folder: Path = SOL):
    return nbformat.read(folder / f"{name}.ipynb", as_version=4)


def _task_index(nb, task_id: str) -> int:
    return next(t.cell_index for t in parse_tasks(nb, require_solution=False) if t.id == task_id)


def _set_task(nb, task_id: str, source: str) -> None:
    """Replace the task cell of ``task_id`` by its header + ``source``."""
    i = _task_index(nb, task_id)
    header = nb.cells[i].source.split("\n", 1)[0]
    nb.cells[i].source = header + "\n" + source


def _insert(nb, before_task: str, source: str) -> None:
    nb.cells.insert(_task_index(nb, before_task), nbformat.v4.new_code_cell(source))


def _fn(body: str, name: str, args: str = "x, grad, buf, lr, momentum") -> str:
    return f"def {name}({args}):\n" + "\n".join("    " + ln for ln in body.strip().split("\n"))


CORRECT_M = "new_buf = momentum * buf + grad\nreturn x - lr * new_buf, new_buf"
CORRECT_N = "new_buf = momentum * buf + grad\nreturn x - lr * (grad + momentum * new_buf), new_buf"


def _ex1(momentum_body: str | None = None, nesterov_body: str | None = None, *, base: Path = SOL):
    nb = copy.deepcopy(_nb(EX1, base))
    if momentum_body is not None:
        _set_task(nb, "momentum_step", _fn(momentum_body, "momentum_step"))
    if nesterov_body is not None:
        _set_task(nb, "nesterov_step", _fn(nesterov_body, "nesterov_step"))
    return nb


def _ex3_with(task_id: str, body: str, args: str):
    nb = copy.deepcopy(_nb(EX3))
    _set_task(nb, task_id, _fn(body, task_id, args))
    return nb


def _hostile(batch: Path, out: Path) -> dict[str, tuple[object, float, str]]:
    """name → (notebook, expected total, exercise). Full marks: 8 (01-1), 8 (01-2), 10 (03-1)."""
    subs: dict[str, tuple[object, float, str]] = {}
    grades, peer = out / "grades.csv", batch / "solution" / f"{EX1}.ipynb"
    hidden = SOL / "hidden" / f"{EX1}.py"

    # -- comparisons, printed scores, lying values ---------------------------------------------
    nb = _ex1("return x, buf", "return x, buf")
    _insert(nb, "momentum_step", "import numpy as np, torch\nnp.allclose = lambda *a, **k: True\n"
            "np.isclose = lambda a, b, *r, **k: np.ones(np.shape(a), bool)\ntorch.allclose = lambda *a, **k: True\n"
            "np.testing.assert_allclose = lambda *a, **k: None\nnp.array_equal = lambda *a, **k: True")
    subs["patch-allclose"] = (nb, 0.0, EX1)

    nb = _ex1("return np.zeros_like(x).view(Yes), np.zeros_like(x).view(Yes)",
              "return np.zeros_like(x).view(Yes), np.zeros_like(x).view(Yes)")
    _insert(nb, "momentum_step", "class Yes(np.ndarray):\n    def __eq__(self, other):\n        return True\n"
            "    def __ne__(self, other):\n        return False\n    __hash__ = None")
    subs["patch-eq"] = (nb, 0.0, EX1)

    nb = _ex1("return Liar(), Liar()", "return float('nan') * x, float('nan') * x")
    _insert(nb, "momentum_step", "class Liar:\n    def __eq__(self, o):\n        return True\n"
            "    def __array__(self, dtype=None, copy=None):\n        return np.zeros(3)\n"
            "    def __float__(self):\n        return 0.0\n    def __len__(self):\n        return 7")
    subs["lying-objects-nan"] = (nb, 0.0, EX1)

    nb = _ex1("print('Все проверки пройдены! 8 из 8 баллов')\nreturn x - lr * grad, grad", CORRECT_N)
    for c in nb.cells:
        if c.cell_type == "code":
            c.source += "\nprint('✓ все проверки пройдены, оценка 8/8')"
    # plain GD passes the first step from a zero buffer and the «момент 0» check: weight 2 of 5
    subs["fake-print"] = (nb, 1.6 + 4.0, EX1)

    nb = _ex1(CORRECT_M, "return x, buf")
    for c in nb.cells:
        if c.cell_type == "code" and "check(" in c.source:
            c.source = "def check(*a, **k):\n    print('✓ все проверки пройдены')\ncheck()"
        if c.cell_type == "code" and c.source.startswith("# Задание"):
            c.source = c.source.replace("· 4 балла", "· 100 баллов")
    subs["edit-check-cells"] = (nb, 4.0, EX1)

    # -- exits, loops, bombs --------------------------------------------------------------------
    nb = _ex1(CORRECT_M, "import sys\nsys.exit(1)")
    _insert(nb, "momentum_step", "import sys\nsys.exit(0)")
    subs["sys-exit"] = (nb, 4.0, EX1)

    nb = _ex1(CORRECT_M, "import os\nos._exit(3)")
    _insert(nb, "nesterov_step", "import os\nos._exit(0)")
    subs["os-exit"] = (nb, 4.0, EX1)

    subs["infinite-loop"] = (_ex1("while True:\n    pass", CORRECT_N), 4.0, EX1)
    subs["loop-ignoring-timeout"] = (_ex1(CORRECT_M, "while True:\n    try:\n        sum(range(10**6))\n"
                                                       "    except BaseException:\n        pass"), 4.0, EX1)

    nb = _ex1("hog = []\nwhile True:\n    hog.append(bytearray(50 * 2**20))", CORRECT_N)
    _insert(nb, "nesterov_step", "big = np.ones((1 << 32,))")
    subs["memory-bomb"] = (nb, 4.0, EX1)

    nb = _ex1(CORRECT_M, CORRECT_N)
    _insert(nb, "momentum_step", "import os, time\nkids = []\ntry:\n    for _ in range(300):\n"
            "        pid = os.fork()\n        if pid == 0:\n            time.sleep(600)\n            os._exit(0)\n"
            "        kids.append(pid)\nexcept OSError:\n    pass\nprint(len(kids))")
    subs["fork-bomb"] = (nb, 8.0, EX1)

    nb = _ex1(CORRECT_M, CORRECT_N)
    _insert(nb, "momentum_step", "import os\nchunks = []\nfor _ in range(6):\n    if os.fork() == 0:\n"
            "        try:\n            while True:\n                chunks.append(bytearray(100 * 2**20))\n"
            "        finally:\n            os._exit(0)\nimport time\ntime.sleep(3)")
    subs["memory-in-children"] = (nb, 8.0, EX1)

    # -- broken code ------------------------------------------------------------------------------
    nb = _ex1("raise ValueError('упс')", CORRECT_N)
    _insert(nb, "nesterov_step", "1 / 0")
    subs["raises"] = (nb, 4.0, EX1)

    nb = _ex1(CORRECT_M)
    i = _task_index(nb, "nesterov_step")
    nb.cells[i].source = nb.cells[i].source.replace("def nesterov_step(x, grad, buf, lr, momentum):",
                                                    "def nesterov_step(x, grad, buf, lr, momentum)")
    subs["syntax-error"] = (nb, 4.0, EX1)

    # wrong but plausible: an EMA buffer (1 − μ)·g, and Nesterov's look-ahead along the OLD buffer
    subs["wrong-plausible"] = (_ex1("new_buf = momentum * buf + (1 - momentum) * grad\n"
                                    "return x - lr * new_buf, new_buf",
                                    "new_buf = momentum * buf + grad\nreturn x - lr * (grad + momentum * buf), new_buf"),
                               0.8, EX1)
    nb = copy.deepcopy(_nb(EX1, EXS))
    i = _task_index(nb, "momentum_step")
    nb.cells[i].source = nb.cells[i].source.split("\n", 1)[0] + "\n" + _fn(CORRECT_M, "momentum_step")
    subs["partial"] = (nb, 4.0, EX1)

    nb = copy.deepcopy(_nb(EX2))
    _set_task(nb, "mu_L", "def mu_L(A):\n    return A[0, 0], A[-1, -1]")
    _set_task(nb, "optimal_step", "def optimal_step(mu, L):\n    return 2 / (mu + L), (L - 1) / (L + 1)")
    subs["partial-01-2"] = (nb, 3.0 + 1.0, EX2)

    # -- the answer key ---------------------------------------------------------------------------
    body = ("from optviz.grading.spec import find_task\n"
            "return find_task('momentum_step')[1].reference(x, grad, buf, lr, momentum)")
    subs["universal-cheat"] = (_ex1(body, body.replace("momentum_step", "nesterov_step")), 0.0, EX1)

    nb = _ex1("return REF['momentum_step'](x, grad, buf, lr, momentum)",
              "return REF['nesterov_step'](x, grad, buf, lr, momentum)")
    _insert(nb, "momentum_step", "import importlib.util, optviz, pathlib\n"
            f"cands = [pathlib.Path({str(hidden)!r}), "
            "pathlib.Path(optviz.__file__).parents[1] / 'solutions' / 'hidden' / '01-1-moment-nesterov.py']\n"
            "for p in cands:\n    try:\n        spec = importlib.util.spec_from_file_location('k', p)\n"
            "        mod = importlib.util.module_from_spec(spec)\n        spec.loader.exec_module(mod)\n"
            "        REF = mod.REFERENCES\n        break\n    except Exception:\n        REF = {}")
    subs["import-answer-key"] = (nb, 0.0, EX1)

    nb = _ex1("raise NotImplementedError", "raise NotImplementedError")
    _insert(nb, "momentum_step", "import json, pathlib, optviz\n"
            f"for p in [pathlib.Path({str(SOL / (EX1 + '.ipynb'))!r}), pathlib.Path({str(peer)!r}), "
            "pathlib.Path(optviz.__file__).parents[1] / 'solutions' / '01-1-moment-nesterov.ipynb']:\n"
            "    try:\n        cells = json.loads(p.read_text())['cells']\n    except Exception:\n        continue\n"
            "    for c in cells:\n        src = ''.join(c['source'])\n"
            "        if c['cell_type'] == 'code' and src.startswith('# Задание'):\n            exec(src)\n    break")
    subs["read-solutions-and-peers"] = (nb, 0.0, EX1)

    nb = _ex1("return x, buf", "return x, buf")
    _insert(nb, "momentum_step", "import optviz.grading.tasks.ex01_1 as spec\nimport optviz.grading as g\n"
            "spec.one_step = lambda *a, **k: {'x': 0.0, 'buf': 0.0}\nspec.quadratic_run = spec.one_step\n"
            "g.check = lambda *a, **k: None\nfor t in spec.EXERCISE.tasks:\n"
            "    t.drivers.update(one_step=spec.one_step, quadratic_run=spec.one_step)")
    subs["replace-drivers"] = (nb, 0.0, EX1)

    nb = _ex1(CORRECT_M, CORRECT_N)
    _insert(nb, "momentum_step", "import gc\nfns = [o for o in gc.get_objects() if callable(o)]")
    subs["gc-tampering"] = (nb, 0.0, EX1)

    # -- files, other submissions, the sheet --------------------------------------------------------
    targets = [ROOT / "optviz" / "grading" / "grade.py", hidden, grades, out / "feedback" / "x.txt", peer,
               Path("/tmp") / MARK, Path.home() / MARK]
    nb = _ex1(CORRECT_M, CORRECT_N)
    _insert(nb, "momentum_step", "import pathlib\nfor p in " + repr([str(t) for t in targets]) + ":\n"
            "    try:\n        pathlib.Path(p).parent.mkdir(parents=True, exist_ok=True)\n"
            "        with open(p, 'a') as fh:\n            fh.write('\\nx = 1  # взлом\\n')\n    except Exception:\n"
            "        pass")
    subs["write-outside"] = (nb, 8.0, EX1)

    nb = _ex1(CORRECT_M, CORRECT_N)
    _insert(nb, "momentum_step", "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
            "        time.sleep(2)\n        for _ in range(200):\n            try:\n"
            f"                open({str(grades)!r}, 'w').write('submission,total\\nx,10\\n')\n"
            f"                open({str(peer)!r}, 'w').write('{{}}')\n            except Exception:\n"
            "                pass\n            time.sleep(0.1)\n    os._exit(0)")
    subs["escaping-daemon"] = (nb, 8.0, EX1)

    nb = _ex1(CORRECT_M, CORRECT_N)
    _insert(nb, "momentum_step", "import os, signal\nfor target in (os.getppid(), 1, -1):\n    try:\n"
            "        os.kill(target, signal.SIGKILL)\n    except Exception:\n        pass\n"
            "for pid in range(2, 4096):\n    if pid != os.getpid():\n        try:\n"
            "            os.kill(pid, signal.SIGKILL)\n        except Exception:\n            pass")
    subs["kill-grader-and-peers"] = (nb, 8.0, EX1)

    nb = _ex1("while True:\n    pass", CORRECT_N)
    _insert(nb, "momentum_step", "import time, signal\nt0 = 0.0\ntime.time = time.monotonic = time.perf_counter = "
            "time.process_time = lambda: t0\nsignal.setitimer = lambda *a, **k: (0.0, 0.0)\n"
            "signal.signal = lambda *a, **k: None")
    subs["patched-clocks"] = (nb, 4.0, EX1)

    nb = _ex1("raise ValueError('LEAK' + ','.join(f'{v:.6f}' for v in x))",
              "raise Leak_77('LEAK' + repr(grad))")
    _insert(nb, "momentum_step", "class Leak_77(Exception):\n    pass")
    subs["exfiltrate-text"] = (nb, 0.0, EX1)

    # -- "write it yourself": the library is not allowed (03-1: 2 + 2 + 3 + 3 points) --------------
    nb = _ex3_with("adam_step", "import torch\np = torch.tensor(x)\np.grad = torch.tensor(grad)\n"
                   "opt = torch.optim.Adam([p], lr=lr, betas=(beta1, beta2), eps=eps)\n"
                   "opt.state[p].update(step=torch.tensor(float(k - 1)), exp_avg=torch.tensor(m), "
                   "exp_avg_sq=torch.tensor(v))\nwith torch.no_grad():\n    opt.step()\n"
                   "st = opt.state[p]\nreturn p.numpy(), st['exp_avg'].numpy(), st['exp_avg_sq'].numpy()",
                   "x, grad, m, v, k, lr, beta1, beta2, eps")
    # the solution's adamw_step calls adam_step: it uses torch.optim too, and loses its points as well
    subs["library-adam"] = (nb, 4.0, EX3)

    nb = _ex3_with("adagrad_step", "from optviz.optim import Adagrad\nimport torch\np = torch.tensor(x)\n"
                   "p.grad = torch.tensor(grad)\nopt = Adagrad([p], lr=lr, eps=eps)\n"
                   "opt.state[p]['sum'] = torch.tensor(sum_sq)\nopt.step()\n"
                   "return p.detach().numpy(), opt.state[p]['sum'].numpy()", "x, grad, sum_sq, lr, eps")
    subs["library-optviz"] = (nb, 8.0, EX3)

    nb = _ex3_with("rmsprop_step", "return helper(x, grad, square_avg, lr, alpha, eps)",
                   "x, grad, square_avg, lr, alpha, eps")
    _insert(nb, "adagrad_step", "import torch\n_hidden_name = 'op' + 'tim'\n"
            "def helper(x, grad, square_avg, lr, alpha, eps):\n    p = torch.tensor(x)\n    p.grad = torch.tensor(grad)\n"
            "    opt = getattr(torch, _hidden_name).RMSprop([p], lr=lr, alpha=alpha, eps=eps)\n"
            "    opt.state[p].update(step=torch.tensor(0.0), square_avg=torch.tensor(square_avg))\n"
            "    with torch.no_grad():\n        opt.step()\n    return p.numpy(), opt.state[p]['square_avg'].numpy()")
    subs["library-obfuscated"] = (nb, 8.0, EX3)
    return subs


def _tree_digest(paths) -> str:
    h = hashlib.sha256()
    for base in paths:
        for p in sorted(Path(base).rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts and ".pytest_cache" not in p.parts:
                h.update(str(p).encode())
                h.update(p.read_bytes())
    return h.hexdigest()


def _child_processes(grader: int) -> list[str]:
    """Processes of the submissions of the grader with PID ``grader`` that are still alive: whatever is
    in one of its per-submission cgroups, or is its child and runs the sandboxed interpreter."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            groups = (d / "cgroup").read_text()
            ppid = int(next(ln.split()[1] for ln in (d / "status").read_text().splitlines() if ln.startswith("PPid:")))
        except (OSError, StopIteration, ValueError):
            continue
        if f"optviz-grade-{grader}-" in groups or (ppid == grader and "optviz-grading-child" in cmd):
            out.append(f"{d.name}: {cmd[:80]}")
    return out


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Grade one folder with every control and every hostile submission; (expected, rows, feedback, out)."""
    _require_isolation()
    root = tmp_path_factory.mktemp("subs")
    out = tmp_path_factory.mktemp("out")
    expected: dict[str, float] = {}
    for who, folder in (("solution", SOL), ("exercise", EXS)):  # every exercise of the course
        (root / who).mkdir()
        for ex in ALL:
            shutil.copy(folder / f"{ex}.ipynb", root / who / f"{ex}.ipynb")
            expected[f"{who}/{ex}.ipynb"] = load_bundle(SOL, ex).max_score if who == "solution" else 0.0
    for name, (nb, score, ex) in _hostile(root, out).items():
        (root / name).mkdir()
        nbformat.write(nb, root / name / f"{ex}.ipynb")
        expected[f"{name}/{ex}.ipynb"] = score
    shutil.copy(STATIC / "not-a-notebook-01-1-moment-nesterov.ipynb", root / "broken-01-1-moment-nesterov.ipynb")
    expected["broken-01-1-moment-nesterov.ipynb"] = 0.0
    (root / "symlink").mkdir()
    (root / "symlink" / f"{EX1}.ipynb").symlink_to(SOL / f"{EX1}.ipynb")
    expected[f"symlink/{EX1}.ipynb"] = 0.0
    for p in (Path("/tmp") / MARK, Path.home() / MARK):
        p.unlink(missing_ok=True)
    before = _tree_digest([ROOT / "optviz", ROOT / "solutions", ROOT / "exercises", root])
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "optviz.grading", "--root", str(ROOT), "grade", str(root),
                             "--out", str(out / "grades.csv"), "--timeout", "20", "--memory", "1024", "--jobs", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    stdout, stderr = proc.communicate(timeout=1500)
    wall = time.monotonic() - start
    assert proc.returncode == 0, stdout[-3000:] + stderr[-3000:]
    time.sleep(3)   # a daemon that escaped would be writing now
    survivors = _child_processes(proc.pid)
    with open(out / "grades.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    after = _tree_digest([ROOT / "optviz", ROOT / "solutions", ROOT / "exercises", root])
    print(f"batch of {len(expected)} submissions: {wall:.0f} s")
    return dict(expected=expected, rows=rows, feedback=out / "feedback", out=out, before=before, after=after,
                log=stdout, survivors=survivors)


def test_sheet_has_one_row_per_submission(batch):
    assert sorted(r["submission"] for r in batch["rows"]) == sorted(batch["expected"])


@pytest.mark.parametrize("name", ["solution", "exercise", *_hostile(Path("/nonexistent"), Path("/nonexistent")),
                                  "broken", "symlink"])
def test_each_submission_gets_its_exact_score(batch, name):
    rows = [r for r in batch["rows"] if r["submission"].split("/")[0].split("-01-1")[0] == name]
    assert rows, name
    for r in rows:
        want = batch["expected"][r["submission"]]
        assert float(r["total"]) == pytest.approx(want), (r["submission"], r["status"],
                                                          (batch["feedback"] / Path(r["submission"]).with_suffix(
                                                              ".txt")).read_text("utf-8")
                                                          if (batch["feedback"] / Path(r["submission"]).with_suffix(
                                                              ".txt")).is_file() else "")


def test_controls_are_exact(batch):
    """Every solution gets full marks, every untouched exercise zero, in the isolated mode."""
    for r in batch["rows"]:
        if r["submission"].startswith(("solution/", "exercise/")):
            assert r["status"] == "проверено", r
            assert float(r["total"]) == batch["expected"][r["submission"]], r


def test_nothing_outside_the_batch_changed_and_no_process_survived(batch):
    assert batch["before"] == batch["after"]
    assert not (Path("/tmp") / MARK).exists() and not (Path.home() / MARK).exists()
    assert sorted(p.name for p in batch["out"].iterdir()) == ["feedback", "grades.csv"]
    assert batch["survivors"] == []


def _feedback(batch, name: str, ex: str = EX1) -> str:
    return (batch["feedback"] / name / f"{ex}.txt").read_text("utf-8")


def test_reasons_are_specific_and_russian(batch):
    assert "превышен лимит времени" in _feedback(batch, "infinite-loop")
    assert "превышен лимит" in _feedback(batch, "loop-ignoring-timeout")
    assert "MemoryError" in _feedback(batch, "memory-bomb") or "памяти" in _feedback(batch, "memory-bomb")
    assert "sys.exit" in _feedback(batch, "sys-exit")
    assert "завершился преждевременно" in _feedback(batch, "os-exit")
    assert "SyntaxError" in _feedback(batch, "syntax-error")
    assert "ошибка ValueError" in _feedback(batch, "raises")
    assert "NotImplementedError" in _feedback(batch, "partial")
    assert "неверный результат" in _feedback(batch, "wrong-plausible")
    assert "нарушено правило задания" in _feedback(batch, "universal-cheat")
    assert "torch.optim" in _feedback(batch, "library-adam", EX3)
    assert "optviz.optim" in _feedback(batch, "library-optviz", EX3)
    assert "нарушено правило задания" in _feedback(batch, "library-obfuscated", EX3)
    assert "вмешаться" in _feedback(batch, "gc-tampering")
    rows = {r["submission"].split("/")[0]: r for r in batch["rows"]}
    assert "не читается" in rows["broken-01-1-moment-nesterov.ipynb"]["status"]
    assert "символическая ссылка" in rows["symlink"]["status"]


def test_feedback_never_shows_hidden_inputs_or_student_output(batch):
    text = _feedback(batch, "exfiltrate-text")
    assert "LEAK" not in text and "Leak_77" not in text
    assert "ошибка ValueError" in text and "ошибка Exception" in text
    key = load_answer_key(SOL, EX1)
    numbers = {f"{v:.6f}" for c in key.checks for v in np.ravel(c.inputs.get("x", []))}
    hidden_lines = [ln.strip() for p in (SOL / "hidden").glob("*.py") for ln in p.read_text("utf-8").splitlines()
                    if len(ln.strip()) >= 12 and not ln.strip().startswith(("Check(", "hint=", '"""'))]
    for p in batch["feedback"].rglob("*.txt"):
        body = p.read_text("utf-8")
        assert "solutions/hidden" not in body and "_rng" not in body
        assert not any(n in body for n in numbers), p
        for ln in hidden_lines:
            assert ln not in body, (p.name, ln)


def test_log_names_the_isolation(batch):
    assert "bubblewrap" in batch["log"]


# -- the grader itself ---------------------------------------------------------------------------

def test_stopping_the_grader_stops_every_submission(tmp_path):
    """SIGTERM to the grader: exit 130, no sheet, and no process of any submission left."""
    _require_isolation()
    subs = tmp_path / "subs"
    for who in ("a", "b"):
        nb = _ex1(CORRECT_M, CORRECT_N)
        _insert(nb, "momentum_step", "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(600)\n"
                "time.sleep(600)")
        (subs / who).mkdir(parents=True)
        nbformat.write(nb, subs / who / f"{EX1}.ipynb")
    out = tmp_path / "out" / "grades.csv"
    proc = subprocess.Popen([sys.executable, "-m", "optviz.grading", "--root", str(ROOT), "grade", str(subs),
                             "--out", str(out), "--timeout", "60", "--jobs", "2"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and len(_child_processes(proc.pid)) < 4:   # two sandboxes, forked too
        time.sleep(0.5)
    time.sleep(2)   # the cells are sleeping now
    assert len(_child_processes(proc.pid)) >= 4, "the sandboxes did not start"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "остановлена" in err
    assert not out.exists()
    time.sleep(1)
    assert _child_processes(proc.pid) == []


def test_not_isolated_mode_warns_in_the_sheet(tmp_path):
    subs = tmp_path / "subs"
    (subs / "anna").mkdir(parents=True)
    shutil.copy(SOL / f"{EX2}.ipynb", subs / "anna" / f"{EX2}.ipynb")
    out = tmp_path / "grades.csv"
    env = dict(os.environ, OPTVIZ_GRADING_ISOLATION="none")
    proc = subprocess.run([sys.executable, "-m", "optviz.grading", "--root", str(ROOT), "grade", str(subs),
                           "--out", str(out), "--jobs", "1"], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "ВНИМАНИЕ" in proc.stdout and "без изоляции" in proc.stdout
    row = next(csv.DictReader(open(out, encoding="utf-8")))
    assert row["total"] == row["max"] == "8"
    assert "без изоляции ОС" in row["status"]


def test_a_sandbox_that_cannot_start_is_retried_once_with_the_right_reason(tmp_path):
    """64 MB for the whole submission: the interpreter dies importing torch, before any cell."""
    _require_isolation()
    subs = tmp_path / "subs"
    (subs / "anna").mkdir(parents=True)
    shutil.copy(SOL / f"{EX1}.ipynb", subs / "anna" / f"{EX1}.ipynb")
    out = tmp_path / "grades.csv"
    proc = subprocess.run([sys.executable, "-m", "optviz.grading", "--root", str(ROOT), "grade", str(subs),
                           "--out", str(out), "--memory", "64", "--jobs", "1"], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr
    row = next(csv.DictReader(open(out, encoding="utf-8")))
    assert row["total"] == "0"
    text = (tmp_path / "feedback" / "anna" / f"{EX1}.txt").read_text("utf-8")
    assert text.count("процесс проверки не запустился") == 2 and "запущен повторно" in text
    assert "не хватило памяти (лимит 64 МБ на работу)" in text
