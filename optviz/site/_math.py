r"""LaTeX formulas of the lecture pages as inline SVG, rendered at build time (no MathJax, no CDN).

The static pages must work offline and reference no external script, and no MathJax copy is
available to the build (it is not a Python dependency of the course). So formulas are typeset
once, while the page is built, by matplotlib's *mathtext* (a TeX subset, Computer Modern glyphs
drawn as SVG paths) and inlined into the page: the browser needs nothing to display them.

mathtext misses some TeX that the lectures use; :func:`normalize` rewrites the common cases
(``\tfrac12`` → ``\frac{1}{2}``, ``\sqrt L`` → ``\sqrt{L}``, ``\le`` → ``\leq``, ``\lVert`` →
``\Vert``, ``\big(`` → ``(``, ``\limits`` dropped, ``aligned`` split into lines…). A formula that
mathtext still cannot typeset is shown as its TeX source (``<code class="optviz-tex">``), never
dropped; :data:`FALLBACKS` collects them so the build can list them.
"""

from __future__ import annotations

import functools
import html
import io
import re
import warnings

__all__ = ["FALLBACKS", "display_math_html", "inline_math_html", "normalize", "tex_to_svg"]

#: TeX sources that could not be typeset during this process (shown as source on the page)
FALLBACKS: list[str] = []

_INLINE_SIZE = 11.0   # pt: close to JupyterLab's 14 px body text
_DISPLAY_SIZE = 12.0

_SIMPLE = [  # (regex, replacement): commands mathtext lacks → closest equivalents
    (r"\\[td]frac(?![a-zA-Z])", r"\\frac"),
    (r"\\cfrac(?![a-zA-Z])", r"\\frac"),
    (r"\\le(?![a-zA-Z])", r"\\leq"),
    (r"\\ge(?![a-zA-Z])", r"\\geq"),
    (r"\\ne(?![a-zA-Z])", r"\\neq"),
    (r"\\[lr]Vert(?![a-zA-Z])", r"\\Vert"),
    (r"\\[lr]vert(?![a-zA-Z])", r"|"),
    (r"\\(?:no)?limits(?![a-zA-Z])", ""),
    (r"\\(?:big|Big|bigg|Bigg)[lrm]?(?![a-zA-Z])", ""),
    (r"\\(?:displaystyle|textstyle|scriptstyle|left\.|right\.)", ""),
    (r"\\!", ""),
    (r"\\operatorname\*", r"\\operatorname"),
    (r"\\bm(?![a-zA-Z])", r"\\boldsymbol"),
    (r"\\coloneqq(?![a-zA-Z])", ":="),
    (r"\\lbrace(?![a-zA-Z])", r"\\{"),
    (r"\\rbrace(?![a-zA-Z])", r"\\}"),
    (r"\\textrm(?![a-zA-Z])", r"\\text"),
    (r"\\tag\*?\{[^{}]*\}", ""),
    (r"\\(?:label|nonumber|notag)(?:\{[^{}]*\})?", ""),
]
_ENV = re.compile(r"\\(?:begin|end)\{(?:aligned|align\*?|gathered|gather\*?|split|equation\*?|eqnarray\*?)\}")
_N_ARGS = {"frac": 2, "sqrt": 1, "dfrac": 2}


def _brace_args(tex: str) -> str:
    r"""``\frac12`` → ``\frac{1}{2}``, ``\sqrt L`` → ``\sqrt{L}`` (mathtext needs braced arguments)."""
    out, i, n = [], 0, len(tex)
    while i < n:
        m = re.compile(r"\\(frac|dfrac|sqrt)(?![a-zA-Z])").match(tex, i)
        if not m:
            if tex[i] == "\\" and i + 1 < n:      # keep escaped characters/commands intact
                j = i + 1
                while j < n and tex[j].isalpha():
                    j += 1
                j = max(j, i + 2)
                out.append(tex[i:j])
                i = j
            else:
                out.append(tex[i])
                i += 1
            continue
        out.append(m.group(0))
        i = m.end()
        if m.group(1) == "sqrt":                   # optional [degree]
            k = i
            while k < n and tex[k] == " ":
                k += 1
            if k < n and tex[k] == "[":
                close = tex.find("]", k)
                if close > 0:
                    out.append(tex[k:close + 1])
                    i = close + 1
        for _ in range(_N_ARGS[m.group(1)]):
            while i < n and tex[i] == " ":
                i += 1
            if i >= n:
                break
            if tex[i] == "{":
                depth, j = 0, i
                while j < n:
                    depth += tex[j] == "{"
                    depth -= tex[j] == "}"
                    if depth == 0:
                        break
                    j += 1
                out.append("{" + _brace_args(tex[i + 1:j]) + "}")
                i = j + 1
            elif tex[i] == "\\":
                j = i + 1
                while j < n and tex[j].isalpha():
                    j += 1
                j = max(j, i + 2)
                out.append("{" + tex[i:j] + "}")
                i = j
            else:
                out.append("{" + tex[i] + "}")
                i += 1
    return "".join(out)


