"""The static site: the intro lecture built into a temp folder, checked as a browser would get it
(offline: no external script or stylesheet, plotly.js one shared file beside the pages, animation
frames present, no traceback or warning), a build with a failing lecture (every page written, a
non-zero end), plus the headless-execution helper the lecture tests reuse."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pytest

from optviz.site import (
    NotebookExecutionError,
    build_site,
    execute_notebook,
    output_problems,
)
from optviz.site._math import display_math_html, inline_math_html, normalize, tex_to_svg

ROOT = Path(__file__).resolve().parents[1]
INTRO = ROOT / "lectures" / "00-znakomstvo.ipynb"
BUNDLE_RE = re.compile(r'<script id="optviz-plotlyjs"[^>]*src="plotly\.min\.js"[^>]*></script>')


def _figures(page: str) -> list[dict]:
    """Every plotly figure of a page, decoded from its ``Plotly.newPlot`` / ``Plotly.addFrames`` calls."""
    dec = json.JSONDecoder()
    figs = {}
    for m in re.finditer(r'Plotly\.newPlot\(\s*"([^"]+)",\s*', page):
        data, end = dec.raw_decode(page, m.end())
        layout, _ = dec.raw_decode(page, re.compile(r",\s*").match(page, end).end())
        figs[m.group(1)] = {"data": data, "layout": layout, "frames": []}
    for m in re.finditer(r"Plotly\.addFrames\(\s*'([^']+)',\s*", page):
        figs[m.group(1)]["frames"], _ = dec.raw_decode(page, m.end())
    return list(figs.values())


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The site built once per test session, shared by the pytest-xdist workers (file lock)."""
    from filelock import FileLock  # a dependency of torch

    base = tmp_path_factory.getbasetemp()
    # under pytest-xdist each worker has base = <run dir>/popen-gwN: share the run dir; alone, base
    # itself is this run's dir (its parent holds earlier runs and must not be reused)
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    out = shared / "optviz-site"
    with FileLock(str(shared / "optviz-site.lock")):
        if not (out / "index.html").is_file():
            source_before = INTRO.read_bytes()
            build_site(out, [INTRO], timeout=240, log=None)
            assert INTRO.read_bytes() == source_before, "сборка сайта изменила исходный ноутбук"
    return out


@pytest.mark.slow
def test_one_page_per_lecture_and_an_index(site):
    out = site
    assert sorted(p.name for p in out.iterdir()) == ["00-znakomstvo.html", "index.html", "plotly.min.js"]
    heading = next(line for c in nbformat.read(INTRO, as_version=4).cells if c.cell_type == "markdown"
                   for line in c.source.splitlines() if line.startswith("# "))[2:].strip()
    index = (out / "index.html").read_text(encoding="utf-8")
    assert f'<a href="00-znakomstvo.html">{heading}</a>' in index
    assert '<html lang="ru">' in index
    page = (out / "00-znakomstvo.html").read_text(encoding="utf-8")
    assert f"<title>{heading}" in page and 'href="index.html"' in page


@pytest.mark.slow
def test_page_is_offline_plotly_one_shared_file(site):
    from plotly.offline import get_plotlyjs

    out = site
    for name in ("00-znakomstvo.html", "index.html"):
        html = (out / name).read_text(encoding="utf-8")
        rest = BUNDLE_RE.sub("", html)  # the one allowed script: the site's own plotly.min.js
        assert not re.search(r"<script[^>]*\bsrc\s*=", rest), "внешний/отдельный скрипт на странице"
        assert not re.search(r"<link[^>]*\bhref\s*=", rest), "внешняя таблица стилей на странице"
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", rest)
        for needle in ("//cdn", "cdnjs", "unpkg", "require.js", "MathJax.js", "jsdelivr"):
            assert needle not in rest, needle
    page = (out / "00-znakomstvo.html").read_text(encoding="utf-8")
    assert len(BUNDLE_RE.findall(page)) == 1 and "Plotly.newPlot" in page
    assert get_plotlyjs()[:2000] not in page       # the bundle is not inlined any more
    assert (out / "plotly.min.js").read_text(encoding="utf-8") == get_plotlyjs()
    assert len(page.encode()) < 2_000_000          # was ~6.6 MB with plotly.js inlined


@pytest.mark.slow
def test_figures_have_frames_and_controls(site):
    out = site
    figs = _figures((out / "00-znakomstvo.html").read_text(encoding="utf-8"))
    assert len(figs) == 2  # the explorer's static stand-in and the animation
    explorer, animation = figs
    # explorer (OPTVIZ_STATIC=1): one frame per precomputed step size, switched by a slider, and
    # each frame's title is computed from its own step size (the slider's label for that frame)
    steps = explorer["layout"]["sliders"][0]["steps"]
    assert len(explorer["frames"]) == len(steps) >= 3
    assert [s["args"][0][0] for s in steps] == [f["name"] for f in explorer["frames"]]
    titles = [f["layout"]["title"]["text"] for f in explorer["frames"]]
    for step, title in zip(steps, titles):
        assert f"η = {step['label']}" in title, (step["label"], title)
    # the notebook's quadratic has L = 10: the largest static step sizes exceed 2/L and diverge
    assert "расходится" in titles[-1] and "расходится" not in titles[0]
    # animation: ▶ Пуск / ❚❚ Пауза plays the frames (one per iterate), no autoplay on load
    assert len(animation["frames"]) == 31  # the notebook's run: 30 steps, start included
    labels = [b["label"] for b in animation["layout"]["updatemenus"][0]["buttons"]]
    assert labels == ["▶ Пуск", "❚❚ Пауза"]
    assert animation["layout"]["updatemenus"][0]["buttons"][0]["args"][1]["fromcurrent"] is True


