"""bf16 on a CPU without bfloat16 hardware is about 10x slower than fp32 (issue 30.8): a surface asked
for in bf16 there logs a warning saying so; with the hardware, or in fp32, nothing is said."""
import logging

import pytest
import torch

from landscape.core import directions, engine, surface


@pytest.mark.parametrize("hardware, precision, warned", [
    (False, "bf16", True), (True, "bf16", False), (None, "bf16", False), (False, "fp32", False)])
def test_bf16_on_a_cpu_without_it_warns(mlp, xy, caplog, monkeypatch, hardware, precision, warned):
    monkeypatch.setattr(engine, "cpu_bf16_hardware", lambda: hardware)
    dirs = directions.random(mlp, n=1, seed=0)
    with caplog.at_level(logging.WARNING):
        surface.compute(mlp, dirs, x=(-1, 1, 3), data=xy, precision=precision, progress=False)
    said = [r.getMessage() for r in caplog.records if "bfloat16 hardware" in r.getMessage()]
    assert bool(said) == warned, said
    if warned:
        assert "AVX512-BF16" in said[0] and "fp32" in said[0]


def test_the_answer_is_the_cpus():
    """On Linux the flags decide; the answer matches /proc/cpuinfo."""
    engine.cpu_bf16_hardware.cache_clear()
    answer = engine.cpu_bf16_hardware()
    try:
        flags = open("/proc/cpuinfo").read().split()
    except OSError:
        pytest.skip("no /proc/cpuinfo")
    assert answer == any(f in flags for f in ("avx512_bf16", "amx_bf16", "bf16")) or answer is True
    assert isinstance(torch.cpu._is_avx512_bf16_supported(), bool)
