"""optviz.grading: generation of exercises, self-check, answer keys, rules, the wire format, release.

The graded batch of honest and hostile submissions is in ``tests/grading/test_hostile.py``.
"""

from __future__ import annotations

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


def _solution_source(name: str, task_id: str) -> str:
    nb = _nb(name)
    return nb.cells[_task_index(nb, task_id)].source


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


# -- the answer key stays out of the student's reach ------------------------------------------------

def test_public_specs_hold_no_reference_and_every_task_has_rules():
    """No task of the public specs has a reference; the answer keys have one per task; the default
    rule (optviz.grading) is in every task's rules."""
    for ex in exercises().values():
        for t in ex.tasks:
            assert not hasattr(t, "reference")
            assert t.rules[0] == "optviz.grading"
    for sol in solution_paths(SOL):
        bundle = load_bundle(SOL, sol.stem)
        assert sorted(bundle.references) == sorted(t.id for t in bundle.spec.tasks)


def test_release_holds_no_answer_key(tmp_path):
    out = tmp_path / "release"
    assert cli(["--root", str(ROOT), "release", str(out)]) == 0
    text = "\n".join(p.read_text("utf-8") for p in (out / "optviz" / "grading").rglob("*.py"))
    assert "REFERENCES =" not in text and "reference=" not in text
    assert sorted(p.stem for p in (out / "optviz" / "grading" / "expected").glob("*.json")) == ALL


def test_exercise_notebooks_state_the_rules_in_russian():
    for sol in solution_paths(SOL):
        bundle = load_bundle(SOL, sol.stem)
        ex = _nb(sol.stem, EXS)
        for t in parse_tasks(ex, require_solution=False):
            second = ex.cells[t.cell_index].source.split("\n")[1]
            assert second.startswith("# Нельзя использовать в решении: optviz.grading"), (sol.stem, t.id)
            for name in bundle.spec.task(t.id).forbid:
                assert name in second


# -- the wire format -------------------------------------------------------------------------------

def test_wire_keeps_types_and_refuses_garbage():
    import torch

    from optviz.grading import wire

    v = {"x": np.arange(6.0).reshape(2, 3), "i": np.array([1, 2], dtype=np.int64), "b": np.array([True]),
         "t": (1, 2.5, None, "s"), "l": [np.float64(1.5), float("nan")], 3: torch.ones(2, dtype=torch.float32)}
    back = wire.load(wire.dump(v))
    assert back["x"].dtype == np.float64 and np.array_equal(back["x"], v["x"])
    assert back["i"].dtype == np.int64 and back["b"].dtype == bool
    assert back["t"] == (1, 2.5, None, "s") and isinstance(back["t"], tuple)
    assert isinstance(back["l"][0], np.float64) and np.isnan(back["l"][1])
    assert isinstance(back[3], torch.Tensor) and back[3].dtype == torch.float32
    for bad in ('{"a": "float64", "s": [2], "d": [1.0]}', '{"a": "object", "s": [1], "d": [1]}',
                '{"a": "float64", "s": [-1], "d": []}', '{"a": "int64", "s": [1], "d": [1.5]}',
                '{"f": 0}', '{"zzz": 1}', '[' * 100000, '{"m": [[1.5, 2]]}'):
        with pytest.raises(wire.WireError):
            wire.load(bad)
    with pytest.raises(wire.WireError):
        wire.dump(object())
    calls = []
    assert wire.load(wire.dump((len,), calls), lambda k: calls[k])[0] is len


# -- the static scan of the rules --------------------------------------------------------------------

def _scan(task_cell: str, *others: str, forbid=("optviz.grading", "torch.optim", "optviz.optim"), allow=(),
          template=("import numpy as np\nimport torch\nfrom optviz.grading import check",)):
    from optviz.grading.rules import normalise_source, scan_task

    cells = [*template, *others, "# Задание f · 1 балл\n" + task_cell]
    found = scan_task(cells, "f", len(cells) - 1, tuple(forbid), tuple(allow),
                      {normalise_source(s) for s in template})
    return [v.what for v in found]


