"""optviz.data: splits, the seeds' heterogeneity builders, batch schedules, torchvision and its fallback.

References are independent of the code under test: scikit-learn's raw arrays and class counts, the
formulas of the brief (round(n_even / uc), n_1·k^(−a)), inverse transformations of the inputs, and
fake torchvision data sets whose contents are known.
"""

from __future__ import annotations

import math
import sys
import types
from typing import ClassVar

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from optviz.data import (
    Batch,
    DataFallbackWarning,
    DataUnavailableError,
    GroupedData,
    TwoClientSchedule,
    batches,
    frequency_groups,
    heavy_tail,
    load_dataset,
    parity_split,
    two_clients,
)

SPLITS = ("train", "val", "test")


def half_up(v: float) -> int:
    return math.floor(v + 0.5)


@pytest.fixture(scope="module")
def digits_raw():
    x, y = load_digits(return_X_y=True)
    return x / 16.0, y


def unstandardise(splits, split):
    """Inputs of ``split`` back on the [0, 1] pixel scale, shape (n, 64)."""
    x = splits[split].x * splits.info["std"] + splits.info["mean"]
    return x.reshape(len(x), -1).double().numpy()


def sorted_rows(a: np.ndarray) -> np.ndarray:
    a = np.round(a, 6)
    return a[np.lexsort(a.T[::-1])]


# ------------------------------------------------------------------------------ plain splits
def test_digits_splits_are_a_stratified_partition_of_the_raw_data(digits_raw):
    x_raw, y_raw = digits_raw
    d = load_dataset("digits", seed=3)
    assert d.train.x.dtype == torch.float32 and d.train.y.dtype == torch.long
    assert tuple(d.train.x.shape[1:]) == (1, 8, 8) == d.info["input_shape"]
    counts = np.bincount(y_raw)
    for split, frac in (("test", 0.2), ("val", 0.2)):
        assert d[split].class_counts() == [half_up(frac * c) for c in counts]
    total = sum(np.asarray(d[s].class_counts()) for s in SPLITS)
    assert total.tolist() == counts.tolist()
    # the three splits together are exactly the raw data set (as a multiset of rows with labels)
    rows = np.concatenate([np.column_stack([unstandardise(d, s), d[s].y.numpy()]) for s in SPLITS])
    np.testing.assert_allclose(sorted_rows(rows), sorted_rows(np.column_stack([x_raw, y_raw])), atol=1e-5)
    # one mean/std per channel from the training split: standardised train has mean 0, std 1
    assert abs(float(d.train.x.mean())) < 1e-5 and abs(float(d.train.x.std(unbiased=False)) - 1) < 1e-4
    # per-class groups with Russian names
    assert torch.equal(d.train.groups, d.train.y) and d.train.group_names[3] == "класс 3"
    assert "Обучение" in d.info["description"] and d.train.client is None


def test_tabular_sets_are_standardised_per_feature():
    for name, n_features, n_classes in (("breast_cancer", 30, 2), ("wine", 13, 3), ("iris", 4, 3)):
        d = load_dataset(name, seed=0)
        assert tuple(d.train.x.shape[1:]) == (n_features,) and d.train.n_classes == n_classes
        x = d.train.x.double()
        torch.testing.assert_close(x.mean(0), torch.zeros(n_features, dtype=torch.double), atol=1e-5, rtol=0)
        torch.testing.assert_close(x.std(0, unbiased=False), torch.ones(n_features, dtype=torch.double),
                                   atol=1e-4, rtol=0)


def test_flatten_and_max_per_class():
    d = load_dataset("digits", flatten=True, max_per_class=20)
    assert tuple(d.train.x.shape[1:]) == (64,) and d.info["in_features"] == 64
    assert d.train.class_counts() == [20] * 10


