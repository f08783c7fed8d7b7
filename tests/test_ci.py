"""The CI outcome of a head commit from several apps' check suites."""

from __future__ import annotations

from bot.core.ci import record_suite, suite_outcome, worst_outcome


def test_the_worst_suite_wins_in_either_order():
    assert worst_outcome({"GitHub Actions": "failure", "Codecov": "success"}) == "failure"
    assert worst_outcome({"Codecov": "success", "GitHub Actions": "failure"}) == "failure"
    assert worst_outcome({"a": "success", "b": "neutral"}) == "neutral"
    assert worst_outcome({"a": "success", "b": "something new"}) == "something new"  # never read as green
    assert worst_outcome({}) is None


def test_a_running_suite_keeps_green_from_showing_but_not_a_failure():
    assert worst_outcome({"a": "success", "b": "in_progress"}) == "in_progress"
    assert worst_outcome({"a": "failure", "b": "in_progress"}) == "failure"


def test_suites_of_an_older_head_are_forgotten():
    first = record_suite({}, suites_head=None, head_sha="aaa", app="GitHub Actions", outcome="failure")
    both = record_suite(first, suites_head="aaa", head_sha="aaa", app="Codecov", outcome="success")
    assert both == {"GitHub Actions": "failure", "Codecov": "success"}
    assert record_suite(both, suites_head="aaa", head_sha="bbb", app="Codecov", outcome="success") == {
        "Codecov": "success"}


def test_a_suite_outcome_is_its_conclusion_once_completed():
    assert suite_outcome("completed", "timed_out") == "timed_out"
    assert suite_outcome("in_progress", None) == "in_progress"
    assert suite_outcome(None, None) == "pending"
