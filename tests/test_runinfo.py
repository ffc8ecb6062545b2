"""The command a run records is one a user can type again."""

from __future__ import annotations

import sys

import pytest

from disgu.runinfo import invoked_command, run_info


@pytest.mark.parametrize("argv0, shown", [
    ("/somewhere/site-packages/disgu/cli/__main__.py", "disgu"),  # python -m disgu.cli
    ("/somewhere/bin/disgu", "disgu"),  # the console script
    ("benchmarks/glow_heldout_bpd.py", "glow_heldout_bpd.py"),
    ("/somewhere/site-packages/pytest/__main__.py", "__main__.py"),  # another package's -m stays as it is
])
def test_invoked_command_names_the_program(monkeypatch: pytest.MonkeyPatch, argv0: str, shown: str) -> None:
    monkeypatch.setattr(sys, "argv", [argv0, "train-glow", "--steps", "10"])
    assert invoked_command() == [shown, "train-glow", "--steps", "10"]


def test_run_info_records_the_invoked_command_unless_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["/x/disgu/cli/__main__.py", "run", "--seed", "3"])
    assert run_info({"a": 1}, seed=3)["command"] == ["disgu", "run", "--seed", "3"]
    assert run_info({"a": 1}, seed=3, command=["own"])["command"] == ["own"]
