"""optviz.distributed: two gloo processes (one per client) reproduce the single-process trainer.

The reference is :func:`optviz.train.train` — ALSO's ``weighted_loss`` over the union batch with
groups = clients, in one process. The distributed run computes per-worker losses in separate
processes, sums gradients with ``reduce``, rebuilds the group signal on rank 0 and broadcasts θ
and π: a different computation that must land on the same numbers (float64, ≤ 1e-10).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist

from optviz.distributed import (
    DistributedConfig,
    build_data,
    build_model,
    build_optimizer,
    free_port,
    launch,
    main,
    run_worker,
    simulate,
)

GLOO = dist.is_available() and dist.is_gloo_available()
needs_gloo = pytest.mark.skipif(not GLOO, reason="this torch build has no torch.distributed gloo backend")

TOL = 1e-10   # float64; the two computations differ only in summation order (measured ~1e-16)


def _max_abs(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


def _state(model) -> dict:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


# --------------------------------------------------------------------- the two-process runs
@needs_gloo
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["parallel", "alternate"])
def test_two_gloo_processes_match_single_process_trainer(mode):
    # epoch 1: only client 1 (the delay; worker 2 absent), epoch 2: both clients
    cfg = DistributedConfig(epochs=2, delay=1, mode=mode, dtype="float64", hidden=(32,), lr=3e-3, pi_lr=0.05,
                            eval_sets=("test",), seed=3)
    ref, model, opt = simulate(cfg)
    init = _state(build_model(cfg, build_data(cfg)))
    saved = launch(cfg, nproc=2, backend="gloo", timeout=120)
    dist_res = saved["result"]

    assert dist_res["config"]["distributed"] == {"backend": "gloo", "world_size": 2, "mode": mode}
    # parameters after the last step (ALSO's extrapolated point) and at the base point θ_T
    final = _state(model)
    with opt.base_point():
        base = _state(model)
    assert _max_abs(final, init) > 1e-2                      # training really moved the network
    assert _max_abs(final, saved["state_dict"]) < TOL
    assert _max_abs(base, saved["base_state_dict"]) < TOL

    # π after every step, kept on rank 0 (groups = clients)
    pi_ref, pi_dist = ref.pi_steps, np.asarray(dist_res["pi_steps"])
    assert pi_ref.shape == pi_dist.shape == (len(ref.step_loss) + 1, 2)
    assert np.abs(pi_ref - pi_dist).max() < TOL
    data = build_data(cfg)
    # the data schedule counts epochs from 0: trainer epoch 1 = schedule epoch 0 (the delay)
    n_delay, n_both = data.n_train_batches(0, cfg.batch_size), data.n_train_batches(1, cfg.batch_size)
    assert len(ref.step_loss) == n_delay + n_both
    assert all(set(b.client.tolist()) == {0} for b in data.train_batches(0, cfg.batch_size, cfg.seed))
    if mode == "parallel":   # both workers compute in every step after the delay
        assert all(set(b.client.tolist()) == {0, 1} for b in data.train_batches(1, cfg.batch_size, cfg.seed))
    # during the delay client 2 sends no signal (h = 0) and its weight falls below client 1's
    assert np.all(np.diff(pi_ref[: n_delay + 1, 0]) > 0)
    assert np.abs(pi_ref[-1] - 0.5).max() > 1e-2

    # the per-step losses and the evaluation of rank 0 at the base point
    assert np.abs(ref.step_loss - np.asarray(dist_res["step_loss"])).max() < TOL
    for key in ("loss", "objective", "accuracy"):
        assert np.allclose(ref.train[key], np.asarray(dist_res["train"][key]), atol=TOL, equal_nan=True)
    for key in ("loss", "accuracy", "worst_group_acc"):
        assert np.allclose(ref.metrics["test"][key], np.asarray(dist_res["metrics"]["test"][key]), atol=TOL)


@needs_gloo
@pytest.mark.slow
def test_launch_timeout_stops_every_process(tmp_path):
    out = tmp_path / "never.pt"
    with pytest.raises(TimeoutError, match="не уложился"):
        launch(DistributedConfig(epochs=50), timeout=1.0, out=out)
    time.sleep(0.5)
    leftovers = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(out) in cmdline:
                leftovers.append(entry.name)
    assert leftovers == []
    assert not out.exists()


# ----------------------------------------------------------------- fast, in-process checks
def test_worker_decomposition_equals_union_weighted_loss():
    """The identity the launcher relies on: Σ_w ∇(π_w s Σ_{i∈w} ℓ_i) = ∇ weighted_loss(union), and
    weighted_loss(per-worker sums, groups=workers) records the union's group signal."""
    cfg = DistributedConfig(dtype="float64", hidden=(16,), pi_lr=0.5)
    data = build_data(cfg)
    x, y, g = next(iter(data.train_batches(0, 48, 0)))   # a delay-epoch batch: client 1 only …
    x = torch.cat([x, data.train.x[data.train.client == 1][:20]])
    y = torch.cat([y, data.train.y[data.train.client == 1][:20]])
    g = torch.cat([g, torch.ones(20, dtype=torch.long)])          # … plus 20 samples of client 2
    assert set(g.tolist()) == {0, 1}
    model_a, model_b = build_model(cfg, data), build_model(cfg, data)
    opt_a, opt_b = build_optimizer(cfg, model_a.parameters()), build_optimizer(cfg, model_b.parameters())
    for opt, model in ((opt_a, model_a), (opt_b, model_b)):   # one step, so that π_{1/2} is not uniform
        opt.zero_grad()
        losses = torch.nn.functional.cross_entropy(model(x), y, reduction="none")
        opt.weighted_loss(losses, g).backward()
        opt.step()
    assert abs(float(opt_a.pi_half[0]) - 0.5) > 1e-3

    opt_a.zero_grad()
    losses = torch.nn.functional.cross_entropy(model_a(x), y, reduction="none")
    opt_a.weighted_loss(losses, g).backward()

    opt_b.zero_grad()
    scale, pi_half, sums = 2 / len(y), opt_b.pi_half, []
    for w in (0, 1):
        lw = torch.nn.functional.cross_entropy(model_b(x[g == w]), y[g == w], reduction="none")
        ((pi_half[w] * lw).sum() * scale).backward()        # accumulates: the all-reduce sum
        sums.append(lw.detach().sum())
    opt_b.weighted_loss(torch.stack(sums), groups=torch.tensor([0, 1]), loss_scale=scale)
    for pa, pb in zip(model_a.parameters(), model_b.parameters()):
        assert torch.allclose(pa.grad, pb.grad, atol=1e-13, rtol=0)
    h_a = opt_a.state_dict()["dro"]["pending_signal"]
    h_b = opt_b.state_dict()["dro"]["pending_signal"]
    assert torch.allclose(h_a, h_b, atol=1e-13, rtol=0)
    opt_a.step()
    opt_b.step()
    assert torch.allclose(opt_a.pi, opt_b.pi, atol=1e-14, rtol=0)