def test_batches_cover_the_data_once_and_depend_only_on_seed_and_epoch():
    n = 1037
    d = GroupedData(x=torch.arange(n, dtype=torch.float32)[:, None], y=torch.arange(n) % 3,
                    groups=torch.arange(n) % 2, n_classes=3, n_groups=2, group_names=["a", "b"])
    order = []
    for xb, yb, gb in batches(d, 100, seed=5, epoch=2):
        assert len(xb) <= 100
        assert torch.equal(yb, xb[:, 0].long() % 3) and torch.equal(gb, xb[:, 0].long() % 2)
        order.append(xb[:, 0].long())
    order = torch.cat(order)
    assert torch.equal(torch.sort(order).values, torch.arange(n))  # every sample exactly once
    again = torch.cat([b.x[:, 0] for b in batches(d, 100, seed=5, epoch=2)]).long()
    other = torch.cat([b.x[:, 0] for b in batches(d, 100, seed=5, epoch=3)]).long()
    assert torch.equal(order, again) and not torch.equal(order, other)
    plain = torch.cat([b.y for b in batches(d, 64, shuffle=False)])
    assert torch.equal(plain, d.y)
    assert [len(b.x) for b in batches(d, 100, drop_last=True)] == [100] * (n // 100)
    assert all(b.client is None for b in batches(d, 500))


# -------------------------------------------------------------------------------- parity
@pytest.mark.parametrize("uc", [1, 5, 10, 20])
def test_parity_split_keeps_one_odd_sample_per_uc_even_ones(uc):
    plain = load_dataset("digits", seed=0)
    p = parity_split(uc, seed=0)
    assert p.train.n_classes == 2 and torch.equal(p.train.groups, p.train.y)
    for split in ("train", "val"):
        n_even_plain = sum(plain[split].class_counts()[0::2])
        n_odd_plain = sum(plain[split].class_counts()[1::2])
        n_even, n_odd = p[split].class_counts()
        if half_up(n_even_plain / uc) <= n_odd_plain:  # the even class is untouched
            assert n_even == n_even_plain and n_odd == max(1, half_up(n_even_plain / uc))
        else:  # uc close to 1 with fewer odd samples: all odd kept, even trimmed
            assert n_odd == n_odd_plain and n_even == half_up(uc * n_odd_plain)
        assert abs(n_even / n_odd - uc) <= uc / n_odd  # the ratio is uc up to rounding one sample
    n_even, n_odd = p.test.class_counts()
    assert n_even == n_odd == min(sum(plain.test.class_counts()[0::2]), sum(plain.test.class_counts()[1::2]))
    assert p.info["uc"] == uc and "uc" in p.info["description"]


def test_parity_with_digit_labels_spreads_the_kept_odd_samples_over_the_odd_digits():
    p = parity_split(10, labels="digits", seed=1)
    assert p.train.n_classes == 10 and p.train.n_groups == 2
    assert torch.equal(p.train.groups, p.train.y % 2)
    counts = np.asarray(p.train.class_counts())
    odd = counts[1::2]
    assert odd.sum() == half_up(counts[0::2].sum() / 10)
    assert odd.max() - odd.min() <= 1  # proportional allocation over nearly equal odd digits
    test_counts = np.asarray(p.test.class_counts())
    assert test_counts[0::2].sum() == test_counts[1::2].sum()


def test_per_sample_groups():
    p = parity_split(5, groups="samples")
    n = len(p.train)
    assert p.train.n_groups == n and torch.equal(p.train.groups, torch.arange(n))
    assert len(p.train.group_names) == n and p.train.group_names[7] == "объект 7"
    assert p.val.n_groups == 2 and torch.equal(p.val.groups, p.val.y)  # evaluation keeps the classes
    all_samples = load_dataset("wine").with_sample_groups(("train", "val", "test"))
    for s in SPLITS:
        assert all_samples[s].n_groups == len(all_samples[s])
        assert all_samples[s].group_counts() == [1] * len(all_samples[s])


# --------------------------------------------------------------------------- two clients
def test_two_clients_have_disjoint_labels_and_transformed_inputs(digits_raw):
    x_raw, y_raw = digits_raw
    c = two_clients(1, shift=("rotate", "invert"), seed=0)
    for s in SPLITS:
        d = c[s]
        first, second = d.client == 0, d.client == 1
        assert set(d.y[first].tolist()) == {0, 1, 2, 3, 4}
        assert set(d.y[second].tolist()) == {5, 6, 7, 8, 9}
        assert torch.equal(d.groups, d.client)
    assert c.train.group_names == ["клиент 1", "клиент 2"] and c.info["client_classes"][1] == [5, 6, 7, 8, 9]
    # undo the shift of client 2 (rotation by 90°, inversion) and recover the raw digits 5–9 exactly
    rows = []
    for s in SPLITS:
        x = unstandardise(c, s).reshape(-1, 1, 8, 8)
        second = (c[s].client == 1).numpy()
        x2 = np.rot90(1.0 - x[second], k=-1, axes=(2, 3)).reshape(-1, 64)
        rows.append(np.column_stack([x2, c[s].y.numpy()[second]]))
    ref = np.column_stack([x_raw, y_raw])[y_raw >= 5]
    np.testing.assert_allclose(sorted_rows(np.concatenate(rows)), sorted_rows(ref), atol=1e-5)


def test_default_clients_differ_in_input_statistics(digits_raw):
    x_raw, y_raw = digits_raw
    c = two_clients(1, seed=0, noise_std=0.1)
    x = unstandardise(c, "train").reshape(-1, 1, 8, 8)
    cl = c.train.client.numpy()
    x1, x2 = x[cl == 0], x[cl == 1]
    # inverted brightness: the mean pixel of client 2 is one minus that of the raw digits 5–9
    assert abs(x1.mean() - x_raw[y_raw < 5].mean()) < 0.02
    assert abs(x2.mean() - (1 - x_raw[y_raw >= 5].mean())) < 0.02
    assert x2.mean() - x1.mean() > 0.3
    # the noise: away from the digits, residuals after undoing rotation and inversion have std σ
    undone = np.rot90(1.0 - x2, k=-1, axes=(2, 3)).reshape(len(x2), -1)
    border = (x_raw == 0).all(axis=0)  # pixels that are 0 in every raw digit
    assert 0.09 < undone[:, border].std() < 0.11
    # mean images of the two clients are far apart compared with two halves of client 1
    m1, m2 = x1.mean(0), x2.mean(0)
    half = len(x1) // 2
    assert np.linalg.norm(m1 - m2) > 10 * np.linalg.norm(x1[:half].mean(0) - x1[half:].mean(0))


def test_two_clients_local_labels_and_class_groups():
    c = two_clients(0, labels="local", groups="classes", seed=2)
    assert c.train.n_classes == 5 and c.train.n_groups == 10
    d = c.train
    assert set(d.y.tolist()) == set(range(5))
    torch.testing.assert_close(d.groups, d.y + 5 * d.client)
    assert d.group_names[7] == "клиент 2: класс 7"


@pytest.mark.parametrize("delay", [0, 2])
def test_schedule_client_one_before_the_delay_then_strict_alternation(delay):
    c = two_clients(delay, seed=0)
    train = c.train
    n1, n2 = int((train.client == 0).sum()), int((train.client == 1).sum())
    bs = 64
    for epoch in range(delay + 2):
        got = list(c.train_batches(epoch, bs, seed=4))
        assert len(got) == c.n_train_batches(epoch, bs)
        assert all(isinstance(b, Batch) and len(b) == 3 for b in got)
        clients = [b.client.unique().tolist() for b in got]
        assert all(len(u) == 1 for u in clients)  # every batch comes from one client
        seq = [u[0] for u in clients]
        sums = torch.cat([b.x.reshape(len(b.x), -1).sum(1) for b in got])
        if epoch < delay:
            assert seq == [0] * math.ceil(n1 / bs)
            # one pass over client 1 exactly
            ref = train.x[train.client == 0].reshape(n1, -1).sum(1)
            torch.testing.assert_close(torch.sort(sums).values, torch.sort(ref).values)
        else:
            m = max(math.ceil(n1 / bs), math.ceil(n2 / bs))
            assert seq == [0, 1] * m
            for k in (0, 1):  # every sample of both clients appears in the epoch
                mine = torch.cat([b.y for b in got if b.client[0] == k])
                assert len(mine) >= (n1, n2)[k]
                assert set(mine.tolist()) == set(train.y[train.client == k].tolist())
    first = [b.x for b in c.train_batches(delay, bs, seed=4)]
    again = [b.x for b in c.train_batches(delay, bs, seed=4)]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))


