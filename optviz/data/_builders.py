"""Builders of the seeds' data settings: plain splits, the parity split with an unbalanced
coefficient, two heterogeneous clients with a delayed second client, and heavy-tailed class
imbalance. Each returns a deterministic (given ``seed``) :class:`DataSplits`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._checks import check_choice, check_int, check_range
from ._core import DataSplits, GroupedData, describe, epoch_rng, n_batches, plural
from ._sources import (
    DATASETS,
    DataUnavailableError,
    RawData,
    _round_half_up,
    fallback_raw,
    load_exact,
    load_raw,
    resolve_root,
    split_indices,
    stratified_take,
)

__all__ = [
    "SHIFTS",
    "TwoClientSchedule",
    "frequency_groups",
    "heavy_tail",
    "load_dataset",
    "parity_split",
    "two_clients",
]

STANDARDIZE = ("auto", "feature", "channel", "none")
SHIFTS = ("rotate", "flip", "invert", "contrast", "noise")
_SPLITS = ("train", "val", "test")


# ------------------------------------------------------------------------------ common parts
def _check_common(seed, val_fraction, test_fraction, standardize):
    check_int("seed", seed, 0)
    check_range("val_fraction", val_fraction, 0.0, 1.0, high_open=True)
    check_range("test_fraction", test_fraction, 0.0, 1.0, low_open=True, high_open=True)
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"Сумма val_fraction + test_fraction должна быть меньше 1, получено "
            f"{val_fraction} + {test_fraction} = {val_fraction + test_fraction:g}."
        )
    check_choice("standardize", standardize, STANDARDIZE)


def _class_group_names(class_names) -> list[str]:
    return [f"класс {k}" if str(k) == str(n) else f"класс {k} ({n})" for k, n in enumerate(class_names)]


def _standardizer(x_train: np.ndarray, kind: str, mode: str):
    """(mode, mean, std) computed on the training inputs; constant features get std 1."""
    if mode == "auto":
        mode = "channel" if kind == "image" else "feature"
    if mode == "none":
        return mode, None, None
    if mode == "channel" and kind != "image":
        raise ValueError(
            "Параметр standardize='channel' применим только к изображениям; для табличных данных "
            "используйте 'feature' или 'none'."
        )
    axes = (0, 2, 3) if mode == "channel" else (0,)
    mean = x_train.mean(axis=axes, keepdims=True, dtype=np.float64)
    std = x_train.std(axis=axes, keepdims=True, dtype=np.float64)
    std = np.where(std > 1e-8, std, 1.0)
    return mode, mean.astype(np.float32)[0], std.astype(np.float32)[0]


def _build(name: str, parts: dict, *, raw: RawData, n_classes: int, group_names: list[str],
           standardize: str, flatten: bool, info: dict, schedule=None) -> DataSplits:
    """Standardise with training statistics, wrap the splits into GroupedData, write the info."""
    mode, mean, std = _standardizer(parts["train"]["x"], raw.kind, standardize)
    data = {}
    for s in _SPLITS:
        p = parts[s]
        x = p["x"] if mean is None else (p["x"] - mean) / std
        if flatten:
            x = x.reshape(len(x), -1)
        data[s] = GroupedData(
            x=torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
            y=torch.from_numpy(np.asarray(p["y"], dtype=np.int64)),
            groups=torch.from_numpy(np.asarray(p["g"], dtype=np.int64)),
            n_classes=n_classes,
            n_groups=len(group_names),
            group_names=list(group_names),
            client=None if p.get("client") is None else torch.from_numpy(np.asarray(p["client"], dtype=np.int64)),
        )
    shape = tuple(data["train"].x.shape[1:])
    full = {
        "dataset": raw.name if raw.fallback_from is None else raw.fallback_from,
        "loaded": raw.name,
        "fallback_from": raw.fallback_from,
        "source": raw.source,
        "kind": raw.kind,
        "input_shape": shape,
        "in_features": int(np.prod(shape)),
        "in_channels": int(shape[0]) if raw.kind == "image" and not flatten else None,
        "image_size": int(shape[-1]) if raw.kind == "image" and not flatten else None,
        "n_classes": n_classes,
        "n_groups": len(group_names),
        "group_names": list(group_names),
        "class_names": info.pop("class_names", list(raw.class_names)),
        "standardize": mode,
        "mean": None if mean is None else torch.from_numpy(mean),
        "std": None if std is None else torch.from_numpy(std),
        "sizes": {s: {"n": len(data[s]), "groups": data[s].group_counts(), "classes": data[s].class_counts()}
                  for s in _SPLITS},
    }
    full.update(info)
    full.setdefault("notes", [])
    if raw.fallback_from is not None:
        warning = (f"Внимание: вместо «{raw.fallback_from}» загружен встроенный набор digits "
                   "(torchvision или данные недоступны).")
        full["notes"] = [warning, *full["notes"]]
    out = DataSplits(data["train"], data["val"], data["test"], name, full, schedule)
    full["description"] = describe(out)
    return out


def _parts(raw: RawData, idx: dict, labels=None, groups=None) -> dict:
    """Per split: float inputs, labels and group ids (default: the raw class labels)."""
    labels = raw.y if labels is None else labels
    groups = labels if groups is None else groups
    return {s: {"x": raw.floats(i), "y": labels[i], "g": groups[i]} for s, i in idx.items()}


def _source_raw(dataset, root, download, fallback, image_size):
    return load_raw(dataset, root=root, download=download, fallback=fallback, image_size=image_size)


# ------------------------------------------------------------------------------ plain splits
def load_dataset(name: str = "digits", *, root=None, download: bool = True, fallback: bool = True,
                 seed: int = 0, groups: str = "classes", val_fraction: float = 0.2,
                 test_fraction: float = 0.2, standardize: str = "auto", flatten: bool = False,
                 image_size: int = 32, max_per_class: int | None = None) -> DataSplits:
    """A data set split into train/val/test with per-class (or per-sample) groups.

    Embedded, offline: ``"digits"`` (8×8 images, ``x`` of shape (n, 1, 8, 8) or (n, 64) with
    ``flatten``), ``"breast_cancer"``, ``"wine"``, ``"iris"`` (tabular). Through torchvision, when it
    is importable and the data can be fetched into ``root``: ``"mnist"``, ``"cifar10"``,
    ``"food101"``, ``"flowers102"`` (the last two decoded once to ``image_size``² and cached in
    ``root/optviz-cache``). Otherwise a Russian :class:`DataFallbackWarning` and the digits
    (``fallback=True``), or :class:`DataUnavailableError` (``fallback=False``).

    Embedded sets are split per class: ``round(test_fraction·n_c)`` test and
    ``round(val_fraction·n_c)`` validation samples of each class. torchvision sets keep their
    official test (and Flowers-102's validation) split; the validation part is otherwise carved
    from the official training part (stratified, ``val_fraction`` of it).

    Standardisation uses training statistics only: ``"feature"`` per feature (tabular default),
    ``"channel"`` one mean/std per image channel (image default: per-pixel standardisation of the
    8×8 digits would blow near-constant border pixels up to z ≈ 40), or ``"none"``.
    ``max_per_class`` caps the training samples of each class (a smaller run of a big set).
    """
    check_choice("groups", groups, ("classes", "samples"))
    _check_common(seed, val_fraction, test_fraction, standardize)
    if max_per_class is not None:
        check_int("max_per_class", max_per_class, 1)
    raw = _source_raw(name, root, download, fallback, image_size)
    idx = split_indices(raw, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    if max_per_class is not None:
        rng = epoch_rng(seed, 17)
        tr = idx["train"]
        idx["train"] = np.sort(np.concatenate(
            [rng.permutation(tr[raw.y[tr] == c])[:max_per_class] for c in range(raw.n_classes)]))
    out = _build(raw.name, _parts(raw, idx), raw=raw, n_classes=raw.n_classes,
                 group_names=_class_group_names(raw.class_names), standardize=standardize,
                 flatten=flatten, info={"seed": seed, "groups": groups, "max_per_class": max_per_class})
    return out.with_sample_groups() if groups == "samples" else out


# ----------------------------------------------------------------------------- parity split
def _downsample_odd(index: np.ndarray, y: np.ndarray, uc: float, rng) -> np.ndarray:
    """Keep every even-class sample and round(n_even / uc) odd ones (stratified over the odd
    classes). Only when that exceeds the odd samples available (uc ≈ 1) are all odd samples kept
    and the even ones trimmed to round(uc · n_odd)."""
    even = index[y[index] % 2 == 0]
    odd = index[y[index] % 2 == 1]
    n_odd = max(1, _round_half_up(len(even) / uc))
    if n_odd > len(odd):
        even = stratified_take(even, y, _round_half_up(uc * len(odd)), rng)
        n_odd = len(odd)
    return np.sort(np.concatenate([even, stratified_take(odd, y, n_odd, rng)]))


def _balance_by(index: np.ndarray, key: np.ndarray, y: np.ndarray, rng) -> np.ndarray:
    """Trim every value of ``key`` to the smallest count (stratified by ``y`` inside each)."""
    values = np.unique(key[index])
    n = min(int((key[index] == v).sum()) for v in values)
    return np.sort(np.concatenate([stratified_take(index[key[index] == v], y, n, rng) for v in values]))


def parity_split(uc: float = 1.0, *, dataset: str = "digits", labels: str = "parity",
                 groups: str | None = None, seed: int = 0, root=None, download: bool = True,
                 fallback: bool = True, val_fraction: float = 0.2, test_fraction: float = 0.2,
                 standardize: str = "auto", flatten: bool = False, image_size: int = 32) -> DataSplits:
    """Class imbalance by parity, the setting of section 6.1 of the ALSO paper.

    The ten classes are merged into two by parity (``labels="parity"``: label 0 = even classes,
    label 1 = odd classes — our reading of «the ten original classes are grouped into two based on
    the parity»), and odd-class samples are removed from the training and validation splits so that

    .. math:: \\frac{N_\\text{even}}{N_\\text{odd}} = uc, \\qquad
              N_\\text{odd} = \\operatorname{round}(N_\\text{even} / uc)

    (half rounded up; the odd samples kept are spread over the odd classes in proportion; if the odd
    samples are fewer than ``N_even / uc``, which happens only for uc close to 1, all are kept and
    the even ones trimmed to ``round(uc · N_odd)``). The test split stays balanced: both parities
    trimmed to the same count. ``labels="digits"`` keeps the ten labels (then ``groups`` defaults to
    ``"parity"``: two groups, even and odd). ``groups``: ``"classes"`` (default with parity labels),
    ``"parity"``, or ``"samples"`` (per-sample groups on the training split — the paper's choice for
    this experiment, «we assign weights to individual objects»).
    """
    check_range("uc", uc, 1.0)
    check_choice("labels", labels, ("parity", "digits"))
    if groups is None:
        groups = "classes" if labels == "parity" else "parity"
    check_choice("groups", groups, ("classes", "parity", "samples"))
    _check_common(seed, val_fraction, test_fraction, standardize)
    raw = _source_raw(dataset, root, download, fallback, image_size)
    idx = split_indices(raw, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    rng = epoch_rng(seed, 23)
    parity = raw.y % 2
    for s in ("train", "val"):
        idx[s] = _downsample_odd(idx[s], raw.y, float(uc), rng)
    idx["test"] = _balance_by(idx["test"], parity, raw.y, rng)

    parity_names = ["чётные классы", "нечётные классы"]
    if labels == "parity":
        y, n_classes, class_names = parity, 2, parity_names
    else:
        y, n_classes, class_names = raw.y, raw.n_classes, list(raw.class_names)
    if groups == "parity":
        g = parity
        evens = ", ".join(str(k) for k in range(0, raw.n_classes, 2))
        odds = ", ".join(str(k) for k in range(1, raw.n_classes, 2))
        names = [f"чётные классы ({evens})", f"нечётные классы ({odds})"]
    else:
        g, names = y, _class_group_names(class_names)
    parts = _parts(raw, idx, labels=y, groups=g)

    ratio = {}
    for s in _SPLITS:
        ne = int((parity[idx[s]] == 0).sum())
        no = int((parity[idx[s]] == 1).sum())
        ratio[s] = ne / no
    notes = [
        (f"Коэффициент несбалансированности uc = {uc:g}: в обучении и валидации на каждый объект "
         f"нечётного класса приходится uc объектов чётных (число нечётных = round(чётные / uc)); "
         f"фактическое отношение: обучение {ratio['train']:.3g}, валидация {ratio['val']:.3g}, "
         f"тест {ratio['test']:.3g} (тест сбалансирован)."),
    ]
    if labels == "parity":
        notes.append("Метки: 0 — чётные классы, 1 — нечётные, как в разделе 6.1 статьи ALSO "
                     "(там веса назначались отдельным объектам: groups='samples').")
    info = {"seed": seed, "uc": float(uc), "labels": labels, "groups": groups, "ratio": ratio,
            "class_names": class_names, "notes": notes}
    name = f"{raw.name}: чётные/нечётные, uc = {uc:g}"
    out = _build(name, parts, raw=raw, n_classes=n_classes, group_names=names,
                 standardize=standardize, flatten=flatten, info=info)
    return out.with_sample_groups() if groups == "samples" else out


# ---------------------------------------------------------------------------- two clients
class TwoClientSchedule:
    """Epoch schedule of two clients where client 2 (id 1) joins after ``delay`` epochs.

    Epochs ``0 … delay−1``: one shuffled pass over client 1 only. Afterwards, with
    ``alternate="batch"``, batches strictly alternate 1, 2, 1, 2, … for ``2·max(b₁, b₂)`` steps
    (bₖ: batches in one pass over client k); the smaller client is cycled through fresh shuffles
    so that both contribute every other step. With ``alternate="epoch"`` (the split-learning
    appendix of the ALSO paper) whole epochs alternate: client 2 at epoch ``delay``, client 1 at
    ``delay + 1``, and so on. Every order is determined by ``(seed, epoch)``.
    """

    def __init__(self, delay: int, alternate: str = "batch"):
        self.delay = check_int("delay", delay, 0)
        self.alternate = check_choice("alternate", alternate, ("batch", "epoch"))

    def __repr__(self):
        return f"TwoClientSchedule(delay={self.delay}, alternate={self.alternate!r})"

    @staticmethod
    def _members(train: GroupedData, c: int) -> np.ndarray:
        idx = np.flatnonzero(train.client.cpu().numpy() == c)
        if len(idx) == 0:
            raise ValueError(f"В обучающей выборке нет объектов клиента {c + 1}.")
        return idx

    def _pass(self, train, c, epoch, batch_size, seed, n_wanted=None) -> list[np.ndarray]:
        members = self._members(train, c)
        if n_wanted is None:
            order = epoch_rng(seed, epoch, 101 + c).permutation(members)
            return [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
        rounds = math.ceil(n_wanted * batch_size / len(members))
        order = np.concatenate([epoch_rng(seed, epoch, 101 + c, r).permutation(members) for r in range(rounds)])
        return [order[k * batch_size:(k + 1) * batch_size] for k in range(n_wanted)]

    def plan(self, train: GroupedData, epoch: int, batch_size: int, seed: int = 0) -> list[tuple[int, np.ndarray]]:
        """The epoch as a list of ``(client id, sample indices)``."""
        if epoch < self.delay:
            return [(0, b) for b in self._pass(train, 0, epoch, batch_size, seed)]
        if self.alternate == "epoch":
            c = 1 if (epoch - self.delay) % 2 == 0 else 0
            return [(c, b) for b in self._pass(train, c, epoch, batch_size, seed)]
        sizes = [n_batches(len(self._members(train, c)), batch_size) for c in (0, 1)]
        m = max(sizes)
        per = [self._pass(train, c, epoch, batch_size, seed, None if sizes[c] == m else m) for c in (0, 1)]
        return [(c, per[c][k]) for k in range(m) for c in (0, 1)]

    def n_batches(self, train: GroupedData, epoch: int, batch_size: int) -> int:
        if epoch < self.delay:
            return n_batches(len(self._members(train, 0)), batch_size)
        if self.alternate == "epoch":
            c = 1 if (epoch - self.delay) % 2 == 0 else 0
            return n_batches(len(self._members(train, c)), batch_size)
        return 2 * max(n_batches(len(self._members(train, c)), batch_size) for c in (0, 1))

    def __call__(self, train: GroupedData, epoch: int, batch_size: int, seed: int = 0, device=None):
        for _, index in self.plan(train, epoch, batch_size, seed):
            yield train.batch(index, device)


def _apply_shift(x: np.ndarray, shift, noise_std: float, seed: int) -> np.ndarray:
    """Client 2's input transformation on images in [0, 1] of shape (n, C, H, W)."""
    for t in shift:
        if t == "rotate":
            x = np.rot90(x, k=1, axes=(2, 3))
        elif t == "flip":
            x = x[..., ::-1]
        elif t == "invert":
            x = 1.0 - x
        elif t == "contrast":
            x = 0.25 + 0.5 * x
        elif t == "noise":
            x = x + noise_std * epoch_rng(seed, 31, len(x)).standard_normal(x.shape).astype(np.float32)
    return np.ascontiguousarray(x, dtype=np.float32)


_SHIFT_TEXT = {
    "rotate": "повёрнуты на 90°",
    "flip": "отражены по горизонтали",
    "invert": "с инвертированной яркостью",
    "contrast": "с контрастом, уменьшенным вдвое",
    "noise": "с гауссовым шумом σ = {noise_std:g}",
}


def _class_range(names) -> str:
    names = list(names)
    return f"{names[0]}–{names[-1]}" if len(names) > 2 else ", ".join(names)


def two_clients(delay: int = 1, *, dataset="digits", shift=None, groups: str = "clients",
                labels: str = "global", alternate: str = "batch", noise_std: float = 0.1, seed: int = 0,
                root=None, download: bool = True, fallback: bool = True, val_fraction: float = 0.2,
                test_fraction: float = 0.2, standardize: str = "auto", flatten: bool = False,
                image_size: int = 32) -> DataSplits:
    """Two heterogeneous clients, the second joining after ``delay`` epochs.

    The seeds' setting (``heterogeneous-data-also-abstract-ru.txt``; section 6.5 of the ALSO paper):
    Food-101 and Flowers-102 as two clients with different label sets and image distributions;
    training starts on the first, the second joins later, then training alternates between them.

    ``dataset`` is either a pair of names (e.g. ``("food101", "flowers102")``: client k is the
    k-th data set, with its official splits), or one image data set (default ``"digits"``): client 1
    gets the first half of its classes (digits 0–4) as they are, client 2 the second half (5–9)
    with its inputs transformed by ``shift`` — default ``("rotate", "invert", "noise")``: turned by
    90°, brightness inverted, Gaussian noise of ``noise_std`` (on the [0, 1] scale, before
    standardisation, drawn from ``seed``). Available: ``SHIFTS``. A pair that cannot be loaded falls
    back to the digits version (Russian warning) or raises (``fallback=False``).

    ``labels="global"``: disjoint label ids (client 2's classes follow client 1's, ``n_classes`` is
    the total); ``"local"``: each client's labels start at 0 (one head per client,
    ``n_classes`` = the larger count). ``info["client_classes"]`` lists each client's global class
    ids either way. ``groups``: ``"clients"`` (two groups «клиент 1», «клиент 2»), ``"classes"``
    (every class of both clients, «клиент 2: класс 7») or ``"samples"``. Every split carries
    ``client`` (0 for client 1, 1 for client 2); ``train_batches`` follows
    :class:`TwoClientSchedule` (``alternate="batch"`` or ``"epoch"``).
    """
    check_int("delay", delay, 0)
    check_choice("groups", groups, ("clients", "classes", "samples"))
    check_choice("labels", labels, ("global", "local"))
    check_choice("alternate", alternate, ("batch", "epoch"))
    check_range("noise_std", noise_std, 0.0)
    _check_common(seed, val_fraction, test_fraction, standardize)
    pair = not isinstance(dataset, str)
    if pair and (len(dataset) != 2 or not all(isinstance(d, str) for d in dataset)):
        raise ValueError(f"Параметр dataset должен быть именем набора или парой имён, получено {dataset!r}.")
    raws = None
    if pair:
        for d in dataset:
            check_choice("dataset", d, DATASETS)
        try:
            raws = [load_exact(d, root=root, download=download, image_size=image_size) for d in dataset]
        except DataUnavailableError as err:
            raw = fallback_raw(" + ".join(dataset), str(err), resolve_root(root), fallback)
    else:
        raw = _source_raw(dataset, root, download, fallback, image_size)
    if shift is None:
        shift = () if raws is not None else ("rotate", "invert", "noise")
    shift = (shift,) if isinstance(shift, str) else tuple(shift)
    for t in shift:
        check_choice("shift", t, SHIFTS)
    if any(r.kind != "image" for r in (raws or [raw])):
        raise ValueError("Два клиента строятся только из изображений (digits, mnist, cifar10, food101, flowers102).")

    if raws is not None:  # two data sets, one per client
        r1, r2 = raws
        if r1.x.shape[1:] != r2.x.shape[1:]:
            raise ValueError(
                f"Изображения клиентов должны быть одного размера: {r1.x.shape[1:]} и {r2.x.shape[1:]}."
            )
        n1, n2 = r1.n_classes, r2.n_classes
        client_names = [[f"{r1.name} {n}" for n in r1.class_names], [f"{r2.name} {n}" for n in r2.class_names]]
        members = []
        for c, r in enumerate(raws):
            idx = split_indices(r, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed + c)
            members.append({s: (r, i) for s, i in idx.items()})
        base_raw = r1
        desc_clients = [f"клиент 1 — {r1.source}", f"клиент 2 — {r2.source}"]
    else:  # one data set split by classes
        half = raw.n_classes // 2
        n1, n2 = half, raw.n_classes - half
        idx = split_indices(raw, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
        members = [{s: (raw, i[raw.y[i] < half]) for s, i in idx.items()},
                   {s: (raw, i[raw.y[i] >= half]) for s, i in idx.items()}]
        client_names = [list(raw.class_names[:half]), list(raw.class_names[half:])]
        base_raw = raw
        shift_text = ", ".join(_SHIFT_TEXT[t].format(noise_std=noise_std) for t in shift) or "без изменений"
        desc_clients = [f"клиент 1 — классы {_class_range(client_names[0])} без изменений",
                        f"клиент 2 — классы {_class_range(client_names[1])}, {shift_text}"]
    offset = [0, n1]

    parts = {}
    for s in _SPLITS:
        xs, ys_global, clients = [], [], []
        for c in (0, 1):
            r, i = members[c][s]
            x = r.floats(i)
            local = r.y[i] - (0 if raws is not None or c == 0 else n1)
            if c == 1 and shift:
                x = _apply_shift(x, shift, noise_std, seed + {"train": 0, "val": 1, "test": 2}[s] * 7919)
            xs.append(x)
            ys_global.append(local + offset[c])
            clients.append(np.full(len(i), c))
        x, yg, cl = np.concatenate(xs), np.concatenate(ys_global), np.concatenate(clients)
        y = yg if labels == "global" else yg - np.where(cl == 1, n1, 0)
        g = cl if groups == "clients" else yg
        parts[s] = {"x": x, "y": y, "g": g, "client": cl}

    if groups == "clients":
        names = ["клиент 1", "клиент 2"]
    else:
        names = [f"клиент 1: класс {n}" for n in client_names[0]] + [f"клиент 2: класс {n}" for n in client_names[1]]
    n_classes = n1 + n2 if labels == "global" else max(n1, n2)
    class_names = client_names[0] + client_names[1] if labels == "global" else [str(k) for k in range(n_classes)]
    schedule = TwoClientSchedule(delay, alternate)
    when = ("батчи клиентов строго чередуются (1, 2, 1, 2, …), меньший клиент проходится повторно "
            "в новом случайном порядке" if alternate == "batch" else
            "эпохи чередуются: эпоха клиента 2, эпоха клиента 1, …")
    notes = [
        "Клиенты: " + "; ".join(desc_clients) + ".",
        (f"Задержка: в течение {delay} {plural(delay, 'эпохи', 'эпох', 'эпох')} обучение идёт только на "
         f"клиенте 1, затем {when}." if delay else f"Задержки нет: с первой эпохи {when}."),
        "Метки: " + ("общая нумерация, наборы классов клиентов не пересекаются." if labels == "global"
                     else "у каждого клиента своя нумерация с 0 (по голове на клиента)."),
    ]
    info = {"seed": seed, "delay": delay, "alternate": alternate, "shift": shift, "noise_std": noise_std,
            "labels": labels, "groups": groups, "class_names": class_names,
            "client_classes": [list(range(n1)), list(range(n1, n1 + n2))],
            "classes_per_client": [n1, n2], "notes": notes}
    name = (f"{'+'.join(dataset)}: два клиента" if raws is not None else f"{base_raw.name}: два клиента") + \
        f", задержка {delay}"
    out = _build(name, parts, raw=base_raw, n_classes=n_classes, group_names=names,
                 standardize=standardize, flatten=flatten, info=info, schedule=schedule)
    return out.with_sample_groups() if groups == "samples" else out


# ---------------------------------------------------------------------------- heavy tails
def frequency_groups(counts, n_groups: int = 3, by: str = "samples") -> list[int]:
    """Frequency group of every class (0 = most frequent), classes ranked by ``counts``.

    ``by="samples"``: consecutive ranks with about equal shares of the samples (a class goes to the
    group that holds the middle of its share), so the head is a few big classes and the tail many
    small ones; ``by="classes"``: about equal numbers of classes. If the sample split leaves a group
    empty (a very steep tail) the class split is used.
    """
    counts = np.asarray(counts, dtype=float)
    check_int("n_groups", n_groups, 1, len(counts))
    check_choice("by", by, ("samples", "classes"))
    order = np.argsort(-counts, kind="stable")
    c = len(counts)
    by_classes = np.minimum(np.arange(c) * n_groups // c, n_groups - 1)
    rank_group = by_classes
    if by == "samples":
        sorted_counts = counts[order]
        mid = np.cumsum(sorted_counts) - sorted_counts / 2
        cand = np.minimum((mid / sorted_counts.sum() * n_groups).astype(int), n_groups - 1)
        if len(np.unique(cand)) == n_groups:
            rank_group = cand
    out = np.empty(c, dtype=int)
    out[order] = rank_group
    return out.tolist()


def _freq_group_names(n_groups: int, members: list[list[str]]) -> list[str]:
    base = {1: ["все классы"], 2: ["частые классы", "редкие классы"], 3: ["голова", "середина", "хвост"]}
    titles = base.get(n_groups, [f"частотная группа {j + 1}" for j in range(n_groups)])
    return [f"{t} ({'класс' if len(m) == 1 else 'классы'} {_class_range(m)})" for t, m in zip(titles, members)]


def _synthetic_raw(n_classes, n_features, n_head, test_per_class, separation, seed, val_fraction) -> RawData:
    """Gaussian classes with means ~ N(0, separation²·I): a balanced pool that :func:`heavy_tail`
    then thins (train n_head, val n_head·val_fraction, test ``test_per_class`` per class)."""
    rng = epoch_rng(seed, 41)
    means = separation * rng.standard_normal((n_classes, n_features))
    per = {"train": n_head, "val": max(1, _round_half_up(n_head * val_fraction)), "test": test_per_class}
    xs, ys, official, start = [], [], {}, 0
    for s, m in per.items():
        y = np.repeat(np.arange(n_classes), m)
        xs.append(means[y] + rng.standard_normal((len(y), n_features)))
        ys.append(y)
        official[s] = np.arange(start, start + len(y))
        start += len(y)
    return RawData("synthetic", np.concatenate(xs).astype(np.float32), np.concatenate(ys), n_classes,
                   [str(k) for k in range(n_classes)], "tabular", 1.0,
                   f"синтетические гауссовы классы ({n_classes} {plural(n_classes, 'класс', 'класса', 'классов')}, "
                   f"{n_features} {plural(n_features, 'признак', 'признака', 'признаков')})", official)


def heavy_tail(a: float = 1.0, *, dataset: str = "digits", n_freq_groups: int = 3, groups: str = "frequency",
               freq_groups_by: str = "samples", seed: int = 0, n_classes: int = 100, n_features: int = 32,
               n_head: int = 400, test_per_class: int = 20, separation: float = 0.5, root=None,
               download: bool = True, fallback: bool = True, val_fraction: float = 0.2,
               test_fraction: float = 0.2, standardize: str = "auto", flatten: bool = False,
               image_size: int = 32) -> DataSplits:
    """Heavy-tailed class imbalance: the class of rank k (class k−1, classes in their natural order)
    keeps

    .. math:: n_k = \\max\\bigl(1, \\operatorname{round}(n_1 k^{-a})\\bigr)

    training (and, likewise, validation) samples, with :math:`n_1` the smallest per-class count
    available in that split; the test split is balanced (every class trimmed to the smallest
    count). ``a = 0`` is balanced, ``a = 1`` Zipf's law.

    ``dataset="synthetic"`` draws ``n_classes`` Gaussian classes in ``n_features`` dimensions
    (means ~ N(0, separation²·I), unit noise; ``n_head`` training samples for the most frequent
    class, ``test_per_class`` test samples each) — many classes make a real tail; any data set
    name of :func:`load_dataset` works too (digits: 10 classes).

    ``groups``: ``"frequency"`` (``n_freq_groups`` frequency groups, for 3: «голова», «середина»,
    «хвост», formed by :func:`frequency_groups` with ``by=freq_groups_by``), ``"classes"`` or
    ``"samples"``. ``info["frequency_group_of_class"]`` maps classes to frequency groups either
    way, so per-class metrics can be pooled by frequency.
    """
    check_range("a", a, 0.0)
    check_choice("groups", groups, ("frequency", "classes", "samples"))
    check_choice("freq_groups_by", freq_groups_by, ("samples", "classes"))
    _check_common(seed, val_fraction, test_fraction, standardize)
    if dataset == "synthetic":
        check_int("n_classes", n_classes, 2)
        check_int("n_features", n_features, 1)
        check_int("n_head", n_head, 1)
        check_int("test_per_class", test_per_class, 1)
        check_range("separation", separation, 0.0)
        raw = _synthetic_raw(n_classes, n_features, n_head, test_per_class, separation, seed, val_fraction)
    else:
        raw = _source_raw(dataset, root, download, fallback, image_size)
    check_int("n_freq_groups", n_freq_groups, 1, raw.n_classes)
    idx = split_indices(raw, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    rng = epoch_rng(seed, 43)
    k = np.arange(1, raw.n_classes + 1, dtype=float)
    target = {}
    for s in ("train", "val"):
        per_class = [idx[s][raw.y[idx[s]] == c] for c in range(raw.n_classes)]
        n1 = min(len(p) for p in per_class)
        target[s] = [max(1, _round_half_up(n1 * kk ** (-float(a)))) for kk in k]
        idx[s] = np.sort(np.concatenate([rng.permutation(p)[:t] for p, t in zip(per_class, target[s])]))
    idx["test"] = _balance_by(idx["test"], raw.y, raw.y, rng)

    fg = np.asarray(frequency_groups(target["train"], n_freq_groups, freq_groups_by))
    members = [[raw.class_names[c] for c in range(raw.n_classes) if fg[c] == j] for j in range(n_freq_groups)]
    fg_names = _freq_group_names(n_freq_groups, members)
    if groups == "frequency":
        g, names = fg[raw.y], fg_names
    else:
        g, names = raw.y, _class_group_names(raw.class_names)
    parts = _parts(raw, idx, groups=g)
    tr = target["train"]
    notes = [
        (f"Тяжёлый хвост классов: размер класса ранга k в обучении ∝ k^(−a), a = {a:g}: "
         f"от {tr[0]} до {tr[-1]} объектов (отношение {tr[0] / tr[-1]:.3g}); тест сбалансирован."),
        "Частотные группы: " + "; ".join(fg_names) + ".",
    ]
    info = {"seed": seed, "a": float(a), "groups": groups, "n_freq_groups": n_freq_groups,
            "freq_groups_by": freq_groups_by, "class_frequency": list(tr), "val_class_frequency": list(target["val"]),
            "frequency_group_of_class": fg.tolist(), "frequency_group_names": fg_names, "notes": notes}
    name = f"{raw.name}: тяжёлый хвост классов, a = {a:g}"
    out = _build(name, parts, raw=raw, n_classes=raw.n_classes, group_names=names,
                 standardize=standardize, flatten=flatten, info=info)
    return out.with_sample_groups() if groups == "samples" else out
