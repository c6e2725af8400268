"""Report sections of the chapter's studies (``[report] sections``), written from the numbers only.

Each section is ``fn(summary) -> Markdown lines`` (``landscape.report.register_section``). Every
sentence states a measured number and says whether the notes' claim holds for it in the vocabulary of
:mod:`landscape.studies.verdicts` (confirmed, partly confirmed, not confirmed, no claim) — decided seed by
seed on the per-seed numbers of a study with ``[study] seeds`` (:func:`seeds_of`), by a comparison written
next to it, with the noise margin stated, never in advance; nothing is claimed from a run
whose nets did not learn the task (:func:`landscape.studies.claims.not_learned`). The generic
``claims`` section checks the configs' ``[[report.claims]]``; these add what a trend or an order
cannot say (a bound, a spread over batch sizes, a remedy against the baseline) and the figures.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional

from landscape.studies import claims, verdicts
from landscape.studies.columns import cell
from landscape.studies.replicates import seed_spread
from landscape.studies.report import register_section

QUARTER = 0.25
KEPT = 0.1  # "ReLU keeps the gradient": its first layer gets at least this share of the last layer's
VANISHED = 1e-3  # a first/last-layer gradient ratio below this at initialization: the gradient vanished
TARGET = 0.9  # test accuracy a member of the chapter's studies that learns is expected to reach (issue 30)


# --- helpers ---------------------------------------------------------------------------------------

def num(v: Optional[float], digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-3:
        return f"{v:.{digits - 1}e}"
    return f"{v:.{digits}g}"


def pct(v: Optional[float]) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


def said(v: verdicts.Verdict, s: Optional[Dict[str, Any]] = None) -> str:
    """A judged claim as a report says it: ``**Confirmed** (3 of 3 seeds agree)``; given the summary
    ``s`` of a run whose nets did not learn the task, **No claim**."""
    if s is not None and claims.not_learned(s):
        return verdicts.mark(verdicts.no_claim("no member learned the task"))
    detail = str(v)[len(v.verdict):].strip()
    return verdicts.mark(v) + (f" {detail}" if detail else "")


def short(v: Optional[verdicts.Verdict]) -> str:
    """A verdict in a table cell: yes, no, partly (2 of 3), – (no claim)."""
    if v is None or v.verdict == verdicts.NO_CLAIM:
        return "–"
    if v.verdict == verdicts.PARTLY:
        return f"partly ({v.agree} of {v.of})"
    return "yes" if v.verdict == verdicts.CONFIRMED else "no"


def accuracy_noise(s: Dict[str, Any], samples: str = "test_samples") -> float:
    """Two binomial standard errors of an accuracy counted on the study's test (or train) examples at
    p = 0.5: a difference of two accuracies at or below it gets no vote (:func:`claims.noise`)."""
    n = (s.get("data") or {}).get(samples) or 0
    return 2.0 * math.sqrt(0.25 / n) if n else 0.0


def yes(ok: Optional[bool]) -> str:
    return {True: "yes", False: "no", None: "–"}[ok]


def values(s: Dict[str, Any], variable: str) -> List[Any]:
    for v in s["config"].get("study", {}).get("variables", []):
        if v["name"] == variable:
            return list(v["values"])  # a list of values, or the labels of a table of bundles
    raise ValueError(f"This report section needs the study variable `{variable}`.")


def member(s: Dict[str, Any], **coords: Any) -> Optional[Dict[str, Any]]:
    """The live member with these variable values (None: none, or it diverged)."""
    for m in s["members"].values():
        c = m.get("coords", {})
        if all(c.get(k) == v for k, v in coords.items()):
            return None if m.get("diverged") else m
    return None


def get(s: Dict[str, Any], key: str, **coords: Any) -> Optional[float]:
    """The member's ``key``: its median over seeds (None: no such member, or it diverged)."""
    m = member(s, **coords)
    return None if m is None else m.get(key)


def seeds_of(s: Dict[str, Any], key: str, **coords: Any) -> List[Optional[float]]:
    """The member's ``key``, one value per training seed (Nones: no such member, or it diverged)."""
    return claims.per_seed(member(s, **coords), key, len(claims.seeds(s)))