def test_schedule_alternating_epochs():
    c = two_clients(1, alternate="epoch", seed=0)
    seqs = [{int(b.client[0]) for b in c.train_batches(e, 100)} for e in range(4)]
    assert seqs == [{0}, {1}, {0}, {1}]
    with pytest.raises(ValueError, match="alternate"):
        TwoClientSchedule(1, alternate="random")


# ---------------------------------------------------------------------------- heavy tails
def test_heavy_tail_class_sizes_follow_the_power_law():
    a = 1.0
    plain = load_dataset("digits", seed=0)
    h = heavy_tail(a, seed=0)
    for split in ("train", "val"):
        n1 = min(plain[split].class_counts())
        assert h[split].class_counts() == [max(1, half_up(n1 * k ** -a)) for k in range(1, 11)]
    assert len(set(h.test.class_counts())) == 1  # balanced test split
    # frequency groups: head, middle, tail in rank order
    fg = h.info["frequency_group_of_class"]
    assert fg == sorted(fg) and set(fg) == {0, 1, 2}
    assert h.train.group_names[0].startswith("голова") and h.train.group_names[2].startswith("хвост")
    assert torch.equal(h.train.groups, torch.tensor(fg)[h.train.y])


def test_frequency_groups_by_hand():
    counts = [1 / k for k in range(1, 11)]  # shares: 0.34, 0.17, 0.11, 0.085, ...
    # mid-share positions ×3: 0.51, 1.28, 1.71, 2.01, ... → head {0}, middle {1, 2}, tail {3..9}
    assert frequency_groups(counts, 3) == [0, 1, 1, 2, 2, 2, 2, 2, 2, 2]
    assert frequency_groups(counts, 3, by="classes") == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    # shuffled class order: groups follow the counts, not the class ids
    assert frequency_groups([1, 4, 2], 3) == [2, 0, 1]
    # a very steep tail would leave a group empty: the class split is used
    assert frequency_groups([1000, 1, 1], 3) == [0, 1, 2]


