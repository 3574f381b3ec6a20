"""The static course site: every lecture executed headless and exported as one offline HTML page.

::

    make site                         # = python -m optviz.site --out site/
    python -m optviz.site --out site/ lectures/00-znakomstvo.ipynb

Each notebook of ``lectures/`` is run by :func:`execute_notebook` (nbclient, kernel ``python3``
of the current interpreter, a time limit per cell, ``OPTVIZ_STATIC=1`` so that explorers display
their static plotly stand-in — precomputed settings behind a plotly slider) and exported by
nbconvert's ``lab`` HTML template with these changes:

* plotly.js is **one shared file of the site** (``plotly.min.js`` beside the pages, loaded by a
  relative path); figures and their animation frames are plain plotly calls, so play/pause and
  sliders work with no kernel and no network;
* **no external URL is referenced** (no require.js, MathJax, mermaid or widget-manager CDN
  scripts): LaTeX in Markdown is typeset at build time into inline SVG by matplotlib's mathtext;
  the few constructs mathtext cannot typeset are shown as their TeX source (the build lists them);
* ``index.html`` lists the lectures by the titles of their first headings;
* lectures execute one at a time and each page is written as soon as its lecture is done; a lecture
  that fails gets a page that says why, and the build ends with a non-zero exit and a summary.

Executed outputs live only in the output folder; the committed notebooks stay without outputs.
:func:`execute_notebook` and :func:`output_problems` are also what the lecture tests use.
"""

from ._build import (
           Page,
           SiteBuildError,
           build_site,
           find_lectures,
           notebook_title,
           notebook_to_html,
)
from ._execute import (
           NotebookExecutionError,
           execute_notebook,
           kernel_env,
           output_problems,
)

__all__ = [
           "NotebookExecutionError",
           "Page",
           "SiteBuildError",
           "build_site",
           "execute_notebook",
           "find_lectures",
           "kernel_env",
           "notebook_title",
           "notebook_to_html",
           "output_problems",
]
