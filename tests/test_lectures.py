"""Every lecture notebook executes headless, cleanly, as a student would run it.

For each ``lectures/NN-*.ipynb``: the committed file has no outputs; it executes top to bottom in a
fresh kernel (live widgets, not the static stand-ins) with no error, no warning and no traceback in
any output; it is real Russian prose (substantial Cyrillic markdown) with the sections every lecture
must have. The two pytest-xdist workers run the lectures in parallel.
"""

from __future__ import annotations

import pathlib
import re

import nbformat
import pytest

from optviz.site import execute_notebook, output_problems

ROOT = pathlib.Path(__file__).resolve().parents[1]
LECTURES = sorted((ROOT / "lectures").glob("[0-9][0-9]-*.ipynb"))
NUMBERED = [p for p in LECTURES if not p.name.startswith("00-")]
CYRILLIC = re.compile(r"[А-Яа-яЁё]")


def _markdown(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


@pytest.mark.parametrize("path", LECTURES, ids=[p.stem for p in LECTURES])
def test_lecture_executes_cleanly(path):
    # two workers run two kernels on two cores: one torch thread each (oversubscribed small ops crawl)
    nb = execute_notebook(path, timeout=300, static=False, env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    assert output_problems(nb) == []


@pytest.mark.parametrize("path", LECTURES, ids=[p.stem for p in LECTURES])
def test_lecture_is_committed_without_outputs_and_in_russian(path):
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in nb.cells if c.cell_type == "code"), "ноутбук закоммичен с выводом"
    text = _markdown(nb)
    assert len(CYRILLIC.findall(text)) >= (1500 if path.name.startswith("00-") else 5000), \
        "в лекции мало русского текста"


@pytest.mark.parametrize("path", NUMBERED, ids=[p.stem for p in NUMBERED])
def test_lecture_has_the_required_parts(path):
    nb = nbformat.read(path, as_version=4)
    text = _markdown(nb)
    assert "Цели" in text, "нет раздела с целями лекции"
    assert "Что запомнить" in text, "нет раздела «Что запомнить»"
    assert "Упражнени" in text, "нет ссылок на упражнения"
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert sum("_explorer(" in src for src in code) >= 2, "нужно хотя бы два живых исследователя"
    assert any("assert" in src for src in code), "нет проверки утверждения теории измерением"
    # helper code lives in optviz: no long function definitions in the notebook
    for src in code:
        assert not re.search(r"^def |^class ", src, re.M) or src.count("\n") < 12, \
            "вспомогательный код должен быть в optviz, а не в ноутбуке"


def _plotly_figures(cell) -> list[dict]:
    return [o["data"]["application/vnd.plotly.v1+json"] for o in cell.get("outputs", [])
            if "application/vnd.plotly.v1+json" in o.get("data", {})]


@pytest.mark.slow
@pytest.mark.parametrize("path", NUMBERED, ids=[p.stem for p in NUMBERED])
def test_lecture_static_version_plays(path):
    """As on the static site (OPTVIZ_STATIC=1): every explorer becomes a plotly figure whose slider or
    ▶ button switches precomputed frames, and nothing prints a warning or a traceback."""
    nb = execute_notebook(path, timeout=300, static=True, env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    assert output_problems(nb) == []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "_explorer(" not in cell.source:
            continue
        figs = _plotly_figures(cell)
        assert figs, f"ячейка {i + 1}: исследователь не показал статическую фигуру"
        assert any(len(f.get("frames") or []) >= 2 and (f["layout"].get("sliders") or f["layout"].get("updatemenus"))
                   for f in figs), f"ячейка {i + 1}: у статической фигуры нет кадров с ползунком или кнопкой ▶"


@pytest.mark.parametrize("path", NUMBERED, ids=[p.stem for p in NUMBERED])
def test_lecture_links_its_graded_exercises(path):
    """Each lecture links at least two exercises of its own number, and every linked exercise exists
    both as the student version (exercises/) and as the full solution (solutions/)."""
    text = _markdown(nbformat.read(path, as_version=4))
    links = sorted(set(re.findall(r"\.\./exercises/([0-9]{2}-[0-9]+-[a-z0-9-]+)\.ipynb", text)))
    own = [name for name in links if name.startswith(path.name[:3])]
    assert len(own) >= 2, f"лекция ссылается на {len(own)} своих упражнений, нужно хотя бы два"
    for name in links:
        assert (ROOT / "exercises" / f"{name}.ipynb").is_file(), f"нет упражнения exercises/{name}.ipynb"
        assert (ROOT / "solutions" / f"{name}.ipynb").is_file(), f"нет решения solutions/{name}.ipynb"
