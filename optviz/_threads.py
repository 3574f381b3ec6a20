"""One torch thread for tiny workloads.

The course's toy problems and small networks are made of tensors with a few dozen to a few thousand
entries. On such tensors torch's intra-op thread pool only adds synchronisation: on a busy 2-core
machine the same run is up to 20× slower with the default thread count than with one thread.
"""

from __future__ import annotations

import contextlib

import torch

__all__ = ["torch_threads"]


@contextlib.contextmanager
def torch_threads(n: int = 1):
    """Run the block with ``torch.set_num_threads(n)`` and restore the previous count afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)
