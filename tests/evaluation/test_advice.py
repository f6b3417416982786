"""Every gradient-masking check comes with what its failure means and the command to run next."""

from __future__ import annotations

import ast
from pathlib import Path

import torch

import mireg.evaluation.sanity as sanity
from mireg.evaluation import EvaluationReport, SanityCheck
from mireg.evaluation.advice import ADVICE, next_steps


def _check_names() -> set[str]:
    """The names of every SanityCheck that sanity.py builds."""
    tree = ast.parse(Path(sanity.__file__).read_text())
    return {node.args[0].value for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, "id", None) == "SanityCheck" and isinstance(node.args[0], ast.Constant)}


def test_every_check_has_advice():
    names = _check_names()
    assert len(names) == 6 and names == set(ADVICE)


def test_the_table_explains_a_failed_check_with_the_command_to_run():
    y = torch.tensor([0, 1, 2, 3])
    report = EvaluationReport(suite="quick", norm="Linf", eps=0.1, labels=y, clean_pred=y, results={},
                              meta={"checkpoint": "runs/at/best.pt", "eps_source": "given by --eps"})
    report.checks = [SanityCheck("accuracy vanishes at large eps", False, "40.00% at eps 1.6 (> 5%)"),
                     SanityCheck("non-zero input gradients", True, "0 of 4")]
    table = report.table()
    assert "gradient masking suspected" in table and "What failed, and what to run next" in table
    assert "- accuracy vanishes at large eps: at a radius that lets the attack reach almost any image" in table
    assert "next: mireg eval runs/at/best.pt --suite robustbench-linf --eps 0.1" in table
    assert "eps 0.1: given by --eps" in table.splitlines()[1]
    assert report.summary()["next_steps"] == report.next_steps and len(report.next_steps) == 1
    report.checks = [SanityCheck("non-zero input gradients", True, "0 of 4")]
    assert "next:" not in report.table() and report.summary()["next_steps"] == []


def test_next_steps_fill_the_threat_model_and_name_each_check_once():
    failed = [SanityCheck("black-box does not beat white-box", False, "a")] * 2
    steps = next_steps(failed, norm="L2", eps="0.5")
    assert len(steps) == 1 and steps[0]["run"].endswith("mireg eval CHECKPOINT --suite robustbench-l2 --eps 0.5")
