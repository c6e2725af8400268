"""The `landscape` command: a thin layer over the library.

Each subcommand lives in ``landscape/commands/<name>.py`` and is imported only when it runs, so
``landscape --help`` answers without importing torch. Errors become one line on stderr:
bad input (``ValueError``, click usage errors) exits 2, any other failure exits 1, Ctrl-C exits 130;
``--debug`` (before or after the subcommand) shows the traceback instead; a closed output pipe
(``| head``) ends the command quietly. ``main`` is the console script (setup.cfg: ``landscape.cli:main``); this file installs as
``landscape.cli`` (``landscape/cli.py`` is a link to it), never as a top-level ``cli``.
"""
import importlib

import click

# name -> (module:attribute, one-line help shown by `landscape --help`)
COMMANDS = {
    "surface": ("landscape.commands.surface:surface", "Sample loss and accuracy on a 1D line or 2D plane around a checkpoint into an HDF5 file."),
    "info": ("landscape.commands.info:info", "Show a surface file's settings, grid, progress and value ranges."),
    "sharpness": ("landscape.commands.sharpness:sharpness", "Measure sharpness: Hessian eigenvalues, trace, spectral density, SAM/ASAM/ε-sharpness, or grid curvature of a surface file."),
    "plot": ("landscape.commands.plot:plot", "Draw a surface file: line, contour, filled contour, heatmap or 3D surface."),
    "compare": ("landscape.commands.plot:compare", "Draw surfaces side by side on shared scales (e.g. with and without skip connections)."),
    "export": ("landscape.commands.plot:export", "Export a surface: a page to turn it in a browser (.html), ParaView (.vtp), a mesh (.obj), a movie (.gif/.mp4)."),
    "data": ("landscape.commands.data:data", "List the built-in datasets and show their shapes and splits."),
    "models": ("landscape.commands.models:models", "List the built-in architectures and show one's options and size."),
    "train": ("landscape.commands.train:train", "Train one network on a dataset, with checkpoints, history and gradient flow."),
    "demo": ("landscape.commands.demo:demo", "Run the whole story on MNIST-1D: a deep conv ResNet with and without skips and batch norm, trained, sampled, measured, in report.md."),
    "experiment": ("landscape.commands.demo:experiment", "Run a study from a TOML config (a grid of members or pairs; e.g. li2018-mnist1d-resnet, the depth study)."),
    "connect": ("landscape.commands.connect:connect", "Train a low-loss curve between two checkpoints; measure the loss and barrier along it and along the straight line."),
    "basin": ("landscape.commands.basin:basin", "Loss along K random directions and the worst-case one; the basin radius with its interval."),
    "pair": ("landscape.commands.train:pair", "Train both members of a pair (with/without skip or norm) with the same seed and data order."),
}

# What Ctrl-C leaves behind and how to go on, per command (None: the rest). Every file is written
# whole or not at all (landscape.atomic), so an interrupted command never leaves a damaged file.
INTERRUPT_HINTS = {
    None: "Files are written whole or not at all, so nothing is damaged; rerun the command to start again.",
    "surface": "The cells computed so far are saved in the output file; rerun the same command to resume.",
    "train": "The run is saved after every epoch; rerun the same command with --resume to continue.",
    "pair": "The runs are saved after every epoch; rerun the same command with --resume to continue.",
    "connect": "The curve's training and the points evaluated so far are saved; rerun the same command to resume.",
    "demo": "Finished work in the output directory is kept; rerun the same command to continue.",
    "experiment": "Finished work in the output directory is kept; rerun the same command to continue.",
}

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (click docs: "Lazily Loading Subcommands")."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module_name, attr = COMMANDS[name][0].split(":")
        return getattr(importlib.import_module(module_name), attr)

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:  # the group's own options: `landscape --bogus`
            raise _usage_error(exc) from exc

    def parse_args(self, ctx, args):
        # --debug is the group's option, but every error says "rerun with --debug": accept it after
        # the subcommand too (not after "--", where it would be an argument)
        end = args.index("--") if "--" in args else len(args)
        if "--debug" in args[1:end]:
            args = ["--debug"] + [a for i, a in enumerate(args) if not (a == "--debug" and i < end)]
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        """Run the subcommand; turn library exceptions into one-line errors with the right status."""
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # a subcommand's arguments: one line, not click's usage block
            raise _usage_error(exc) from exc
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:  # `landscape models list | head -2`: the reader has all it wanted
            _quiet_stdout()
            raise click.exceptions.Exit(0)
        except Exception as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            options = _option_names(self.get_command(ctx, ctx.invoked_subcommand)) if ctx.invoked_subcommand else set()
            if isinstance(exc, ValueError):
                raise CommandError(cli_words(_one_line(exc), options), 2) from exc
            raise CommandError(f"{cli_words(_one_line(exc), options)} (rerun with --debug for the traceback)", 1) from exc
        except KeyboardInterrupt:
            if ctx.obj and ctx.obj.get("debug"):
                # re-raising would reach click's own handler: "Aborted!", exit 1, no traceback
                import traceback

                traceback.print_exc()
            hint = INTERRUPT_HINTS.get(ctx.invoked_subcommand, INTERRUPT_HINTS[None])
            raise CommandError(f"Interrupted. {hint}", 130)

    def format_commands(self, ctx, formatter):
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def resolve_command(self, ctx, args):
        name = args[0] if args else None
        if name is not None and name not in COMMANDS and not name.startswith("-"):
            import difflib

            close = difflib.get_close_matches(name, list(COMMANDS), n=3)
            hint = f" Did you mean {' or '.join(close)}?" if close else ""
            ctx.fail(f"No such command {name!r}. Commands: {', '.join(sorted(COMMANDS))}.{hint}")
        return super().resolve_command(ctx, args)


