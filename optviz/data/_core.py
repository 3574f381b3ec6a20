"""Containers and batch iteration: :class:`GroupedData`, :class:`DataSplits`, :func:`batches`.

A split is a set of tensors ``x`` (float32), ``y`` (long class labels) and ``groups`` (long group
ids that the group-weighted objectives and ALSO's π act on), plus an optional ``client`` id per
sample. A :class:`DataSplits` holds train/val/test splits, a name, an ``info`` dict (whose
``"description"`` is a Russian text for lectures) and, optionally, an epoch schedule for the
training split (the two-client schedule of :func:`optviz.data.two_clients`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from .._checks import check_choice, check_int

__all__ = ["Batch", "DataSplits", "GroupedData", "batches", "epoch_rng", "per_sample_groups"]

SPLITS = ("train", "val", "test")


def epoch_rng(seed: int, *salt: int) -> np.random.Generator:
    """A numpy generator determined by ``(seed, *salt)`` only (e.g. salt = (epoch, client))."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), *(int(s) for s in salt)]))


class Batch(tuple):
    """A training batch: unpacks as ``x, y, g = batch``; ``batch.client`` is the per-sample client id
    tensor (or ``None`` when the data has no clients)."""

    def __new__(cls, x, y, g, client=None):
        obj = super().__new__(cls, (x, y, g))
        obj.client = client
        return obj

    @property
    def x(self) -> torch.Tensor:
        return self[0]

    @property
    def y(self) -> torch.Tensor:
        return self[1]

    @property
    def groups(self) -> torch.Tensor:
        return self[2]


@dataclass
class GroupedData:
    """One split: inputs, labels, group ids (and client ids for the multi-client builders).

    ``group_names`` are Russian labels such as «класс 3» or «клиент 2»; ``n_groups`` may exceed the
    groups present in this split (e.g. a balanced test split still has every class). With per-sample
    groups (:func:`per_sample_groups`) ``n_groups == len(data)`` and group ``i`` is sample ``i``.
    """

    x: torch.Tensor
    y: torch.Tensor
    groups: torch.Tensor
    n_classes: int
    n_groups: int
    group_names: list[str]
    client: torch.Tensor | None = None

    def __post_init__(self):
        self.x = torch.as_tensor(self.x, dtype=torch.float32)
        self.y = torch.as_tensor(self.y, dtype=torch.long)
        self.groups = torch.as_tensor(self.groups, dtype=torch.long)
        if self.client is not None:
            self.client = torch.as_tensor(self.client, dtype=torch.long)
        n = self.x.shape[0]
        for name, t in (("y", self.y), ("groups", self.groups), ("client", self.client)):
            if t is not None and t.shape != (n,):
                raise ValueError(
                    f"Тензор {name} должен иметь форму ({n},) — по одному значению на объект, "
                    f"получена форма {tuple(t.shape)}."
                )
        if len(self.group_names) != self.n_groups:
            raise ValueError(
                f"Число имён групп ({len(self.group_names)}) не совпадает с n_groups = {self.n_groups}."
            )
        if n and (int(self.groups.min()) < 0 or int(self.groups.max()) >= self.n_groups):
            raise ValueError(f"Номера групп должны лежать в [0, {self.n_groups - 1}].")
        if n and (int(self.y.min()) < 0 or int(self.y.max()) >= self.n_classes):
            raise ValueError(f"Метки классов должны лежать в [0, {self.n_classes - 1}].")

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def device(self) -> torch.device:
        return self.x.device

    def to(self, device) -> GroupedData:
        """A copy on ``device`` (the same object when it is already there)."""
        device = torch.device(device)
        if self.x.device == device:
            return self
        client = None if self.client is None else self.client.to(device)
        return replace(self, x=self.x.to(device), y=self.y.to(device), groups=self.groups.to(device), client=client)

    def subset(self, index) -> GroupedData:
        """The samples at ``index`` (group and class numbering kept)."""
        index = torch.as_tensor(index, dtype=torch.long, device=self.x.device)
        return replace(
            self,
            x=self.x[index],
            y=self.y[index],
            groups=self.groups[index],
            client=None if self.client is None else self.client[index],
        )

    def batch(self, index, device=None) -> Batch:
        """The batch at ``index`` as :class:`Batch` ``(x, y, g)`` moved to ``device``."""
        index = torch.as_tensor(index, dtype=torch.long).to(self.x.device)
        mv = (lambda t: t) if device is None else (lambda t: t.to(device))
        client = None if self.client is None else mv(self.client[index])
        return Batch(mv(self.x[index]), mv(self.y[index]), mv(self.groups[index]), client)

    def group_counts(self) -> list[int]:
        """Number of samples of each group (length ``n_groups``)."""
        return torch.bincount(self.groups.cpu(), minlength=self.n_groups).tolist()

    def class_counts(self) -> list[int]:
        """Number of samples of each class (length ``n_classes``)."""
        return torch.bincount(self.y.cpu(), minlength=self.n_classes).tolist()


def per_sample_groups(data: GroupedData) -> GroupedData:
    """The same split with one group per sample (``n_groups = len(data)``, names «объект i»).

    This is the grouping of the ALSO paper's class-imbalance experiment (section 6.1: weights are
    assigned to individual objects).
    """
    n = len(data)
    return replace(
        data,
        groups=torch.arange(n, device=data.x.device),
        n_groups=n,
        group_names=[f"объект {i}" for i in range(n)],
    )


