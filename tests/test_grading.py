"""optviz.grading: generation of exercises, self-check, sandboxed grading, release.

The adversarial submissions are built from the solution/exercise notebooks in a temporary folder
(each one changes a few cells) and graded in ONE batch through the command line, with short limits
(``--timeout 20 --jobs 2``); every submission must get exactly its expected score and the sheet must
have one row per submission.
"""

from __future__ import annotations

import copy
import csv
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from optviz.grading import check
from optviz.grading.__main__ import main as cli
from optviz.grading.notebook import FormatError, TASK_HEADER, parse_tasks, strip_solutions
from optviz.grading.project import load_bundle, solution_paths, stale_exercises
from optviz.grading.release import Secret, build_release, leaks, secrets, text_lines
from optviz.grading.spec import exercises
from optviz.grading.values import compare, decode, encode, normalise

ROOT = Path(__file__).resolve().parents[1]
SOL, EXS = ROOT / "solutions", ROOT / "exercises"
STATIC = Path(__file__).resolve().parent / "grading_submissions"
EX1, EX2 = "01-1-moment-nesterov", "01-2-optimalnyi-shag"
ALL = [p.stem for p in solution_paths(SOL)]


# -- building submissions ------------------------------------------------------------------------

def _nb(name: str, folder: Path = SOL):
    return nbformat.read(folder / f"{name}.ipynb", as_version=4)


def _task_index(nb, task_id: str) -> int:
    return next(t.cell_index for t in parse_tasks(nb, require_solution=False) if t.id == task_id)


def _set_task(nb, task_id: str, body: str) -> None:
    """Replace the task cell of ``task_id`` by its header + ``body``."""
    i = _task_index(nb, task_id)
    header = nb.cells[i].source.split("\n", 1)[0]
    nb.cells[i].source = header + "\n" + body


def _insert(nb, before_task: str, source: str) -> None:
    nb.cells.insert(_task_index(nb, before_task), nbformat.v4.new_code_cell(source))


def _solution_source(name: str, task_id: str) -> str:
    nb = _nb(name)
    return nb.cells[_task_index(nb, task_id)].source


def _fn(body: str, name: str) -> str:
    return f"def {name}(x, grad, buf, lr, momentum):\n" + "\n".join("    " + ln for ln in body.strip().split("\n"))


CORRECT_M = "new_buf = momentum * buf + grad\nreturn x - lr * new_buf, new_buf"
CORRECT_N = "new_buf = momentum * buf + grad\nreturn x - lr * (grad + momentum * new_buf), new_buf"


def _ex1(momentum_body: str | None = None, nesterov_body: str | None = None, *, base: Path = SOL):
    nb = copy.deepcopy(_nb(EX1, base))
    if momentum_body is not None:
        _set_task(nb, "momentum_step", _fn(momentum_body, "momentum_step"))
    if nesterov_body is not None:
        _set_task(nb, "nesterov_step", _fn(nesterov_body, "nesterov_step"))
    return nb