def normalize(tex: str) -> str:
    """Rewrite TeX that mathtext does not know into equivalent TeX it does (see module docstring)."""
    s = tex.strip()
    for pat, rep in _SIMPLE:
        s = re.sub(pat, rep, s)
    s = _brace_args(s)
    return re.sub(r"\s+", " ", s).strip()


def _split_lines(tex: str) -> list[str]:
    """Lines of a display formula (``aligned``-like environments and ``\\\\``; ``&`` dropped)."""
    body = _ENV.sub("", tex)
    lines = [ln.replace("&", " ").strip() for ln in re.split(r"\\\\(?:\[[^\]]*\])?", body)]
    return [ln for ln in lines if ln]


@functools.lru_cache(maxsize=4096)
def tex_to_svg(tex: str, size: float = _INLINE_SIZE) -> tuple[str, float] | None:
    """``(svg_markup, depth_pt)`` of one line of TeX, or ``None`` if mathtext cannot typeset it."""
    import matplotlib as mpl
    import numpy as np
    from matplotlib import mathtext
    from matplotlib.font_manager import FontProperties

    src = normalize(tex)
    if not src:
        return None
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"), mpl.rc_context(
                {"mathtext.fontset": "cm", "svg.fonttype": "path", "svg.hashsalt": "optviz"}):
            warnings.simplefilter("ignore")
            depth = mathtext.math_to_image(f"${src}$", buf, prop=FontProperties(size=size), format="svg")
    except Exception:  # noqa: BLE001 - any parse/layout failure means "show the source"
        return None
    svg = buf.getvalue().decode("utf-8")
    svg = re.sub(r"<\?xml[^>]*\?>\s*", "", svg)
    svg = re.sub(r"<!DOCTYPE[^>]*>\s*", "", svg)
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.DOTALL)
    svg = re.sub(r"<style[^>]*>.*?</style>\s*", "", svg, flags=re.DOTALL)  # its global `*{…}` rule would leak
    if not re.search(r'width="[0-9.]*[1-9][0-9.]*pt"', svg):
        return None
    return svg.strip(), float(depth or 0.0)


def _fallback(tex: str, display: bool) -> str:
    FALLBACKS.append(tex)
    src = html.escape(f"$${tex}$$" if display else f"${tex}$")
    return f'<code class="optviz-tex" title="формула в записи TeX">{src}</code>'


def _svg_span(svg: str, depth: float, tex: str) -> str:
    label = html.escape(tex, quote=True)
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{label}" '
                                f'style="vertical-align:{-depth:.2f}pt" ', 1)
    return f'<span class="optviz-math">{svg}</span>'


def inline_math_html(tex: str) -> str:
    """HTML for inline math ``$tex$``."""
    got = tex_to_svg(tex, _INLINE_SIZE)
    if got is None:
        return _fallback(tex, display=False)
    return _svg_span(*got, tex)


def display_math_html(tex: str) -> str:
    """HTML for display math ``$$tex$$`` (multi-line environments become stacked lines)."""
    lines = _split_lines(tex)
    rendered = [tex_to_svg(ln, _DISPLAY_SIZE) for ln in lines]
    if not lines or any(r is None for r in rendered):
        return f'<div class="optviz-math-display">{_fallback(tex, display=True)}</div>'
    inner = "".join(f"<div>{_svg_span(svg, 0.0, ln)}</div>" for (svg, _), ln in zip(rendered, lines))
    return f'<div class="optviz-math-display">{inner}</div>'
