"""Live explorers (ipywidgets + plotly FigureWidget) used by the lectures."""

from ._base import Explorer, log_slider, static_mode

__all__ = ["Explorer", "log_slider", "static_mode"]
