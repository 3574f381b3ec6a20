"""optviz — the toolkit behind the Russian course «Оптимизация в картинках».

Layout (data flows one way):
``optviz.optim`` (methods as torch optimizers) → ``optviz.problems`` (toys, finite sums, games)
→ ``optviz.run`` (traces).
"""

__version__ = "0.1.0"