def _adversarial() -> dict[str, tuple[object, float]]:
    """name → (notebook, expected total). Full marks are 8 = 4 + 4 (01-1) and 2 + 2 + 3 + 1 (01-2)."""
    subs: dict[str, tuple[object, float]] = {}

    nb = _ex1("return x, buf", "return x, buf")
    _insert(nb, "momentum_step", "import numpy as np, torch\nnp.allclose = lambda *a, **k: True\n"
            "np.isclose = lambda a, b, *r, **k: np.ones(np.shape(a), bool)\ntorch.allclose = lambda *a, **k: True\n"
            "np.testing.assert_allclose = lambda *a, **k: None\nnp.array_equal = lambda *a, **k: True")
    subs["patch-allclose"] = (nb, 0.0)

    nb = _ex1("return np.zeros_like(x).view(Yes), np.zeros_like(x).view(Yes)",
              "return np.zeros_like(x).view(Yes), np.zeros_like(x).view(Yes)")
    _insert(nb, "momentum_step", "class Yes(np.ndarray):\n    def __eq__(self, other):\n        return True\n"
            "    def __ne__(self, other):\n        return False\n    __hash__ = None")
    subs["patch-eq"] = (nb, 0.0)

    nb = _ex1("print('Все проверки пройдены! 8 из 8 баллов')\nreturn x - lr * grad, grad", CORRECT_N)
    for c in nb.cells:
        if c.cell_type == "code":
            c.source += "\nprint('✓ все проверки пройдены, оценка 8/8')"
    # plain GD passes the first step from a zero buffer and the «момент 0» check: weight 2 of 5
    subs["fake-print"] = (nb, 1.6 + 4.0)

    nb = _ex1(CORRECT_M, "return x, buf")
    for c in nb.cells:
        if c.cell_type == "code" and "check(" in c.source:
            c.source = "def check(*a, **k):\n    print('✓ все проверки пройдены')\ncheck()"
        if c.cell_type == "code" and TASK_HEADER.match(c.source.split("\n", 1)[0]):
            c.source = c.source.replace("· 4 балла", "· 100 баллов")
    subs["edit-check-cells"] = (nb, 4.0)

    nb = _ex1(CORRECT_M, "import sys\nsys.exit(1)")
    _insert(nb, "momentum_step", "import sys\nsys.exit(0)")
    subs["sys-exit"] = (nb, 4.0)

    nb = _ex1(CORRECT_M, "import os\nos._exit(3)")
    _insert(nb, "nesterov_step", "import os\nos._exit(0)")
    subs["os-exit"] = (nb, 4.0)

    subs["infinite-loop"] = (_ex1("while True:\n    pass", CORRECT_N), 4.0)
    subs["loop-ignoring-timeout"] = (_ex1(CORRECT_M, "while True:\n    try:\n        sum(range(10**6))\n"
                                                       "    except BaseException:\n        pass"), 4.0)

    nb = _ex1("hog = []\nwhile True:\n    hog.append(bytearray(50 * 2**20))", CORRECT_N)
    _insert(nb, "nesterov_step", "big = np.ones((1 << 32,))")
    subs["memory-bomb"] = (nb, 4.0)

    nb = _ex1("raise ValueError('упс')", CORRECT_N)
    _insert(nb, "nesterov_step", "1 / 0")
    subs["raises"] = (nb, 4.0)

    nb = _ex1(CORRECT_M)
    i = _task_index(nb, "nesterov_step")
    nb.cells[i].source = nb.cells[i].source.replace("def nesterov_step(x, grad, buf, lr, momentum):",
                                                    "def nesterov_step(x, grad, buf, lr, momentum)")
    subs["syntax-error"] = (nb, 4.0)

    # wrong but plausible: an EMA buffer (1 − μ)·g, and Nesterov's look-ahead along the OLD buffer
    subs["wrong-plausible"] = (_ex1("new_buf = momentum * buf + (1 - momentum) * grad\nreturn x - lr * new_buf, new_buf",
                                    "new_buf = momentum * buf + grad\nreturn x - lr * (grad + momentum * buf), new_buf"),
                               0.8)
    nb = copy.deepcopy(_nb(EX1, EXS))
    i = _task_index(nb, "momentum_step")
    nb.cells[i].source = nb.cells[i].source.split("\n", 1)[0] + "\n" + _fn(CORRECT_M, "momentum_step")
    subs["partial"] = (nb, 4.0)

    nb = copy.deepcopy(_nb(EX2))
    _set_task(nb, "mu_L", "def mu_L(A):\n    return A[0, 0], A[-1, -1]")
    _set_task(nb, "optimal_step", "def optimal_step(mu, L):\n    return 2 / (mu + L), (L - 1) / (L + 1)")
    subs["partial-01-2"] = (nb, 3.0 + 1.0)
    return subs


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Grade one folder with every kind of submission; returns (expected, rows, feedback_dir)."""
    root = tmp_path_factory.mktemp("subs")
    expected: dict[str, float] = {}
    for name, (nb, score) in _adversarial().items():
        ex = EX2 if name.endswith("01-2") else EX1
        (root / name).mkdir()
        nbformat.write(nb, root / name / f"{ex}.ipynb")
        expected[f"{name}/{ex}.ipynb"] = score
    for who, folder in (("solution", SOL), ("exercise", EXS)):  # every exercise of the course
        (root / who).mkdir()
        for ex in ALL:
            shutil.copy(folder / f"{ex}.ipynb", root / who / f"{ex}.ipynb")
            expected[f"{who}/{ex}.ipynb"] = load_bundle(SOL, ex).max_score if who == "solution" else 0.0
    shutil.copy(STATIC / "not-a-notebook-01-1-moment-nesterov.ipynb", root / "broken-01-1-moment-nesterov.ipynb")
    expected["broken-01-1-moment-nesterov.ipynb"] = 0.0
    out = tmp_path_factory.mktemp("out")
    proc = subprocess.run([sys.executable, "-m", "optviz.grading", "--root", str(ROOT), "grade", str(root),
                           "--out", str(out / "grades.csv"), "--timeout", "20", "--memory", "1024", "--jobs", "2"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    with open(out / "grades.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return expected, rows, out / "feedback"


# -- the batch -----------------------------------------------------------------------------------

def test_grade_sheet_is_complete(batch):
    expected, rows, feedback = batch
    assert sorted(r["submission"] for r in rows) == sorted(expected)
    for r in rows:
        assert (feedback / Path(r["submission"]).with_suffix(".txt")).is_file()


@pytest.mark.parametrize("name", sorted(_adversarial()) + ["solution", "exercise", "broken"])
def test_each_submission_gets_its_exact_score(batch, name):
    expected, rows, feedback = batch
    mine = [r for r in rows if r["submission"].startswith(name)]
    assert mine
    for r in mine:
        fb = (feedback / Path(r["submission"]).with_suffix(".txt")).read_text(encoding="utf-8")
        assert float(r["total"]) == pytest.approx(expected[r["submission"]], abs=1e-9), fb
        # points come from solutions/, not from the (edited) submission
        assert float(r["max"]) == load_bundle(SOL, r["exercise"] or EX1).max_score


def test_batch_reasons_are_specific(batch):
    _, rows, feedback = batch
    text = {r["submission"].split("/")[0]: (feedback / Path(r["submission"]).with_suffix(".txt")).read_text("utf-8")
            for r in rows}
    assert "превышен лимит времени" in text["infinite-loop"]
    assert "превышен лимит времени" in text["loop-ignoring-timeout"]
    assert "MemoryError" in text["memory-bomb"]
    assert "sys.exit" in text["sys-exit"]
    assert "завершился преждевременно" in text["os-exit"]
    assert "синтаксическая ошибка" in text["syntax-error"]
    assert "ValueError: упс" in text["raises"]
    assert "NotImplementedError" in text["partial"]
    assert "шаг 1 из 25" in text["wrong-plausible"]
    broken = next(r for r in rows if r["submission"].startswith("broken"))
    assert "не читается" in broken["status"]


def test_feedback_never_reveals_hidden_tests(batch):
    _, rows, feedback = batch
    hidden = [ln.strip() for p in (SOL / "hidden").glob("*.py") for ln in p.read_text("utf-8").splitlines()
              if len(ln.strip()) >= 12 and not ln.strip().startswith(("Check(", "hint=", '"""'))]
    assert hidden
    for p in feedback.rglob("*.txt"):
        text = p.read_text("utf-8")
        assert "solutions/hidden" not in text and "_rng" not in text
        for ln in hidden:
            assert ln not in text, (p.name, ln)


