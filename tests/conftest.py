"""Shared test fixtures (kept small)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

# `make test` runs two pytest workers on two cores: one torch thread each avoids oversubscription
# (with two threads per worker small ops get up to 10x slower under load).
torch.set_num_threads(1)


def _mlp_problem(dtype=torch.float64, device="cpu", seed=0):
    """A 2-layer MLP (5 → 16 → 3, tanh) and its full-batch cross-entropy on 64 random samples.

    Returns ``(model, loss_fn)`` with ``loss_fn(model) -> scalar``. Everything is drawn from a
    private generator, so the global RNG is left alone and two calls give identical problems.
    """
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 5, generator=gen, dtype=dtype).to(device)
    y = torch.randint(0, 3, (64,), generator=gen).to(device)
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3)).to(dtype=dtype)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=gen, dtype=dtype))
    model.to(device)

    def loss_fn(m: nn.Module) -> torch.Tensor:
        return F.cross_entropy(m(x), y)

    return model, loss_fn


@pytest.fixture
def mlp_problem():
    """Factory ``mlp_problem(dtype=torch.float64, device="cpu", seed=0) -> (model, loss_fn)``."""
    return _mlp_problem
