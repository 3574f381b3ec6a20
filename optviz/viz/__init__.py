"""Figure builders: plotly (interactive, animated) and matplotlib (static, for print).

Builders take traces (:class:`optviz.run.Trace`) and problems and return figures; they never run
an optimizer themselves. Every title and caption is computed from the parameters, in Russian.
"""

from ._plotly import animate, animation_controls, frames_figure
from ._style import DIVERGED_TEXT, color_for, describe, fmt_num, log_levels

__all__ = ["animate", "animation_controls", "frames_figure", "DIVERGED_TEXT", "color_for", "describe",
           "fmt_num", "log_levels"]