# -- generation ----------------------------------------------------------------------------------

def test_exercises_are_up_to_date():
    proc = subprocess.run([sys.executable, "-m", "optviz.grading", "--root", str(ROOT), "generate", "--check"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert stale_exercises(SOL, EXS) == []


def test_generate_check_fails_on_stale_exercises(tmp_path, capsys):
    shutil.copytree(SOL, tmp_path / "solutions")
    shutil.copytree(EXS, tmp_path / "exercises")
    nb = _nb(EX1, tmp_path / "solutions")
    nb.cells[0].source += "\n\nНовая фраза."
    nbformat.write(nb, tmp_path / "solutions" / f"{EX1}.ipynb")
    assert cli(["--root", str(tmp_path), "generate", "--check"]) == 1
    assert "устарели" in capsys.readouterr().err
    assert cli(["--root", str(tmp_path), "generate"]) == 0
    assert cli(["--root", str(tmp_path), "generate", "--check"]) == 0


def test_exercises_have_stubs_and_no_solution_text():
    for sol in solution_paths(SOL):
        bundle = load_bundle(SOL, sol.stem)
        assert len(bundle.tasks) >= 2 and len(bundle.hidden) >= 2
        ex = _nb(sol.stem, EXS)
        assert ex.metadata["optviz"]["exercise"] == sol.stem
        text = "\n".join(c.source for c in ex.cells)
        code = "\n".join(c.source for c in ex.cells if c.cell_type == "code")
        assert code.count("raise NotImplementedError") == len(bundle.tasks)
        lines = {line.strip() for line in text.splitlines()}
        for sec in secrets(SOL):
            assert not sec.exposed_in(lines), (sol.stem, sec.where)
        assert all(not c.get("outputs") for c in ex.cells if c.cell_type == "code")


def test_format_errors_are_reported():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("# Задание f · 2 балла\ndef f():\n"
                                                                   "    ### BEGIN SOLUTION\n    return 1\n")])
    with pytest.raises(FormatError, match="без ### END SOLUTION"):
        strip_solutions(nb)
    nb.cells[0].source = "# Задание f два балла\ndef f():\n    pass"
    with pytest.raises(FormatError, match="не по формату"):
        parse_tasks(nb)


