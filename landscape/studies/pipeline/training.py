"""Stage 1: train every member with ``landscape.train.fit`` into ``OUT/runs/<member>/``.

Members that differ in one variable share seed, initial weights and data order (the config's
seeds; see ``landscape.members``). A run with ``final.pt`` and the same settings in its
``config.json`` is reused; an interrupted one (``last_state.pt``) is resumed; one with other
settings is trained again.
"""
from __future__ import annotations

from landscape.storage import checkpoint, rundir

from .context import Context, as_json, read_json


def run(ctx: Context) -> None:
    from landscape.analysis.tracking import SharpnessTracker
    from landscape.core import threads
    from landscape.training.train import fit

    c = ctx.config
    first = next(iter(ctx.members))
    n_train, n_test = len(ctx.load(first, "train")[1]), len(ctx.load(first, "test")[1])
    epochs = sorted({m.train.epochs for m in ctx.members.values()})
    ctx.say(f"[train] {len(ctx.todo)} networks on {c.data.dataset} ({n_train} train / {n_test} test samples), "
            f"{'/'.join(map(str, epochs))} epochs each")
    for name in ctx.todo:
        m = ctx.members[name]
        run_dir = ctx.out / "runs" / name
        state = run_state(ctx, name)
        if state == "done":
            ctx.found("train", name)
            ctx.say(f"  {name}: reusing the finished run in {run_dir}")
        else:
            resume = state == "partial"
            ctx.say(f"  {name}: {'resuming' if resume else 'training'} into {run_dir}")
            model, train_xy = m.model.to(ctx.device), ctx.load(name, "train")
            # threads = 0: automatic, as everywhere (landscape.core.threads: one for a small model)
            n = None if c.threads else threads.for_data(model, [train_xy], lambda net, batch: net(batch[0]))
            with threads.using(n):
                fit(model, train_xy, test_data=ctx.load(name, "test"), config=m.train,
                    run_dir=run_dir, resume=resume, overwrite=not resume, name=name, spec=m.spec,
                    data_meta=ctx.data_meta(name), progress_bar=ctx.bars, desc=name,
                    tracker=SharpnessTracker(m.train) if m.train.track_sharpness else None)  # [train] track_sharpness
            ctx.computed["train"].append(name)
        record(ctx, name)


def run_state(ctx: Context, name: str) -> str:
    """"done" (a finished run with the member's settings), "partial" (an interrupted one) or "new"."""
    m, run_dir = ctx.members[name], ctx.out / "runs" / name
    saved = read_json(run_dir / "config.json")
    same = (saved is not None and saved.get("train") == as_json(m.train.to_dict())
            and saved.get("model") == m.spec and saved.get("data") == ctx.data_meta(name))
    if not same or ctx.fresh:
        return "new"
    return "done" if (run_dir / "final.pt").is_file() else "partial" if (run_dir / "last_state.pt").is_file() else "new"


def record(ctx: Context, name: str) -> None:
    """What the later stages need of a finished run, into ``ctx.runs[name]``."""
    run_dir = ctx.out / "runs" / name
    history = rundir.load_history(run_dir)
    final = checkpoint.load(run_dir / "final.pt")
    ctx.runs[name] = {"run_dir": run_dir, "history": history, "final": final.get("metrics") or {},
                      "epoch": final.get("epoch"), "diverged": bool(history.get("diverged")),
                      "sha256": checkpoint.sha256(run_dir / "final.pt")}
    if ctx.runs[name]["diverged"]:
        at = history["epochs"][-1]["epoch"]
        ctx.note(name, f"{name} diverged: its training loss became NaN or infinite at epoch {at}, so it has "
                       "no landscape and no sharpness numbers.")
