"""Raw data sources: scikit-learn's embedded sets (offline) and torchvision's (when it can be had).

Everything here returns a :class:`RawData` pool: inputs (uint8 images or float tabular features),
labels, and, for the sets that come with official splits, the indices of those splits. The
builders in :mod:`optviz.data._builders` turn a pool into standardised :class:`DataSplits`.

torchvision is optional. When it is not importable, or the download fails (no network), the
caller gets either :class:`DataFallbackWarning` and the embedded digits, or
:class:`DataUnavailableError` (``fallback=False``); both carry a Russian explanation.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .._checks import check_choice, check_int
from ._core import epoch_rng

__all__ = [
    "DATASETS",
    "EMBEDDED",
    "TORCHVISION",
    "DataFallbackWarning",
    "DataUnavailableError",
    "RawData",
    "default_root",
    "fallback_raw",
    "load_exact",
    "load_raw",
    "split_indices",
    "stratified_take",
]

# name -> (scikit-learn loader, Russian title)
EMBEDDED = {
    "digits": ("load_digits", "рукописные цифры 8×8 из scikit-learn (1797 изображений, встроенный набор)"),
    "breast_cancer": ("load_breast_cancer", "диагностика рака груди из scikit-learn (569 объектов, 30 признаков)"),
    "wine": ("load_wine", "вина из scikit-learn (178 объектов, 13 признаков, 3 сорта)"),
    "iris": ("load_iris", "ирисы Фишера из scikit-learn (150 объектов, 4 признака, 3 вида)"),
}
# name -> (torchvision class, number of classes, splits, Russian title)
TORCHVISION = {
    "mnist": ("MNIST", 10, ("train", "test"), "MNIST из torchvision (рукописные цифры 28×28)"),
    "cifar10": ("CIFAR10", 10, ("train", "test"), "CIFAR-10 из torchvision (цветные изображения 32×32)"),
    "food101": ("Food101", 101, ("train", "test"), "Food-101 из torchvision (101 вид блюд)"),
    "flowers102": ("Flowers102", 102, ("train", "val", "test"), "Flowers-102 из torchvision (102 вида цветов)"),
}
_CLASS_NAMES = {
    "digits": [str(k) for k in range(10)],
    "breast_cancer": ["злокачественная", "доброкачественная"],
    "wine": ["0", "1", "2"],
}
DATASETS = tuple(EMBEDDED) + tuple(TORCHVISION)
FALLBACK = "digits"


class DataFallbackWarning(UserWarning):
    """A torchvision data set could not be had; the embedded digits are used instead (Russian text)."""


class DataUnavailableError(RuntimeError):
    """A torchvision data set could not be had and ``fallback=False`` (Russian text)."""


@dataclass
class RawData:
    """A pool of samples before splitting.

    ``x`` holds uint8 images ``(n, C, H, W)`` (``scale`` maps them to [0, 1]) or float tabular
    features ``(n, d)`` (``scale = 1``). ``official`` maps split names to indices into the pool for
    sets that ship with splits (torchvision), else ``None``.
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    n_classes: int
    class_names: list[str]
    kind: str  # "image" or "tabular"
    scale: float
    source: str
    official: dict | None = None
    fallback_from: str | None = None

    def floats(self, index) -> np.ndarray:
        """Inputs at ``index`` as float32 (images in [0, 1])."""
        return self.x[index].astype(np.float32) * np.float32(self.scale)


def default_root() -> Path:
    """Where torchvision data are stored: ``$OPTVIZ_DATA`` or ``~/.cache/optviz/data``."""
    return Path(os.environ.get("OPTVIZ_DATA", Path.home() / ".cache" / "optviz" / "data")).expanduser()


# ---------------------------------------------------------------------------- embedded sets
def _embedded(name: str) -> RawData:
    import sklearn.datasets as skd

    loader, title = EMBEDDED[name]
    bunch = getattr(skd, loader)()
    y = np.asarray(bunch.target, dtype=np.int64)
    names = _CLASS_NAMES.get(name) or [str(c) for c in bunch.target_names]
    if name == "digits":
        x = np.asarray(bunch.data, dtype=np.uint8).reshape(-1, 1, 8, 8)
        return RawData(name, x, y, 10, names, "image", 1.0 / 16.0, title)
    x = np.asarray(bunch.data, dtype=np.float32)
    return RawData(name, x, y, len(names), names, "tabular", 1.0, title)


