"""Figure builders: plotly (interactive, animated) and matplotlib (static, for print).

Builders take traces (:class:`optviz.run.Trace`), problems and landscape results and return
figures; they never run an optimizer themselves. Every title and caption is computed from the
parameters, in Russian. Animations are plain plotly frames, so they also play in static HTML.
"""

from ._plotly import animate, animation_controls, frames_figure
from ._style import DIVERGED_TEXT, color_for, describe, fmt_num, log_levels
from .dro import dro_race_figure, pi_figure
from .landscape import line_figure, line_figure_mpl, plane_figure, plane_figure_mpl
from .phases import l0l1_phase_figure, measured_ripple_period, phase_boundary, restart_figure, ripple_period
from .regime import heavy_ball_theory, regime_map, regime_map_mpl
from .sgd import noise_floor_of, sgd_schedule_figure, sgd_two_panel
from .trajectories import loss_curves, trajectory_figure, trajectory_figure_mpl

__all__ = [
    "animate", "animation_controls", "frames_figure", "DIVERGED_TEXT", "color_for", "describe", "fmt_num",
    "log_levels", "trajectory_figure", "trajectory_figure_mpl", "loss_curves", "regime_map", "regime_map_mpl",
    "heavy_ball_theory", "sgd_two_panel", "sgd_schedule_figure", "noise_floor_of", "l0l1_phase_figure",
    "phase_boundary", "restart_figure", "ripple_period", "measured_ripple_period", "pi_figure",
    "dro_race_figure", "line_figure", "line_figure_mpl", "plane_figure", "plane_figure_mpl",
]
