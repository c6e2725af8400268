"""``report.md`` of a study: tables, sentences and figures made from the measured numbers only.

:func:`render` takes the ``summary.json`` document written by :mod:`landscape.experiment` and returns
Markdown. Nothing in the report is written before it is measured: every sentence is generated from
the numbers ("λmax of mlp20_noskip is 77x that of mlp20"), including when the member without skip
connections or normalization is *not* the sharper one, or a claim of the config does not hold,
which the report then says plainly. Figures are embedded with links relative to the report, so
the output directory can be moved.

The report is a list of sections (``[report] sections``; :data:`SECTIONS`): overview, table (one
row per member, the columns of ``[report] table``; with ``[study] seeds`` each cell is the median
and [min, max] over the seeds), seeds (how often each member trains over the seeds), claims
(``[[report.claims]]`` judged on the numbers seed by seed: ``landscape.studies.claims``, in the
words of ``landscape.studies.verdicts``), grid (the study's figure grids), curves (training curves), pairs (a table and
sentences per compared pair), members (each network's figures), settings. A study adds its own
with :func:`register_section` (``fn(summary) -> lines``) and its own table columns with the
measures that fill them (``landscape.pipeline.measures.register``).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

from landscape.base.words import plural

from . import verdicts
from .claims import claim_results, claims_section, drawn_seed, extra_columns, seeds_section  # noqa: F401 (public here too)
from .columns import COLUMNS, cell, columns, coords_text, num as _num, pct as _pct, value_text  # noqa: F401
from .registry import SECTIONS

VARY_WORDS = {"skip": ("Skip connections", "skip connections"), "norm": ("Normalization", "normalization")}
MEASURE_WORDS = {
    "lambda_max": "λmax",
    "trace": "the Hessian trace",
    "curvature": "the grid curvature",
    "basin_width": "the basin width",
}


def _times(r: float) -> str:
    """A ratio as words: 3.2x, 77x, 0.41x, 2.5e-03x."""
    if r >= 10:
        return f"{r:.0f}x"
    return f"{r:.2g}x" if r >= 0.01 else f"{r:.1e}x"


def _capital(text: str) -> str:
    """First letter upper case, except a symbol such as λmax, whose case is its meaning."""
    return text if text.startswith("λ") else text[:1].upper() + text[1:]


def _pair_table(s: Dict[str, Any], pair: Dict[str, Any]) -> List[str]:
    a, b = s["members"][pair["with"]], s["members"][pair["without"]]
    delta = None
    for m in (a, b):
        if m.get("basin_delta") is not None:
            delta = m["basin_delta"]

    def clipped(m):
        return " (≥, edge)" if m.get("basin_clipped") else ""

    def xy(m, key):
        x, y = m.get(f"{key}_x"), m.get(f"{key}_y")
        if x is None or y is None:
            return "–"
        if key == "basin_width" and m.get("cell_x") is not None:  # at the grid's resolution: say so
            parts = [f"< {_num(m[f'cell_{n}'])}: one cell" if m.get(f"basin_cells_{n}") == 1 else cell(m, f"{key}_{n}", _num)
                     for n in ("x", "y")]
            return " / ".join(parts) + f" (cell {_num(m['cell_x'])})"
        return f"{cell(m, key + '_x', _num)} / {cell(m, key + '_y', _num)}"

    def trace(m):
        if m.get("trace") is None:
            return "–"
        if "spread" in m:
            return cell(m, "trace", _num)
        return f"{_num(m['trace'])} ± {_num(m.get('trace_stderr'), 2)}"

    def acc(m):
        return "diverged" if m.get("diverged") else cell(m, "test_acc", _pct)

    several = "spread" in a or "spread" in b
    rows = [
        ("test accuracy" + (" (median [min, max] over seeds)" if several else ""), acc(a), acc(b)),
        ("test loss", cell(a, "test_loss", _num), cell(b, "test_loss", _num)),
        ("train loss (final weights)", cell(a, "train_loss", _num), cell(b, "train_loss", _num)),
        ("λmax (Hessian, largest eigenvalue)", cell(a, "lambda_max", _num), cell(b, "lambda_max", _num)),
        ("trace of the Hessian" + ("" if several else " (± std. error)"), trace(a), trace(b)),
        ("grid curvature x / y", xy(a, "curvature"), xy(b, "curvature")),
        (f"basin width x / y at +{_num(delta)} loss" if delta is not None else "basin width x / y",
         xy(a, "basin_width") + clipped(a), xy(b, "basin_width") + clipped(b)),
        ("local minima on the 2D grid", cell(a, "n_local_minima", COLUMNS["n_local_minima"][1]),
         cell(b, "n_local_minima", COLUMNS["n_local_minima"][1])),
        ("highest loss on the 2D grid", cell(a, "grid_max", _num), cell(b, "grid_max", _num)),
    ]
    if several:
        rows.append(("seeds reaching ≥ 50% test accuracy", *(f"{m['trains']['count']} of {m['trains']['of']}"
                                                             if m.get("trains") else "–" for m in (a, b))))
    lines = [f"| | {pair['with']} | {pair['without']} |", "|---|---:|---:|"]
    lines += [f"| {label} | {va} | {vb} |" for label, va, vb in rows]
    return lines


def pair_sentences(s: Dict[str, Any], pair: Dict[str, Any]) -> List[str]:
    """What the numbers of one pair say, one sentence each, generated from them."""
    A, B = pair["with"], pair["without"]
    a, b = s["members"][A], s["members"][B]
    out: List[str] = []
    for m in (a, b):
        out += m.get("notes", [])
    if a.get("diverged") or b.get("diverged"):
        return out
    if "spread" in a and "spread" in b:
        out.append(f"Numbers are medians over {len(a.get('seeds', []))} training seeds; the table gives their "
                   "[min, max], and each comparison is judged seed by seed at the end.")
    acc_a, acc_b = a.get("test_acc"), b.get("test_acc")
    if acc_a is not None and acc_b is not None:
        gap = 100 * (acc_b - acc_a)
        if abs(gap) < 0.05:
            out.append(f"{A} and {B} reach the same test accuracy ({_pct(acc_a)}).")
        else:
            out.append(f"Test accuracy: {A} {_pct(acc_a)}, {B} {_pct(acc_b)} ({abs(gap):.1f} points "
                       f"{'lower' if gap < 0 else 'higher'}).")
    la, lb = a.get("train_loss"), b.get("train_loss")
    if la and lb and la > 0 and lb > 0:
        out.append(f"The final training loss of {B} is {_times(lb / la)} that of {A} ({_num(lb)} vs {_num(la)}).")
    comp = pair["comparison"]
    for measure, e in comp["measures"].items():
        word = MEASURE_WORDS[measure]
        if e["a"] is None or e["b"] is None:
            continue
        mean = " (mean of the two directions)" if measure in ("curvature", "basin_width") else ""
        if e["ratio"] is not None and abs(e["ratio"] - 1) < 0.005:
            out.append(f"{_capital(word)} of {B} is the same as that of {A} ({_num(e['a'])}){mean}.")
        elif e["ratio"] is not None:
            out.append(f"{_capital(word)} of {B} is {_times(e['ratio'])} that of {A}{mean}.")
        else:
            out.append(f"{_capital(word)} is {_num(e['b'])} for {B} and {_num(e['a'])} for {A}{mean}.")
    ka, kb = a.get("n_local_minima"), b.get("n_local_minima")
    if ka is not None and kb is not None:
        median = " (medians over the seeds)" if "spread" in a else ""
        if ka == kb:
            out.append(f"Both 2D grids have {ka:g} local {'minimum' if ka == 1 else 'minima'} (train loss){median}.")
        else:
            out.append(f"The 2D grid of {B} has {kb:g} local {'minimum' if kb == 1 else 'minima'}, that of {A} {ka:g} "
                       "(train loss; cells below all 8 neighbours by more than twice the larger standard error, "
                       f"and the grid's lowest cell){median}.")
    for name, m in ((A, a), (B, b)):
        if m.get("basin_clipped"):
            out.append(f"The basin of {name} reaches the edge of the grid, so its width is a lower bound.")
    judged = comp.get("judged") or {}
    for measure, v in judged.items():
        v = verdicts.Verdict.from_dict(v)
        side = "narrower" if measure == "basin_width" else "larger"
        out.append(f"Is {MEASURE_WORDS[measure]} of {B} {side} than that of {A} (the sharper minimum)? Judged over "
                   f"the seeds: {v}.")
    n, k = comp["measured"], comp["sharper_count"]
    if n:
        sharper = [MEASURE_WORDS[m] for m, e in comp["measures"].items() if e["b_sharper"]]
        flatter = [MEASURE_WORDS[m] for m, e in comp["measures"].items() if e["b_sharper"] is False]
        if k == n:
            out.append(f"By all {n} measures, {B} ({_what(s, pair)}) sits in the sharper minimum.")
        elif k == 0:
            out.append(f"{B} ({_what(s, pair)}) is not the sharper one: by none of the {n} "
                       f"measures is its minimum sharper than that of {A}.")
        else:
            out.append(f"The measures disagree: {B} is sharper by {', '.join(sharper)} and not by "
                       f"{', '.join(flatter)} ({k} of {n}).")
    if comp["measures"].get("basin_width", {}).get("at_resolution"):
        out.append("A basin width is one grid step or less, at the grid's resolution: it takes no part in the "
                   "comparison above.")
    return out


def _figure(path: Optional[str], caption: str) -> List[str]:
    return [f"![{caption}]({path})", ""] if path else []


def _what(s: Dict[str, Any], pair: Dict[str, Any]) -> str:
    """What the second member of a pair lacks or takes: "without skip connections", "norm layer"."""
    value = s["members"][pair["without"]].get("coords", {}).get(pair["vary"], False)
    if pair["vary"] in VARY_WORDS and value in (False, "none"):
        return f"without {VARY_WORDS[pair['vary']][1]}"
    return (pair.get("labels") or {}).get("without") or f"{pair['vary']} = {value}"


# --- sections ------------------------------------------------------------------------------------

Section = Callable[[Dict[str, Any]], List[str]]
PAIR_SECTIONS = ("overview", "seeds", "pairs", "members", "settings")
GRID_SECTIONS = ("overview", "table", "seeds", "claims", "grid", "curves", "pairs", "members", "settings")
register_section = SECTIONS.register  # @register_section(name): fn(summary) -> list of Markdown lines


def render(s: Dict[str, Any]) -> str:
    """The Markdown report of a study from its ``summary.json`` document (see module docstring)."""
    names = s["config"].get("report", {}).get("sections")
    if names is None:
        names = GRID_SECTIONS if "variables" in s["config"].get("study", {}) else PAIR_SECTIONS
    lines = [f"# {s['title']}", ""]
    for name in names:
        lines += SECTIONS[name](s)
    return "\n".join(lines).rstrip() + "\n"


@register_section("overview")
def _overview(s: Dict[str, Any]) -> List[str]:
    c, d, members = s["config"], s["data"], s["members"]
    epochs = sorted({m["epochs"] for m in members.values() if m.get("epochs") is not None})
    diverged = [f"{name} diverged at epoch {m['epochs_trained']}" for name, m in members.items()
                if m.get("diverged") and m.get("epochs_trained") is not None]
    lines = []
    intro = c.get("report", {}).get("intro")
    if intro:
        lines += [intro.strip(), ""]
    used = c.get("study", {}).get("seeds") or []
    seed = (f"seeds ({', '.join(map(str, used))}: each member trained once per seed)" if used
            else f"seed ({c['model']['seed']})")
    if "variables" in c.get("study", {}):
        st = c["study"]
        grid = " x ".join(f"{v['name']} ({', '.join(map(_value, v['values']))})" for v in st["variables"])
        who = (f"a grid of {grid} built from `{st['model']}`; members that differ in one variable share their "
               f"{seed}, data order and, where their shapes agree, initial weights")
    else:
        who = (f"the members of a pair share their {seed}, initial weights, data order and "
               "hyperparameters")
    lines.append(f"Study `{s['name']}`: {len(members)} networks ({', '.join(members)}) trained on {d['dataset']} "
                 f"({d['train_samples']:,} training / {d['test_samples']:,} test examples, {d['num_classes']} classes, "
                 f"input {'x'.join(map(str, d['input_shape']))}), {'/'.join(map(str, epochs)) or '–'} epochs each"
                 f"{' (' + '; '.join(diverged) + ')' if diverged else ''}; "
                 f"{who}. Every number below was measured by the pipeline (by this run, or by an earlier run in the "
                 "same directory whose finished results it reused); nothing is written before it is measured. "
                 "The settings are at the end.")
    return lines + [""]


_value = value_text
_coords = coords_text


# --- the members table ---------------------------------------------------------------------------

_extra_columns = extra_columns


@register_section("table")
def members_table(s: Dict[str, Any]) -> List[str]:
    """One row per member: its variable values, then the configured columns (Li et al. 2018, Table 1)."""
    cols = columns(_extra_columns(s))
    keys = s["config"].get("report", {}).get("table", list(COLUMNS)[:6])
    variables = [v["name"] for v in s["config"].get("study", {}).get("variables", [])]
    head = ["member"] + variables + [cols[k][0] for k in keys]
    lines = ["## All members", "", "| " + " | ".join(head) + " |", "|---" + "|---" * len(variables)
             + "|---:" * len(keys) + "|"]
    for name, m in s["members"].items():
        values = [_value(m.get("coords", {}).get(v, "")) for v in variables]
        if m.get("diverged"):
            values += ["diverged"] + ["–"] * (len(keys) - 1)
        else:
            values += [cell(m, k, cols[k][1]) for k in keys]
        lines.append("| " + " | ".join([name] + values) + " |")
    notes = [n for m in s["members"].values() for n in m.get("notes", [])]
    lines += [""] + [f"- {n}" for n in notes] + ([""] if notes else [])
    if any(k in keys for k in ("n_local_minima", "residual_energy", "residual_energy_below_cap")):
        lines += ["Local minima: cells of the 2D train-loss grid below all 8 neighbours by more than twice the larger "
                  "standard error (the grid's lowest cell always counts). Roughness: the share "
                  "of the grid's variance that one quadratic bowl does not explain (0: a perfect bowl); below the "
                  "figure's cap: the same over the cells the figures draw (loss up to their cap of 10), so steep "
                  "walls beyond the picture do not count.", ""]
    return lines


# --- figures of the study ------------------------------------------------------------------------

@register_section("grid")
def grid_section(s: Dict[str, Any]) -> List[str]:
    lines = []
    for g in s.get("grids", []):
        f = g.get("figures", {})
        if not (f.get("contour") or f.get("surface")):
            continue
        fixed = f" ({_coords(g['fixed'])})" if g["fixed"] else ""
        what = " x ".join(x for x in (s["config"]["study"]["rows"], s["config"]["study"].get("cols")) if x)
        lines += [f"## The landscapes side by side{fixed}", "",
                  f"Train loss around each member's final weights, {what} (rows x columns), along filter-normalized "
                  "random directions, all panels on one set of contour levels and one colour scale (Li et al. "
                  "2018, Fig. 5)" + _first_seed(s) + ".", ""]
        lines += _figure(f.get("contour"), f"train loss contours, {what}, shared levels")
        lines += _figure(f.get("surface"), f"3D train loss surfaces, {what}, shared scale")
    return lines


def _first_seed(s: Dict[str, Any]) -> str:
    seed = drawn_seed(s)
    return "" if seed is None else f"; each panel is the member's seed {seed} (the tables give every seed)"


@register_section("curves")
def curves_section(s: Dict[str, Any]) -> List[str]:
    lines = []
    for g in s.get("grids", []):
        path = g.get("figures", {}).get("curves")
        if not path:
            continue
        fixed = f" ({_coords(g['fixed'])})" if g["fixed"] else ""
        lines += [f"## Training curves{fixed}", "",
                  "Train (dashed) and test (solid) error per epoch, one panel per "
                  f"{s['config']['study'].get('cols') or 'study'}; a deeper net with the higher *training* error is "
                  "the degradation problem of He et al. 2016 (Fig. 1), not overfitting.", ""]
        lines += _figure(path, "train and test error per epoch")
        rows = []
        for name in (c for c in g["cells"] if c):
            m = s["members"][name]
            if m.get("diverged"):
                rows.append(f"{name} diverged")
            elif m.get("train_error") is not None and m.get("test_error") is not None:
                rows.append(f"{name} {_pct(m['train_error'])} / {_pct(m['test_error'])}")
        if rows:
            lines += ["Final train / test error: " + "; ".join(rows) + ".", ""]
    return lines


@register_section("pairs")
def pairs_section(s: Dict[str, Any]) -> List[str]:
    lines = []
    curves = s.get("figures", {}).get("curves")
    if curves:
        lines += ["## Training", "", "Train (dashed) and test (solid) error per epoch of each pair's two members.", ""]
        lines += _figure(curves, "train and test error per epoch, one panel per pair")
        rows = [f"{name} " + ("diverged" if m.get("diverged") else f"{_pct(m['train_error'])} / {_pct(m['test_error'])}")
                for name, m in s["members"].items()
                if m.get("train_error") is not None and m.get("test_error") is not None]
        if rows:
            lines += ["Final train / test error: " + "; ".join(rows) + ".", ""]
    for pair in s["pairs"]:
        if pair.get("labels"):
            title = f"{_capital(pair['labels']['with'])} vs {pair['labels']['without']}"
        else:
            title = VARY_WORDS[pair["vary"]][0]
        lines += [f"## {title}: {pair['with']} vs {pair['without']}", ""]
        lines += _pair_table(s, pair)
        lines.append("")
        lines += [f"- {x}" for x in pair_sentences(s, pair)]
        lines.append("")
        f = pair.get("figures", {})
        lines += _figure(f.get("compare_contour"), f"train loss contours of {pair['with']} and {pair['without']} "
                                                    "on shared levels")
        lines += _figure(f.get("compare_surface"), f"3D train loss surfaces of {pair['with']} and {pair['without']} "
                                                    "on a shared scale")
        lines += _figure(f.get("lines"), f"1D loss and accuracy of {pair['with']} and {pair['without']}")
        lines += _figure(f.get("gradient_flow"), f"gradient flow of {pair['with']} and {pair['without']}")
    return lines


@register_section("members")
def members_section(s: Dict[str, Any]) -> List[str]:
    lines = ["## Each network", ""]
    for name, m in s["members"].items():
        lines += [f"### {name}", ""]
        facts = [f"{m['n_params']:,} parameters"]
        if m.get("epochs_trained") is not None:
            facts.append(plural(m['epochs_trained'], "epoch") + (" (diverged)" if m.get("diverged") else ""))
        if m.get("fit_r2") is not None:
            facts.append(f"quadratic fit R² {m['fit_r2']:.3f} around the grid minimum")
        if m.get("n_local_minima") is not None:
            k = m["n_local_minima"]
            facts.append(f"{k} local {'minimum' if k == 1 else 'minima'} on the 2D grid (train loss)")
        lines += [", ".join(facts) + ".", ""]
        f = m.get("figures", {})
        lines += _figure(f.get("contour"), f"{name}: train loss contours")
        lines += _figure(f.get("surface"), f"{name}: train loss surface")
        lines += _figure(f.get("pca"), f"{name}: train loss in the PCA plane of its trajectory, with the path")
        files = ", ".join(f"`{v}`" for v in m.get("surfaces", {}).values())
        if files:
            lines += [f"Surface files: {files}; training run: `{m['run_dir']}`.", ""]
    return lines


@register_section("settings")
def _settings(s: Dict[str, Any]) -> List[str]:
    c = s["config"]
    g, dr, mt = c["grid"], c["directions"], c["metrics"]
    gs = s["grid_samples"]
    lines = ["## How it was measured", ""]
    lines.append(f"- Surfaces: loss and accuracy on train ({gs['train']:,} examples) and test ({gs['test']:,}) data "
                 f"at w + α·d1 + β·d2: {g['plane'][2]}x{g['plane'][2]} planes on "
                 f"[{g['plane'][0]:g}, {g['plane'][1]:g}]², "
                 f"{g['line'][2]}-point lines on [{g['line'][0]:g}, {g['line'][1]:g}]; directions "
                 f"{dr['norm']}-normalized Gaussian (Li et al. 2018), ignore = {dr['ignore']}, seed {dr['seed']} for "
                 f"every network, so both members of a pair are cut along the same draws; BatchNorm statistics: "
                 f"{'running averages (eval)' if g['bn'] == 'eval' else 're-estimated at every point'}.")
    if g.get("pca"):
        lines.append(f"- PCA planes: the two principal directions of each run's snapshots (Li et al. 2018, sec. 7), "
                     f"{g['pca']}x{g['pca']} points framing the path with {g['pca_margin']:g} of its span as margin.")
    lines.append(f"- λmax: largest Hessian eigenvalue of the training loss (Lanczos) and trace (Hutchinson, "
                 f"{mt['trace_probes']} Rademacher probes, seed {mt['seed']}) on a seeded subset of "
                 f"{_first_member_samples(s)} training examples.")
    lines.append(f"- Grid curvature: second derivative along each direction (loss per squared direction unit, "
                 f"so not comparable to λmax) of a quadratic fitted to the 2D train loss within {mt['window']} cells "
                 f"of its minimum. Basin width: length along each direction of "
                 f"the connected region around the minimum where the loss stays below min + δ "
                 f"(δ = {', '.join(f'{x:g}' for x in mt['thresholds'])}; the table shows the first).")
    if not c["figures"].get("draw", True):
        lines.append("- Figures were not drawn (`figures.draw = false`); `landscape plot` and `landscape compare` "
                     "draw them from the surface files.")
    env = s["environment"]
    procs = f" per process, {c['workers']} processes" if c.get("workers", 1) > 1 else ""
    lines.append(f"- Computed on {env['device']} with {env['threads']} thread(s){procs}; "
                 + ", ".join(f"{k} {v}" for k, v in env.items() if k not in ("device", "threads")) + ".")
    # the seconds of the run that made each stage's results: a rerun reusing them keeps the real timings
    made_t = s.get("made_timings") or s["timings"]
    rerun = made_t != s["timings"]
    lines += ["", "Timings (seconds of the run that made each stage's results; finished work found in the output "
              "directory is reused):", "", "| stage | seconds | made | reused |", "|---|---:|---:|---:|"]
    for stage, secs in made_t.items():
        if stage == "members":  # landscape.pipeline.workers: stages 1-3 in parallel processes
            lines.append(f"| members ({c.get('workers', 1)} processes: train, surfaces, sharpness; what they made "
                         f"counts as made below) | {secs:.1f} | | |")
            continue
        if stage == "total":
            continue
        made, kept = len(s["computed"].get(stage, [])), len(s["reused"].get(stage, []))
        lines.append(f"| {stage} | {secs:.1f} | {made} | {kept} |")
    if "total" in made_t:
        lines.append(f"| total | {made_t['total']:.1f} | | |")
    if rerun and "total" in s["timings"]:
        lines.append(f"\nThis run took {s['timings']['total']:.1f} s, reusing the finished work of an earlier one "
                     "(the seconds above are that run's where this one made nothing).")
    lines += ["", "The exact config (`config.toml` beside this report; rerun with `landscape experiment config.toml`):",
              "", "```toml"]
    from .config import from_dict, to_toml

    lines += to_toml(from_dict(c)).rstrip().split("\n")
    lines += ["```", ""]
    return lines


def _first_member_samples(s: Dict[str, Any]) -> str:
    for m in s["members"].values():
        if m.get("n_samples") is not None:
            return f"{m['n_samples']:,}"
    return "–"
