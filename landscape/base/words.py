"""Counts in words for messages and reports: "1 epoch", "2 epochs", "1 training sample"."""


def plural(n, noun: str, many: str = "") -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1: ``plural(1, "epoch")`` is "1 epoch",
    ``plural(3, "training sample")`` is "3 training samples"; ``many`` gives an irregular plural."""
    return f"{n} {noun if n == 1 else (many or noun + 's')}"