def at_each_seed(fn, *series: List[Optional[float]]) -> List[Optional[float]]:
    """``fn`` of the i-th values of ``series``, seed by seed (None where one of them is missing)."""
    return [None if any(x is None for x in xs) else fn(*xs) for xs in zip(*series)]


def figure(s: Dict[str, Any], stem: str, caption: str) -> List[str]:
    """The study figure ``figures/<stem>.<format>`` if this run drew or kept it."""
    rel = f"figures/{stem}.{s['config']['figures'].get('format', 'png')}"
    done = set(s["computed"].get("figures", [])) | set(s["reused"].get("figures", []))
    return [f"![{caption}]({rel})", ""] if rel in done else []


def _matrix(s: Dict[str, Any], key: str, rows: str, cols: str, fmt=num) -> List[str]:
    """A small table of one measure: one row per value of ``rows``, one column per value of ``cols``."""
    cv = values(s, cols)
    lines = [f"| {rows} \\ {cols} | " + " | ".join(str(c) for c in cv) + " |", "|---" + "|---:" * len(cv) + "|"]
    for r in values(s, rows):
        cells = []
        for c in cv:
            m = member(s, **{rows: r, cols: c})
            cells.append("diverged" if m is None else cell(m, key, fmt))
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    return lines + [""]


def learned_lines(s: Dict[str, Any], why_below=None) -> List[str]:
    """How many members reach :data:`TARGET` test accuracy with every seed, and for each one that does
    not, its accuracy per seed and (``why_below(name, member)``, when given) why; a member whose seeds
    disagree is said to depend on the seed. A ``--quick`` run whose nets did not learn says so once
    (:func:`landscape.studies.claims.not_learned`)."""
    ms = [(n, m) for n, m in s["members"].items() if m.get("test_acc") is not None and not m.get("diverged")]
    if not ms:
        return []
    unlearned = claims.not_learned(s)
    if unlearned:
        return [f"- Test accuracy: {unlearned}; nothing below is claimed from these nets.", ""]
    n_seeds = len(claims.seeds(s))
    accs = {n: [a for a in claims.per_seed(m, "test_acc", n_seeds) if a is not None] or [m["test_acc"]]
            for n, m in ms}
    hit = [n for n, _ in ms if min(accs[n]) >= TARGET]
    best = max(a for v in accs.values() for a in v)
    lines = [f"- {len(hit)} of {len(ms)} members reach ≥ {100 * TARGET:.0f}% test accuracy"
             + (" with every seed" if n_seeds > 1 else "")
             + f" (on {s['data'].get('test_samples', 0):,} test examples; best {pct(best)})"
             + ("." if len(hit) == len(ms) else "; below it:")]
    for n, m in ms:
        if n in hit:
            continue
        why = why_below(n, m) if why_below else None
        reached = [a for a in accs[n] if a >= TARGET]
        if reached:
            why = (f"the seed decides: {len(reached)} of {len(accs[n])} seeds reach it"
                   + (f"; where it falls short, {why}" if why else ""))
        per_seed = f" (seeds: {', '.join(pct(a) for a in accs[n])})" if len(accs[n]) > 1 else ""
        lines.append(f"  - {n}: {pct(m['test_acc'])} test{per_seed}, {pct(m.get('train_acc'))} train"
                     + (f" — {why}" if why else "") + ".")
    diverged = [n for n, m in s["members"].items() if m.get("diverged")]
    if diverged:
        lines.append(f"- Diverged: {', '.join(diverged)}.")
    return lines + [""]


# --- vanishing gradients ---------------------------------------------------------------------------

def _why_untrained(name: str, m: Dict[str, Any]) -> str:
    """Why a vanishing-gradients member stayed below the target: its gradient vanished (the finding)
    or it did not (then it is not the vanishing gradient that held it back)."""
    r = m.get("grad_ratio_init")
    if r is None:
        return ""
    if r < VANISHED:
        return (f"it cannot train: at initialization its first layer gets {num(r)} of the last layer's gradient, "
                f"so the early layers barely move (first layer moved {num(m.get('first_layer_change'))} of its norm). "
                "That is the vanishing gradient this study measures, not a failed run")
    return (f"its gradient does not vanish (first/last-layer ratio {num(r)} at initialization, first layer moved "
            f"{num(m.get('first_layer_change'))}), so something else held it back: a plain net (no skip, no "
            "normalization) with this activation trains slowly or unstably with the one shared recipe at this depth")