def test_task_ids_are_unique_across_the_course():
    ids = [t.id for ex in exercises().values() for t in ex.tasks]
    assert len(ids) == len(set(ids))


# -- self-check ----------------------------------------------------------------------------------

def _define(name: str, task_id: str) -> dict:
    ns: dict = {"np": np}
    exec(_solution_source(name, task_id), ns)
    return ns


@pytest.mark.parametrize("name,task_id", [(EX1, "momentum_step"), (EX1, "nesterov_step"), (EX2, "mu_L"),
                                          (EX2, "optimal_step"), (EX2, "gd_trajectory"), (EX2, "iterations_ratio")])
def test_selfcheck_gives_solutions_full_marks(name, task_id, capsys):
    res = check(task_id, _define(name, task_id)[task_id], figure=task_id in ("momentum_step", "gd_trajectory"))
    assert res.fraction == 1.0, res.lines
    assert "все открытые проверки пройдены" in capsys.readouterr().out
    if task_id in ("momentum_step", "gd_trajectory"):
        assert res.figure is not None and len(res.figure.data) >= 2


def test_selfcheck_explains_a_wrong_step_in_russian(capsys):
    def momentum_step(x, grad, buf, lr, momentum):
        b = momentum * buf + (1 - momentum) * grad
        return x - lr * b, b

    res = check("momentum_step", momentum_step, figure=False)
    out = capsys.readouterr().out
    assert 0 <= res.fraction < 1 and "✗" in out
    assert "шаг 1: ожидалось x = " in out and "без множителя (1 − μ)" in out


# -- values --------------------------------------------------------------------------------------

def test_values_round_trip_and_reject_garbage():
    v = {"x": np.arange(6.0).reshape(2, 3), "k": 3, "s": "a", "l": [1.5, np.nan]}
    back = decode(encode(v))
    assert np.array_equal(back["x"], v["x"]) and back["k"] == 3 and np.isnan(back["l"][1])
    for bad in ({"__nd__": [2], "data": [1.0]}, {"__nd__": [-1], "data": []}, {"__nd__": [1], "data": ["x"]}):
        with pytest.raises(ValueError):
            decode(bad)
    msg = compare(normalise(np.zeros((3, 2))), normalise(np.array([[0, 0], [0, 1e-3], [0, 0]])), rtol=1e-7,
                  atol=1e-10, steps=True, detail=False, name="x")
    assert msg.startswith("шаг 1 из 2: x не совпадает") and "0.001" not in msg


# -- notebooks in a real kernel ------------------------------------------------------------------

def _execute(path: Path):
    from nbclient import NotebookClient

    from optviz.site import kernel_env

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute(
        env=kernel_env(True, {"OMP_NUM_THREADS": "1"}))
    return nb


@pytest.mark.parametrize("name", ALL)
def test_solution_notebook_runs_cleanly_with_full_marks(name):
    nb = _execute(SOL / f"{name}.ipynb")
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    text = "\n".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.output_type == "stream")
    assert text.count("все открытые проверки пройдены") == len(load_bundle(SOL, name).tasks)


