"""Report sections of the chapter's studies (``[report] sections``), written from the numbers only.

Each section is ``fn(summary) -> Markdown lines`` (``landscape.report.register_section``). Every
sentence states a measured number and says whether the notes' claim holds for it in the vocabulary of
:mod:`landscape.studies.verdicts` (confirmed, not confirmed, no claim) — decided by a comparison
written next to it, with the noise margin stated, never in advance; nothing is claimed from a run
whose nets did not learn the task (:func:`landscape.studies.claims.not_learned`). The generic
``claims`` section checks the configs' ``[[report.claims]]``; these add what a trend or an order
cannot say (a bound, a spread over batch sizes, a remedy against the baseline) and the figures.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Iterable, List, Optional

from landscape.studies import claims, verdicts
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


def held(ok: Optional[bool], s: Optional[Dict[str, Any]] = None, why: str = "not measured") -> str:
    """A claim's verdict in the one vocabulary of :mod:`landscape.studies.verdicts`: confirmed, not
    confirmed, or no claim (not measured, a difference within the noise: ``why``; or, given the
    summary ``s``, a run whose nets did not learn the task)."""
    unlearned = None if s is None else claims.not_learned(s)
    if unlearned:
        return verdicts.mark(verdicts.no_claim("no member learned the task"))
    v = {True: verdicts.Verdict(verdicts.CONFIRMED), False: verdicts.Verdict(verdicts.NOT_CONFIRMED),
         None: verdicts.no_claim(why)}[ok]
    return verdicts.mark(v) + (f" ({why})" if ok is None else "")


def accuracy_noise(s: Dict[str, Any], samples: str = "test_samples") -> float:
    """Two binomial standard errors of an accuracy counted on the study's test (or train) examples at
    p = 0.5: a difference of two accuracies at or below it gets no vote (:func:`claims.noise`)."""
    n = (s.get("data") or {}).get(samples) or 0
    return 2.0 * math.sqrt(0.25 / n) if n else 0.0


def beyond(a: Optional[float], b: Optional[float], margin: float) -> Optional[bool]:
    """a > b by more than ``margin``; None when either is missing or they are within it."""
    if a is None or b is None or abs(a - b) <= margin:
        return None
    return a > b


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
    m = member(s, **coords)
    return None if m is None else m.get(key)


def figure(s: Dict[str, Any], stem: str, caption: str) -> List[str]:
    """The study figure ``figures/<stem>.<format>`` if this run drew or kept it."""
    rel = f"figures/{stem}.{s['config']['figures'].get('format', 'png')}"
    done = set(s["computed"].get("figures", [])) | set(s["reused"].get("figures", []))
    return [f"![{caption}]({rel})", ""] if rel in done else []


def all_of(flags: Iterable[Optional[bool]]) -> Optional[bool]:
    flags = list(flags)
    if not flags or any(f is None for f in flags):
        return None
    return all(flags)


def _lt(a: Optional[float], b: Optional[float]) -> Optional[bool]:
    return None if a is None or b is None else a < b


def _matrix(s: Dict[str, Any], key: str, rows: str, cols: str, fmt=num) -> List[str]:
    """A small table of one measure: one row per value of ``rows``, one column per value of ``cols``."""
    cv = values(s, cols)
    lines = [f"| {rows} \\ {cols} | " + " | ".join(str(c) for c in cv) + " |", "|---" + "|---:" * len(cv) + "|"]
    for r in values(s, rows):
        cells = []
        for c in cv:
            m = member(s, **{rows: r, cols: c})
            cells.append("diverged" if m is None else fmt(m.get(key)))
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    return lines + [""]


def learned_lines(s: Dict[str, Any], why_below=None) -> List[str]:
    """How many members reach :data:`TARGET` test accuracy, and for each one that does not, its
    accuracy and (``why_below(name, member)``, when given) why. A ``--quick`` run whose nets did not
    learn says so once (:func:`landscape.studies.claims.not_learned`)."""
    ms = [(n, m) for n, m in s["members"].items() if m.get("test_acc") is not None and not m.get("diverged")]
    if not ms:
        return []
    unlearned = claims.not_learned(s)
    if unlearned:
        return [f"- Test accuracy: {unlearned}; nothing below is claimed from these nets.", ""]
    hit = [n for n, m in ms if m["test_acc"] >= TARGET]
    lines = [f"- {len(hit)} of {len(ms)} members reach ≥ {100 * TARGET:.0f}% test accuracy "
             f"(on {s['data'].get('test_samples', 0):,} test examples; best {pct(max(m['test_acc'] for _, m in ms))})"
             + ("." if len(hit) == len(ms) else "; below it:")]
    for n, m in ms:
        if m["test_acc"] < TARGET:
            why = why_below(n, m) if why_below else None
            lines.append(f"  - {n}: {pct(m['test_acc'])} test, {pct(m.get('train_acc'))} train"
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

    slope: Dict[str, float] = {}  # activation -> largest slope over its members, initial weights
    for m in s["members"].values():
        a, v = m.get("coords", {}).get("activation"), m.get("max_slope_init")
        if a is not None and v is not None:
            slope[a] = max(slope.get(a, 0.0), v)
    if slope:
        parts = ", ".join(f"{a} {num(v, 4)}" for a, v in slope.items())
        lines.append(f"- Largest activation slope met on the training data at initialization (every unit, every "
                     f"example): {parts}.")
        if "sigmoid" in slope:
            lines.append(f"- Claim *sigmoid's derivative is at most 1/4*: {held(slope['sigmoid'] <= QUARTER, s)} "
                         f"(largest measured {num(slope['sigmoid'], 4)}).")
    lines += ["", "First-layer gradient norm divided by the last layer's, at initialization (1: level; a "
              "vanishing gradient is many orders of magnitude below 1):", ""]
    lines += _matrix(s, "grad_ratio_init", "activation", "depth")
    lines += ["The same ratio averaged over the last epoch's batches:", ""]
    lines += _matrix(s, "grad_ratio_last", "activation", "depth")

    keep, keep_trained = [], []
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
        relu_last = get(s, "grad_ratio_last", depth=d, activation="relu")
        if relu is not None and relu_last is not None:
            keep.append(relu >= KEPT)
            keep_trained.append(relu_last >= KEPT)
        ta = {a: get(s, "train_acc", depth=d, activation=a) for a in ("sigmoid", "relu")}
        if None not in ta.values():
            facts.append(f"train accuracy after training: sigmoid {pct(ta['sigmoid'])}, ReLU {pct(ta['relu'])}")
        mv = {a: get(s, "first_layer_change", depth=d, activation=a) for a in ("sigmoid", "relu")}
        if None not in mv.values():
            moved = ("did not move at all (0)" if mv["sigmoid"] == 0 else
                     f"moved by {num(mv['sigmoid'])} of their initial norm")
            facts.append(f"the first layer's weights {moved} with sigmoid, moved by {num(mv['relu'])} with ReLU")
        if facts:
            lines.append(f"- Depth {d}: " + "; ".join(facts) + ".")
    at = ", ".join(map(str, depths))
    lines.append(f"- Claim *ReLU keeps the gradient* (its first layer gets at least {KEPT:g} of the last layer's "
                 f"gradient): at initialization {held(all_of(keep), s)} "
                 f"({', '.join(num(get(s, 'grad_ratio_init', depth=d, activation='relu')) for d in depths)} at depths "
                 f"{at}); in the last epoch of training {held(all_of(keep_trained), s)} "
                 f"({', '.join(num(get(s, 'grad_ratio_last', depth=d, activation='relu')) for d in depths)}).")
    lines += ["", "Dead units (derivative zero on every training example) of the final weights:", ""]
    lines += _matrix(s, "dead_share", "activation", "depth", fmt=pct)
    lines.append("")
    lines += figure(s, "gradient_by_layer", "gradient norm by layer, one panel per depth, one line per activation")
    lines += figure(s, "landscapes_1d", "1D train loss of every member along its own filter-normalized direction")
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
    bn_small, bn_large = (get(s, "test_acc", norm="batch", batch_size=b) for b in (lo, hi))
    ln_small, ln_large = (get(s, "test_acc", norm="layer", batch_size=b) for b in (lo, hi))
    if None not in (bn_small, bn_large, ln_small, ln_large):
        bn_drop, ln_drop = bn_large - bn_small, ln_large - ln_small
        # a difference of two differences of four accuracies: its noise is twice one accuracy's
        noise = 2 * accuracy_noise(s)
        more = beyond(bn_drop, ln_drop, noise)
        lines.append(f"- Claim *BatchNorm suffers from small batches more than LayerNorm*: "
                     f"{held(more, s, f'the difference is within the noise, {100 * noise:.1f} points')} "
                     f"(from batch {hi} to {lo} BatchNorm's test accuracy changed by {100 * -bn_drop:+.1f} points, "
                     f"LayerNorm's by {100 * -ln_drop:+.1f}; a difference counts when larger than {100 * noise:.1f} "
                     "points, two binomial standard errors of a difference of two such changes).")
    per_sample = [get(s, "mode_gap_abs", norm=n, batch_size=b) for n in norms if n in ("layer", "group")
                  for b in sizes]
    if per_sample and None not in per_sample:
        lines.append(f"- Claim *LayerNorm (statistics per sample) does not depend on the batch*: "
                     f"{held(max(per_sample) < 1e-5, s)} for the train/test mismatch "
                     "(largest |eval − train-mode loss| "
                     f"of LayerNorm and GroupNorm members: {num(max(per_sample))}). Its test accuracy still "
                     f"moved {100 * spread.get('layer', float('nan')):.1f} points over batch sizes: the number and "
                     "the noise of the steps change with the batch size, its statistics do not.")
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
    lines += figure(s, "landscapes_1d", "1D train loss of every member on shared axes")
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
    lines += learned_lines(s)
    if base is None:
        return lines + [f"The baseline `{base_name}` diverged, so no remedy can be compared with it.", ""]
    gap = base.get("error_gap")
    lines.append(f"- The baseline ({base_name}, {base.get('train_samples'):,} training examples) reached "
                 f"{pct(base.get('train_acc'))} train and {pct(base.get('test_acc'))} test accuracy: a gap of "
                 f"{100 * gap:.1f} points, test loss − train loss {num(base.get('loss_gap'))}; its test loss was "
                 f"lowest at epoch {base.get('best_test_epoch')} of {base.get('epochs_trained')}. Claim *this "
                 f"setting overfits* (gap ≥ 10 points): {held(None if gap is None else gap >= 0.10, s)}.")
    lines += ["", "| remedy | test accuracy | Δ vs baseline | train − test accuracy | λmax | λmax / baseline | "
              "basin width / baseline | narrower gap | better test | flatter (λmax) | wider basin |",
              "|---|---:|---:|---:|---:|---:|---:|---|---|---|---|"]
    helped, flat, wide, narrowed = {}, {}, {}, {}
    for r in remedies[1:]:
        m = member(s, remedy=r)
        if m is None:
            lines.append(f"| {r} | diverged | | | | | | | | | |")
            continue
        d_acc = None if m.get("test_acc") is None else m["test_acc"] - base["test_acc"]
        lam = None if not (m.get("lambda_max") and base.get("lambda_max")) else m["lambda_max"] / base["lambda_max"]
        w = _width(m)
        wb = _width(base)
        width = None if w is None or not wb else w / wb
        noise = accuracy_noise(s)
        narrower = None if m.get("error_gap") is None or gap is None else beyond(gap, m["error_gap"], noise)
        better = beyond(m.get("test_acc"), base.get("test_acc"), noise)
        flatter = _lt(m.get("lambda_max"), base.get("lambda_max"))
        helped[r], flat[r], wide[r], narrowed[r] = better, flatter, _lt(wb, w), narrower
        lines.append(f"| {r} | {pct(m.get('test_acc'))} | {'–' if d_acc is None else f'{100 * d_acc:+.1f}'} | "
                     f"{pct(m.get('error_gap'))} | {num(m.get('lambda_max'))} | {num(lam)} | {num(width)} | "
                     f"{yes(narrower)} | {yes(better)} | {yes(flatter)} | {yes(wide[r])} |")
    lines.append("")
    n_narrow = sum(bool(v) for v in narrowed.values())
    n_noise = sum(v is None for v in narrowed.values())
    noise = accuracy_noise(s)
    judged = (verdicts.no_claim("no member learned the task") if claims.not_learned(s)
              else verdicts.judge(list(narrowed.values()), unit="remedy",
                                  abstained=f"within the noise ({100 * noise:.1f} points)"))
    lines.append(f"- Claim *each remedy reduces overfitting* (a train/test accuracy gap narrower than the baseline's "
                 f"by more than {100 * noise:.1f} points, two binomial standard errors on the test examples; '–' in "
                 f"the table: within it): {verdicts.mark(judged)} ({n_narrow} of {len(narrowed)} remedies narrow it"
                 + (f", {n_noise} within the noise" if n_noise else "") + ").")
    n_flat, n_wide = sum(bool(v) for v in flat.values()), sum(bool(v) for v in wide.values())
    lines.append(f"- Flatness of the minimum each remedy reaches, against the baseline's: lower λmax for {n_flat} of "
                 f"{len(flat)} remedies, a wider basin (mean of the plane's two directions) for {n_wide} of {len(wide)}"
                 + ("; the two measures disagree here" if n_flat != n_wide else "") + ".")
    worked = [r for r, ok in helped.items() if ok]
    lines.append(f"- Remedies that raised test accuracy above the baseline's by more than the noise "
                 f"({100 * accuracy_noise(s):.1f} points): {', '.join(worked) or 'none'}; "
                 f"{len(worked)} of {len(helped)}.")
    for r in remedies:
        m = member(s, remedy=r)
        if m is None or not m.get("val_fraction"):
            continue
        stop = (f"stopped at epoch {m.get('epochs_trained')}" if m.get("stopped_early")
                else f"ran all {m.get('epochs_trained')} epochs")
        lines.append(f"- {r}: trained on {100 * (1 - m['val_fraction']):.0f}% of the training examples (the rest "
                     f"held out for validation), {stop} and kept the weights of epoch {m.get('kept_epoch')} (lowest "
                     f"validation loss); the baseline's test loss was lowest at epoch {base.get('best_test_epoch')}.")
    lines.append("")
    lines += _dropout(s, remedies)
    lines += figure(s, "remedy_curves", "train, validation and test loss per epoch, one panel per remedy")
    lines += figure(s, "landscapes_1d", "1D train loss of every member on shared axes")
    return lines


def _width(m: Dict[str, Any]) -> Optional[float]:
    x, y = m.get("basin_width_x"), m.get("basin_width_y")
    return None if x is None or y is None else (x + y) / 2


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
        lines.append(
            f"- {r}: eval-mode outputs deterministic: {yes(m.get('dropout_eval_deterministic'))}; each dropout "
            f"layer the identity in eval mode: {yes(m.get('dropout_eval_identity'))}; the mean of the training-mode "
            f"outputs of every dropout layer differs from its eval output by {num(m.get('dropout_rel_error'))} "
            f"(relative), {num(ratio)}x the Monte-Carlo noise {num(m.get('dropout_expected_rel_error'))} — equal "
            f"to the expectation: {held(None if ratio is None else ratio < 3, s)}; a test-time output off by the "
            f"factor q would be off by {m.get('dropout_p'):g}. For the whole network, whose non-linear layers "
            f"follow the dropout, the mean of training-mode outputs differs from the eval output by "
            f"{num(m.get('dropout_network_rel_error'))} (relative): there the test-time rule is an approximation.")
    return lines + [""]