@register_section("vanishing_gradients")
def vanishing_gradients(s: Dict[str, Any]) -> List[str]:
    depths = values(s, "depth")
    lines = ["## Vanishing gradients, measured", ""]
    lines += learned_lines(s, _why_untrained)
    lines += figure(s, "activations", "each activation (blue) and its derivative (red), 1/4 dashed")

    slope: Dict[str, List[float]] = {}  # activation -> largest slope at initialization, one per seed
    for a in values(s, "activation"):
        per_depth = [seeds_of(s, "max_slope_init", depth=d, activation=a) for d in depths]
        slope[a] = at_each_seed(lambda *xs: max(xs), *per_depth)
    slope = {a: v for a, v in slope.items() if any(x is not None for x in v)}
    if slope:
        parts = ", ".join(f"{a} {num(max(x for x in v if x is not None), 4)}" for a, v in slope.items())
        lines.append(f"- Largest activation slope met on the training data at initialization (every unit, every "
                     f"example, every seed): {parts}.")
        if "sigmoid" in slope:
            v = verdicts.bound(slope["sigmoid"], QUARTER, side="at_most")
            lines.append(f"- Claim *sigmoid's derivative is at most 1/4*: {said(v, s)}; largest measured "
                         f"{num(max(x for x in slope['sigmoid'] if x is not None), 4)}.")
    lines += ["", "First-layer gradient norm divided by the last layer's, at initialization (1: level; a "
              "vanishing gradient is many orders of magnitude below 1):", ""]
    lines += _matrix(s, "grad_ratio_init", "activation", "depth")
    lines += ["The same ratio averaged over the last epoch's batches:", ""]
    lines += _matrix(s, "grad_ratio_last", "activation", "depth")

    for d in depths:
        sig, relu = get(s, "grad_ratio_init", depth=d, activation="sigmoid"), \
            get(s, "grad_ratio_init", depth=d, activation="relu")
        factor = get(s, "grad_factor_init", depth=d, activation="sigmoid")
        facts = []
        if sig is not None and relu is not None:
            per_layer = (f"a factor {num(factor)} per layer on average" if sig > 0 else
                         "its first layer's gradient norm was exactly 0: smaller than float32 can hold")
            facts.append(f"at initialization the first layer gets {num(sig)} of the last layer's gradient with "
                         f"sigmoid ({per_layer}), {num(relu)} with ReLU")
        ta = {a: get(s, "train_acc", depth=d, activation=a) for a in ("sigmoid", "relu")}
        if None not in ta.values():
            facts.append(f"train accuracy after training: sigmoid {pct(ta['sigmoid'])}, ReLU {pct(ta['relu'])}")
        mv = {a: get(s, "first_layer_change", depth=d, activation=a) for a in ("sigmoid", "relu")}
        if None not in mv.values():
            moved = ("did not move at all (0)" if mv["sigmoid"] == 0 else
                     f"moved by {num(mv['sigmoid'])} of their initial norm")
            facts.append(f"the first layer's weights {moved} with sigmoid, moved by {num(mv['relu'])} with ReLU")
        if facts:
            lines.append(f"- Depth {d}" + (" (medians over seeds)" if len(claims.seeds(s)) > 1 else "") + ": "
                         + "; ".join(facts) + ".")
    kept = {key: verdicts.combine([verdicts.bound(seeds_of(s, key, depth=d, activation="relu"), KEPT, side="at_least")
                                   for d in depths], unit="depth")
            for key in ("grad_ratio_init", "grad_ratio_last")}
    at = ", ".join(map(str, depths))
    lines.append(f"- Claim *ReLU keeps the gradient* (its first layer gets at least {KEPT:g} of the last layer's "
                 f"gradient, at every depth and seed): at initialization {said(kept['grad_ratio_init'], s)}: "
                 f"{', '.join(num(get(s, 'grad_ratio_init', depth=d, activation='relu')) for d in depths)} at depths "
                 f"{at}; in the last epoch of training {said(kept['grad_ratio_last'], s)}: "
                 f"{', '.join(num(get(s, 'grad_ratio_last', depth=d, activation='relu')) for d in depths)}.")
    lines += ["", "Dead units (derivative zero on every training example) of the final weights:", ""]
    lines += _matrix(s, "dead_share", "activation", "depth", fmt=pct)
    lines.append("")
    lines += figure(s, "gradient_by_layer", "gradient norm by layer, one panel per depth, one line per activation"
                    + claims.seed_caption(s))
    lines += figure(s, "landscapes_1d", "1D train loss of every member along its own filter-normalized direction"
                    + claims.seed_caption(s))
    return lines


