"""The explorer pattern: controls → ``compute`` (calls :func:`optviz.run`) → a figure builder → the
same plotly ``FigureWidget`` updated in place.

Every explorer of the course is an :class:`Explorer` with

* ``controls`` — ipywidgets keyed by parameter name (sliders, dropdowns, checkboxes…);
* ``build(params) -> go.Figure`` — a pure function: runs the methods and calls a builder from
  :mod:`optviz.viz` (widgets are the only place where ``run`` and a builder meet);

and gets for free: in-place updates of one FigureWidget (trace properties and layout are copied,
so the view is not rebuilt), no warning floods (numerical warnings are silenced during a
recompute — a diverging run is *drawn* as diverging by the builder), a Russian status line instead
of a traceback when a setting is invalid, the time of the last update (``last_update_ms``), and a
static stand-in for HTML export (``static_figure``: precomputed settings behind a plotly slider),
used automatically when the environment variable ``OPTVIZ_STATIC=1`` is set (the site builder).
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go

from .._cache import LRUCache
from ..viz._plotly import frames_figure

__all__ = ["Explorer", "static_mode", "log_slider"]


def static_mode() -> bool:
    """True while building the static site (``OPTVIZ_STATIC=1``): explorers show plain figures."""
    return os.environ.get("OPTVIZ_STATIC", "") not in ("", "0")


def log_slider(value: float, low: float, high: float, description: str, *, readout_format: str = ".2e",
               steps: int = 60, **kw) -> W.FloatLogSlider:
    """A log-scale slider between ``low`` and ``high`` (the course's step-size slider)."""
    base_exp = np.log10(low), np.log10(high)
    step = (base_exp[1] - base_exp[0]) / steps
    return W.FloatLogSlider(value=value, base=10, min=base_exp[0], max=base_exp[1], step=step,
                            description=description, readout_format=readout_format,
                            continuous_update=True, style={"description_width": "initial"}, **kw)


class Explorer:
    """A live figure driven by controls (see the module docstring).

    Parameters
    ----------
    controls : mapping name → ipywidgets value widget
    build : callable ``params -> go.Figure``
    layout : optional ipywidgets layout of the controls (default: a vertical box)
    static_values : for :meth:`static_figure` — ``{name: [values…]}`` of the control swept in the
        static version (default: five values of the first slider across its range)
    """

    def __init__(self, controls: Mapping[str, W.ValueWidget], build: Callable[[dict], go.Figure], *,
                 controls_box: W.Widget | None = None, static_values: Mapping[str, Sequence] | None = None,
                 extra: Sequence[W.Widget] = ()):
        self.controls = dict(controls)
        self.build = build
        self.static_values = dict(static_values) if static_values else None
        self.status = W.HTML(value="")
        self.last_update_ms = float("nan")
        self.updates = 0
        self._fig: go.FigureWidget | None = None
        self._controls_box = controls_box or W.VBox(list(self.controls.values()))
        self._extra = list(extra)
        self._holding = 0
        self._pending: list = []
        self._live = False
        self._sent_template = None   # the layout template last sent to the widget (re-sent only if changed)
        for w in self.controls.values():
            w.observe(self._on_change, names="value")

    # -- parameters and figures ---------------------------------------------------------------
    @property
    def params(self) -> dict:
        return {k: w.value for k, w in self.controls.items()}

    def set(self, **values) -> None:
        """Set several controls with **one** update (none if nothing changed), as a user would.

        Dependent controls are adjusted as for a manual change (:meth:`before_update`), but the
        values given here win (``set(problem="booth", x0=1, y0=2)`` keeps this start).
        """
        for k in values:
            if k not in self.controls:
                raise ValueError(f"Нет элемента управления {k!r}; есть: {', '.join(self.controls)}.")
        with self.hold():
            for k, v in values.items():
                self.controls[k].value = v
            changes = self._drain()
            for change in changes:
                self.before_update(change)
            for k, v in values.items():
                self.controls[k].value = v
            self._drain()
        if changes:
            with self._live_build():
                self._update()

    @contextlib.contextmanager
    def hold(self):
        """Inside the block control changes are only recorded (no recompute)."""
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1

    def _drain(self) -> list:
        pending, self._pending = self._pending, []
        return pending

    @property
    def live(self) -> bool:
        """True while building the figure for the FigureWidget: builders may skip plotly's validation
        (``validate=False``), since the widget validates what it receives."""
        return self._live

    @contextlib.contextmanager
    def _live_build(self):
        self._live = True
        try:
            yield
        finally:
            self._live = False

    def before_update(self, change) -> None:
        """Hook: adjust dependent controls (runs inside :meth:`hold`) before a recompute."""

    def after_sync(self) -> None:
        """Hook: runs after the FigureWidget was updated or created (e.g. re-attach click callbacks)."""

    def figure(self, **overrides) -> go.Figure:
        """The figure for the current settings (with ``overrides``), without touching the widget."""
        params = self.params
        params.update(overrides)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return self.build(params)

    @property
    def widget(self) -> go.FigureWidget:
        """The live FigureWidget (created on first use)."""
        if self._fig is None:
            with self._live_build():
                self._fig = go.FigureWidget(self.figure())
            self._sent_template = None
            self.after_sync()
        return self._fig

    # -- updates ------------------------------------------------------------------------------
    def _on_change(self, change=None) -> None:
        if self._holding:
            self._pending.append(change)
            return
        with self.hold():
            self.before_update(change)
            self._drain()
        with self._live_build():
            self._update()

    def _update(self) -> None:
        t0 = time.perf_counter()
        try:
            new = self.figure()
        except ValueError as err:  # invalid setting: say so in Russian, keep the last figure
            self.status.value = f"<span style='color:#b00'>⚠ {err}</span>"
            return
        self.status.value = ""
        self._sync(new)
        self.last_update_ms = (time.perf_counter() - t0) * 1e3
        self.updates += 1

    def _sync(self, new: go.Figure) -> None:
        """Copy ``new`` into the FigureWidget in place.

        Traces whose ``meta['optviz_static']`` key is unchanged (the contour of an unchanged problem)
        are not re-sent, and the layout template is sent only when it changes.
        """
        fw = self.widget
        same = len(fw.data) == len(new.data) and all(a.type == b.type for a, b in zip(fw.data, new.data))
        layout = new.layout.to_plotly_json()
        template = layout.pop("template", None)
        if template is not None and template != self._sent_template:
            layout["template"] = template
        with fw.batch_update():
            if same:
                for old_tr, new_tr in zip(fw.data, new.data):
                    key = _static_key(new_tr)
                    if key is not None and key == _static_key(old_tr):
                        continue
                    props = new_tr.to_plotly_json()
                    props.pop("type", None)
                    old_tr.update(props, overwrite=True)
            else:
                fw.data = []
                fw.add_traces(list(new.data))
            fw.layout.update(layout, overwrite=True)
        if template is not None:
            self._sent_template = template
        self.after_sync()

    # -- display ------------------------------------------------------------------------------
    def box(self) -> W.Widget:
        return W.VBox([self._controls_box, *self._extra, self.status, self.widget])

    def cached(self, key, compute: Callable[[], object]):
        """``compute()`` remembered under ``key`` for this explorer (the last 64 settings), so that
        moving a slider back to a setting already seen is instant."""
        cache = self.__dict__.get("_results")
        if cache is None:
            cache = self._results = LRUCache(64)
        return cache.get_or_compute(key, compute)

    def static_figure(self, values: Mapping[str, Sequence] | None = None) -> go.Figure:
        """A plain plotly figure with a slider over precomputed settings (for HTML export)."""
        values = dict(values or self.static_values or self._default_static_values())
        name, seq = next(iter(values.items()))
        figs = [self.figure(**{name: v}) for v in seq]
        desc = getattr(self.controls.get(name), "description", name) or name
        return frames_figure(figs, [_fmt(v) for v in seq], label=desc)

    def _default_static_values(self) -> dict:
        for name, w in self.controls.items():
            if isinstance(w, W.FloatLogSlider):
                return {name: list(np.logspace(w.min, w.max, 5, base=w.base))}
            if isinstance(w, (W.FloatSlider, W.IntSlider)):
                vals = np.linspace(w.min, w.max, 5)
                return {name: [int(v) for v in vals] if isinstance(w, W.IntSlider) else list(vals)}
        name = next(iter(self.controls))
        return {name: [self.controls[name].value]}

    def _ipython_display_(self):
        from IPython.display import display

        if static_mode():
            display(self.static_figure())
        else:
            display(self.box())


def _fmt(v) -> str:
    from ..viz._style import fmt_num

    return fmt_num(v) if isinstance(v, (int, float, np.number)) else str(v)


def _static_key(trace):
    meta = getattr(trace, "meta", None)
    return meta.get("optviz_static") if isinstance(meta, dict) else None

