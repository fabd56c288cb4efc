"""One table of failures: each kind of API client error has one row, for ``oas-mcp check`` and for the model alike."""

from __future__ import annotations

from oas_mcp.problems import FAILURES, PROBLEMS


def test_every_failure_reports_a_problem_the_readme_lists() -> None:
    assert {failure.problem for failure in FAILURES} <= set(PROBLEMS)


def test_no_row_is_hidden_by_an_earlier_row_for_the_same_or_a_parent_class() -> None:
    for index, failure in enumerate(FAILURES):
        hiding = [
            earlier.kind.__name__
            for earlier in FAILURES[:index]
            if earlier.when is None and issubclass(failure.kind, earlier.kind)
        ]
        assert not hiding, f"the {failure.kind.__name__} row comes after the {hiding[0]} row, which matches first"
