"""``report.md`` of a study: tables, sentences and figures made from the measured numbers only.

:func:`render` takes the ``summary.json`` document written by :mod:`landscape.experiment` and returns
Markdown. Nothing in the report is written before it is measured: every sentence is generated from
the numbers ("λmax of mlp20_noskip is 77x that of mlp20"), including when the member without skip
connections or normalization is *not* the sharper one, or a claim of the config does not hold,
which the report then says plainly. Figures are embedded with links relative to the report, so
the output directory can be moved.

The report is a list of sections (``[report] sections``; :data:`SECTIONS`): overview, table (one
row per member, the columns of ``[report] table``), claims (``[[report.claims]]`` checked against
the numbers), grid (the study's figure grids), curves (training curves), pairs (a table and
sentences per compared pair), members (each network's figures), settings. A study adds its own
with :func:`register_section` (``fn(summary) -> lines``) and its own table columns with the
measures that fill them (``landscape.pipeline.measures.register``).
"""
from __future__ import annotations

import itertools
from typing import Any, Callable, Dict, List, Optional

from .columns import COLUMNS, columns, num as _num, pct as _pct  # noqa: F401  (public here too)
from .registry import SECTIONS, measure_columns

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
            parts = [f"< {_num(m[f'cell_{n}'])}: one cell" if m.get(f"basin_cells_{n}") == 1 else _num(v)
                     for n, v in (("x", x), ("y", y))]
            return " / ".join(parts) + f" (cell {_num(m['cell_x'])})"
        return f"{_num(x)} / {_num(y)}"

    def trace(m):
        if m.get("trace") is None:
            return "–"
        return f"{_num(m['trace'])} ± {_num(m.get('trace_stderr'), 2)}"

    def acc(m):
        return "diverged" if m.get("diverged") else _pct(m.get("test_acc"))

    rows = [
        ("test accuracy", acc(a), acc(b)),
        ("test loss", _num(a.get("test_loss")), _num(b.get("test_loss"))),
        ("train loss (final weights)", _num(a.get("train_loss")), _num(b.get("train_loss"))),
        ("λmax (Hessian, largest eigenvalue)", _num(a.get("lambda_max")), _num(b.get("lambda_max"))),
        ("trace of the Hessian (± std. error)", trace(a), trace(b)),
        ("grid curvature x / y", xy(a, "curvature"), xy(b, "curvature")),
        (f"basin width x / y at +{_num(delta)} loss" if delta is not None else "basin width x / y",
         xy(a, "basin_width") + clipped(a), xy(b, "basin_width") + clipped(b)),
        ("local minima on the 2D grid", COLUMNS["n_local_minima"][1](a.get("n_local_minima")),
         COLUMNS["n_local_minima"][1](b.get("n_local_minima"))),
        ("highest loss on the 2D grid", _num(a.get("grid_max")), _num(b.get("grid_max"))),
    ]
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
        if ka == kb:
            out.append(f"Both 2D grids have {ka} local {'minimum' if ka == 1 else 'minima'} (train loss).")
        else:
            out.append(f"The 2D grid of {B} has {kb} local {'minimum' if kb == 1 else 'minima'}, that of {A} {ka} "
                       "(train loss; cells below all 8 neighbours by more than twice the larger standard error, "
                       "and the grid's lowest cell).")
    for name, m in ((A, a), (B, b)):
        if m.get("basin_clipped"):
            out.append(f"The basin of {name} reaches the edge of the grid, so its width is a lower bound.")
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
PAIR_SECTIONS = ("overview", "pairs", "members", "settings")
GRID_SECTIONS = ("overview", "table", "claims", "grid", "curves", "pairs", "members", "settings")
register_section = SECTIONS.register  # @register_section(name): fn(summary) -> list of Markdown lines


def render(s: Dict[str, Any]) -> str:
    """The Markdown report of a study from its ``summary.json`` document (see module docstring)."""
    names = s["config"].get("report", {}).get("sections")
    if names is None:
        names = GRID_SECTIONS if "study" in s["config"] else PAIR_SECTIONS
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
    if "study" in c:
        st = c["study"]
        grid = " x ".join(f"{v['name']} ({', '.join(map(_value, v['values']))})" for v in st["variables"])
        who = (f"a grid of {grid} built from `{st['model']}`; members that differ in one variable share their "
               f"seed ({c['model']['seed']}), data order and, where their shapes agree, initial weights")
    else:
        who = (f"the members of a pair share their seed ({c['model']['seed']}), initial weights, data order and "
               "hyperparameters")
    lines.append(f"Study `{s['name']}`: {len(members)} networks ({', '.join(members)}) trained on {d['dataset']} "
                 f"({d['train_samples']:,} training / {d['test_samples']:,} test examples, {d['num_classes']} classes, "
                 f"input {'x'.join(map(str, d['input_shape']))}), {'/'.join(map(str, epochs)) or '–'} epochs each"
                 f"{' (' + '; '.join(diverged) + ')' if diverged else ''}; "
                 f"{who}. Every number below was measured by the pipeline (by this run, or by an earlier run in the "
                 "same directory whose finished results it reused); nothing is written before it is measured. "
                 "The settings are at the end.")
    return lines + [""]


def _value(v: Any) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else f"{v:g}" if isinstance(v, float) else str(v)


# --- the members table ---------------------------------------------------------------------------

