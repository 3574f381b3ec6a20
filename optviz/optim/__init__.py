"""Every course method as a real :class:`torch.optim.Optimizer`."""

from ._base import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD"]
