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
    f = click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="Processes working on members at once, each with --threads threads (CPU) "
                          "[default: the config's].")(f)
    f = click.option("--threads", type=click.IntRange(min=0), default=None,
                     help="CPU threads for torch (0: torch's default) [default: the config's].")(f)
    f = click.option("--device", default=None, metavar="auto|cpu|cuda|cuda:N",
                     help="Where to compute [default: the config's].")(f)
    f = click.option("--fresh", is_flag=True, help="Redo everything, replacing what --out holds.")(f)
    f = click.option("--quick", is_flag=True,
                     help="A fast version: the config's [quick] settings, then at most 10 epochs, 21x21 planes, fewer "
                          "samples for sharpness.")(f)
    return f


def _run(config, out: str, quick: bool, fresh: bool, device: Optional[str], threads: Optional[int],
         workers: Optional[int], progress: bool):
    from landscape.studies import config as study, experiment

    if quick:
        config = study.quick(config)
    changes = {}
    if device is not None:
        changes["device"] = device
    if threads is not None:
        changes["threads"] = threads
    if workers is not None:
        changes["workers"] = workers
    if changes:
        config = dataclasses.replace(config, **changes)
    result = experiment.run(config, out, fresh=fresh, progress_bars=progress, echo=click.echo)
    _print_result(result)
    return result


def _print_result(result) -> None:
    from landscape.studies.report import claims_section, members_table, pair_sentences

    s = result.summary
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
        for label, key, pct in rows:
            click.echo(f"  {label:<14} {_fmt(a.get(key), pct):>12} {_fmt(b.get(key), pct):>12}")
        for sentence in pair_sentences(s, pair):
            click.echo(f"  - {sentence}")
    click.echo("")
    click.echo("Stage times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items() if k != "total")
               + f"; total {result.timings['total']:.1f}")
    click.echo(f"Report: {result.report}  (numbers: {result.out / 'summary.json'})")


def _fmt(v, pct: bool) -> str:
    if v is None:
        return "-"
    return f"{100 * v:.1f}%" if pct else f"{v:.4g}"


@click.command(context_settings={"max_content_width": 100})
@click.option("--out", "-o", default=None, type=click.Path(file_okay=False),
              help=_OUT_HELP + " [default: ./landscape-demo, or ./landscape-demo-quick with --quick]")
@_options
def demo(out, quick, fresh, device, threads, workers, progress):
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
    """
    from landscape.studies import config as study

    # --quick has a directory of its own: its shorter runs would otherwise replace a full demo's
    _run(study.demo_config(), out or ("landscape-demo-quick" if quick else "landscape-demo"), quick, fresh, device,
         threads, workers, progress)


@click.command(context_settings={"max_content_width": 100})
@click.argument("config_path", metavar="CONFIG.toml")
@click.option("--out", "-o", default=None, type=click.Path(file_okay=False),
              help=_OUT_HELP + " [default: ./NAME, the config's name]")
@_options
def experiment(config_path, out, quick, fresh, device, threads, workers, progress):
    """Run a study from a TOML config: its members (a grid of variables such as depth x skip, or
    pairs), dataset, training, grid, directions, metrics, figures, report. CONFIG.toml is a file,
    or the name of a packaged config:

    \b
      li2018-mnist1d-resnet  Li et al. 2018 Fig. 5 on a CPU: ResNet-20/56/110 with and without
                             skips on MNIST-1D (about 10 min on 2 cores)
      mnist1d-demo           what `landscape demo` runs
      digits-demo            a 20-layer MLP on 8x8 digits, with and without skips and BN
      vanishing-gradients    depth x activation in plain MLPs (docs/studies.md)
      normalization          batch/layer/group/no norm x batch size (docs/studies.md)
      overfitting            one remedy at a time on a small training set (docs/studies.md)
      transformer-depth      transformers: depth x residual x Pre-/Post-LN/none, warm-up (docs/studies.md)
      li2018-cifar10-resnet  the paper's CIFAR-10 setup (for a GPU; CIFAR-10 files needed)

    \b
    Examples:
      landscape experiment li2018-mnist1d-resnet
      landscape experiment li2018-mnist1d-resnet --quick --out /tmp/depth
      landscape experiment my-study.toml --out runs/my-study --workers 2
    """
    from landscape.studies import config as study

    config = study.load_config(study.resolve_config(config_path))
    # the quick config is named NAME-quick, so by default it does not replace a full run's results
    _run(config, out or (config.name + ("-quick" if quick else "")), quick, fresh, device, threads, workers, progress)
