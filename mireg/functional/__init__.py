"""Pure functions for the math of mireg: entropies, weighted divergences, the InfoAT / TRADES /
MART objectives and the mutual-information scores. No state, no ``nn.Module``, no I/O.

Each takes logits (or features) and a ``reduction`` in {"mean", "sum", "none"}.
"""