def _version() -> str:
    from landscape import __version__

    return __version__


@click.group(cls=LazyGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(_version(), "--version", prog_name="landscape")
@click.option("--debug", is_flag=True, envvar="LANDSCAPE_DEBUG", help="Show full tracebacks on errors.")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.pass_context
def main(ctx, debug, verbose):
    """landscape: train paired networks (with/without skip connections or normalization), sample their
    loss landscapes into HDF5 grids, measure sharpness and draw paper-ready figures.

    Start with `landscape demo` (the whole story on MNIST-1D, generated locally: a 56-layer conv
    ResNet with and without skips and batch norm, a few minutes on a laptop CPU), then see
    `landscape COMMAND --help`.
    """
    import logging

    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    _terminate_like_ctrl_c(ctx)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _terminate_like_ctrl_c(ctx) -> None:
    """SIGTERM (kill, a scheduler's time limit) takes the Ctrl-C path: the same cleanup and the
    same message saying how to resume. Only in the main thread, where handlers can be installed."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        ctx.call_on_close(lambda: signal.signal(signal.SIGTERM, previous))


class CommandError(click.ClickException):
    """A failure shown as one line: ``Error: ...`` with the given exit status."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def _usage_error(exc: click.UsageError) -> click.ClickException:
    """Click's usage error as one line, ``Error: <what was wrong> (see 'landscape CMD --help')``,
    exit status 2. A bare group call (no command: click shows the help) is left as it is."""
    if isinstance(exc, getattr(click.exceptions, "NoArgsIsHelpError", ())):
        return exc
    where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
    return CommandError(f"{_one_line(exc.format_message())}{where}", 2)


def _option_names(command) -> set:
    """Parameter names (``n_samples``) of a command's options, and of its subcommands' for a group."""
    if command is None:
        return set()
    names = set()
    for p in command.params:  # the dest name (values) and the flags' names (--value -> value)
        if isinstance(p, click.Option):
            names |= {p.name} | {o.lstrip("-").replace("-", "_") for o in p.opts + p.secondary_opts if o.startswith("--")}
    for sub in getattr(command, "commands", {}).values():
        names |= _option_names(sub)
    return names


def cli_words(message: str, options) -> str:
    """A library message in the command line's words: the library speaks to Python callers
    (``overwrite=True``, ``kind='line'``, "The value for `dataset` ..."); at the command line the same
    advice names the options (``--overwrite``, ``--kind line``) and an invalid choice reads as
    click's own: "Invalid value for '--kind': 'x' is not one of 'line', 'contour'."."""
    import re

    def opt(name: str) -> str:
        bare = name.lstrip("-").replace("-", "_")
        return f"--{bare.replace('_', '-')}" if bare in options else f"'{name}'"

    for before, after in _PYTHON_ADVICE:
        message = message.replace(before, after)
    message = re.sub(r"The value for `([\w.-]+)` must be one of \[(.*?)\], but (.+?) was passed\.",
                     lambda m: f"Invalid value for '{opt(m[1]).strip(chr(39))}': {m[3]} is not one of {m[2]}.", message)
    message = re.sub(r"The value for `([\w.-]+)`", lambda m: opt(m[1]), message)
    message = re.sub(r"\s*(?:/ |\()(\w+)=True\)?(?=[\s.;,)]|$)",
                     lambda m: "" if f"--{m[1]}" in message else f" (--{m[1].replace('_', '-')})", message)

    def keyword(m):
        name, value = m[1], m[2].strip("'\"")
        if name not in options:
            return m[0]
        return f"--{name.replace('_', '-')}" + ("" if value == "True" else f" {value}")

    return re.sub(r"\b(\w+)=('[^']*'|\"[^\"]*\"|True|[\w.-]+)", keyword, message)


# Library advice with no command-line option of the same name, and what to say instead.
_PYTHON_ADVICE = (
    ("create it with in_shape= matching your data", "the checkpoint's model takes inputs of another shape: use a "
                                                    "--dataset like the one it was trained on"),
)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit does not fail again on the closed pipe."""
    import os
    import sys

    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (a test runner's buffer)
        pass
    finally:
        os.close(devnull)


def _one_line(exc: BaseException) -> str:
    return " ".join((str(exc).strip() or type(exc).__name__).split())


if __name__ == "__main__":
    main()
