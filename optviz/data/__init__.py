"""Data for network training and the seeds' experiments, offline by default.

Containers (:class:`GroupedData`, :class:`DataSplits`) and batch iteration (:func:`batches`,
``DataSplits.train_batches``) live in :mod:`._core`; raw sources — scikit-learn's embedded sets and,
when it can be had, torchvision — in :mod:`._sources`; the builders of the seeds' settings in
:mod:`._builders`:

* :func:`load_dataset` — a data set split into train/val/test, per-class or per-sample groups;
* :func:`parity_split` — even vs odd classes with the unbalanced coefficient ``uc`` (ALSO paper, 6.1);
* :func:`two_clients` — two heterogeneous clients, the second joining after ``delay`` epochs, then
  alternating (the seeds' Food-101 + Flowers-102 setting; digits 0–4 vs transformed 5–9 offline);
* :func:`heavy_tail` — class sizes ∝ k^(−a) with head / middle / tail frequency groups.

Every builder is deterministic given ``seed`` and writes a Russian description into
``info["description"]``.
"""

from ._builders import (
    SHIFTS,
    TwoClientSchedule,
    frequency_groups,
    heavy_tail,
    load_dataset,
    parity_split,
    two_clients,
)
from ._core import Batch, DataSplits, GroupedData, batches, per_sample_groups
from ._sources import (
    DATASETS,
    EMBEDDED,
    TORCHVISION,
    DataFallbackWarning,
    DataUnavailableError,
    default_root,
)

__all__ = [
    "DATASETS",
    "EMBEDDED",
    "SHIFTS",
    "TORCHVISION",
    "Batch",
    "DataFallbackWarning",
    "DataSplits",
    "DataUnavailableError",
    "GroupedData",
    "TwoClientSchedule",
    "batches",
    "default_root",
    "frequency_groups",
    "heavy_tail",
    "load_dataset",
    "parity_split",
    "per_sample_groups",
    "two_clients",
]