# ------------------------------------------------------------------------- torchvision sets
def _to_chw_uint8(img, size: int) -> torch.Tensor:
    """A PIL image, array or tensor as a (3, size, size) uint8 tensor (centre square crop, resize)."""
    if hasattr(img, "convert"):  # PIL image
        from PIL import Image

        img = img.convert("RGB")
        w, h = img.size
        s = min(w, h)
        left, top = (w - s) // 2, (h - s) // 2
        img = img.crop((left, top, left + s, top + s)).resize((size, size), Image.BILINEAR)
        return torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).contiguous()
    t = torch.as_tensor(np.asarray(img))
    if t.dim() == 2:
        t = t[None]
    elif t.dim() == 3 and t.shape[0] not in (1, 3) and t.shape[-1] in (1, 3):
        t = t.permute(2, 0, 1)
    if t.shape[0] == 1:
        t = t.expand(3, -1, -1)
    h, w = t.shape[-2:]
    s = min(h, w)
    t = t[:, (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    if s != size:
        t = F.interpolate(t[None].float(), size=(size, size), mode="bilinear", align_corners=False)[0]
        t = t.round().clamp(0, 255)
    return t.to(torch.uint8).contiguous()


def _tensor_dataset_arrays(ds) -> tuple[np.ndarray, np.ndarray]:
    """``.data``/``.targets`` of MNIST/CIFAR-10 as (n, C, H, W) uint8 and int64 arrays."""
    x = ds.data
    x = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3):
        x = x.transpose(0, 3, 1, 2)
    y = ds.targets
    y = y.numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    return np.ascontiguousarray(x, dtype=np.uint8), y.astype(np.int64)


def _decoded_arrays(ds) -> tuple[np.ndarray, np.ndarray]:
    """Decode every image of a file-backed data set (Food-101, Flowers-102) through a DataLoader."""
    from torch.utils.data import DataLoader

    n = len(ds)
    workers = min(8, os.cpu_count() or 1) if n > 4096 else 0
    xs, ys = [], []
    for xb, yb in DataLoader(ds, batch_size=256, num_workers=workers):
        xs.append(xb.numpy())
        ys.append(np.asarray(yb))
    return np.concatenate(xs).astype(np.uint8), np.concatenate(ys).astype(np.int64)


def _torchvision(name: str, root: Path, download: bool, image_size: int) -> RawData:
    cls_name, n_classes, splits, title = TORCHVISION[name]
    decoded = name in ("food101", "flowers102")
    cache = {s: root / "optviz-cache" / f"{name}-{s}-{image_size}px.pt" for s in splits}
    parts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if decoded and all(p.exists() for p in cache.values()):
        for s, p in cache.items():  # decoded before: torchvision is not even needed
            d = torch.load(p, weights_only=True)
            parts[s] = (d["x"].numpy(), d["y"].numpy())
    else:
        try:
            datasets = importlib.import_module("torchvision.datasets")
        except ImportError:
            raise DataUnavailableError("пакет torchvision не установлен") from None
        try:
            cls = getattr(datasets, cls_name)
            for s in splits:
                if decoded:
                    ds = cls(root=str(root), split=s, download=download,
                             transform=partial(_to_chw_uint8, size=image_size))
                    parts[s] = _decoded_arrays(ds)
                    try:
                        cache[s].parent.mkdir(parents=True, exist_ok=True)
                        torch.save({"x": torch.from_numpy(parts[s][0]), "y": torch.from_numpy(parts[s][1])}, cache[s])
                    except OSError:
                        pass  # a read-only root only costs the decoding next time
                else:
                    parts[s] = _tensor_dataset_arrays(cls(root=str(root), train=(s == "train"), download=download))
        except Exception as err:  # network errors, missing files, corrupt archives
            raise DataUnavailableError(
                f"не удалось получить данные через torchvision ({type(err).__name__}: {err})"
            ) from err
    xs, ys, official, start = [], [], {}, 0
    for s in splits:
        x, y = parts[s]
        xs.append(x)
        ys.append(y)
        official[s] = np.arange(start, start + len(y))
        start += len(y)
    x, y = np.concatenate(xs), np.concatenate(ys)
    names = [str(k) for k in range(n_classes)]
    return RawData(name, x, y, n_classes, names, "image", 1.0 / 255.0, title, official)


# ---------------------------------------------------------------------------------- loading
def fallback_message(name: str, reason: str, root: Path) -> str:
    return (
        f"Набор данных «{name}» недоступен: {reason}. Вместо него используется встроенный набор "
        f"digits из scikit-learn (рукописные цифры 8×8, 1797 изображений): код эксперимента работает "
        f"так же, но это маленькая замена, и числа будут другими. Чтобы получить настоящие данные, "
        f"установите torchvision и дайте доступ к сети (или положите данные в каталог {root})."
    )


def _external_stacklevel() -> int:
    """``stacklevel`` for a warning issued in the caller that points at the first frame outside
    ``optviz/data`` (the code that asked for the data)."""
    pkg = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(pkg):
        frame, level = frame.f_back, level + 1
    return level


def fallback_raw(name: str, reason: str, root: Path, fallback: bool) -> RawData:
    """The embedded digits in place of ``name`` with a Russian warning, or the Russian error."""
    msg = fallback_message(name, reason, root)
    if not fallback:
        raise DataUnavailableError(msg + " Запасной набор отключён (fallback=False).")
    warnings.warn(msg, DataFallbackWarning, stacklevel=_external_stacklevel())
    raw = _embedded(FALLBACK)
    raw.fallback_from = name
    raw.source = f"{raw.source}; замена недоступного набора «{name}»"
    return raw


def resolve_root(root) -> Path:
    return default_root() if root is None else Path(root).expanduser()


def load_exact(name: str, *, root=None, download: bool = True, image_size: int = 32) -> RawData:
    """The pool of ``name`` or :class:`DataUnavailableError` whose text is the reason only."""
    check_choice("dataset", name, DATASETS)
    if name in EMBEDDED:
        return _embedded(name)
    check_int("image_size", image_size, 4)
    return _torchvision(name, resolve_root(root), bool(download), image_size)


def load_raw(name: str, *, root=None, download: bool = True, fallback: bool = True,
             image_size: int = 32) -> RawData:
    """The pool of data set ``name``; torchvision sets fall back to digits (warning) or raise."""
    try:
        return load_exact(name, root=root, download=download, image_size=image_size)
    except DataUnavailableError as err:
        return fallback_raw(name, str(err), resolve_root(root), fallback)


# -------------------------------------------------------------------------------- splitting
def _round_half_up(v: float) -> int:
    return int(np.floor(v + 0.5))


def stratified_take(index: np.ndarray, labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` of ``index`` at random, each label represented in proportion to its count
    (largest-remainder rounding). Returns the chosen indices sorted."""
    index = np.asarray(index)
    if n >= len(index):
        return np.sort(index)
    lab = labels[index]
    classes, counts = np.unique(lab, return_counts=True)
    exact = counts * n / len(index)
    quota = np.floor(exact).astype(int)
    rest = n - quota.sum()
    order = np.lexsort((classes, -(exact - quota)))  # largest remainder first, ties by label
    quota[order[:rest]] += 1
    chosen = [rng.permutation(index[lab == c])[:q] for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(chosen)) if chosen else index[:0]


def split_indices(raw: RawData, *, val_fraction: float, test_fraction: float, seed: int) -> dict:
    """Train/val/test indices into the pool: the official splits where they exist, a validation
    part carved (stratified) from the official training part where only train/test exist, and a
    stratified split of every class otherwise (``round(fraction · n_class)`` samples per class)."""
    rng = epoch_rng(seed, 7)
    off = raw.official
    if off is not None and "val" in off:
        return {s: np.sort(off[s]) for s in ("train", "val", "test")}
    if off is not None:
        train = off["train"]
        val = stratified_take(train, raw.y, _round_half_up(val_fraction * len(train)), rng)
        return {"train": np.setdiff1d(train, val), "val": val, "test": np.sort(off["test"])}
    out = {"train": [], "val": [], "test": []}
    for c in np.unique(raw.y):
        idx = rng.permutation(np.flatnonzero(raw.y == c))
        n_test = _round_half_up(test_fraction * len(idx))
        n_val = _round_half_up(val_fraction * len(idx))
        out["test"].append(idx[:n_test])
        out["val"].append(idx[n_test:n_test + n_val])
        out["train"].append(idx[n_test + n_val:])
    return {s: np.sort(np.concatenate(v)) for s, v in out.items()}
