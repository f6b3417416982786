"""What a failed gradient-masking check means, and what to run next.

:meth:`mireg.evaluation.EvaluationReport.table` prints this under the sanity checks and ``report.json``
keeps it (``next_steps``), so that "gradient masking suspected" never stands alone. Each check of
:mod:`mireg.evaluation.sanity` has one entry: what its failure says about the model or the attacks (after
Athalye, Carlini & Wagner, ICML 2018, Sec. 3.1, and Carlini et al. 2019, "On Evaluating Adversarial
Robustness", Sec. 5-6) and the ``mireg eval`` command that checks it with a stronger or a gradient-free
attack.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ADVICE", "next_steps"]

_AUTOATTACK = "mireg eval {checkpoint} --suite {autoattack_suite} --eps {eps}"
_BLACKBOX = "mireg eval {checkpoint} --suite blackbox --eps {eps} --surrogate OTHER_MODEL.pt"

#: check name -> (what its failure means, what to run next; ``{checkpoint}``, ``{eps}`` and
#: ``{autoattack_suite}`` are filled in)
ADVICE: dict[str, tuple[str, str]] = {
    "stronger attacks score lower": (
        "an attack with more iterations (or an iterative one against a single step) found FEWER adversarial "
        "examples: the attacks' optimisation fails on this model (masked gradients, or step sizes that do not "
        "suit it), so the gradient attacks' numbers are too high",
        f"attacks with adaptive step sizes, targeted losses and a black-box member (AutoAttack): {_AUTOATTACK}"),
    "accuracy falls as eps grows": (
        "robust accuracy ROSE at a larger radius, although every example inside the smaller ball is inside the "
        "larger: the attack misses adversarial examples that exist (noisy or masked gradients)",
        f"a gradient-free view: {_AUTOATTACK} (its Square attack uses no gradients), or a transfer attack "
        f"from a separately trained model: {_BLACKBOX}"),
    "accuracy vanishes at large eps": (
        "at a radius that lets the attack reach almost any image, accuracy should be near 0 and is not: gradient "
        "attacks do not move the model's decision (gradient masking, a non-differentiable part, or too few "
        "steps for the radius)",
        f"{_AUTOATTACK}; for a non-differentiable preprocessing step, attack through mireg.attacks.BPDA"),
    "black-box does not beat white-box": (
        "an attack that sees only the model's outputs broke points every gradient attack missed: the gradients "
        "point the wrong way, and the white-box numbers overestimate robustness",
        f"take the black-box number as the upper bound and run AutoAttack, which includes Square: {_AUTOATTACK}"),
    "non-zero input gradients": (
        "some inputs have an exactly zero loss gradient (shattered gradients: a saturated softmax, a quantising "
        "or non-differentiable step), so gradient attacks cannot start from them",
        f"margin (DLR) losses and a gradient-free attack (AutoAttack): {_AUTOATTACK}; for a non-differentiable "
        "layer, attack through mireg.attacks.BPDA"),
    "attacks respect the threat model": (
        "an attack returned images outside the eps-ball or [0, 1]; those points were NOT counted as broken, so "
        "robust accuracy may be too high, and the attack has a bug",
        "report it with the attack's arguments from report.json; until fixed, leave that attack out "
        "(--attacks) and do not claim its number"),
}


def next_steps(failed: list[Any], *, norm: str, eps: str, checkpoint: str | None = None) -> list[dict[str, str]]:
    """``[{"check", "meaning", "run"}]`` for the failed checks (objects with ``.name``), commands filled in.

    Example:
        >>> steps = next_steps(report.failed_checks, norm="Linf", eps="8/255", checkpoint="runs/at/best.pt")
        >>> steps[0]["run"]      # e.g. 'mireg eval runs/at/best.pt --suite robustbench-linf --eps 8/255'
    """
    fill = {"checkpoint": checkpoint or "CHECKPOINT", "eps": eps,
            "autoattack_suite": "robustbench-l2" if norm == "L2" else "robustbench-linf"}
    steps, seen = [], set()
    for check in failed:
        if check.name in seen:
            continue
        seen.add(check.name)
        meaning, run = ADVICE.get(check.name, ("a sanity check failed", _AUTOATTACK))
        steps.append({"check": check.name, "meaning": meaning, "run": run.format(**fill)})
    return steps
