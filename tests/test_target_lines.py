"""Issue 21 items 2 and 3: a line toward a target model ends at that model, BatchNorm statistics
are never extrapolated into negative variances, and a diverged cell is NaN in every value."""
import numpy as np
import torch
from click.testing import CliRunner
from torch import nn

from landscape import cli, models
from landscape.core import directions, surface
from landscape.storage import checkpoint, io


def _save(path, skip=True, var_scale=1.0, seed=0):
    model = models.create("mlp", in_shape=(1, 8, 8), num_classes=10, depth=4, width=0.125, skip=skip, seed=seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_var.fill_(var_scale)
    checkpoint.save(path, model, spec=models.spec(model), data={"dataset": "digits", "normalize": True})
    return path


def _surface(*args):
    return CliRunner().invoke(cli.main, ["surface", *map(str, args), "--n-samples", "40", "--split", "train",
                                         "--no-progress"])


def test_target_of_another_architecture_is_refused_unless_asked(tmp_path):
    a, b = _save(tmp_path / "a.pt"), _save(tmp_path / "b.pt", skip=False, seed=1)
    out = tmp_path / "ab.h5"
    r = _surface(a, "--dir", "target", "--target", b, "--x", "0:1:3", "-o", out)
    assert r.exit_code == 2, r.output
    line = r.output.strip().splitlines()[-1]
    assert "mlp4_noskip" in line and "mlp4" in line and "--allow-other-model" in line
    assert not out.exists()
    r = _surface(a, "--dir", "target", "--target", b, "--x", "0:1:3", "-o", out, "--allow-other-model")
    assert r.exit_code == 0, r.output
    assert io.read_attrs(out)["target_other_architecture"] == "mlp4_noskip"
    # the same architecture from another seed is what a target line is for
    c = _save(tmp_path / "c.pt", seed=2)
    assert _surface(a, "--dir", "target", "--target", c, "--x", "0:1:3", "-o", tmp_path / "ac.h5").exit_code == 0


def test_target_line_past_the_models_keeps_batchnorm_statistics_valid(tmp_path):
    # b's running variances are a tenth of a's: the straight line reaches var < 0 at x > 1.11
    a, b = _save(tmp_path / "a.pt"), _save(tmp_path / "b.pt", var_scale=0.1, seed=1)
    out = tmp_path / "ab.h5"
    r = _surface(a, "--dir", "target", "--target", b, "--x", "-0.5:1.5:9", "-o", out)
    assert r.exit_code == 0, r.output
    surf = io.load(out)
    assert np.isfinite(surf.values["train_loss"]).all() and np.isfinite(surf.values["train_acc"]).all()
    assert list(surf.attrs["buffer_range"]) == [0.0, 1.0]
    # beyond x = 1 only the parameters move on: x = 1 is exactly b, and the statistics stay b's
    model_b, _ = checkpoint.load_model(b)
    end = surface.compute(model_b, directions.random(model_b, n=1, seed=0), x=(0, 1, 2), data=_digits(),
                          progress=False)  # x = 0: b itself
    np.testing.assert_allclose(surf.values["train_loss"][6], end.values["train_loss"][0], rtol=1e-5)


def _digits():
    from landscape import data

    return data.load_at_most("digits", "train", 40, 0, None, True)


class SqrtScale(nn.Module):
    """Logits times sqrt(s): s < 0 gives NaN logits, hence a NaN loss."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.s = nn.Parameter(torch.ones(()))

    def forward(self, x):
        return self.lin(x) * torch.sqrt(self.s)


def test_a_diverged_cell_is_nan_in_every_value(xy):
    torch.manual_seed(0)
    model = SqrtScale().eval()
    d = {k: torch.zeros_like(v) for k, v in model.state_dict().items()}
    d["s"] = torch.ones(())
    surf = surface.compute(model, [d], x=(-2, 1, 4), data={"train": xy, "test": xy}, progress=False)
    nan = ~np.isfinite(surf.values["train_loss"])
    assert nan.tolist() == [True, False, False, False]  # s = -1 only
    for name, v in surf.values.items():
        assert np.isnan(v[nan]).all(), name
        assert np.isfinite(v[~nan]).all(), name