@pytest.mark.slow
def test_no_traceback_warning_or_tex_left(site):
    out = site
    html = (out / "00-znakomstvo.html").read_text(encoding="utf-8").split("<body", 1)[1]  # not the CSS
    assert "application/vnd.jupyter.stderr" not in html
    for word in ("Traceback", "Warning", "Error"):
        assert word not in html, word
    # formulas are typeset (inline SVG), none left as TeX source
    assert "optviz-tex" not in html
    assert 'aria-label="x_{k+1} = x_k - \\eta \\nabla f(x_k)."' in html


def test_committed_lectures_have_no_outputs():
    for path in sorted((ROOT / "lectures").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: выводы сохранены"


@pytest.mark.slow
def test_execute_notebook_reports_failing_cell_in_russian(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Проба"),
        nbformat.v4.new_code_cell("import os, warnings\nprint(os.environ.get('OPTVIZ_STATIC'))"),
        nbformat.v4.new_code_cell("warnings.warn('осторожно')"),
        nbformat.v4.new_code_cell("x = 1\ny = x / 0"),
        nbformat.v4.new_code_cell("print('не дойдёт')"),
    ])
    path = tmp_path / "proba.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(NotebookExecutionError) as info:
        execute_notebook(path, timeout=60)
    err = info.value
    assert err.cell_index == 3 and err.ename == "ZeroDivisionError"
    assert "y = x / 0" in str(err) and "ошибка: ячейка 4 (код №3)" in str(err) and "proba.ipynb" in str(err)

    # without the failing cells: runs, the kernel saw OPTVIZ_STATIC=1, the warning is reported
    nb.cells = nb.cells[:3]
    nbformat.write(nb, path)
    done = execute_notebook(path, timeout=60)
    assert done.cells[1].outputs[0].text.strip() == "1"
    problems = output_problems(done)
    assert len(problems) == 1 and "ячейка 3" in problems[0] and "UserWarning" in problems[0]
    assert nbformat.read(path, as_version=4).cells[1].outputs == []  # the file is untouched


@pytest.mark.parametrize("tex, expected", [
    (r"\tfrac12 x^\top A x", r"\frac{1}{2} x^\top A x"),
    (r"4/(\sqrt L + \sqrt\mu)^2", r"4/(\sqrt{L} + \sqrt{\mu})^2"),
    (r"\lVert g \rVert \le 1", r"\Vert g \Vert \leq 1"),
    (r"\max\limits_x \big( a \big)", r"\max_x ( a )"),
    (r"\frac{1}{\sqrt2}", r"\frac{1}{\sqrt{2}}"),
])
def test_tex_normalisation_for_mathtext(tex, expected):
    assert normalize(tex) == expected
    assert tex_to_svg(tex) is not None


def test_math_html_svg_or_tex_source():
    assert inline_math_html(r"\kappa = L/\mu").startswith('<span class="optviz-math"><svg')
    two = display_math_html(r"\begin{aligned} a &= b \\ c &= d \end{aligned}")
    assert two.count("<svg") == 2
    bad = inline_math_html(r"\unknowncommand{x}")
    assert "optviz-tex" in bad and r"$\unknowncommand{x}$" in bad and "<svg" not in bad


def test_page_without_figures_has_no_plotly_and_typesets_markdown_math():
    from optviz.site import notebook_to_html

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Заголовок\n\nШаг $\\eta$ и\n\n$$\\sum_{i=1}^n x_i$$\n\n`$не формула$`"),
    ])
    html = notebook_to_html(nb, title="Заголовок")
    assert "optviz-plotlyjs" not in html and "Plotly.newPlot" not in html
    body = html.split("<body", 1)[1]
    assert body.count("<svg") == 2  # inline η and the display sum; the code span stays code
    assert "<code>$не формула$</code>" in body


@pytest.mark.slow
def test_a_failing_lecture_gets_its_page_and_the_build_fails_at_the_end(tmp_path):
    """Lectures execute one at a time: the failing one gets a page saying why, the others are built,
    the index lists all of them, and the build ends with SiteBuildError (exit 1 from the CLI)."""
    from optviz.site import SiteBuildError
    from optviz.site.__main__ import main as site_main

    good = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Хорошая"),
                                           nbformat.v4.new_code_cell("print(1 + 1)")])
    bad = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Плохая"),
                                          nbformat.v4.new_code_cell("raise RuntimeError('сломано')")])
    paths = []
    for name, nb in (("01-bad.ipynb", bad), ("02-good.ipynb", good)):
        nbformat.write(nb, tmp_path / name)
        paths.append(tmp_path / name)
    out = tmp_path / "site"
    with pytest.raises(SiteBuildError) as info:
        build_site(out, paths, timeout=60, log=None)
    assert "01-bad.ipynb" in str(info.value) and "1 из 2" in str(info.value)
    bad_page = (out / "01-bad.html").read_text(encoding="utf-8")
    assert "Эта страница не собрана" in bad_page and "RuntimeError" in bad_page and 'href="02-good.html"' in bad_page
    good_page = (out / "02-good.html").read_text(encoding="utf-8")
    assert "Хорошая" in good_page and "Эта страница не собрана" not in good_page
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "Плохая</a> <span class=\"failed\">" in index and "Хорошая</a></li>" in index
    assert site_main(["--out", str(tmp_path / "site2"), str(paths[0])]) == 1