def test_synthetic_heavy_tail_has_a_long_tail():
    h = heavy_tail(1.0, dataset="synthetic", n_classes=50, n_head=200, test_per_class=4, seed=0)
    counts = h.train.class_counts()
    assert counts == [max(1, half_up(200 / k)) for k in range(1, 51)]
    assert h.test.class_counts() == [4] * 50
    assert tuple(h.train.x.shape[1:]) == (32,)
    assert "хвост" in h.info["description"]


# ---------------------------------------------------------------------------- determinism
@pytest.mark.parametrize("build", [lambda s: parity_split(10, seed=s), lambda s: two_clients(1, seed=s),
                                   lambda s: heavy_tail(1.5, seed=s)])
def test_builders_are_deterministic_given_the_seed(build):
    a, b, c = build(0), build(0), build(1)
    for s in SPLITS:
        assert torch.equal(a[s].x, b[s].x) and torch.equal(a[s].y, b[s].y) and torch.equal(a[s].groups, b[s].groups)
    assert not torch.equal(a.train.x, c.train.x)
    assert a.info["description"] == b.info["description"]


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("call, param", [
    (lambda: parity_split(0.5), "uc"),
    (lambda: parity_split(float("nan")), "uc"),
    (lambda: two_clients(-1), "delay"),
    (lambda: two_clients(1.5), "delay"),
    (lambda: load_dataset("imagenet"), "dataset"),
    (lambda: two_clients(1, dataset=("food101", "nope")), "dataset"),
    (lambda: heavy_tail(-1.0), "a"),
    (lambda: load_dataset("digits", groups="pixels"), "groups"),
    (lambda: load_dataset("digits", val_fraction=0.5, test_fraction=0.5), "val_fraction"),
    (lambda: two_clients(1, shift=("blur",)), "shift"),
    (lambda: load_dataset("wine", standardize="channel"), "standardize"),
    (lambda: two_clients(1, dataset="wine"), "изображений"),
])
def test_bad_input_raises_in_russian(call, param):
    with pytest.raises(ValueError, match=param) as err:
        call()
    assert any("а" <= ch <= "я" for ch in str(err.value).lower())


