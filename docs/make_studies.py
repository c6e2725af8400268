"""Make docs/studies.md and docs/studies/<study>/*.png from finished study runs, one command.

    landscape experiment vanishing-gradients --out runs/vanishing-gradients
    landscape experiment normalization --out runs/normalization
    landscape experiment overfitting --out runs/overfitting
    landscape experiment transformer-depth --out runs/transformer-depth
    python docs/make_studies.py --runs runs [--note "load average 12 (six other jobs on 2 cores)"]

For each study it copies the report's members table, the claims checked against the numbers and
the study's own section (every sentence generated from the measured numbers by
``landscape.chapter.sections``), copies the figures the report shows into ``docs/studies/<study>/``
and names the command and the time it took (the pipeline's own timings and the CPU seconds measured
by ``/usr/bin/time`` when its log is given as ``RUNS/<study>.time``). Nothing here is written by hand.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
STUDIES = ("vanishing-gradients", "normalization", "overfitting", "edge-of-stability", "edge-of-stability-conv",
           "transformer-depth")
KEEP = ("## All members", "## What the numbers say", "## Vanishing gradients, measured",
        "## Normalization and batch size, measured", "## Overfitting and its remedies, measured",
        "## Per block at initialization", "## The landscapes side by side", "## Training curves", "## Edge of stability")


def sections(report: str) -> List[str]:
    """The report's sections (heading + body) whose heading is one of KEEP, in report order."""
    parts = re.split(r"(?m)^(?=## )", report)
    return [p.rstrip() for p in parts if any(p.startswith(h) for h in KEEP)]


def first_run(path: Path) -> Tuple[Optional[Dict[str, float]], Optional[float], str]:
    """From the log of the run that computed the study (``landscape experiment ... `` under
    ``/usr/bin/time -v``, ``uptime`` before and after): its stage times, its user + system CPU
    seconds, and the load averages ``uptime`` printed. A later rerun reuses that work, so its
    summary's timings are not the cost of the study."""
    if not path.is_file():
        return None, None, ""
    text = path.read_text()
    stages = re.search(r"Stage times \(s\): (.*)", text)
    times = None
    if stages:
        times = {k: float(v) for k, v in re.findall(r"(\w+) ([\d.]+)", stages.group(1))}
    found = [float(m) for m in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", text)]
    loads = re.findall(r"load average: ([\d.]+)", text)
    load = f"load average {loads[0]} at the start, {loads[-1]} at the end" if len(loads) >= 2 else ""
    return times, (sum(found) if len(found) == 2 else None), load


def study_page(name: str, run: Path, figures: Path, note: str) -> List[str]:
    report = (run / "report.md").read_text()
    summary = json.loads((run / "summary.json").read_text())
    title = report.splitlines()[0].lstrip("# ").strip()
    times, cpu, load = first_run(run.parent / f"{name}.time")
    t = times or summary["timings"]
    threads = summary["environment"]["threads"]
    workers = summary["config"].get("workers", 1)
    # with workers, training, surfaces and sharpness all happen in the "members" stage
    stages = (("members", "workers: train, surfaces, sharpness"),) if t.get("members") else (
        ("train", "train"), ("surfaces", "surfaces"), ("sharpness", "sharpness"))
    parts = ", ".join(f"{label} {t.get(key, 0):.0f}" for key, label in stages + (("figures", "figures"),))
    seeds = summary["config"].get("study", {}).get("seeds") or []
    count = len(summary["members"])
    trained = f"{count} networks" + (f" × {len(seeds)} seeds ({count * len(seeds)} trained)" if len(seeds) > 1 else "")
    lines = [f"## {title}", "", f"`landscape experiment {name} --out runs/{name}`: {trained} "
             f"on {summary['data']['dataset']}, {t.get('total', 0):.0f} s wall ({parts})"
             + (f" and {cpu:.0f} CPU seconds ({100 * cpu / t['total']:.0f}% of a core)"
                if cpu is not None and t.get("total") else "")
             + (f", {workers} processes of" if workers > 1 else ",")
             + f" {threads} thread{'s' if threads != 1 else ''}" + (" each" if workers > 1 else "")
             + (f"; {load}" if load else "")
             + (f"; {note}" if note else "") + ". The report of that run: `runs/" + name + "/report.md`.", ""]
    intro = summary["config"].get("report", {}).get("intro")
    if intro:
        lines += [intro.strip(), ""]
    dest = figures / name
    dest.mkdir(parents=True, exist_ok=True)
    for part in sections(report):
        part = re.sub(r"(?m)^## ", "### ", part)

        def move(m):
            src = run / m.group(2)
            shutil.copyfile(src, dest / src.name)
            return f"![{m.group(1)}](studies/{name}/{src.name})"

        lines += [re.sub(r"!\[([^\]]*)\]\((figures/[^)]+)\)", move, part), ""]
    return lines


def title_of(name: str) -> str:
    """The packaged study's title: the heading of its section on the page."""
    import tomllib

    return tomllib.loads((ROOT / "landscape" / "studies" / "configs" / f"{name}.toml").read_text())["title"]


def kept_blocks(page: Path) -> Dict[str, List[str]]:
    """Each study's section as the page has it now (its ``## title`` line to the next ``## ``)."""
    if not page.is_file():
        return {}
    blocks = [b.rstrip() for b in re.split(r"(?m)^(?=## )", page.read_text()) if b.startswith("## ")]
    by_title = {b.splitlines()[0][3:].strip(): b for b in blocks}
    return {n: [by_title[title_of(n)], ""] for n in STUDIES if title_of(n) in by_title}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", required=True, help="directory holding one finished output directory per study")
    ap.add_argument("--out", default=str(ROOT / "docs" / "studies.md"), help="the page to write")
    ap.add_argument("--note", default="", help="where and under what load it ran (said next to the times)")
    ap.add_argument("--only", nargs="+", choices=STUDIES, metavar="STUDY",
                    help="remake only these studies' sections (e.g. --only normalization overfitting); the others "
                         "are kept as the page has them")
    args = ap.parse_args()
    runs, out = Path(args.runs), Path(args.out)
    only = list(args.only or STUDIES)
    kept = kept_blocks(out) if args.only else {}
    lines = ["# The rest of the chapter, as studies", "",
             "The study notes behind landscape make claims beyond skip connections (DESIGN.md, \"Why it exists\"). "
             "Each is a packaged study run by the ordinary pipeline — `landscape experiment NAME`, with a "
             "`--quick` version that the default test run exercises — and each claim is stated below as measured: "
             "confirmed, partly confirmed, not confirmed, or no claim (and why). This page is made by "
             "`python docs/make_studies.py --runs runs` from those runs; every "
             "number, sentence and figure on it comes from them.", ""]
    missing = [n for n in only if not (runs / n / "report.md").is_file()]
    missing += [n for n in STUDIES if n not in only and n not in kept]
    if missing:
        raise SystemExit(f"No finished run of {', '.join(missing)} under {runs} (nor, with --only, a section of it in "
                         f"{out}); run `landscape experiment NAME --out {runs}/NAME` first.")
    for name in STUDIES:
        lines += study_page(name, runs / name, out.parent / "studies", args.note) if name in only else kept[name]
    out.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    print(f"wrote {out} and {out.parent / 'studies'}/")


if __name__ == "__main__":
    main()
