"""The edge-of-stability study's pieces (fast): the numbers behind its claims, the sharpening
figure, the report section; and `landscape experiment edge-of-stability --quick` end to end (slow)."""
import json

import matplotlib.pyplot as plt
import pytest
from click.testing import CliRunner

from landscape import cli, plot
from landscape.analysis.tracking import edge_of_stability
from landscape.studies.stability import sections


def rows(values, threshold=10.0, every=10, lr=0.2):
    return [{"step": i * every, "epoch": float(i * every), "lr": lr, "threshold": threshold, "lambda_max": v}
            for i, v in enumerate(values)]


def test_edge_of_stability_numbers():
    values = [2.0, 4.0, 6.0, 8.0, 9.5, 10.5, 9.8, 10.2, 12.0]
    losses = [5.0, 4.0, 4.5, 3.0, 2.9, 3.1, 2.0, 1.9]
    r = edge_of_stability(rows(values), losses, window=2)
    assert r["start"] == 2.0 and r["peak"] == 12.0 and r["final"] == 12.0 and r["threshold"] == 10.0
    assert r["reached_step"] == 40 and r["sharpening"] == pytest.approx(9.5 / 2.0)
    assert r["n_after"] == 5 and r["median_ratio"] == pytest.approx(1.02)
    assert r["within"] == pytest.approx(4 / 5)  # 1.2 is outside ±10%
    assert r["loss_increases"] == 2 and r["loss_steps"] == 7
    # window means 4.5, 3.75, 3.0, 1.95: each below the one before
    assert (r["windows"], r["windows_falling"]) == (3, 3)
    never = edge_of_stability(rows([2.0, 3.0, 4.0]))
    assert never["reached_step"] is None and "median_ratio" not in never and never["sharpening"] == 2.0


def history(name, values, lr=0.2, optimizer="gd"):
    thr = 2 / lr
    return {"name": name, "sharpness": rows(values, threshold=thr, lr=lr),
            "sharpness_settings": {"optimizer": optimizer, "threshold_label": "2/η"},
            "epochs": [{"epoch": e, "train_loss": 2.0 / (1 + e)} for e in range(0, 81)]}


def test_sharpening_figure_draws_each_threshold_on_shared_axes():
    runs = [history("with skips", [1, 3, 6, 9, 10, 9.5, 10.2, 10, 9.9], lr=0.2),
            history("without", [1, 2, 3, 4, 5, 5.5, 4.9, 5, 5.1], lr=0.4)]
    fig = plot.sharpening(runs)
    top = fig.axes[:2]
    assert len(fig.axes) == 4
    assert top[0].get_shared_y_axes().joined(top[0], top[1])
    for ax, thr in zip(top, (10.0, 5.0)):
        dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
        assert len(dashed) == 1 and set(dashed[0].get_ydata()) == {thr}
    assert "η = 0.2" in top[0].get_title() and "2/η = 5" in top[1].get_title()
    plt.close(fig)
    with pytest.raises(ValueError, match="--track-sharpness"):
        plot.sharpening([{"name": "untracked", "epochs": []}])


def test_adam_panel_uses_the_preconditioned_sharpness():
    h = history("adam", [1, 2, 3], lr=0.01, optimizer="adam")
    for r, p in zip(h["sharpness"], (None, 1500.0, 3700.0)):
        r["preconditioned"] = p
        r["threshold"] = 3800.0
    h["sharpness_settings"]["threshold_label"] = "38/η"
    ax = plot.sharpness_curve(h)
    assert "preconditioned" in ax.get_ylabel()
    assert [ln.get_label() for ln in ax.get_lines()][-1] == "38/η"
    plt.close(ax.figure)


def member(lr, start, peak, reached, within, median, increases=3, windows=(4, 4), skip=False, depth=4,
           optimizer="gd", final=None):
    thr = 38 / lr if optimizer == "adam" else 2 / lr
    return {"spec": {"name": "mlp", "depth": depth, "skip": skip}, "labels": {}, "eos_measured": 10,
            "eos_optimizer": optimizer, "eos_lr": lr, "eos_threshold": thr, "eos_start": start, "eos_peak": peak,
            "eos_sharpening": (0.9 * thr if reached is not None else peak) / start, "eos_reached_step": reached,
            "eos_within": within, "eos_median_ratio": median, "eos_n_after": 5, "eos_loss_increases": increases,
            "eos_loss_steps": 99, "eos_windows": windows[0], "eos_windows_falling": windows[1], "eos_window": 25,
            "eos_loss_first": 2.3, "eos_loss_last": 0.5, "eos_skip": skip, "eos_every": 10, "eos_samples": 1000,
            "eos_lambda_final": final if final is not None else peak, "eos_lambda_peak": peak}


def test_report_section_states_each_claim_with_its_rule():
    s = {"members": {
        "a": member(0.4, 2.0, 6.0, 110, 0.6, 1.05),
        "b": member(0.6, 2.0, 4.5, 50, 0.3, 1.2, windows=(4, 3)),
        "adam": member(0.005, 1000.0, 7600.0, 90, 0.5, 1.02, optimizer="adam"),
        "skip": member(0.1, 200.0, 200.0, 0, 0.7, 1.1, skip=True, depth=8, final=25.0),
        "noskip": member(0.1, 40.0, 40.0, 0, 0.2, 0.8, skip=False, depth=8, final=15.0)}}
    text = "\n".join(sections.edge_of_stability(s))
    assert "**Progressive sharpening** (held: 2 of 2 step sizes" in text  # the pair is not a step size
    assert "**At the edge of stability for every step size** (did not hold" in text  # b: 30% within
    assert "**The loss keeps falling over long windows, not monotonically** (did not hold" in text  # b: 3 of 4
    assert "**Adam's preconditioned sharpness settles near 38/η** (held" in text
    assert "the net with skips ends sharper: λmax 25 with skips vs 15 without (×1.67)" in text


@pytest.mark.slow
@pytest.mark.parametrize("name, members, figures", [("edge-of-stability", 6, 3), ("edge-of-stability-conv", 4, 1)])
def test_quick_study_end_to_end(tmp_path, name, members, figures):
    out = tmp_path / "eos"
    r = CliRunner().invoke(cli.main, ["experiment", name, "--quick", "--out", str(out), "--no-progress"])
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    assert len(s["members"]) == members and all(m["eos_measured"] >= 2 for m in s["members"].values())  # Adam: none at step 0
    report = (out / "report.md").read_text()
    assert "## Edge of stability" in report and "**Progressive sharpening**" in report
    assert "**Which is driven sharper, with or without skips**" in report
    assert len(list((out / "figures").glob("sharpening_*.png"))) == figures