def _extra_columns(s: Dict[str, Any]) -> Dict[str, str]:
    return measure_columns(s["config"].get("metrics", {}).get("extra", []))


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
            values += [cols[k][1](m.get(k)) for k in keys]
        lines.append("| " + " | ".join([name] + values) + " |")
    notes = [n for m in s["members"].values() for n in m.get("notes", [])]
    lines += [""] + [f"- {n}" for n in notes] + ([""] if notes else [])
    if any(k in keys for k in ("n_local_minima", "residual_energy")):
        lines += ["Local minima: cells of the 2D train-loss grid lower than all 8 neighbours. Roughness: the share "
                  "of the grid's variance that one quadratic bowl does not explain (0: a perfect bowl).", ""]
    return lines


# --- claims --------------------------------------------------------------------------------------

def claim_results(s: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Each ``[[report.claims]]`` entry checked against the members' numbers: ``verdict`` one of
    "confirmed" (holds in every group), "partly confirmed", "not confirmed", "not measured", and per
    group (a combination of the variables the claim leaves free) the numbers and whether it holds."""
    c = s["config"]
    variables = {v["name"]: list(v["values"]) for v in c.get("study", {}).get("variables", [])}
    out = []
    for claim in c.get("report", {}).get("claims", []):
        where = claim.get("where", {})
        if claim["kind"] == "trend":
            fixed = set(where) | {claim["along"]}
        else:
            fixed = set(claim["higher"]) | set(claim["lower"])
        free = [v for v in variables if v not in fixed]
        groups = []
        for combo in itertools.product(*(variables[v] for v in free)):
            at = dict(zip(free, combo))
            if claim["kind"] == "trend":
                points = [(x, _find(s, {**where, **at, claim["along"]: x})) for x in variables[claim["along"]]]
                numbers = [(x, None if m is None else m.get(claim["measure"])) for x, m in points]
                known = [v for _, v in numbers if v is not None]
                holds = None if len(known) < len(numbers) or len(known) < 2 else all(
                    (b > a) if claim["direction"] == "increasing" else (b < a) for a, b in zip(known, known[1:]))
            else:
                hi, lo = _find(s, {**at, **claim["higher"]}), _find(s, {**at, **claim["lower"]})
                numbers = [("higher", None if hi is None else hi.get(claim["measure"])),
                           ("lower", None if lo is None else lo.get(claim["measure"]))]
                holds = None if None in (numbers[0][1], numbers[1][1]) else numbers[0][1] > numbers[1][1]
            groups.append({"at": at, "numbers": numbers, "holds": holds})
        known = [g["holds"] for g in groups if g["holds"] is not None]
        verdict = ("not measured" if not known else "confirmed" if all(known) and len(known) == len(groups)
                   else "not confirmed" if not any(known) else "partly confirmed")
        out.append({"claim": claim, "verdict": verdict, "groups": groups})
    return out


def _find(s: Dict[str, Any], coords: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    for m in s["members"].values():
        mc = m.get("coords", {})
        if all(k in mc and mc[k] == v and type(mc[k]) is type(v) for k, v in coords.items()):
            return None if m.get("diverged") else m
    return None


@register_section("claims")
def claims_section(s: Dict[str, Any]) -> List[str]:
    results = claim_results(s)
    if not results:
        return []
    cols = columns(_extra_columns(s))
    lines = ["## What the numbers say", ""]
    for r in results:
        claim = r["claim"]
        label, fmt = cols[claim["measure"]]
        parts = []
        for g in r["groups"]:
            at = _coords(g["at"])
            if claim["kind"] == "trend":
                series = " → ".join(f"{fmt(v)} ({claim['along']} = {_value(x)})" for x, v in g["numbers"])
            else:
                hi, lo = g["numbers"]
                series = (f"{fmt(hi[1])} ({_coords(claim['higher'])}) vs {fmt(lo[1])} ({_coords(claim['lower'])})")
            mark = {True: "holds", False: "does not hold", None: "not measured"}[g["holds"]]
            parts.append(f"{at + ': ' if at else ''}{series} — {mark}")
        lines.append(f"- **{_capital(r['verdict'])}**: {claim['text']} ({label}: {'; '.join(parts)}).")
    return lines + [""]


def _coords(d: Dict[str, Any]) -> str:
    return ", ".join(f"{k} = {_value(v)}" for k, v in d.items())


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
                  "2018, Fig. 5).", ""]
        lines += _figure(f.get("contour"), f"train loss contours, {what}, shared levels")
        lines += _figure(f.get("surface"), f"3D train loss surfaces, {what}, shared scale")
    return lines


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
            facts.append(f"{m['epochs_trained']} epochs" + (" (diverged)" if m.get("diverged") else ""))
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
    lines += ["", "Timings of this run (seconds; finished work found in the output directory is reused):", "",
              "| stage | seconds | made | reused |", "|---|---:|---:|---:|"]
    for stage, secs in s["timings"].items():
        if stage == "members":  # landscape.pipeline.workers: stages 1-3 in parallel processes
            lines.append(f"| members ({c.get('workers', 1)} processes: train, surfaces, sharpness; what they made "
                         f"counts as made below) | {secs:.1f} | | |")
            continue
        if stage == "total":
            continue
        made, kept = len(s["computed"].get(stage, [])), len(s["reused"].get(stage, []))
        lines.append(f"| {stage} | {secs:.1f} | {made} | {kept} |")
    if "total" in s["timings"]:
        lines.append(f"| total | {s['timings']['total']:.1f} | | |")
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
