"""Executed notebooks → self-contained HTML pages + ``index.html`` (the static course site).

Decisions (see also the package docstring):

* **plotly.js is one shared file of the site**, ``plotly.min.js`` beside the pages, loaded by every
  page that has figures (``<script id="optviz-plotlyjs" src="plotly.min.js">`` in ``<head>``, a
  relative path: works from ``file://`` and offline); every figure output (the kernel emits plain
  plotly JSON,
  ``PLOTLY_RENDERER=plotly_mimetype``) becomes a ``<div>`` plus a ``Plotly.newPlot`` call with its
  frames (``Plotly.addFrames``), so animations and the slider of an explorer's static stand-in
  work without a kernel and without a network.
* **No external script or stylesheet**: the nbconvert ``lab`` template is used with its
  require.js, MathJax, mermaid and widget-manager blocks emptied; formulas are typeset at build
  time as inline SVG (:mod:`optviz.site._math`), TeX source where that is impossible.
* Live ipywidgets (not explorers) cannot work without a kernel: their output is replaced by a
  short Russian note.
"""

from __future__ import annotations

import html
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

from . import _math
from ._execute import execute_notebook, output_problems

__all__ = ["Page", "SiteBuildError", "build_site", "find_lectures", "notebook_title", "notebook_to_html",
           "PLOTLY_FILE"]

PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = ("<div class='optviz-widget-note'>Здесь в JupyterLab — интерактивный элемент управления "
               "(откройте ноутбук, чтобы подвигать его).</div>")
SITE_TITLE = "Оптимизация в картинках"
PLOTLY_FILE = "plotly.min.js"   # the site's one copy of plotly.js, beside the pages


class SiteBuildError(RuntimeError):
    """The site could not be built (a lecture failed or showed warnings); Russian message."""


@dataclass
class Page:
    """One built page: source notebook, output file, title, seconds spent (execute + convert) and,
    for a lecture that failed, the Russian reason (its page then says so)."""

    notebook: Path
    html: Path
    title: str
    seconds: float
    problem: str = ""


# -- titles -----------------------------------------------------------------------------------
def notebook_title(nb: nbformat.NotebookNode, default: str = "") -> str:
    """Text of the first Markdown heading of the notebook (Markdown markup stripped)."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            m = re.match(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", line)
            if m:
                text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", m.group(1))  # [text](url) → text
                text = re.sub(r"[*_`]", "", text)
                return text.strip()
    return default


# -- outputs -> static HTML ---------------------------------------------------------------------
def _figure_html(fig_json: dict, div_id: str) -> str:
    import plotly.io as pio

    fig = dict(fig_json)
    config = {"responsive": True, "displaylogo": False}
    config.update(fig.pop("config", {}) or {})
    return pio.to_html(fig, config=config, auto_play=False, include_plotlyjs=False, include_mathjax=False,
                       full_html=False, div_id=div_id, default_width="100%", default_height=525,
                       validate=False)


def _static_outputs(nb: nbformat.NotebookNode) -> int:
    """Rewrite outputs in place for a kernel-less page; returns the number of plotly figures."""
    n_fig = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data")
            if not data:
                continue
            if PLOTLY_MIME in data:
                n_fig += 1
                out["data"] = {"text/html": _figure_html(data[PLOTLY_MIME], f"optviz-fig-{n_fig}")}
            elif WIDGET_MIME in data:
                out["data"] = {"text/html": WIDGET_NOTE}
            elif "text/latex" in data and "text/html" not in data:
                tex = data["text/latex"].strip()
                display = tex.startswith(("$$", r"\[")) or not tex.startswith("$")
                tex = tex.strip("$").removeprefix(r"\[").removesuffix(r"\]").strip()
                out["data"] = {"text/html": _math.display_math_html(tex) if display else _math.inline_math_html(tex)}
    nb.metadata.pop("widgets", None)
    return n_fig


_PAGE_TEMPLATE = r"""
{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}
{%- if resources.optviz.plotlyjs %}
<script id="optviz-plotlyjs" type="text/javascript" src="{{ resources.optviz.plotlyjs }}"></script>
{%- endif -%}
{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}
<style type="text/css">{{ resources.optviz.css }}</style>
{%- endblock extra_css -%}
{%- block body_header -%}
{{ super() }}
{{ resources.optviz.nav }}
{{ resources.optviz.banner }}
{%- endblock body_header -%}
{%- block body_footer -%}
{{ resources.optviz.nav }}
{{ super() }}
{%- endblock body_footer -%}
"""

_CSS = """
.optviz-nav { display: flex; justify-content: space-between; gap: 1em; max-width: 1100px;
  margin: 0.5em auto; padding: 0.4em 1em; font-family: var(--jp-ui-font-family, sans-serif); }