# --- normalization and batch size ------------------------------------------------------------------

@register_section("normalization")
def normalization(s: Dict[str, Any]) -> List[str]:
    norms = values(s, "norm")
    # the batch_size values may be labels of bundles (batch size with its learning rate): order them by
    # the batch size the members trained with
    sizes = sorted(values(s, "batch_size"), key=lambda b: _batch_of(s, b))
    lo, hi = sizes[0], sizes[-1]
    lines = ["## Normalization and batch size, measured", ""]

    def why_below(name: str, m: Dict[str, Any]) -> str:
        b, n, epochs = m.get("batch_size"), m.get("train_samples"), m.get("epochs_trained")
        if not (b and n and epochs):
            return ""
        steps = math.ceil(n / b) * epochs
        if m.get("coords", {}).get("norm") == "batch" and b == _batch_of(s, lo):
            return (f"BatchNorm's statistics over {b} examples per step, {steps:,} steps: the small-batch effect this "
                    "study measures")
        if b == _batch_of(s, hi):
            return f"only {steps:,} SGD steps of batch {b} in {epochs} epochs: the largest batch takes the fewest steps"
        return f"{steps:,} SGD steps of batch {b}"

    lines += learned_lines(s, why_below)
    lines += figure(s, "accuracy_vs_batch", "test accuracy against batch size, one line per normalization; "
                                            "eval-mode minus train-mode loss on the training data")
    lines += ["Test accuracy:", ""] + _matrix(s, "test_acc", "norm", "batch_size", fmt=pct)
    lines += ["Training-set loss in eval mode (running averages) minus in training mode (batch statistics, "
              "batches of the member's own size):", ""] + _matrix(s, "mode_gap", "norm", "batch_size")
    spread = {}
    for n in norms:
        accs = [get(s, "test_acc", norm=n, batch_size=b) for b in sizes]
        if all(a is not None for a in accs):
            spread[n] = max(accs) - min(accs)
    if spread:
        lines.append("- Spread of test accuracy over batch sizes " + ", ".join(
            f"{n} {100 * v:.1f} points" for n, v in spread.items()) + ".")
    change = {n: at_each_seed(lambda small, large: small - large, seeds_of(s, "test_acc", norm=n, batch_size=lo),
                              seeds_of(s, "test_acc", norm=n, batch_size=hi)) for n in ("batch", "layer")}
    if any(x is not None for x in change["batch"] + change["layer"]):
        # a difference of two differences of four accuracies: its noise is twice one accuracy's
        noise = 2 * accuracy_noise(s)
        more = verdicts.order(change["layer"], change["batch"], resolution=noise)
        ends = {n: (get(s, "test_acc", norm=n, batch_size=lo), get(s, "test_acc", norm=n, batch_size=hi))
                for n in change}
        median = {n: math.nan if None in ab else ab[0] - ab[1] for n, ab in ends.items()}
        lines.append(f"- Claim *BatchNorm suffers from small batches more than LayerNorm*: {said(more, s)}: "
                     f"from batch {hi} to {lo} BatchNorm's test accuracy changed by {100 * median['batch']:+.1f} "
                     f"points, LayerNorm's by {100 * median['layer']:+.1f}" + (", medians over seeds" if
                                                                              len(claims.seeds(s)) > 1 else "")
                     + f"; judged seed by seed, a difference counts when larger than {100 * noise:.1f} points, two "
                     "binomial standard errors of a difference of two such changes.")
    per_sample = [seeds_of(s, "mode_gap_abs", norm=n, batch_size=b) for n in norms if n in ("layer", "group")
                  for b in sizes]
    if per_sample:
        largest = at_each_seed(lambda *xs: max(xs), *per_sample)
        known = [x for x in largest if x is not None]
        lines.append(f"- Claim *LayerNorm (statistics per sample) does not depend on the batch*: "
                     f"{said(verdicts.bound(largest, 1e-5, side='at_most'), s)} for the train/test mismatch "
                     f"(largest |eval − train-mode loss| of LayerNorm and GroupNorm members: "
                     f"{num(max(known)) if known else '–'}). Its test accuracy still moved "
                     f"{100 * spread.get('layer', float('nan')):.1f} points over batch sizes: the number and the noise "
                     "of the steps change with the batch size, its statistics do not.")
    chance = 1.0 / s["data"]["num_classes"]
    stuck = [(n, b, m.get("train_acc")) for n in norms for b in sizes
             for m in [member(s, norm=n, batch_size=b)] if m is not None and m.get("train_acc") is not None
             and m["train_acc"] < 1.5 * chance]
    for n, b, acc in stuck:
        lines.append(f"- {n} at batch size {b} did not learn (train accuracy {pct(acc)}, chance {pct(chance)}): "
                     "both modes sit near chance, so its train/eval gap says little about its running averages.")
    lines += ["", "λmax (largest Hessian eigenvalue of the training loss) of each member:", ""]
    lines += _matrix(s, "lambda_max", "norm", "batch_size")
    lines += ["Basin width along the plane's first direction (loss within the first threshold of the grid "
              "minimum):", ""]
    lines += _matrix(s, "basin_width_x", "norm", "batch_size")
    lines += figure(s, "landscapes_1d", "1D train loss of every member on shared axes" + claims.seed_caption(s))
    return lines


