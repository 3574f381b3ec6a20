r"""Loss-landscape projections of a neural network: lines, planes, PCA planes and interpolation.

A network's loss :math:`L(w)` lives in a space of :math:`p` parameters, so we look at slices:

.. math::
    \text{line:}\quad & \ell(\alpha) = L(w_0 + \alpha\, d), \\
    \text{plane:}\quad & \ell(\alpha, \beta) = L(w_0 + \alpha\, d_1 + \beta\, d_2), \\
    \text{interpolation:}\quad & \ell(t) = L\big((1 - t)\, w_a + t\, w_b\big),

around any point :math:`w_0` (initial weights, trained weights, ...). What makes such pictures
comparable between networks is the choice of directions (Li et al., 2018, «Visualizing the Loss
Landscape of Neural Nets»):

* **Gaussian** directions :math:`d \sim \mathcal N(0, I)`; rescaled by ``normalization``:

  - ``"filter"`` (default) — every filter :math:`d_{i}` (slice along the first axis of a weight:
    an output channel of a ``Conv2d``, an output neuron, i.e. a row, of a ``Linear``) is rescaled to
    the norm of the same filter of the weights, :math:`d_i \leftarrow d_i\,\|w_i\| / \|d_i\|`,
    so a step of size 1 changes every filter in proportion to its own scale (a ReLU filter can be
    rescaled without changing the function, which makes raw directions incomparable);
  - ``"layer"`` — the same, with a whole parameter tensor as the unit;
  - ``"model"`` — the whole direction gets the norm of the whole weight vector (the lecture's
    «random vector of the same norm»);
  - ``"none"`` — raw :math:`\mathcal N(0, 1)` entries.

  Biases and normalisation layers (every 1-D parameter and every parameter of a BatchNorm,
  LayerNorm, GroupNorm, InstanceNorm or RMSNorm module) are **ignored by default**: their direction
  entries are zero (``ignore="biasbn"``; ``ignore=None`` keeps them, ``ignore=[names]`` picks them).
  A kept 1-D parameter is normalised as a whole tensor under ``"filter"`` (a bias has one entry per
  neuron, so per-entry rescaling would only leave a random sign). Under ``"filter"`` and ``"layer"``
  a filter or tensor whose weights are zero (a freshly initialised bias) gets a zero direction.

  Every direction index and every parameter has its own random stream: the generator of an entry
  is seeded from ``(seed, direction index, parameter name)``. Adding a direction or appending a layer
  therefore changes nothing in the existing entries (except under ``"model"``, whose common scale
  depends on all the weights).
* **PCA** of a saved training trajectory relative to its final point (:func:`pca_directions`): the
  plane through the final point that holds as much of the path as possible, with explained-variance
  ratios and a :class:`TrajectoryOffPlaneWarning` when two components hold too little of it.

Evaluation (:func:`loss_line`, :func:`loss_plane`, :func:`interpolate`) runs the model in eval mode
on a stated data set — whole tensors or a fixed subset — and never loads weights into the model:
a chunk of grid points becomes a batch of weight tensors, and ``torch.func.functional_call`` under
``torch.vmap`` evaluates the whole chunk in one call (falling back to a loop over the chunk when the
model cannot be vmapped, or when timing two chunks shows the loop to be faster, as it can be on a
CPU where a point's matrix products dominate). The model's train/eval flags and weights are
restored afterwards, also on an exception. Before a big grid the cost of the first chunk is extrapolated and a
:class:`LargeGridWarning` is raised above ``max_seconds``; :func:`estimate_cost` gives the same
estimate without computing the grid.

Results are small frozen dataclasses holding NumPy arrays that the figure builders take as they are.
This module computes only; it never imports a plotting library.

:func:`digits_data` and :func:`digits_mlp` (scikit-learn's offline 8×8 digits and a small MLP) are
the minimal fixtures of the tests, the benchmark and the lecture until ``optviz.train`` provides data.
"""

from __future__ import annotations

import hashlib
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from tqdm.auto import tqdm

from ._checks import check_choice, check_int, check_range

__all__ = [
    "Direction",
    "EvalInfo",
    "LineResult",
    "PlaneResult",
    "InterpolationResult",
    "PCAResult",
    "CostEstimate",
    "LandscapeWarning",
    "TrajectoryOffPlaneWarning",
    "LargeGridWarning",
    "VmapFallbackWarning",
    "random_direction",
    "random_directions",
    "pca_directions",
    "loss_line",
    "loss_plane",
    "interpolate",
    "estimate_cost",
    "biasbn_names",
    "digits_data",
    "digits_mlp",
]

NORMALIZATIONS = ("filter", "layer", "model", "none")
DEFAULT_MAX_SECONDS = 60.0
# Grid points per vmapped call are chosen so that one call sees about this many (point, sample)
# pairs: large enough to amortise the per-call overhead, small enough for the activations of a
# small network to stay in cache (measured on the digits MLP on CPU: 8–16 points of 1797 samples,
# 64–256 points of 128 samples were the flat optimum; see benchmarks/bench_landscape.py).
_TARGET_PAIRS_PER_CHUNK = 16 * 1024
# vectorize="auto" races vmap against the plain loop on two chunks when the grid has this many chunks.
_AUTO_MIN_CHUNKS = 6

_NORM_MODULES: tuple[type, ...] = tuple(
    t
    for t in (
        nn.modules.batchnorm._NormBase,  # BatchNorm*d, InstanceNorm*d, SyncBatchNorm
        nn.LayerNorm,
        nn.GroupNorm,
        nn.LocalResponseNorm,
        getattr(nn, "RMSNorm", None),
    )
    if t is not None
)


# --------------------------------------------------------------------------------------- warnings
class LandscapeWarning(UserWarning):
    """Base class of the warnings of :mod:`optviz.landscape` (messages are in Russian)."""


class TrajectoryOffPlaneWarning(LandscapeWarning):
    """The first two principal components explain too little of a trajectory (see :func:`pca_directions`)."""


class LargeGridWarning(LandscapeWarning):
    """The estimated time of a grid evaluation exceeds ``max_seconds``."""


