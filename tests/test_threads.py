"""``torch_threads`` sets the torch thread count for a block and always restores it."""

import sys

import pytest
import torch

from optviz._threads import torch_threads
from optviz.experiments import heavy_tail as ht


def test_torch_threads_sets_and_restores_even_on_error():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), torch_threads(1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_heavy_tail_experiment_trains_on_one_thread(monkeypatch):
    seen = []
    train_module = sys.modules["optviz.train"]      # `optviz.train` the attribute is the function
    real_train = train_module.train

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_train(*args, **kwargs)

    monkeypatch.setattr(train_module, "train", spy)
    before = torch.get_num_threads()
    torch.set_num_threads(2)                        # as a student's kernel on a 2-core machine would have
    try:
        ht.heavy_tail_experiment("tiny", epochs=1, n_lrs=1, seeds=(0,))
        assert seen and set(seen) == {1}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
