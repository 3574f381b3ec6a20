"""Live explorers (ipywidgets + plotly FigureWidget) used by the lectures.

Each explorer is an :class:`Explorer`: controls → ``run`` → a builder of :mod:`optviz.viz` → one
FigureWidget updated in place; in the static site (``OPTVIZ_STATIC=1``) it shows a plotly figure
with precomputed settings instead.
"""

from ._base import Explorer, log_slider, static_mode
from .dro import PiExplorer, PiRun, pi_explorer
from .l0l1 import best_fixed_step, l0l1_explorer
from .landscape import landscape_explorer
from .race import method_explorer, race_explorer
from .regime import regime_explorer
from .restarts import restart_explorer
from .sgd import schedule_traces, sgd_explorer

__all__ = [
    "Explorer", "log_slider", "static_mode", "race_explorer", "method_explorer", "regime_explorer",
    "sgd_explorer", "schedule_traces", "l0l1_explorer", "best_fixed_step", "restart_explorer", "pi_explorer",
    "PiExplorer", "PiRun", "landscape_explorer",
]
