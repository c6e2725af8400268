"""Shared test fixtures: tiny models (an MLP, a CNN with BatchNorm) and random data.

Everything here is small enough that a test using it runs in well under a second on one CPU core.
"""
import os
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(1)


class TinyMLP(nn.Module):
    """4 -> 16 -> 16 -> 3 with ReLU; biases included (they are what ``ignore="biasbn"`` zeroes)."""

    def __init__(self, d_in: int = 4, hidden: int = 16, classes: int = 3):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, classes))

    def forward(self, x):
        return self.net(x.flatten(1))


class TinyCNN(nn.Module):
    """(N, 1, 8, 8) -> conv(1->4) -> BN -> ReLU -> conv(4->6) -> BN -> ReLU -> pool -> linear(6->3)."""

    def __init__(self, classes: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6, classes)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.fc(x.mean((2, 3)))


def _randomize_bn(model: nn.Module, seed: int) -> None:
    """Give BatchNorm non-trivial affine parameters and running statistics (as after training)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(1 + 0.3 * torch.rand(m.running_var.shape, generator=g))


@pytest.fixture
def mlp():
    torch.manual_seed(0)
    return TinyMLP().eval()


@pytest.fixture
def cnn():
    torch.manual_seed(0)
    model = TinyCNN()
    _randomize_bn(model, 1)
    return model.eval()


@pytest.fixture
def xy():
    """Random classification data for TinyMLP: X (64, 4), Y (64,) in 0..2."""
    g = torch.Generator().manual_seed(1)
    return torch.randn(64, 4, generator=g), torch.randint(0, 3, (64,), generator=g)


@pytest.fixture
def images():
    """Random image data for TinyCNN: X (40, 1, 8, 8), Y (40,) in 0..2."""
    g = torch.Generator().manual_seed(2)
    return torch.randn(40, 1, 8, 8, generator=g), torch.randint(0, 3, (40,), generator=g)


@pytest.fixture(autouse=True)
def _close_figures():
    """Close every matplotlib figure a test leaves open (only if pyplot was imported)."""
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module of small models (``pytestmark = pytest.mark.usefixtures(...)``)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _keep_thread_count():
    """Commands set torch's thread count (--threads); put it back for the tests that follow."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def landscape_exe() -> list:
    """The installed `landscape` console script as an argv prefix (`python -c` where it is missing)."""
    exe = Path(sys.executable).with_name("landscape")
    return [str(exe)] if exe.exists() else [sys.executable, "-c", "from landscape import cli; cli.main()"]


def ctrl_c_default() -> None:
    """``preexec_fn`` for a child that a test interrupts with SIGINT: a shell starting a job in the
    background (``cmd &``, nohup, some CI runners) makes it ignore SIGINT, the child inherits that,
    and Python then never raises KeyboardInterrupt. Ctrl-C at a terminal always reaches the command."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


class CountingLoss:
    """A loss that counts model evaluations and stops the job (KeyboardInterrupt, as Ctrl-C) after
    ``limit`` of them; ``name`` is what a surface file records as its loss."""

    def __init__(self, limit=None, name: str = "counting"):
        self.calls, self.limit, self.__name__ = 0, limit, name

    def __call__(self, model, batch):
        self.calls += 1
        if self.limit is not None and self.calls > self.limit:
            raise KeyboardInterrupt
        return nn.functional.cross_entropy(model(batch[0]), batch[1])