def test_rules_scan_finds_library_use_and_dodges():
    assert _scan("def f(x):\n    return np.sqrt(x) * 2  # torch.optim не нужен\n") == []
    assert _scan('def f(x):\n    """Форма torch.optim.Adam."""\n    return x\n') == []
    assert any("torch.optim" in w for w in _scan("def f(x):\n    return torch.optim.Adam([x])\n"))
    assert any("torch.optim" in w for w in _scan("from torch import optim as o\ndef f(x):\n    return o.SGD\n"))
    assert any("optviz.optim" in w for w in _scan("def f(x):\n    from optviz.optim import Adam\n    return Adam\n"))
    assert any("optviz.grading" in w for w in _scan("def f(x):\n    return check('f', x)\n"))
    assert _scan("def f(x):\n    return getattr(torch, 'op' + 'tim')\n")
    assert _scan("def f(x):\n    return getattr(torch, 'optim')\n")
    assert _scan("def f(x):\n    return torch._fused_adam_\n")
    assert _scan("def f(x):\n    return eval('x')\n")
    assert _scan("def f(x):\n    import sys\n    return sys.modules['torch.optim']\n")
    # a helper defined in another cell the student wrote is followed; an unrelated demo is not
    assert _scan("def f(x):\n    return helper(x)\n", "def helper(x):\n    return torch.optim.SGD([x], lr=1)\n")
    assert _scan("def f(x):\n    return x\n", "opt = torch.optim.SGD([torch.zeros(1)], lr=1)\n") == []
    # an allowed function inside a forbidden module
    kl = "from optviz.optim._functional import kl_mirror_step"
    assert _scan("def f(x):\n    return kl_mirror_step(x)\n", template=(kl,),
                 allow=("optviz.optim._functional.kl_mirror_step",)) == []
    assert _scan("def f(x):\n    return kl_mirror_step(x)\n", template=(kl,))


def test_tampering_is_found_in_any_cell_the_student_wrote():
    from optviz.grading.rules import normalise_source, scan_tampering

    template = ["import numpy as np"]
    tmpl = {normalise_source(s) for s in template}
    assert scan_tampering([*template, "import gc\ngc.collect()"], tmpl) == []
    for bad in ("import gc\ngc.get_objects()", "import sys\nsys._getframe(1).f_back", "import ctypes",
                "import sys\nsys.setprofile(None)", "from optviz.grading import _child",
                "try:\n    1/0\nexcept Exception as e:\n    e.__traceback__.tb_frame"):
        assert scan_tampering([*template, bad], tmpl), bad


def test_oversized_and_linked_submissions_get_a_row_saying_why(tmp_path):
    subs = tmp_path / "subs"
    (subs / "big").mkdir(parents=True)
    (subs / "big" / f"{EX1}.ipynb").write_bytes(b"{" + b" " * (21 * 1024 * 1024) + b"}")
    (subs / "link").mkdir()
    (subs / "link" / f"{EX1}.ipynb").symlink_to(SOL / f"{EX1}.ipynb")
    (subs / "dirlink").symlink_to(SOL, target_is_directory=True)
    out = tmp_path / "grades.csv"
    assert cli(["--root", str(ROOT), "grade", str(subs), "--out", str(out), "--jobs", "1"]) == 0
    rows = {r["student"]: r for r in csv.DictReader(open(out, encoding="utf-8"))}
    assert "больше 20 МБ" in rows["big"]["status"] and rows["big"]["total"] == "0"
    assert "символическая ссылка" in rows["link"]["status"] and rows["link"]["total"] == "0"
    assert rows["link"]["max"] == "8"
    assert "символическая ссылка на папку" in rows["dirlink"]["status"]
    assert not list(out.parent.glob(".grades.csv.*"))   # the temporary file of the atomic write is gone