def _check_batch_args(batch_size, seed, epoch):
    check_int("batch_size", batch_size, 1)
    check_int("seed", seed, 0)
    check_int("epoch", epoch, 0)


def batches(data: GroupedData, batch_size: int, *, shuffle: bool = True, seed: int = 0, epoch: int = 0,
            device=None, drop_last: bool = False) -> Iterator[Batch]:
    """One pass over ``data`` in batches ``(x, y, g)`` (:class:`Batch`, with ``.client``).

    The order is a permutation determined by ``(seed, epoch)`` alone, so a resumed run sees the same
    batches. The last batch may be smaller unless ``drop_last``.
    """
    _check_batch_args(batch_size, seed, epoch)
    n = len(data)
    order = epoch_rng(seed, epoch).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield data.batch(order[start:start + batch_size], device)


def n_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    return n // batch_size if drop_last else -(-n // batch_size)


@dataclass
class DataSplits:
    """Train/validation/test splits of one experiment.

    ``info`` holds the builder's parameters and sizes; ``info["description"]`` is a Russian text
    (sizes per group in every split, uc, delay, the data source). ``schedule`` (optional) replaces
    the plain shuffled pass over the training split: it is called as
    ``schedule(train, epoch, batch_size, seed, device)`` and must also offer
    ``schedule.n_batches(train, epoch, batch_size)``.
    """

    train: GroupedData
    val: GroupedData
    test: GroupedData
    name: str
    info: dict = field(default_factory=dict)
    schedule: Callable | None = field(default=None, repr=False)

    def __getitem__(self, split: str) -> GroupedData:
        check_choice("split", split, SPLITS)
        return getattr(self, split)

    def train_batches(self, epoch: int, batch_size: int, seed: int = 0, device=None) -> Iterator[Batch]:
        """The batches of training epoch ``epoch`` (what :func:`optviz.train.train` iterates)."""
        if self.schedule is None:
            return batches(self.train, batch_size, shuffle=True, seed=seed, epoch=epoch, device=device)
        _check_batch_args(batch_size, seed, epoch)
        return self.schedule(self.train, epoch, batch_size, seed, device)

    def n_train_batches(self, epoch: int, batch_size: int) -> int:
        """How many batches :meth:`train_batches` yields in ``epoch`` (for progress bars)."""
        check_int("batch_size", batch_size, 1)
        if self.schedule is None:
            return n_batches(len(self.train), batch_size)
        return self.schedule.n_batches(self.train, epoch, batch_size)

    def to(self, device) -> DataSplits:
        """All splits moved to ``device`` (the schedule and info are shared)."""
        return replace(self, train=self.train.to(device), val=self.val.to(device), test=self.test.to(device))

    def with_sample_groups(self, splits: Sequence[str] = ("train",)) -> DataSplits:
        """Per-sample groups on the named splits (by default only on train: evaluation keeps the
        builder's groups, so per-group metrics stay readable)."""
        for s in splits:
            check_choice("splits", s, SPLITS)
        new = {s: per_sample_groups(self[s]) for s in splits}
        info = dict(self.info)
        info["sample_groups"] = tuple(splits)
        if "sizes" in info:  # group counts are all ones now: not worth keeping
            info["sizes"] = {k: dict(v, groups=None) if k in splits else v for k, v in info["sizes"].items()}
        if "train" in splits:
            info["n_groups"] = len(self.train)
            info.pop("group_names", None)
        out = replace(self, info=info, **new)
        out.info["description"] = describe(out)
        return out

    def summary(self) -> str:
        """The Russian description (``info["description"]``)."""
        return self.info.get("description") or describe(self)

    def __repr__(self) -> str:
        return (f"DataSplits(name={self.name!r}, train={len(self.train)}, val={len(self.val)}, "
                f"test={len(self.test)}, n_classes={self.train.n_classes}, n_groups={self.train.n_groups})")


# ------------------------------------------------------------------------------ Russian text
def plural(n: int, one: str, few: str, many: str) -> str:
    """Russian plural form: plural(1, "объект", "объекта", "объектов") -> "объект"."""
    n = abs(int(n))
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


SPLIT_TITLES = {"train": "Обучение", "val": "Валидация", "test": "Тест"}
_MAX_LISTED_GROUPS = 24


def _split_line(data: GroupedData) -> str:
    n = len(data)
    head = f"{n} {plural(n, 'объект', 'объекта', 'объектов')}"
    if data.n_groups == n and data.group_names[:1] == ["объект 0"]:
        counts = data.class_counts()
        body = ", ".join(f"класс {k}: {c}" for k, c in enumerate(counts))
        return (f"{head}; группа на каждый объект ({n} {plural(n, 'группа', 'группы', 'групп')}); "
                f"по классам — {body}")
    counts = data.group_counts()
    if data.n_groups > _MAX_LISTED_GROUPS:
        nz = [c for c in counts if c]
        return (f"{head}; {data.n_groups} групп, размеры от {min(nz) if nz else 0} "
                f"до {max(nz) if nz else 0}")
    body = "; ".join(f"{name}: {c}" for name, c in zip(data.group_names, counts))
    return f"{head}; {body}"


def describe(splits: DataSplits) -> str:
    """Russian description of sizes per group in every split followed by ``info["notes"]``."""
    info = splits.info
    lines = [f"Набор данных «{splits.name}»."]
    if info.get("source"):
        lines.append(f"Источник: {info['source']}.")
    for s in SPLITS:
        lines.append(f"{SPLIT_TITLES[s]}: {_split_line(splits[s])}.")
    lines.extend(info.get("notes", []))
    return "\n".join(lines)