# ------------------------------------------------------------------- torchvision: fallback
@pytest.fixture
def no_torchvision(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import torchvision -> ImportError
    monkeypatch.setitem(sys.modules, "torchvision.datasets", None)


def test_missing_torchvision_falls_back_to_digits_with_a_russian_warning(no_torchvision, tmp_path):
    with pytest.warns(DataFallbackWarning, match="torchvision") as rec:
        d = load_dataset("cifar10", root=tmp_path)
    text = str(rec[0].message)
    assert "недоступен" in text and "digits" in text
    assert rec[0].filename == __file__  # attributed to the caller
    ref = load_dataset("digits")
    assert torch.equal(d.train.x, ref.train.x) and d.info["fallback_from"] == "cifar10"
    assert "Внимание" in d.info["description"]
    with pytest.warns(DataFallbackWarning):
        p = parity_split(5, dataset="cifar10", root=tmp_path)
    assert p.train.n_classes == 2 and tuple(p.train.x.shape[1:]) == (1, 8, 8)
    with pytest.warns(DataFallbackWarning, match="food101"):
        c = two_clients(1, dataset=("food101", "flowers102"), root=tmp_path)
    assert c.train.n_classes == 10 and c.info["shift"] == ("rotate", "invert", "noise")
    with pytest.raises(DataUnavailableError, match="fallback=False"):
        load_dataset("mnist", root=tmp_path, fallback=False)


# ------------------------------------------------------------- torchvision: a fake module
def _fake_torchvision(monkeypatch, fail=False):
    from PIL import Image

    gen = np.random.default_rng(0)
    store = {}

    class MNIST:
        def __init__(self, root, train=True, download=False, **kw):
            if fail:
                raise RuntimeError("Dataset not found. You can use download=True to download it")
            n = 60 if train else 20
            self.data = torch.from_numpy(gen.integers(0, 256, (n, 28, 28), dtype=np.uint8))
            self.targets = torch.arange(n) % 10
            store[("mnist", train)] = self

    class CIFAR10:
        def __init__(self, root, train=True, download=False, **kw):
            n = 50 if train else 20
            self.data = gen.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
            self.targets = [i % 10 for i in range(n)]
            store[("cifar10", train)] = self

    class _Files:
        n_classes = 0
        sizes: ClassVar[dict] = {}

        def __init__(self, root, split="train", transform=None, download=False, **kw):
            self.split, self.transform = split, transform
            self.n = self.sizes[split]

        def __len__(self):
            return self.n

        def colour(self, i):
            return (i * 7 % 256, i * 11 % 256, self.label(i) % 256)

        def label(self, i):
            return i % self.n_classes

        def __getitem__(self, i):
            img = self.image(i)
            return (self.transform(img) if self.transform else img), self.label(i)

    class Food101(_Files):
        n_classes = 101
        sizes: ClassVar[dict] = {"train": 30, "test": 10}

        def image(self, i):  # PIL images of varying sizes, one colour each
            return Image.new("RGB", (40 + i, 30), self.colour(i))

    class Flowers102(_Files):
        n_classes = 102
        sizes: ClassVar[dict] = {"train": 12, "val": 8, "test": 10}

        def image(self, i):  # HWC arrays
            return np.broadcast_to(np.array(self.colour(i), dtype=np.uint8), (24, 20, 3)).copy()

    datasets = types.ModuleType("torchvision.datasets")
    for cls in (MNIST, CIFAR10, Food101, Flowers102):
        setattr(datasets, cls.__name__, cls)
    tv = types.ModuleType("torchvision")
    tv.datasets = datasets
    monkeypatch.setitem(sys.modules, "torchvision", tv)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", datasets)
    return store


def test_fake_torchvision_mnist_and_cifar_are_converted(monkeypatch, tmp_path):
    store = _fake_torchvision(monkeypatch)
    m = load_dataset("mnist", root=tmp_path, seed=0)
    assert tuple(m.train.x.shape[1:]) == (1, 28, 28) and m.info["fallback_from"] is None
    assert len(m.test) == 20 and len(m.val) == 12 and len(m.train) == 48  # val = 20% of official train
    x_test = (m.test.x * m.info["std"] + m.info["mean"]) * 255  # official test kept, in order
    torch.testing.assert_close(x_test[:, 0], store[("mnist", False)].data.float(), atol=1e-3, rtol=0)
    assert torch.equal(m.test.y, store[("mnist", False)].targets)
    c = load_dataset("cifar10", root=tmp_path, standardize="none")
    assert tuple(c.train.x.shape[1:]) == (3, 32, 32)
    ref = torch.from_numpy(store[("cifar10", False)].data).permute(0, 3, 1, 2).float() / 255
    torch.testing.assert_close(c.test.x, ref)
    p = parity_split(2, dataset="mnist", root=tmp_path)
    n_even, n_odd = p.train.class_counts()
    assert n_odd == half_up(n_even / 2)


def test_fake_torchvision_food_and_flowers_as_two_clients(monkeypatch, tmp_path):
    _fake_torchvision(monkeypatch)
    c = two_clients(1, dataset=("food101", "flowers102"), root=tmp_path, image_size=16, standardize="none")
    assert tuple(c.train.x.shape[1:]) == (3, 16, 16)
    assert c.train.n_classes == 203 and c.info["classes_per_client"] == [101, 102]
    assert c.info["shift"] == ()  # two different data sets need no artificial shift
    for s in SPLITS:
        d = c[s]
        assert d.y[d.client == 0].max() < 101 <= d.y[d.client == 1].min()
    # Flowers-102 keeps its official train/val/test; Food-101 its train/test with val carved out
    assert int((c.test.client == 1).sum()) == 10 and int((c.val.client == 1).sum()) == 8
    assert int((c.test.client == 0).sum()) == 10 and int((c.val.client == 0).sum()) == 6
    # decoded images: one colour each, resized to 16×16, the colour preserved exactly
    x = c.train.x[c.train.client == 0]
    assert torch.allclose(x, x[:, :, :1, :1].expand_as(x))
    assert torch.allclose(x[:, 2, 0, 0] * 255, c.train.y[c.train.client == 0].float(), atol=1e-3)
    # the decoded arrays were cached: torchvision is no longer needed for these two
    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", None)
    again = two_clients(1, dataset=("food101", "flowers102"), root=tmp_path, image_size=16, standardize="none")
    assert torch.equal(again.train.x, c.train.x)


def test_failed_download_falls_back(monkeypatch, tmp_path):
    _fake_torchvision(monkeypatch, fail=True)
    with pytest.warns(DataFallbackWarning, match="RuntimeError"):
        d = load_dataset("mnist", root=tmp_path)
    assert tuple(d.train.x.shape[1:]) == (1, 8, 8)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="нужна CUDA")
def test_batches_on_cuda():
    c = two_clients(1)
    b = next(iter(c.train_batches(1, 32, device="cuda")))
    assert b.x.is_cuda and b.y.is_cuda and b.client.is_cuda
    g = c.to("cuda")
    assert g.train.x.is_cuda and next(iter(g.train_batches(0, 32))).x.is_cuda
