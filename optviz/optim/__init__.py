"""Every course method as a real :class:`torch.optim.Optimizer`.

=============================  =====================================================
``SGD``                        GD / SGD with momentum, dampening, Nesterov, L2 decay
``Adagrad``, ``RMSProp``       adaptive diagonal methods (torch semantics)
``Adam``, ``AdamW``            Adam (amsgrad, optional bias correction), decoupled decay
``Shampoo``                    Kronecker-factored preconditioning with grafting
``Muon``                       ``torch.optim.Muon`` re-exported (torch ≥ 2.9)
``L0L1GD``                     GD with the (L0, L1)-adaptive step 1/(L0 + L1‖∇f‖)
``Restarts``                   restart wrapper around any optimizer (+ criteria)
``OptimisticMirrorProx``       group-DRO min-max with plain gradient steps
``ALSO``                       Adaptive Loss Scaling Optimizer (Adam step + mirror step on π)
=============================  =====================================================
"""

import torch

from ._base import Optimizer
from ._dro import GroupDROOptimizer, inverse_frequency
from .adaptive import Adagrad, Adam, AdamW, RMSProp
from .also import ALSO
from .l0l1 import L0L1GD, l0l1_step_size
from .mirror_prox import OptimisticMirrorProx
from .restarts import (
    FixedPeriod,
    FunctionScheme,
    GradientScheme,
    GradNormRatio,
    RestartCriterion,
    Restarts,
    ValLossIncrease,
    nesterov_momentum,
)
from .sgd import SGD
from .shampoo import Shampoo

#: torch's spelling, for people who come from ``torch.optim``.
RMSprop = RMSProp

__all__ = [
    "Optimizer", "SGD", "Adagrad", "RMSProp", "RMSprop", "Adam", "AdamW", "Shampoo", "L0L1GD",
    "l0l1_step_size", "Restarts", "RestartCriterion", "FixedPeriod", "GradNormRatio", "ValLossIncrease",
    "FunctionScheme", "GradientScheme", "nesterov_momentum", "GroupDROOptimizer", "OptimisticMirrorProx",
    "ALSO", "inverse_frequency",
]

if hasattr(torch.optim, "Muon"):  # torch >= 2.9 ships Muon: use it, don't rewrite it
    Muon = torch.optim.Muon
    __all__.append("Muon")