.optviz-nav a { text-decoration: none; color: #1f5fa8; }
.optviz-math svg { display: inline; overflow: visible; }
.optviz-math-display { text-align: center; margin: 0.6em 0; overflow-x: auto; }
.optviz-math-display > div { margin: 0.15em 0; }
code.optviz-tex { background: #f6f6f6; padding: 0 0.2em; }
.optviz-widget-note { color: #666; font-style: italic; padding: 0.3em 0; }
.optviz-banner { max-width: 1100px; margin: 0.5em auto; padding: 0.6em 1em; border: 1px solid #d9a400;
  background: #fff8e1; font-family: var(--jp-ui-font-family, sans-serif); }
"""


def _exporter():
    from jinja2 import DictLoader, pass_context
    from nbconvert import HTMLExporter
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    class _MathRenderer(IPythonRenderer):
        """Markdown renderer that typesets ``$…$`` / ``$$…$$`` as inline SVG."""

        def inline_math(self, body: str) -> str:
            return _math.inline_math_html(body)

        def block_math(self, body: str) -> str:
            return _math.display_math_html(body)

        def latex_environment(self, name: str, body: str) -> str:
            return _math.display_math_html(f"\\begin{{{name}}}{body}\\end{{{name}}}")

    class _SiteExporter(HTMLExporter):
        @pass_context
        def markdown2html(self, context, source):
            cell = context.get("cell", {})
            renderer = _MathRenderer(
                escape=False, attachments=cell.get("attachments", {}), embed_images=self.embed_images,
                path=context.get("resources", {}).get("metadata", {}).get("path", ""),
                anchor_link_text=self.anchor_link_text, exclude_anchor_links=self.exclude_anchor_links,
                **self.lexer_options)
            return MarkdownWithMath(renderer=renderer).render(source)

    return _SiteExporter(template_name="lab", template_file="optviz_page.html.j2",
                         extra_loaders=[DictLoader({"optviz_page.html.j2": _PAGE_TEMPLATE})],
                         language_code="ru", embed_images=True, exclude_input_prompt=False)


def _nav(prev: tuple[str, str] | None, nxt: tuple[str, str] | None) -> str:
    def link(item, arrow_left):
        if item is None:
            return "<span></span>"
        href, title = item
        text = f"← {html.escape(title)}" if arrow_left else f"{html.escape(title)} →"
        return f'<a href="{html.escape(href)}">{text}</a>'

    return (f'<nav class="optviz-nav">{link(prev, True)}'
            f'<a href="index.html">Оглавление курса</a>{link(nxt, False)}</nav>')


def notebook_to_html(nb: nbformat.NotebookNode, *, title: str, nav: str = "", path: Path | None = None,
                     banner: str = "") -> str:
    """One HTML page from an *executed* notebook (the notebook is not modified).

    A page with figures loads the site's shared ``plotly.min.js`` (:data:`PLOTLY_FILE`, written by
    :func:`build_site` beside the pages); ``banner`` (HTML) is shown at the top.
    """
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))  # deep copy: outputs are rewritten
    n_figures = _static_outputs(nb)
    nb.metadata["title"] = f"{title} — {SITE_TITLE}"
    resources = {"metadata": {"name": title, "path": str(path.parent) if path else ""},
                 "optviz": {"plotlyjs": PLOTLY_FILE if n_figures else "", "css": _CSS, "nav": nav,
                            "banner": banner}}
    body, _ = _exporter().from_notebook_node(nb, resources=resources)
    return body


def _failed_html(title: str, reason: str, nav: str) -> str:
    """The page of a lecture that could not be executed: what happened and what to do."""
    return f"""<!DOCTYPE html>
<html lang="ru">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{html.escape(title)} — {SITE_TITLE}</title>
<style>{_CSS}
body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; line-height: 1.5; color: #222; }}
main {{ max-width: 900px; margin: 1em auto; padding: 0 1em; }}
pre {{ background: #f6f6f6; padding: 0.6em; overflow-x: auto; white-space: pre-wrap; }}
</style>
</head>
<body>
{nav}
<main>
<h1>{html.escape(title)}</h1>
<p><strong>Эта страница не собрана:</strong> ноутбук лекции не выполнился при сборке сайта.
Откройте лекцию в JupyterLab (<code>make lab</code>) — там она работает с живыми ползунками.</p>
<p>Причина:</p>
<pre>{html.escape(reason)}</pre>
</main>
{nav}
</body>
</html>
"""


# -- the whole site ----------------------------------------------------------------------------
def find_lectures(lectures_dir="lectures") -> list[Path]:
    """The lecture notebooks of ``lectures_dir`` in file-name order (checkpoints excluded)."""
    return sorted(p for p in Path(lectures_dir).glob("*.ipynb") if not p.name.startswith("."))


def _index_html(pages: list[Page]) -> str:
    def item(p: Page) -> str:
        note = ' <span class="failed">— страница не собрана</span>' if p.problem else ""
        return f'    <li><a href="{html.escape(p.html.name)}">{html.escape(p.title)}</a>{note}</li>'

    items = "\n".join(item(p) for p in pages)
    return f"""<!DOCTYPE html>
<html lang="ru">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{SITE_TITLE} — лекции</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 800px;
       margin: 2em auto; padding: 0 1em; line-height: 1.5; color: #222; }}
a {{ color: #1f5fa8; text-decoration: none; }} a:hover {{ text-decoration: underline; }}
li {{ margin: 0.4em 0; font-size: 1.1em; }}
.note {{ color: #666; font-size: 0.95em; }}
.failed {{ color: #a04000; font-size: 0.9em; }}
</style>
</head>
<body>
<h1>{SITE_TITLE}</h1>
<p>Интерактивный курс методов оптимизации для машинного обучения. Это статическая версия лекций:
анимации и ползунки здесь работают без Python, на заранее посчитанных значениях. Чтобы менять
параметры свободно, откройте ноутбуки в JupyterLab (<code>make lab</code>).</p>
<h2>Лекции</h2>
<ol class="lectures">
{items}
</ol>
<p class="note">Страницы работают без интернета: всё нужное лежит рядом с ними (plotly.js — один общий файл
<code>{PLOTLY_FILE}</code>).</p>
</body>
</html>
"""


def build_site(out="site", notebooks=None, *, lectures_dir="lectures", timeout: float = 300,
               strict: bool = True, log=print) -> list[Page]:
    """Execute the lectures headless (``OPTVIZ_STATIC=1``) one at a time and write each one's page as
    soon as it is done, then ``index.html``.

    Parameters
    ----------
    out : output folder (created); ``plotly.min.js`` is written there once.
    notebooks : notebook paths (default: :func:`find_lectures` of ``lectures_dir``).
    timeout : seconds allowed per cell.
    strict : a lecture whose output shows an error or a warning/traceback on stderr counts as failed
        (its page is still written, with the problems listed at the top).
    log : progress printer (``None`` for silence).

    Every lecture gets a page: one that failed to execute gets a page that says why. Returns the
    pages in order when all succeeded; otherwise raises :class:`SiteBuildError` with a Russian
    summary *after* writing every page and the index.
    """
    from plotly.offline import get_plotlyjs

    from ._execute import NotebookExecutionError

    log = log or (lambda *a, **k: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [Path(p) for p in notebooks] if notebooks is not None else find_lectures(lectures_dir)
    if not paths:
        raise SiteBuildError(f"Не найдено ни одного ноутбука лекций (папка {lectures_dir}).")
    (out / PLOTLY_FILE).write_text(get_plotlyjs(), encoding="utf-8")
    # titles from the sources (their first headings), so that every page's navigation is known up front
    titles = [notebook_title(nbformat.read(p, as_version=4), default=p.stem) for p in paths]
    names = [p.with_suffix(".html").name for p in paths]
    pages = []
    for i, p in enumerate(paths):
        t0 = time.perf_counter()
        prev = (names[i - 1], titles[i - 1]) if i > 0 else None
        nxt = (names[i + 1], titles[i + 1]) if i + 1 < len(paths) else None
        nav, page, problem = _nav(prev, nxt), out / names[i], ""
        log(f"• выполняю {p} …", flush=True)
        try:
            nb = execute_notebook(p, timeout=timeout, static=True)
        except NotebookExecutionError as err:
            problem = str(err)
            page.write_text(_failed_html(titles[i], problem, nav), encoding="utf-8")
            log(f"  ОШИБКА: {problem}")
        else:
            problems = output_problems(nb)
            banner = ""
            if problems and strict:
                problem = "вывод ячеек не чист: " + "; ".join(problems)
                banner = ("<div class='optviz-banner'>При сборке в выводе ячеек нашлись ошибки или "
                          "предупреждения:<ul>" + "".join(f"<li>{html.escape(m)}</li>" for m in problems)
                          + "</ul></div>")
            for msg in problems:
                log(f"  внимание: {msg}")
            n_fallback = len(_math.FALLBACKS)
            page.write_text(notebook_to_html(nb, title=titles[i], nav=nav, path=p, banner=banner), encoding="utf-8")
            for tex in _math.FALLBACKS[n_fallback:]:
                log(f"  формула показана как TeX (mathtext её не умеет): {tex!r}")
        pages.append(Page(p, page, titles[i], time.perf_counter() - t0, problem))
        log(f"  {page} — «{titles[i]}» ({pages[-1].seconds:.1f} с){' — НЕ СОБРАНА' if problem else ''}")
        # the index after every page: an interrupted build still leaves a usable site
        (out / "index.html").write_text(_index_html(pages), encoding="utf-8")
    failed = [pg for pg in pages if pg.problem]
    log(f"Готово: {len(pages) - len(failed)} из {len(pages)} стр. + {out / 'index.html'}")
    if failed:
        raise SiteBuildError(f"Не собраны страницы: {len(failed)} из {len(pages)} (у каждой — своя страница с "
                             "причиной):\n" + "\n".join(f"  • {pg.notebook}: {pg.problem.splitlines()[0][:300]}"
                                                        for pg in failed))
    return pages