def _batch_of(s: Dict[str, Any], value: Any) -> float:
    for m in s["members"].values():
        if m.get("coords", {}).get("batch_size") == value and m.get("batch_size") is not None:
            return m["batch_size"]
    return math.inf


# --- overfitting -----------------------------------------------------------------------------------

@register_section("overfitting")
def overfitting(s: Dict[str, Any]) -> List[str]:
    remedies = values(s, "remedy")
    base_name = remedies[0]
    base = member(s, remedy=base_name)
    lines = ["## Overfitting and its remedies, measured", ""]
    lines += learned_lines(s, _why_overfit(base_name))
    if base is None:
        return lines + [f"The baseline `{base_name}` diverged, so no remedy can be compared with it.", ""]
    several = len(claims.seeds(s)) > 1
    gaps = seeds_of(s, "error_gap", remedy=base_name)
    lines.append(f"- The baseline ({base_name}, {base.get('train_samples'):,} training examples) reached "
                 f"{pct(base.get('train_acc'))} train and {pct(base.get('test_acc'))} test accuracy"
                 + (" (medians over seeds)" if several else "") + f": a gap of {cell(base, 'error_gap', pct)}, test "
                 f"loss − train loss {num(base.get('loss_gap'))}; its test loss was lowest at epoch "
                 f"{num(base.get('best_test_epoch'))} of {num(base.get('epochs_trained'))}. Claim *this setting "
                 f"overfits* (a train − test accuracy gap of at least 10 points): "
                 f"{said(verdicts.bound(gaps, 0.10, side='at_least'), s)}.")
    noise = accuracy_noise(s)
    margin = claims.noise(s)["relative"]
    cell_size = claims.resolutions(s["config"]).get("basin_width_x")
    lines += ["", "| remedy | test accuracy | Δ vs baseline | train − test accuracy | λmax | λmax / baseline | "
              "basin width / baseline | narrower gap | better test | flatter (λmax) | wider basin |",
              "|---|---:|---:|---:|---:|---:|---:|---|---|---|---|"]
    judged: Dict[str, Dict[str, verdicts.Verdict]] = {}
    base_width = _width(s, base_name)
    for r in remedies[1:]:
        m = member(s, remedy=r)
        if m is None:
            lines.append(f"| {r} | diverged | | | | | | | | | |")
            continue
        width = _width(s, r)
        judged[r] = {
            "narrower": verdicts.order(gaps, seeds_of(s, "error_gap", remedy=r), resolution=noise),
            "better": verdicts.order(seeds_of(s, "test_acc", remedy=r), seeds_of(s, "test_acc", remedy=base_name),
                                     resolution=noise),
            "flatter": verdicts.order(seeds_of(s, "lambda_max", remedy=base_name), seeds_of(s, "lambda_max", remedy=r),
                                      relative=margin),
            "wider": verdicts.order(width, base_width, resolution=cell_size)}
        d_acc = None if m.get("test_acc") is None else m["test_acc"] - base["test_acc"]
        lam = None if not (m.get("lambda_max") and base.get("lambda_max")) else m["lambda_max"] / base["lambda_max"]
        w, wb = seed_spread(width)["median"], seed_spread(base_width)["median"]
        ratio = None if w is None or not wb else w / wb
        v = judged[r]
        lines.append(f"| {r} | {cell(m, 'test_acc', pct)} | {'–' if d_acc is None else f'{100 * d_acc:+.1f}'} | "
                     f"{cell(m, 'error_gap', pct)} | {cell(m, 'lambda_max', num)} | {num(lam)} | {num(ratio)} | "
                     f"{short(v['narrower'])} | {short(v['better'])} | {short(v['flatter'])} | {short(v['wider'])} |")
    lines += ["", "Each yes/no compares the remedy with the baseline seed by seed (the same seed gives both their "
              "initial weights and data order): *yes* when the intervals over seeds do not overlap or every seed "
              "agrees, *partly* when some do, *–* when no seed's difference is larger than the noise: "
              f"{100 * noise:.1f} points of accuracy, "
              + (f"{100 * margin:.0f}% of λmax, " if margin is not None else "")
              + (f"one grid cell ({num(cell_size)}) of basin width." if cell_size else "the grid's resolution."), ""]
    if claims.not_learned(s):
        lines.append(f"- Claims about the remedies: {said(verdicts.no_claim('no member learned the task'), s)}.")
    else:
        lines += _remedy_claims(judged, noise)
    for r in remedies:
        m = member(s, remedy=r)
        if m is None or not m.get("val_fraction"):
            continue
        stop = (f"stopped at epoch {num(m.get('epochs_trained'))}" if m.get("stopped_early")
                else f"ran all {num(m.get('epochs_trained'))} epochs")
        lines.append(f"- {r}: trained on {100 * (1 - m['val_fraction']):.0f}% of the training examples (the rest "
                     f"held out for validation), {stop} and kept the weights of epoch {num(m.get('kept_epoch'))} "
                     f"(lowest validation loss); the baseline's test loss was lowest at epoch "
                     f"{num(base.get('best_test_epoch'))}" + (" (medians over seeds)." if several else "."))
    lines.append("")
    lines += _dropout(s, remedies)
    lines += figure(s, "remedy_curves", "train, validation and test loss per epoch, one panel per remedy"
                    + claims.seed_caption(s))
    lines += figure(s, "landscapes_1d", "1D train loss of every member on shared axes" + claims.seed_caption(s))
    return lines


