"""landscape.threads: the automatic thread count (issue 21.6). The busy-core timing itself is
benchmarks/busy_core.py; here: the rule, its inputs, and that jobs apply it and restore torch."""
import copy
import subprocess
import sys

import pytest
import torch
from torch import nn

from landscape.analysis import sharpness
from landscape.core import directions, surface, threads
from landscape.core.engine import EngineOptions, PointEvaluator
from landscape.core.evaluate import batches as make_batches, objective


def test_small_models_get_one_thread_and_large_ones_the_free_cores(monkeypatch):
    monkeypatch.setattr(threads, "free_cores", lambda **kw: 3)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)
    assert threads.auto(threads.SMALL_FLOPS / 2) == 1
    assert threads.auto(threads.SMALL_FLOPS * 2) == 3
    assert threads.auto(None) == 3  # unknown size: the free cores
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)  # OMP_NUM_THREADS / set_num_threads cap it
    assert threads.auto(threads.SMALL_FLOPS * 2) == 2


def test_fixed_overrides_and_restores():
    before = torch.get_num_threads()
    with threads.fixed(1):
        assert threads.auto(1e12) == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before and threads.auto(1.0) == 1
    with pytest.raises(ValueError, match="threads must be a positive whole number"):
        with threads.fixed(0):
            pass


def test_free_cores_counts_a_busy_process():
    assert 1 <= threads.free_cores() <= threads.cores()
    if threads.cores() < 2 or threads._runnable_others() is None:
        pytest.skip("needs 2 cores and Linux's /proc/loadavg")
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(threads.cores())]
    try:
        import time

        time.sleep(0.5)
        assert threads.free_cores() == 1  # every core taken by a spinner: one thread, not all
    finally:
        for p in busy:
            p.kill()
            p.wait()


def test_flops_per_sample_counts_linear_and_conv_layers():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 8 * 8, 10))
    x = torch.randn(3, 1, 8, 8)
    conv = 2 * (4 * 8 * 8) * (1 * 3 * 3)
    linear = 2 * 10 * (4 * 8 * 8)
    assert threads.flops_per_sample(model, lambda: model(x), 3) == conv + linear


def test_jobs_choose_automatically_and_leave_torch_as_it_was(mlp, xy, monkeypatch):
    chosen = []
    real = threads.auto
    monkeypatch.setattr(threads, "auto", lambda flops=None: chosen.append(flops) or real(flops))
    before = torch.get_num_threads()
    ev = PointEvaluator(mlp, directions.random(mlp, n=1, seed=0), {"train": make_batches(xy, 64, torch.device("cpu"))},
                        objective("cross_entropy"))
    assert ev.options.threads == 1 and chosen[-1] < threads.SMALL_FLOPS  # TinyMLP: one thread
    assert PointEvaluator(mlp, directions.random(mlp, n=1, seed=0), {"train": make_batches(xy, 64, torch.device("cpu"))},
                          objective("cross_entropy"), options=EngineOptions(threads=2)).options.threads == 2
    surface.compute(mlp, directions.random(mlp, n=1, seed=0), x=(-1, 1, 3), data=xy, progress=False)
    n = len(chosen)
    sharpness.hessian_eigs(mlp, xy, k=1, tol=1e-2)
    assert len(chosen) > n  # the Hessian chose too
    n = len(chosen)
    sharpness.barrier_height(mlp, copy.deepcopy(mlp), xy, n_points=3)
    assert len(chosen) > n  # and the barrier's evaluations
    assert torch.get_num_threads() == before
