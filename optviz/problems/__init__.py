"""Problems the course optimises: 2-D toys, stochastic finite sums, games, a toy group-DRO problem.

Every problem has ``loss(x)`` batched over leading dimensions, ``window``, ``starts``/``start``,
``minimizers`` and ``f_star``; see :class:`optviz.problems.base.Problem`.
"""

from .base import Problem
from .dro_toy import DROSolution, DROToy
from .finite_sums import FiniteSum, LeastSquares, LinearRegression, LogisticRegression
from .games import (
    OGDA_MAX_LR,
    GameTrace,
    MatrixGame,
    extragradient,
    extragradient_rate,
    gda,
    gda_rate,
    matching_pennies,
    mirror_prox,
    multiplicative_weights,
    ogda_characteristic_roots,
    ogda_rate,
    optimistic_gda,
    optimistic_mw,
    rock_paper_scissors,
)
from .toys import (
    TOYS,
    Beale,
    Booth,
    ExpCosh,
    Himmelblau,
    Quadratic,
    Quartic,
    Rastrigin,
    Rosenbrock,
    Saddle,
    StyblinskiTang,
    make_toy,
)

__all__ = [
    "Problem", "Rosenbrock", "Himmelblau", "Rastrigin", "Beale", "Booth", "StyblinskiTang", "Quadratic",
    "Saddle", "Quartic", "ExpCosh", "TOYS", "make_toy", "FiniteSum", "LeastSquares", "LinearRegression",
    "LogisticRegression",
    "MatrixGame", "GameTrace", "matching_pennies", "rock_paper_scissors", "gda", "extragradient",
    "optimistic_gda", "gda_rate", "extragradient_rate", "ogda_characteristic_roots", "ogda_rate", "OGDA_MAX_LR",
    "multiplicative_weights", "optimistic_mw", "mirror_prox", "DROToy", "DROSolution",
]