def test_parallel_schedule_pairs_the_clients_batches():
    alt = build_data(DistributedConfig(mode="alternate", delay=1))
    par = build_data(DistributedConfig(mode="parallel", delay=1))
    # epoch 0 is a delay epoch (client 1 only): unchanged; epoch 1 alternates 1, 2, 1, 2, …
    for epoch in (0, 1):
        plan = alt.schedule.plan(alt.train, epoch, 64, 5)
        steps = list(par.train_batches(epoch, 64, 5))
        assert len(steps) == par.n_train_batches(epoch, 64)
        if epoch == 0:
            assert len(steps) == len(plan)
            assert all(set(b.client.tolist()) == {0} for b in steps)
            continue
        assert len(steps) == len(plan) // 2
        for k, batch in enumerate(steps):
            (c1, i1), (c2, i2) = plan[2 * k], plan[2 * k + 1]
            assert (c1, c2) == (0, 1)
            assert torch.equal(batch.x, alt.train.x[np.concatenate([i1, i2])])
            assert torch.equal(batch.client, torch.tensor([0] * len(i1) + [1] * len(i2)))


def test_config_validation_is_russian():
    with pytest.raises(ValueError, match="mode"):
        DistributedConfig(mode="async")
    with pytest.raises(ValueError, match="optimizer"):
        DistributedConfig(optimizer="lbfgs")
    with pytest.raises(ValueError, match="Параметр batch_size"):
        DistributedConfig(batch_size=0)


def test_main_without_torchrun_explains(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(SystemExit, match="torchrun"):
        main(["--epochs", "1"])


@needs_gloo
def test_world_size_must_equal_number_of_clients():
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1)
    try:
        with pytest.raises(ValueError, match="по одному процессу на клиента"):
            run_worker(DistributedConfig(epochs=1))
    finally:
        dist.destroy_process_group()


def test_simulate_is_deterministic_and_uses_also():
    cfg = DistributedConfig(epochs=1, delay=1, hidden=(8,), eval_sets=("test",))
    r1, m1, o1 = simulate(cfg)
    r2, m2, _ = simulate(cfg)
    assert type(o1).__name__ == "ALSO" and o1.n_groups == 2
    assert _max_abs(_state(m1), _state(m2)) == 0.0
    assert np.array_equal(r1.pi_steps, r2.pi_steps)