@pytest.mark.parametrize("name", ALL)
def test_exercise_notebook_runs_with_only_not_implemented(name):
    nb = _execute(EXS / f"{name}.ipynb")
    errors = [o.ename for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert set(errors) <= {"NotImplementedError"}


# -- release -------------------------------------------------------------------------------------

def test_release_has_no_solutions(tmp_path):
    out = tmp_path / "release"
    assert cli(["--root", str(ROOT), "release", str(out)]) == 0
    assert (out / "exercises" / f"{EX1}.ipynb").is_file() and (out / "lectures").is_dir()
    assert (out / "optviz" / "grading" / "__main__.py").is_file()
    assert not (out / "solutions").exists() and not list(out.rglob("hidden"))
    assert not list(out.rglob("*.pyc"))
    found = secrets(SOL)
    assert len(found) > 10 and any(s.where.startswith("solutions/hidden/") for s in found)
    assert leaks(out, found) == []
    # the detector finds a planted solution region (re-indented) and a planted hidden-test file …
    region = next(s for s in found if len(s.lines) >= 2 and not s.where.startswith("solutions/hidden/"))
    (out / "exercises" / "leak.py").write_text("\n".join("        " + ln for ln in region.lines), encoding="utf-8")
    hidden = next(s for s in found if s.where.startswith("solutions/hidden/"))
    (out / "optviz" / "leak2.py").write_text("\n".join(hidden.lines), encoding="utf-8")
    report = leaks(out, found)
    assert any(r.startswith("exercises/leak.py: " + region.where) for r in report)
    assert any(r.startswith("optviz/leak2.py: " + hidden.where) for r in report)


def test_one_generic_line_of_a_solution_is_not_a_leak(tmp_path):
    sec = Secret("solutions/x.ipynb, решение 1", ("for _ in range(int(steps)):", "x = x - lr * grad_of(x, A, b)",
                                                 "history.append(x.copy())"))
    assert sec.exposed_in({"for _ in range(int(steps)):"}) == 0
    assert sec.exposed_in({"for _ in range(int(steps)):", "history.append(x.copy())"}) == 2
    assert Secret("h", ("only_line = secret_formula(a, b, c)",)).exposed_in({"only_line = secret_formula(a, b, c)"}) == 1
    f = tmp_path / "nb.ipynb"
    import nbformat as nbf

    nb = nbf.v4.new_notebook()
    nb.cells = [nbf.v4.new_code_cell("  a = 1\nb = 2")]
    nbf.write(nb, f)
    assert text_lines(f) == {"a = 1", "b = 2"}


def test_generate_only_touches_the_named_exercises(tmp_path, capsys):
    out = tmp_path / "exercises"
    assert cli(["--root", str(ROOT), "generate", "--only", EX1]) == 0   # writes into the real exercises/ (no-op: up to date)
    shutil.copytree(SOL, tmp_path / "solutions")
    assert cli(["--root", str(tmp_path), "generate", "--only", EX2]) == 0
    assert sorted(p.name for p in out.glob("*.ipynb")) == [f"{EX2}.ipynb"]
    assert cli(["--root", str(tmp_path), "generate", "--only", "99-9-net"]) == 1
    assert "нет решений для упражнений: 99-9-net" in capsys.readouterr().err


def test_hidden_mismatch_reports_absolute_error_where_zero_was_expected():
    msg = compare(normalise(np.zeros(3)), normalise(np.array([0.0, 2e-3, 0.0])), rtol=1e-7, atol=1e-10,
                  detail=False, name="e")
    assert msg == "e не совпадает (абсолютная ошибка 2.0e-03)"
    msg = compare(normalise(np.array([1.0, 0.0])), normalise(np.array([1.5, 0.0])), rtol=1e-7, atol=1e-10,
                  detail=False, name="x")
    assert msg == "x не совпадает (относительная ошибка 5.0e-01)"
    msg = compare(normalise(np.array([1.0, np.inf])), normalise(np.array([1.0, 1e300])), rtol=1e-7, atol=1e-10,
                  detail=False, name="t")
    assert "ожидалась бесконечность" in msg


def test_a_broken_exercise_fails_only_its_own_submissions(tmp_path):
    """Expected values are computed only for the exercises submitted, and an exercise that cannot be
    prepared (here: its hidden tests do not load) marks only its own rows."""
    root = tmp_path / "course"
    shutil.copytree(SOL, root / "solutions")
    (root / "solutions" / "hidden" / f"{EX2}.py").write_text("CHECKS = None\n", encoding="utf-8")
    subs = tmp_path / "subs"
    (subs / "anna").mkdir(parents=True)
    (subs / "boris").mkdir()
    shutil.copy(SOL / f"{EX1}.ipynb", subs / "anna" / f"{EX1}.ipynb")
    shutil.copy(SOL / f"{EX2}.ipynb", subs / "boris" / f"{EX2}.ipynb")
    out = tmp_path / "grades.csv"
    assert cli(["--root", str(root), "grade", str(subs), "--out", str(out), "--timeout", "60", "--jobs", "1"]) == 0
    rows = {r["student"]: r for r in csv.DictReader(open(out, encoding="utf-8"))}
    assert rows["anna"]["total"] == rows["anna"]["max"] == "8" and rows["anna"]["status"] == "проверено"
    assert rows["boris"]["status"].startswith("упражнение не готово к проверке")
    header = next(csv.reader(open(out, encoding="utf-8")))
    assert "momentum_step" in header and "mu_L" not in header     # columns of the graded exercises only