class VmapFallbackWarning(LandscapeWarning):
    """The model could not be evaluated under ``torch.vmap``; grid points are evaluated one by one."""


# ------------------------------------------------------------------------------------ dataclasses
@dataclass(frozen=True)
class Direction:
    """A direction in parameter space: one tensor per parameter name (zeros where ignored).

    Attributes
    ----------
    tensors : dict of str to Tensor
        Entries with the shapes of the parameters, in the model's parameter order.
    kind : str
        ``"gaussian"``, ``"pca"`` or ``"difference"`` (interpolation).
    normalization : str
        One of ``"filter"``, ``"layer"``, ``"model"``, ``"none"``.
    ignored : tuple of str
        Parameter names whose entries are zero by construction.
    seed, index : int or None
        The random stream of a Gaussian direction (``None`` for the other kinds).
    """

    tensors: dict[str, torch.Tensor]
    kind: str = "gaussian"
    normalization: str = "none"
    ignored: tuple[str, ...] = ()
    seed: int | None = None
    index: int | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.tensors)

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.tensors[name]

    def flatten(self) -> torch.Tensor:
        """All entries concatenated in name order (a float64 CPU vector)."""
        return torch.cat([t.detach().reshape(-1).to("cpu", torch.float64) for t in self.tensors.values()])

    def norm(self) -> float:
        return float(torch.linalg.vector_norm(self.flatten()))

    def cosine(self, other: Direction) -> float:
        """Cosine of the angle to ``other`` (same names required)."""
        a, b = self.flatten(), other.flatten()
        return float(a @ b / (torch.linalg.vector_norm(a) * torch.linalg.vector_norm(b)))


@dataclass(frozen=True)
class EvalInfo:
    """How a landscape was evaluated.

    ``subset`` holds the indices of the evaluated samples (``None``: the whole data set);
    ``vectorized`` tells whether ``torch.vmap`` evaluated the bulk of the grid (the last chunk) or a
    loop over points did; ``seconds`` is the wall time.
    """

    n_points: int
    n_samples: int
    subset: np.ndarray | None
    loss_fn: str
    vectorized: bool
    chunk_size: int
    seconds: float


@dataclass(frozen=True)
class LineResult:
    r"""``loss[i]`` :math:`= L(w_0 + \alpha_i d)`; ``accuracy`` likewise or ``None``."""

    alphas: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray | None
    direction: Direction
    info: EvalInfo

    @property
    def ignored(self) -> tuple[str, ...]:
        return self.direction.ignored


@dataclass(frozen=True)
class PlaneResult:
    r"""``loss[j, i]`` :math:`= L(w_0 + \alpha_i d_1 + \beta_j d_2)`: rows follow ``betas``, columns
    ``alphas`` (the layout of ``contour(alphas, betas, loss)``).

    ``path`` holds the :math:`(\alpha, \beta)` coordinates of a PCA trajectory, shape ``(T, 2)``,
    and ``explained_variance_ratio`` its two ratios, when the plane came from :func:`pca_directions`.
    """

    alphas: np.ndarray
    betas: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray | None
    directions: tuple[Direction, Direction]
    info: EvalInfo
    path: np.ndarray | None = None
    explained_variance_ratio: np.ndarray | None = None

    @property
    def ignored(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.directions[0].ignored) | set(self.directions[1].ignored)))


@dataclass(frozen=True)
class InterpolationResult:
    r"""``loss[i]`` :math:`= L((1 - t_i) w_a + t_i w_b)`; ``t`` outside :math:`[0, 1]` extrapolates.

    ``names`` are the interpolated tensors (parameters, and floating buffers such as BatchNorm
    running statistics when ``include_buffers``); ``distance`` is :math:`\|w_b - w_a\|` over them.
    """

    ts: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray | None
    names: tuple[str, ...]
    distance: float
    info: EvalInfo


@dataclass(frozen=True)
class PCAResult:
    r"""Principal directions of a trajectory :math:`w_1, \dots, w_T` relative to its final point.

    Attributes
    ----------
    directions : tuple of Direction
        Orthonormal directions (unit norm), the first explaining most.
    explained_variance_ratio : ndarray of shape (n_components,)
        :math:`s_k^2 / \sum_j s_j^2` for the singular values :math:`s` of the matrix of rows
        :math:`w_t - w_T` (``centered=False``) or :math:`w_t - \bar w` (``centered=True``).
    coords : ndarray of shape (T, n_components)
        Coordinates of :math:`w_t - w_T` along the directions (the path drawn on the plane; the final
        point is at the origin, the path starts at negative first coordinate).
    center : dict of str to Tensor
        The final point :math:`w_T`, the origin of the plane.
    ignored : tuple of str
        Parameter names left out of the analysis (zero entries in the directions).
    centered : bool
        Which variant was computed.
    """

    directions: tuple[Direction, ...]
    explained_variance_ratio: np.ndarray
    coords: np.ndarray
    center: dict[str, torch.Tensor]
    ignored: tuple[str, ...] = ()
    centered: bool = False

    @property
    def plane_fraction(self) -> float:
        """Sum of the first two explained-variance ratios (what the warning threshold compares)."""
        return float(self.explained_variance_ratio[:2].sum())


@dataclass(frozen=True)
class CostEstimate:
    """Predicted cost of evaluating ``n_points`` grid points (see :func:`estimate_cost`).

    ``flops_per_point`` counts matrix products and convolutions of one forward pass over the data
    (``torch.utils.flop_counter``; ``None`` when counting failed); the time comes from timing a chunk.
    """

    n_points: int
    n_samples: int
    flops_per_point: float | None
    seconds_per_point: float
    seconds_total: float
    chunk_size: int
    vectorized: bool

    def message(self) -> str:
        """A one-line Russian summary."""
        flops = "" if self.flops_per_point is None else f", ≈{self.flops_per_point * self.n_points:.3g} FLOP"
        return (
            f"Сетка из {self.n_points} точек на {self.n_samples} примерах: ≈{self.seconds_total:.3g} с"
            f" ({1e3 * self.seconds_per_point:.3g} мс на точку{flops})."
        )


