"""`landscape demo` and `landscape experiment`: the whole study, from training to report.md.

Both run :func:`landscape.experiment.run`: ``demo`` on the packaged ``mnist1d-demo.toml``,
``experiment`` on a config file (or a packaged config's name). The work happens in the library;
this module turns options into a config, echoes the stages, and prints the timings and the tables.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import click

from ._common import progress_option

_OUT_HELP = "Output directory (runs, surfaces, figures, report.md, summary.json); finished work in it is reused."


def _options(f):
    f = progress_option()(f)
    f = click.option("--seeds", type=click.IntRange(min=1), default=None, metavar="N",
                     help="Train every member with the seeds 0..N-1 (initial weights and data order; nothing else "
                          "changes); tables give the median and [min, max] over seeds and claims are judged on them "
                          "[default: the config's [study] seeds]. Example: --quick --seeds 3")(f)
    f = click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="Processes working on members at once, each with --threads threads (CPU) "
                          "[default: the config's].")(f)
    f = click.option("--threads", type=click.IntRange(min=0), default=None,
                     help="CPU threads per process (0: automatic, as in every command: 1 for small models, else the "
                          "cores not busy; see docs/scaling.md) [default: the config's].")(f)
    f = click.option("--device", default=None, metavar="auto|cpu|cuda|cuda:N",
                     help="Where to compute [default: the config's].")(f)
    f = click.option("--fresh", is_flag=True, help="Redo everything, replacing what --out holds.")(f)
    f = click.option("--quick", is_flag=True,
                     help="A fast version: the config's [quick] settings, then at most 10 epochs, 21x21 planes, fewer "
                          "samples for sharpness.")(f)
    return f


def _run(config, out: str, quick: bool, fresh: bool, device: Optional[str], threads: Optional[int],
         workers: Optional[int], progress: bool, seeds: Optional[int] = None, config_path=None):
    from landscape.studies import config as study, experiment

    if quick:
        config = study.quick(config)
    if seeds is not None:
        config = study.with_seeds(config, seeds)
    changes = {}
    if device is not None:
        if device.startswith("cuda"):  # said here: the context would blame the config for it
            import torch

            if not torch.cuda.is_available():
                raise click.BadParameter(f"{device!r} was asked for, but no CUDA device is available; use --device cpu "
                                         "or auto.", param_hint="--device")
        changes["device"] = device
    if threads is not None:
        changes["threads"] = threads
    if workers is not None:
        changes["workers"] = workers
    if changes:
        config = dataclasses.replace(config, **changes)
    if config_path is not None:
        _keep_config_file(config, config_path, out)
    result = experiment.run(config, out, fresh=fresh, progress_bars=progress, echo=click.echo)
    _print_result(result)
    return result


def _keep_config_file(config, config_path, out: str) -> None:
    """The study writes OUT/config.toml; refuse when that is the CONFIG.toml given (an --out of the
    config's own folder) unless it already holds exactly what would be written (a rerun of a
    study's saved config), so a hand-written config is never replaced by the study's copy."""
    from pathlib import Path

    from landscape.studies.config import to_toml

    from .outputs import same_file

    target = Path(out) / "config.toml"
    if target.is_file() and same_file(target, config_path) and target.read_text(encoding="utf-8") != to_toml(config):
        raise ValueError(f"--out {out!r} would replace the config file {str(config_path)!r} with the study's own "
                         "config.toml; choose another --out.")


def _print_result(result) -> None:
    from landscape.studies.report import claims_section, members_table, pair_sentences, seeds_section

    s = result.summary
    for line in seeds_section(s):
        click.echo(line)
    if s.get("grids"):
        click.echo("")
        for line in members_table(s) + claims_section(s):
            click.echo(line)
    for pair in s["pairs"]:
        a, b = s["members"][pair["with"]], s["members"][pair["without"]]
        click.echo("")
        click.echo(f"{pair['with']} vs {pair['without']} ({pair['vary']}):")
        rows = [("test acc", "test_acc", True), ("lambda_max", "lambda_max", False), ("trace", "trace", False),
                ("curvature x", "curvature_x", False), ("curvature y", "curvature_y", False),
                ("basin width x", "basin_width_x", False), ("basin width y", "basin_width_y", False),
                ("local minima", "n_local_minima", False)]
        for label, key, pct in rows:  # a diverged member has nothing to show (as in the report)
            cells = ["diverged" if m.get("diverged") and key == "test_acc" else "-" if m.get("diverged")
                     else _fmt(m, key, pct) for m in (a, b)]
            click.echo(f"  {label:<14} {cells[0]:>26} {cells[1]:>26}")
        for sentence in pair_sentences(s, pair):
            click.echo(f"  - {sentence}")
    click.echo("")
    click.echo("Stage times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items() if k != "total")
               + f"; total {result.timings['total']:.1f}")
    click.echo(f"Report: {result.report}  (numbers: {result.out / 'summary.json'})")


def _fmt(m, key: str, pct: bool) -> str:
    """A member's number (the median over seeds, with [min, max] when there are several)."""
    from landscape.studies.columns import cell

    return cell(m, key, (lambda v: "-" if v is None else f"{100 * v:.1f}%") if pct else
                (lambda v: "-" if v is None else f"{v:.4g}"))


@click.command(context_settings={"max_content_width": 100})
@click.option("--out", "-o", default=None, type=click.Path(file_okay=False),
              help=_OUT_HELP + " [default: ./landscape-demo, or ./landscape-demo-quick with --quick]")
@_options
def demo(out, quick, fresh, device, threads, workers, progress, seeds):
    """Run the whole story on MNIST-1D (generated locally, no download): train a 56-layer conv
    ResNet with and without skip connections and with and without batch norm, sample 1D, 2D and
    PCA-trajectory surfaces, measure sharpness (Hessian λmax and trace, grid curvature, basin width,
    local minima), draw the figures and write report.md. A few minutes on a laptop CPU (two
    processes of one thread); a rerun reuses what is finished.

    The settings are the packaged mnist1d-demo.toml (`landscape experiment mnist1d-demo` is the same
    run). The 8x8-digits MLP study: `landscape experiment digits-demo`; the depth study (ResNet-20/56/110,
    Li et al. 2018 Fig. 5): `landscape experiment li2018-mnist1d-resnet`.

    \b
    Examples:
      landscape demo
      landscape demo --quick --out /tmp/demo
      landscape demo --seeds 5 --out /tmp/demo5      # five training seeds per member instead of three
    """
    from landscape.studies import config as study

    # --quick has a directory of its own: its shorter runs would otherwise replace a full demo's
    _run(study.demo_config(), out or ("landscape-demo-quick" if quick else "landscape-demo"), quick, fresh, device,
         threads, workers, progress, seeds)


@click.command(context_settings={"max_content_width": 100})
@click.argument("config_path", metavar="CONFIG.toml")
@click.option("--out", "-o", default=None, type=click.Path(file_okay=False),
              help=_OUT_HELP + " [default: ./NAME, the config's name]")
@_options
def experiment(config_path, out, quick, fresh, device, threads, workers, progress, seeds):
    """Run a study from a TOML config: its members (a grid of variables such as depth x skip, or
    pairs), dataset, training, grid, directions, metrics, figures, report. CONFIG.toml is a file,
    or the name of a packaged config:

    \b
      li2018-mnist1d-resnet  Li et al. 2018 Fig. 5 on a CPU: ResNet-20/56/110 with and without
                             skips on MNIST-1D, 3 seeds (~20 min)
      mnist1d-demo           what `landscape demo` runs
      digits-demo            a 20-layer MLP on 8x8 digits, with and without skips and BN
      vanishing-gradients    depth x activation in plain 1D conv nets, 2 seeds (~6 min)
      normalization          batch/layer/group/no norm x batch size, 3 seeds (~6 min)
      overfitting            one remedy at a time on 500 examples, 3 seeds (~4 min)
      edge-of-stability      sharpness along training: full-batch GD at 2/lr, Adam at 38/lr
      edge-of-stability-conv the same claims for a small 1D conv net, with and without skips
      transformer-depth      transformers: depth x residual x Pre-/Post-LN/none, warm-up, 3 seeds (~16 min)
      li2018-cifar10-resnet  the paper's CIFAR-10 setup (for a GPU; CIFAR-10 files needed)

    Times: a quiet 2-core CPU; docs/studies.md has each study's report as measured.

    \b
    Examples:
      landscape experiment li2018-mnist1d-resnet
      landscape experiment li2018-mnist1d-resnet --quick --out /tmp/depth
      landscape experiment li2018-mnist1d-resnet --quick --seeds 3   # medians, [min, max], judged claims
      landscape experiment my-study.toml --out runs/my-study --workers 2
    """
    from landscape.studies import config as study

    config = study.load_config(study.resolve_config(config_path))
    # the quick config is named NAME-quick, so by default it does not replace a full run's results
    _run(config, out or (config.name + ("-quick" if quick else "")), quick, fresh, device, threads, workers, progress,
         seeds, config_path=study.resolve_config(config_path))