def _remedy_claims(judged: Dict[str, Dict[str, verdicts.Verdict]], noise: float) -> List[str]:
    """The claims about the remedies, each judged against the baseline seed by seed."""
    lines: List[str] = []
    narrowed = verdicts.combine([v["narrower"] for v in judged.values()], unit="remedy")
    every = [r for r, v in judged.items() if v["narrower"].verdict == verdicts.CONFIRMED]
    some = [r for r, v in judged.items() if v["narrower"].verdict == verdicts.PARTLY]
    lines.append(f"- Claim *each remedy reduces overfitting* (a train − test accuracy gap narrower than the "
                 f"baseline's by more than {100 * noise:.1f} points, two binomial standard errors on the test "
                 f"examples): {said(narrowed)}; the gap narrows in every seed with {', '.join(every) or 'none'}"
                 + (f", in some seeds with {', '.join(some)}" if some else "") + ".")
    worked = [r for r, v in judged.items() if v["better"].verdict == verdicts.CONFIRMED]
    lines.append(f"- Remedies that raised test accuracy above the baseline's by more than the noise "
                 f"({100 * noise:.1f} points) in every seed: {', '.join(worked) or 'none'}; "
                 f"{len(worked)} of {len(judged)}.")
    flat = [r for r, v in judged.items() if v["flatter"].verdict == verdicts.CONFIRMED]
    wide = [r for r, v in judged.items() if v["wider"].verdict == verdicts.CONFIRMED]
    lines.append(f"- Flatness of the minimum each remedy reaches, against the baseline's: a lower λmax with "
                 f"{', '.join(flat) or 'none'} ({len(flat)} of {len(judged)}), a wider basin (mean of the plane's two "
                 f"directions) with {', '.join(wide) or 'none'} ({len(wide)} of {len(judged)})"
                 + ("; the two measures disagree here" if set(flat) != set(wide) else "")
                 + f". Of the remedies that raised test accuracy, {len(set(worked) & set(flat))} of {len(worked)} "
                 "also reached a lower λmax.")
    return lines