# ------------------------------------------------------------------------------ named parameters
def _parameters_of(source) -> dict[str, torch.Tensor]:
    """Named parameters of a module, or the floating tensors of a mapping (a state_dict)."""
    if isinstance(source, nn.Module):
        return {n: p.detach() for n, p in source.named_parameters()}
    if isinstance(source, Mapping):
        out = {}
        for n, t in source.items():
            if not isinstance(t, torch.Tensor):
                raise ValueError(f"Значение {n!r} в словаре весов должно быть тензором, получено {type(t).__name__}.")
            if t.is_floating_point():
                out[n] = t.detach()
        return out
    raise ValueError(
        f"Ожидалась модель (torch.nn.Module) или словарь тензоров (state_dict), получено {type(source).__name__}."
    )


def biasbn_names(model) -> tuple[str, ...]:
    """Names of the biases and normalisation-layer parameters of ``model`` (what ``"biasbn"`` ignores).

    A parameter counts when it has at most one dimension, or (for a module) when it belongs to a
    BatchNorm/InstanceNorm, LayerNorm, GroupNorm or RMSNorm module, whatever its shape.
    """
    params = _parameters_of(model)
    names = {n for n, p in params.items() if p.dim() <= 1}
    if isinstance(model, nn.Module):
        for prefix, module in model.named_modules():
            if isinstance(module, _NORM_MODULES):
                for pname, _ in module.named_parameters(recurse=False):
                    full = f"{prefix}.{pname}" if prefix else pname
                    if full in params:
                        names.add(full)
    return tuple(n for n in params if n in names)


def _ignored_names(model, ignore, params: Mapping[str, torch.Tensor]) -> tuple[str, ...]:
    if ignore is None or (isinstance(ignore, str) and ignore == "none"):
        return ()
    if isinstance(ignore, str):
        check_choice("ignore", ignore, ("biasbn", "none"))
        return biasbn_names(model)
    names = tuple(ignore)
    unknown = [n for n in names if n not in params]
    if unknown:
        raise ValueError(
            f"Параметр ignore содержит имена, которых нет среди параметров модели: {unknown}; "
            f"доступны: {list(params)}."
        )
    return tuple(n for n in params if n in set(names))


def _stream(seed: int, index: int, name: str) -> torch.Generator:
    """CPU generator of the entries of parameter ``name`` in direction ``index`` (stable across runs)."""
    digest = hashlib.blake2b(f"optviz.landscape|{seed}|{index}|{name}".encode(), digest_size=8).digest()
    gen = torch.Generator(device="cpu")
    gen.manual_seed(int.from_bytes(digest, "little") & ((1 << 63) - 1))
    return gen


