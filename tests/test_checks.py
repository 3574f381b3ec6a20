"""Validation helpers: Russian messages that name the parameter and the allowed range."""

import math

import numpy as np
import pytest
import torch

from optviz._checks import (
    check_choice,
    check_int,
    check_probability_vector,
    check_range,
    interval_text,
)


@pytest.mark.parametrize(
    "value", [-0.1, float("nan"), float("inf"), torch.tensor([[0.1], [-1.0]]), "0.1", None, True]
)
def test_check_range_rejects(value):
    with pytest.raises(ValueError) as err:
        check_range("lr", value, 0.0)
    msg = str(err.value)
    assert "lr" in msg and "[0, ∞)" in msg and "Параметр" in msg


@pytest.mark.parametrize("value", [0.0, 1e-3, 5, np.float32(0.5), torch.tensor([[0.1], [0.2]]), np.array([0.1, 0.3])])
def test_check_range_accepts_numbers_and_tensors(value):
    assert check_range("lr", value, 0.0) is value


def test_open_ends():
    assert interval_text(0.0, 1.0, False, True) == "[0, 1)"
    assert interval_text(0.0, math.inf, True, False) == "(0, ∞)"
    with pytest.raises(ValueError, match=r"eps.*\(0, ∞\)"):
        check_range("eps", 0.0, 0.0, low_open=True)
    with pytest.raises(ValueError, match=r"beta1.*\[0, 1\)"):
        check_range("beta1", 1.0, 0.0, 1.0, high_open=True)


def test_int_and_choice():
    assert check_int("k", 3, 1) == 3
    for bad in (0, 2.0, True):
        with pytest.raises(ValueError, match="k"):
            check_int("k", bad, 1)
    with pytest.raises(ValueError, match="mode.*'optimistic'"):
        check_choice("mode", "fast", ("optimistic", "descent-ascent"))


def test_probability_vector():
    p = check_probability_vector("prior", [0.25, 0.75], 2)
    assert p.dtype == torch.float64 and torch.allclose(p, torch.tensor([0.25, 0.75], dtype=torch.float64))
    for bad, n in (([0.5, 0.6], 2), ([1.5, -0.5], 2), ([0.5, 0.5], 3), ([[0.5, 0.5]], 2), ([float("nan"), 1.0], 2)):
        with pytest.raises(ValueError, match="prior"):
            check_probability_vector("prior", bad, n)
    with pytest.raises(ValueError, match="строго положительны"):
        check_probability_vector("prior", [0.0, 1.0], 2, strict=True)