def _why_overfit(base_name: Any):
    """Why an overfitting member stayed below the target: it fits its small training set and not the
    test set (the overfitting the study sets up, which a remedy did not undo), or the remedy held its
    training accuracy down too."""
    return lambda name, m: _why_below(m, m.get("coords", {}).get("remedy") == base_name)


def _why_below(m: Dict[str, Any], baseline: bool) -> str:
    n, train = m.get("train_samples"), m.get("train_acc")
    if not n or train is None:
        return ""
    if m.get("val_fraction"):
        n = round(n * (1 - m["val_fraction"]))
    fits = f"it fits its {n:,} training examples ({pct(train)}) but not the test set"
    if train >= 0.99 and baseline:
        return f"{fits}: the overfitting this study sets up on a small training set, which the remedies are judged by"
    if train >= 0.99:
        return f"{fits}: this remedy did not undo the baseline's overfitting (see below)"
    return f"it does not fit its {n:,} training examples either ({pct(train)} train): the remedy held it back"


def _width(s: Dict[str, Any], remedy: Any) -> List[Optional[float]]:
    """Basin width per seed: the mean of the plane's two directions."""
    return at_each_seed(lambda x, y: (x + y) / 2, seeds_of(s, "basin_width_x", remedy=remedy),
                        seeds_of(s, "basin_width_y", remedy=remedy))


def _dropout(s: Dict[str, Any], remedies: List[Any]) -> List[str]:
    rows = [(r, member(s, remedy=r)) for r in remedies]
    rows = [(r, m) for r, m in rows if m is not None and m.get("dropout_layers")]
    if not rows:
        return []
    lines = ["### Dropout at test time", "",
             "PyTorch's `nn.Dropout` is *inverted* dropout: in training each unit is kept with probability q = 1 − p "
             "and the kept ones are multiplied by 1/q; at test time (eval mode) the layer is the identity. The notes "
             "describe the original convention: no scaling in training, activations multiplied by q at test time. "
             "Both make the test-time output the expectation of the training-time output; the two networks are the "
             "same function once the weights after the layer are scaled by q. Measured on the trained members "
             f"({rows[0][1].get('dropout_samples')} test inputs, {rows[0][1].get('dropout_draws')} training-mode "
             "passes):", ""]
    for r, m in rows:
        ratio = m.get("dropout_error_ratio")
        expected = verdicts.bound(seeds_of(s, "dropout_error_ratio", remedy=r), 3.0, side="at_most")
        lines.append(
            f"- {r}: eval-mode outputs deterministic: {yes(m.get('dropout_eval_deterministic'))}; each dropout "
            f"layer the identity in eval mode: {yes(m.get('dropout_eval_identity'))}; the mean of the training-mode "
            f"outputs of every dropout layer differs from its eval output by {num(m.get('dropout_rel_error'))} "
            f"(relative), {num(ratio)}x the Monte-Carlo noise {num(m.get('dropout_expected_rel_error'))} — equal "
            f"to the expectation: {said(expected, s)}; a test-time output off by the "
            f"factor q would be off by {m.get('dropout_p'):g}. For the whole network, whose non-linear layers "
            f"follow the dropout, the mean of training-mode outputs differs from the eval output by "
            f"{num(m.get('dropout_network_rel_error'))} (relative): there the test-time rule is an approximation.")
    return lines + [""]