# ------------------------------------------------------------------------------------ directions
def _filter_normalize(d: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Rescale every slice ``d[i]`` (a filter / output neuron) to the norm of ``w[i]``."""
    if d.dim() <= 1:
        return _layer_normalize(d, w)
    dims = tuple(range(1, d.dim()))
    d_norm = torch.linalg.vector_norm(d, dim=dims, keepdim=True)
    w_norm = torch.linalg.vector_norm(w, dim=dims, keepdim=True)
    return d * (w_norm / d_norm.clamp_min(torch.finfo(d.dtype).tiny))


def _layer_normalize(d: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return d * (torch.linalg.vector_norm(w) / torch.linalg.vector_norm(d).clamp_min(torch.finfo(d.dtype).tiny))


def random_direction(model, *, seed: int = 0, index: int = 0, normalization: str = "filter",
                     ignore="biasbn", reference=None) -> Direction:
    r"""One Gaussian direction shaped like the parameters of ``model``, normalised against ``reference``.

    Parameters
    ----------
    model : nn.Module or mapping of str to Tensor
        Gives the parameter names and shapes (and, for a module, which parameters belong to
        normalisation layers).
    seed, index : int
        Entry ``name`` of direction ``index`` is drawn from a generator seeded by
        ``(seed, index, name)`` (float64 draws, cast to the parameter's dtype): directions and
        parameters never share a stream.
    normalization : {"filter", "layer", "model", "none"}
        See the module docstring; ``"filter"`` is Li et al.'s filter normalisation.
    ignore : "biasbn", None or iterable of str
        Parameters whose entries are zero: ``"biasbn"`` (default) = :func:`biasbn_names`.
    reference : nn.Module or mapping, optional
        The weights the normalisation scales to (default: the current weights of ``model``);
        pass the centre of the picture when it is not the model's current point.
    """
    check_int("seed", seed, 0)
    check_int("index", index, 0)
    check_choice("normalization", normalization, NORMALIZATIONS)
    params = _parameters_of(model)
    ignored = _ignored_names(model, ignore, params)
    ref = params if reference is None else _parameters_of(reference)
    missing = [n for n in params if n not in ref]
    if missing:
        raise ValueError(f"В reference нет тензоров {missing} — он должен содержать все параметры модели.")
    ignored_set = set(ignored)
    tensors = {}
    for name, p in params.items():
        if name in ignored_set:
            tensors[name] = torch.zeros_like(p)
            continue
        d = torch.randn(p.shape, generator=_stream(seed, index, name), dtype=torch.float64)
        w = ref[name].detach().to("cpu", torch.float64)
        if w.shape != p.shape:
            raise ValueError(f"Форма {name!r} в reference {tuple(w.shape)} не совпадает с формой параметра {tuple(p.shape)}.")
        if normalization == "filter":
            d = _filter_normalize(d, w)
        elif normalization == "layer":
            d = _layer_normalize(d, w)
        tensors[name] = d
    if normalization == "model":
        kept = [n for n in params if n not in ignored_set]
        d_norm = math.sqrt(sum(float(tensors[n].square().sum()) for n in kept))
        w_norm = math.sqrt(sum(float(ref[n].detach().double().square().sum()) for n in kept))
        scale = w_norm / d_norm if d_norm > 0 else 0.0
        for n in kept:
            tensors[n] = tensors[n] * scale
    tensors = {n: t.to(device=params[n].device, dtype=params[n].dtype) for n, t in tensors.items()}
    return Direction(tensors, "gaussian", normalization, ignored, seed, index)


def random_directions(model, n: int = 2, *, seed: int = 0, normalization: str = "filter", ignore="biasbn",
                      reference=None) -> tuple[Direction, ...]:
    """Directions ``0, …, n-1`` of :func:`random_direction` (independent streams)."""
    check_int("n", n, 1)
    return tuple(
        random_direction(model, seed=seed, index=i, normalization=normalization, ignore=ignore, reference=reference)
        for i in range(n)
    )


def pca_directions(trajectory: Sequence, *, model=None, n_components: int = 2, ignore=None,
                   centered: bool = False, warn_below: float = 0.5) -> PCAResult:
    r"""PCA plane of a saved trajectory, anchored at its final point :math:`w_T`.

    Let :math:`M` be the matrix with rows :math:`w_t - w_T` (or :math:`w_t - \bar w` with
    ``centered=True``, the variant of Li et al., who run scikit-learn's PCA) and
    :math:`M = U S V^\top` its thin SVD. The directions are the first rows of :math:`V^\top`, the
    explained-variance ratios :math:`s_k^2/\sum_j s_j^2`. With ``centered=False`` (default) the ratio
    of the first two components is the fraction of :math:`\sum_t \|w_t - w_T\|^2` that survives the
    projection of the path on the plane, which is what a picture of the path on that plane needs.

    A :class:`TrajectoryOffPlaneWarning` is raised when the first two ratios sum to less than
    ``warn_below`` (default 0.5: less than half of the squared distance to the final point is
    seen on the plane). A high ratio is not proof of structure: a pure random walk in high
    dimension already puts about :math:`6/(\pi^2 k^2)` of its (centred) variance into component
    :math:`k` — 0.76 into the first two — because its PCA coordinates are cosines (Antognini &
    Sohl-Dickstein, 2018). The warning fires for paths without a dominant drift, e.g. SGD
    jittering in a noise ball around the final point.

    Parameters
    ----------
    trajectory : sequence of state_dicts / named-parameter dicts, or of flat vectors
        At least ``n_components + 1`` points, the last being the final one. Flat vectors (1-D
        tensors or arrays) follow ``model.parameters()`` order; without a model they form a single
        tensor named ``"vector"`` (toy problems).
    model : nn.Module, optional
        Selects the parameters out of full state_dicts (buffers are not part of the analysis),
        splits flat vectors and names normalisation layers for ``ignore="biasbn"``.
    n_components : int
        Number of directions (1 or more).
    ignore : None, "biasbn" or iterable of str
        Left out of the analysis (zero direction entries). Default ``None``: the plane should hold
        all the motion of the path, biases included.
    centered : bool
        Centre the rows at the trajectory mean (see above).
    warn_below : float in [0, 1]
        Threshold of the warning.
    """
    check_int("n_components", n_components, 1)
    check_range("warn_below", warn_below, 0.0, 1.0)
    points = list(trajectory)
    if len(points) < n_components + 1:
        raise ValueError(
            f"Для {n_components} главных компонент нужна траектория хотя бы из {n_components + 1} точек, "
            f"получено {len(points)}."
        )
    named = [_as_named_point(p, model) for p in points]
    names = list(named[-1])
    for k, point in enumerate(named):
        if list(point) != names or any(point[n].shape != named[-1][n].shape for n in names):
            raise ValueError(f"Точка траектории №{k} имеет другой набор или формы тензоров, чем финальная точка.")
    shape_source = model if model is not None else named[-1]
    ignored = _ignored_names(shape_source, ignore, named[-1])
    kept = [n for n in names if n not in set(ignored)]
    if not kept:
        raise ValueError("После исключения параметров (ignore) для PCA не осталось ни одного тензора.")
    final = named[-1]
    rows = torch.stack([
        torch.cat([(p[n].detach().to("cpu", torch.float64) - final[n].detach().to("cpu", torch.float64)).reshape(-1)
                   for n in kept])
        for p in named
    ])  # (T, P): w_t - w_T
    mat = rows - rows.mean(dim=0, keepdim=True) if centered else rows
    if not torch.isfinite(mat).all():
        raise ValueError("Траектория содержит NaN или inf.")
    _, s, vh = torch.linalg.svd(mat, full_matrices=False)
    total = float(s.square().sum())
    if total == 0.0:
        raise ValueError("Все точки траектории совпадают: главные направления не определены.")
    if vh.shape[0] < n_components:
        raise ValueError(f"Число компонент n_components={n_components} больше размерности данных {vh.shape[0]}.")
    basis = vh[:n_components].clone()  # (k, P)
    coords = rows @ basis.T  # (T, k)
    # Sign: the path starts at a negative coordinate and arrives at the origin.
    flip = torch.where(coords[0] > 0, -1.0, 1.0).to(torch.float64)
    basis, coords = basis * flip[:, None], coords * flip[None, :]
    ratio = (s[:n_components].square() / total).numpy()
    directions = []
    for k in range(n_components):
        tensors, offset = {}, 0
        for n in names:
            ref = final[n]
            if n in set(kept):
                chunk = basis[k, offset:offset + ref.numel()]
                offset += ref.numel()
                tensors[n] = chunk.reshape(ref.shape).to(device=ref.device, dtype=ref.dtype)
            else:
                tensors[n] = torch.zeros_like(ref)
        directions.append(Direction(tensors, "pca", "none", ignored, None, k))
    result = PCAResult(tuple(directions), ratio, coords.numpy(), {n: final[n].detach() for n in names}, ignored,
                       bool(centered))
    frac = result.plane_fraction
    if frac < warn_below:
        what = "первые две главные компоненты" if n_components >= 2 else "первая главная компонента"
        warnings.warn(
            TrajectoryOffPlaneWarning(
                f"Траектория далека от плоскости PCA: {what} объясняют лишь {100 * frac:.1f}% "
                f"{'разброса точек' if centered else 'суммы квадратов расстояний до финальной точки'} "
                f"(порог warn_below={warn_below:g}). Проекция пути на эту плоскость сильно его искажает, "
                "а ландшафт в ней мало говорит о самом обучении."
            ),
            stacklevel=2,
        )
    return result


def _as_named_point(point, model) -> dict[str, torch.Tensor]:
    if isinstance(point, Mapping) or isinstance(point, nn.Module):
        values = _parameters_of(point) if isinstance(point, nn.Module) else point
        if model is None:
            return _parameters_of(values)
        names = list(_parameters_of(model))
        missing = [n for n in names if n not in values]
        if missing:
            raise ValueError(f"В точке траектории нет параметров модели {missing}.")
        return {n: torch.as_tensor(values[n]).detach() for n in names}
    vec = torch.as_tensor(np.asarray(point) if not isinstance(point, torch.Tensor) else point).detach()
    if vec.dim() != 1:
        raise ValueError(
            "Точка траектории должна быть словарём тензоров (state_dict) или плоским вектором, "
            f"получен тензор формы {tuple(vec.shape)}."
        )
    if not vec.is_floating_point():
        vec = vec.to(torch.float64)
    if model is None:
        return {"vector": vec}
    params = _parameters_of(model)
    total = sum(p.numel() for p in params.values())
    if vec.numel() != total:
        raise ValueError(f"Длина вектора траектории {vec.numel()} не равна числу параметров модели {total}.")
    out, offset = {}, 0
    for n, p in params.items():
        out[n] = vec[offset:offset + p.numel()].reshape(p.shape)
        offset += p.numel()
    return out


# ------------------------------------------------------------------------------------ evaluation
@dataclass
class _Data:
    inputs: torch.Tensor
    targets: torch.Tensor
    subset: np.ndarray | None
    batch_size: int | None = None
    batches: list = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.targets.shape[0])


def _prepare_data(data, subset, subset_seed, batch_size, device) -> _Data:
    if hasattr(data, "tensors") and not isinstance(data, (tuple, list)):  # TensorDataset
        data = data.tensors
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ValueError("Параметр data должен быть парой тензоров (входы, ответы) или TensorDataset из двух тензоров.")
    x, y = (torch.as_tensor(t) for t in data)
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(
            f"Входы и ответы в data должны иметь одинаковое ненулевое число примеров, получено {x.shape[0]} и {y.shape[0]}."
        )
    n = int(x.shape[0])
    indices = None
    if subset is not None:
        if isinstance(subset, int) and not isinstance(subset, bool):
            check_int("subset", subset, 1, n)
            check_int("subset_seed", subset_seed, 0)
            gen = torch.Generator(device="cpu")
            gen.manual_seed(subset_seed)
            idx = torch.randperm(n, generator=gen)[:subset].sort().values
        else:
            idx = torch.as_tensor(np.asarray(subset), dtype=torch.long).reshape(-1)
            if idx.numel() == 0 or int(idx.min()) < -n or int(idx.max()) >= n:
                raise ValueError(f"Индексы subset должны быть непустыми и лежать в [0, {n}).")
        indices = idx.numpy().copy()
        x, y = x[idx], y[idx]
    if batch_size is not None:
        check_int("batch_size", batch_size, 1)
    out = _Data(x.to(device), y.to(device), indices, batch_size)
    step = out.n if batch_size is None else batch_size
    out.batches = [(out.inputs[i:i + step], out.targets[i:i + step]) for i in range(0, out.n, step)]
    return out


@contextmanager
def _evaluation_mode(model: nn.Module):
    """Eval mode for the duration; train/eval flags and all weights and buffers restored on exit."""
    modes = [(m, m.training) for m in model.modules()]
    saved = [(t, t.detach().clone()) for t in list(model.parameters()) + list(model.buffers())]
    model.eval()
    try:
        yield
    finally:
        for m, mode in modes:
            m.training = mode
        with torch.no_grad():
            for t, value in saved:
                if t.shape == value.shape:
                    t.copy_(value)


def _model_device(model: nn.Module) -> torch.device:
    for t in list(model.parameters()) + list(model.buffers()):
        return t.device
    return torch.device("cpu")


def _coords_array(name: str, values) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64).reshape(-1) if np.ndim(values) <= 1 else None
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ValueError(f"Параметр {name} должен быть непустым одномерным массивом конечных чисел, получено {values!r}.")
    return arr


def _loss_name(loss_fn) -> str:
    return getattr(loss_fn, "__name__", type(loss_fn).__name__)


def _evaluate(model: nn.Module, data, center: Mapping[str, torch.Tensor] | None, dirs: Sequence[Mapping],
              coords: np.ndarray, *, loss_fn, accuracy, chunk_size, progress, vectorize, max_seconds,
              subset, subset_seed, batch_size, desc="ландшафт"):
    r"""Losses at ``center + Σ_k coords[:, k] · dirs[k]`` for every row of ``coords`` (shape (N, K)).

    ``center`` and the directions map tensor names of ``model`` (parameters or buffers) to values;
    ``center=None`` means zero. Names absent from them keep the model's own tensors.
    Returns ``(loss, accuracy or None, EvalInfo)``.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"Параметр model должен быть torch.nn.Module, получено {type(model).__name__}.")
    check_choice("vectorize", vectorize, ("auto", True, False))
    if max_seconds is not None:
        check_range("max_seconds", max_seconds, 0.0, low_open=True)
    loss_fn = F.cross_entropy if loss_fn is None else loss_fn
    device = _model_device(model)
    data_ = _prepare_data(data, subset, subset_seed, batch_size, device)
    own = dict(model.named_parameters())
    own.update(dict(model.named_buffers()))
    names = list(dirs[0]) if dirs else []
    for n in names:
        if n not in own:
            raise ValueError(f"Тензора {n!r} нет среди параметров и буферов модели.")
        if tuple(dirs[0][n].shape) != tuple(own[n].shape):
            raise ValueError(
                f"Форма направления для {n!r} {tuple(dirs[0][n].shape)} не совпадает с формой параметра {tuple(own[n].shape)}."
            )
    like = {n: own[n] for n in names}
    cast = {n: (lambda t, n=n: t.detach().to(device=like[n].device, dtype=like[n].dtype)) for n in names}
    base = {n: cast[n](center[n]) if center is not None else torch.zeros_like(like[n]) for n in names}
    # Tensors that no direction moves stay unbatched (cheaper, and vmap broadcasts them).
    moving = [n for n in names if any(bool(d[n].detach().ne(0).any()) for d in dirs)]
    fixed = {n: base[n] for n in names if n not in set(moving)}
    stacked = {n: torch.stack([cast[n](d[n]) for d in dirs]) for n in moving}  # (K, *shape)
    coords = np.asarray(coords, dtype=np.float64)
    n_points = coords.shape[0]
    if chunk_size is None:
        chunk_size = max(1, min(n_points, _TARGET_PAIRS_PER_CHUNK // max(1, data_.n)))
    check_int("chunk_size", chunk_size, 1)

    def point(weights):
        total = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.float64, device=device)
        for xb, yb in data_.batches:
            out = functional_call(model, {**fixed, **weights}, (xb,))
            total = total + loss_fn(out, yb).to(torch.float64) * yb.shape[0]
            if accuracy:
                correct = correct + (out.argmax(dim=-1) == yb).sum().to(torch.float64)
        return total / data_.n, correct / data_.n

    batched_point = torch.vmap(point, randomness="error")

    def weights_at(c: torch.Tensor) -> dict[str, torch.Tensor]:
        return {n: base[n] + torch.tensordot(c.to(stacked[n].dtype), stacked[n], dims=1) for n in moving}

    def run_loop(w, size):
        pairs = [point({n: t[i] for n, t in w.items()}) for i in range(size)]
        return torch.stack([q[0] for q in pairs]), torch.stack([q[1] for q in pairs])

    # Strategy: "vmap" or "loop". With vectorize="auto" and at least _AUTO_MIN_CHUNKS chunks, chunk 0
    # warms vmap up, chunks 1 and 2 time vmap and the loop, and the faster one does the rest: on a CPU
    # with a big data set a point costs the same matrix products either way and the loop can win.
    use_vmap = vectorize in ("auto", True) and bool(moving)
    n_chunks = -(-n_points // chunk_size)
    racing = vectorize == "auto" and use_vmap and n_chunks >= _AUTO_MIN_CHUNKS
    timings: dict[str, float] = {}
    losses, accs = np.empty(n_points), np.empty(n_points)
    start = time.perf_counter()
    with _evaluation_mode(model), torch.no_grad(), tqdm(total=n_points, disable=not progress, desc=desc,
                                                         unit="точка", leave=False) as bar:
        for k, lo in enumerate(range(0, n_points, chunk_size)):
            c = torch.as_tensor(coords[lo:lo + chunk_size], device=device)
            size = c.shape[0]
            w = weights_at(c)
            strategy = "vmap" if use_vmap else "loop"
            if racing and k in (1, 2):
                strategy = "vmap" if k == 1 else "loop"
            tic = time.perf_counter()
            if strategy == "vmap":
                try:
                    loss_c, acc_c = batched_point(w)
                except Exception as exc:  # noqa: BLE001 - any vmap failure means: evaluate point by point
                    if vectorize is True or k > 0:
                        raise
                    use_vmap = racing = False
                    strategy = "loop"
                    warnings.warn(
                        VmapFallbackWarning(
                            "Модель не удалось вычислить под torch.vmap "
                            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                            "точки сетки считаются по одной, это медленнее. Передайте vectorize=False, "
                            "чтобы не пробовать vmap."
                        ),
                        stacklevel=3,
                    )
            if strategy == "loop":
                loss_c, acc_c = run_loop(w, size)
            losses[lo:lo + size] = loss_c.detach().cpu().numpy()
            accs[lo:lo + size] = acc_c.detach().cpu().numpy()
            if racing and k in (1, 2):
                timings[strategy] = (time.perf_counter() - tic) / size
                if k == 2:
                    use_vmap = timings["vmap"] <= timings["loop"]
            bar.update(size)
            if k == 0 and max_seconds is not None and n_chunks > 1:
                estimate = (time.perf_counter() - start) * n_points / size
                if estimate > max_seconds:
                    warnings.warn(
                        LargeGridWarning(
                            f"Расчёт сетки из {n_points} точек на {data_.n} примерах займёт примерно "
                            f"{estimate:.0f} с (порог max_seconds={max_seconds:g} с). Уменьшите сетку, "
                            "возьмите подвыборку данных (subset=...) или увеличьте max_seconds."
                        ),
                        stacklevel=3,
                    )
    info = EvalInfo(n_points, data_.n, data_.subset, _loss_name(loss_fn), use_vmap, chunk_size,
                    time.perf_counter() - start)
    return losses, (accs if accuracy else None), info


def _resolve_center(model: nn.Module, center) -> dict[str, torch.Tensor]:
    params = _parameters_of(model)
    if center is None:
        return params
    values = _parameters_of(center)
    missing = [n for n in params if n not in values]
    if missing:
        raise ValueError(f"В center нет параметров модели {missing}.")
    return {n: values[n] for n in params}


_EVAL_DOC = """
    data : (inputs, targets) pair of tensors or a TensorDataset
        The stated data set; moved to the model's device.
    loss_fn : callable, default ``F.cross_entropy``
        ``loss_fn(outputs, targets)`` returning the **mean** over the batch (vmappable for speed).
    accuracy : bool
        Also return the accuracy ``argmax(outputs) == targets`` per point.
    subset : None, int or sequence of int
        A fixed subset: an int draws that many samples without replacement with ``subset_seed``;
        a sequence gives the indices. ``None``: all samples.
    batch_size : int, optional
        Split the data into batches of this size (memory); the loss is the size-weighted mean.
    chunk_size : int, optional
        Grid points per vmapped call (default: about 16 384 / number of samples).
    vectorize : "auto", True or False
        ``True``: every chunk under ``torch.vmap``; ``False``: a loop over points (each still a
        ``functional_call``, no weights are loaded). ``"auto"`` uses vmap, falls back to the loop when
        the model cannot be vmapped (with a :class:`VmapFallbackWarning`), and on grids of six chunks
        or more times one chunk each way and keeps the faster (``info.vectorized`` tells which): on a
        CPU with all samples of a data set a point costs the same matrix products either way.
    max_seconds : float or None
        Warn (:class:`LargeGridWarning`) when the time extrapolated from the first chunk exceeds it.
    progress : bool
        Show a ``tqdm`` progress bar.
"""


def loss_line(model: nn.Module, data, direction: Direction | None = None, *, alphas=None, center=None,
              loss_fn: Callable | None = None, accuracy: bool = False, subset=None, subset_seed: int = 0,
              batch_size: int | None = None, chunk_size: int | None = None, vectorize="auto",
              max_seconds: float | None = DEFAULT_MAX_SECONDS, progress: bool = True) -> LineResult:
    r"""The loss along a line, :math:`\ell(\alpha) = L(w_0 + \alpha\, d)`.

    Parameters
    ----------
    model : nn.Module
        The network (its weights are the default centre :math:`w_0`).
    direction : Direction, optional
        Default: ``random_direction(model, seed=0, reference=center)`` (filter-normalised, biases/BN ignored).
    alphas : array_like, default ``linspace(-1, 1, 51)``
        Coordinates along the direction.
    center : nn.Module or mapping, optional
        The point :math:`w_0` (default: the model's current weights).
    """
    w0 = _resolve_center(model, center)
    alphas = _coords_array("alphas", np.linspace(-1.0, 1.0, 51) if alphas is None else alphas)
    if direction is None:
        direction = random_direction(model, seed=0, reference=w0)
    _check_direction("direction", direction)
    loss, acc, info = _evaluate(model, data, w0, [direction.tensors], alphas[:, None], loss_fn=loss_fn,
                                accuracy=accuracy, chunk_size=chunk_size, progress=progress, vectorize=vectorize,
                                max_seconds=max_seconds, subset=subset, subset_seed=subset_seed,
                                batch_size=batch_size, desc="прямая")
    return LineResult(alphas, loss, acc, direction, info)


def loss_plane(model: nn.Module, data, directions=None, *, alphas=None, betas=None, center=None,
               loss_fn: Callable | None = None, accuracy: bool = False, subset=None, subset_seed: int = 0,
               batch_size: int | None = None, chunk_size: int | None = None, vectorize="auto",
               max_seconds: float | None = DEFAULT_MAX_SECONDS, progress: bool = True) -> PlaneResult:
    r"""The loss on a plane, :math:`\ell(\alpha, \beta) = L(w_0 + \alpha\, d_1 + \beta\, d_2)`.

    Parameters
    ----------
    model : nn.Module
        The network (its weights are the default centre :math:`w_0`).
    directions : pair of Direction, or PCAResult, optional
        Default: ``random_directions(model, 2, seed=0, reference=center)``. A :class:`PCAResult`
        supplies its first two directions, its final point as the centre (unless ``center`` is
        given), the path of the trajectory and, when ``alphas``/``betas`` are omitted, a window
        around the path (its range widened by 25% on each side).
    alphas, betas : array_like, default ``linspace(-1, 1, 21)``
        Coordinates along the two directions.
    center : nn.Module or mapping, optional
        The point :math:`w_0`.
    """
    path = ratio = None
    if isinstance(directions, PCAResult):
        pca = directions
        if len(pca.directions) < 2:
            raise ValueError("Для плоскости нужны две главные компоненты: вызовите pca_directions с n_components >= 2.")
        if center is None:
            center = pca.center
        path, ratio = pca.coords[:, :2].copy(), pca.explained_variance_ratio[:2].copy()
        directions = pca.directions[:2]
        if alphas is None:
            alphas = _window(path[:, 0], 21)
        if betas is None:
            betas = _window(path[:, 1], 21)
    w0 = _resolve_center(model, center)
    if directions is None:
        directions = random_directions(model, 2, seed=0, reference=w0)
    directions = tuple(directions)
    if len(directions) != 2:
        raise ValueError(f"Для плоскости нужны ровно два направления, получено {len(directions)}.")
    for k, d in enumerate(directions):
        _check_direction(f"directions[{k}]", d)
    alphas = _coords_array("alphas", np.linspace(-1.0, 1.0, 21) if alphas is None else alphas)
    betas = _coords_array("betas", np.linspace(-1.0, 1.0, 21) if betas is None else betas)
    bb, aa = np.meshgrid(betas, alphas, indexing="ij")  # row j = beta_j, column i = alpha_i
    coords = np.stack([aa.reshape(-1), bb.reshape(-1)], axis=1)
    loss, acc, info = _evaluate(model, data, w0, [d.tensors for d in directions], coords, loss_fn=loss_fn,
                                accuracy=accuracy, chunk_size=chunk_size, progress=progress, vectorize=vectorize,
                                max_seconds=max_seconds, subset=subset, subset_seed=subset_seed,
                                batch_size=batch_size, desc="плоскость")
    shape = (betas.size, alphas.size)
    return PlaneResult(alphas, betas, loss.reshape(shape), None if acc is None else acc.reshape(shape),
                       directions, info, path, ratio)


def interpolate(model_a, model_b, data, *, ts=None, model: nn.Module | None = None, include_buffers: bool = True,
                loss_fn: Callable | None = None, accuracy: bool = False, subset=None, subset_seed: int = 0,
                batch_size: int | None = None, chunk_size: int | None = None, vectorize="auto",
                max_seconds: float | None = DEFAULT_MAX_SECONDS, progress: bool = True) -> InterpolationResult:
    r"""The loss on the segment (and beyond) between two models, :math:`L((1 - t) w_a + t w_b)`.

    The weights are formed as :math:`(1 - t)\, w_a + t\, w_b`, so :math:`t = 0` and :math:`t = 1`
    reproduce the two models exactly.

    Parameters
    ----------
    model_a, model_b : nn.Module or state_dict
        The two endpoints (same architecture).
    ts : array_like, default ``linspace(-0.5, 1.5, 41)``
        Interpolation coordinates; values outside :math:`[0, 1]` extrapolate.
    model : nn.Module, optional
        The architecture to evaluate (default: ``model_a`` when it is a module).
    include_buffers : bool
        Interpolate floating buffers too (BatchNorm running statistics), so that the endpoints are the
        two models also in eval mode; integer buffers (``num_batches_tracked``) are the model's own.
    """
    if model is None:
        if not isinstance(model_a, nn.Module):
            raise ValueError("Если model_a — словарь весов, передайте архитектуру в параметре model.")
        model = model_a
    ts = _coords_array("ts", np.linspace(-0.5, 1.5, 41) if ts is None else ts)
    names = [n for n, _ in model.named_parameters()]
    if include_buffers:
        names += [n for n, b in model.named_buffers() if b.is_floating_point()]
    sa = model_a.state_dict() if isinstance(model_a, nn.Module) else model_a
    sb = model_b.state_dict() if isinstance(model_b, nn.Module) else model_b
    for label, sd in (("model_a", sa), ("model_b", sb)):
        missing = [n for n in names if n not in sd]
        if missing:
            raise ValueError(f"В {label} нет тензоров {missing}.")
    wa = {n: sa[n].detach() for n in names}
    wb = {n: sb[n].detach() for n in names}
    for n in names:
        if wa[n].shape != wb[n].shape:
            raise ValueError(f"Формы {n!r} у двух моделей различаются: {tuple(wa[n].shape)} и {tuple(wb[n].shape)}.")
    distance = math.sqrt(sum(float((wb[n].double() - wa[n].double()).square().sum()) for n in names))
    coords = np.stack([1.0 - ts, ts], axis=1)  # weights = (1 - t)·w_a + t·w_b, exact at t = 0 and 1
    loss, acc, info = _evaluate(model, data, None, [wa, wb], coords, loss_fn=loss_fn, accuracy=accuracy,
                                chunk_size=chunk_size, progress=progress, vectorize=vectorize,
                                max_seconds=max_seconds, subset=subset, subset_seed=subset_seed,
                                batch_size=batch_size, desc="интерполяция")
    return InterpolationResult(ts, loss, acc, tuple(names), distance, info)


def estimate_cost(model: nn.Module, data, n_points: int, *, loss_fn: Callable | None = None, subset=None,
                  subset_seed: int = 0, batch_size: int | None = None, chunk_size: int | None = None,
                  vectorize="auto", max_seconds: float | None = DEFAULT_MAX_SECONDS) -> CostEstimate:
    """Predict the cost of a grid of ``n_points`` points without computing it.

    Times one chunk of points (after a one-point warm-up) with the same evaluator as
    :func:`loss_plane` and counts the FLOPs of one forward pass over the data. Raises a
    :class:`LargeGridWarning` when the predicted time exceeds ``max_seconds``.
    """
    check_int("n_points", n_points, 1)
    if max_seconds is not None:
        check_range("max_seconds", max_seconds, 0.0, low_open=True)
    w0 = _parameters_of(model)
    # A direction of ones moves every tensor (so every parameter is batched, as in a real grid);
    # the coordinates are zero, so the evaluated weights are the model's own.
    ones = {n: torch.ones_like(p) for n, p in w0.items()}
    common = dict(loss_fn=loss_fn, accuracy=False, progress=False, vectorize=vectorize, max_seconds=None,
                  subset=subset, subset_seed=subset_seed, batch_size=batch_size)
    _evaluate(model, data, w0, [ones], np.zeros((1, 1)), chunk_size=1, **common)  # warm-up
    probe = None if chunk_size is None else min(chunk_size, n_points)
    if probe is None:
        n_samples = subset if isinstance(subset, int) else (len(subset) if subset is not None else None)
        if n_samples is None:
            n_samples = (data.tensors if hasattr(data, "tensors") else data)[1].shape[0]
        probe = max(1, min(n_points, _TARGET_PAIRS_PER_CHUNK // max(1, int(n_samples))))
    _, _, info = _evaluate(model, data, w0, [ones], np.zeros((probe, 1)), chunk_size=probe, **common)
    per_point = info.seconds / probe
    flops = _forward_flops(model, data, subset, subset_seed, batch_size)
    est = CostEstimate(n_points, info.n_samples, flops, per_point, per_point * n_points, probe, info.vectorized)
    if max_seconds is not None and est.seconds_total > max_seconds:
        warnings.warn(LargeGridWarning(est.message() + f" Это больше порога max_seconds={max_seconds:g} с."),
                      stacklevel=2)
    return est


def _forward_flops(model, data, subset, subset_seed, batch_size) -> float | None:
    try:
        from torch.utils.flop_counter import FlopCounterMode

        data_ = _prepare_data(data, subset, subset_seed, batch_size, _model_device(model))
        with _evaluation_mode(model), torch.no_grad(), FlopCounterMode(display=False) as counter:
            for xb, _ in data_.batches:
                model(xb)
        return float(counter.get_total_flops())
    except Exception:  # noqa: BLE001 - the count is informative only
        return None


for _f in (loss_line, loss_plane, interpolate):
    _f.__doc__ = (_f.__doc__ or "").rstrip() + "\n" + _EVAL_DOC
del _f


def _check_direction(name: str, d) -> None:
    if not isinstance(d, Direction):
        raise ValueError(f"Параметр {name} должен быть объектом Direction, получено {type(d).__name__}.")


def _window(values: np.ndarray, n: int, margin: float = 0.25) -> np.ndarray:
    lo, hi = float(np.min(values)), float(np.max(values))
    width = hi - lo if hi > lo else max(abs(hi), 1.0)
    return np.linspace(lo - margin * width, hi + margin * width, n)


# ------------------------------------------------------------------------- fixtures (until optviz.train)
def digits_data(*, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 8×8 digits (1797 samples, shipped offline): pixels scaled to [0, 1], labels 0–9.

    Returns ``(inputs of shape (1797, 64), targets of shape (1797,))``. A minimal fixture for the
    landscape tests, the benchmark and lecture 05; ``optviz.train`` will own the data sets.
    """
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return torch.tensor(x / 16.0, dtype=dtype), torch.tensor(y, dtype=torch.long)


def digits_mlp(hidden: Sequence[int] = (32,), *, seed: int = 0, dtype: torch.dtype = torch.float32) -> nn.Sequential:
    """A ReLU MLP 64 → hidden… → 10 for :func:`digits_data`, initialised from ``seed``."""
    widths = [64, *hidden, 10]
    for w in hidden:
        check_int("hidden", w, 1)
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        layers: list[nn.Module] = []
        for k, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(a, b))
            if k < len(widths) - 2:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers).to(dtype)
    finally:
        torch.random.set_rng_state(gen_state)
