"""The implementer's first message carries the plan's files within a budget (pure)."""

from __future__ import annotations

from bot.core.preload import (
    PreloadChoice,
    Preloaded,
    choose_preloads,
    render_preloads,
    unchanged_reread,
    whole_file_read,
)
from bot.core.tokens import estimate_tokens

FILES = {"a.py": "small\n", "big.py": "x" * 7_000, "c.py": "also small\n"}


def read(path: str) -> str | None:
    return FILES.get(path)


def test_files_are_taken_in_plan_order_and_missing_ones_skipped() -> None:
    choice = choose_preloads(["c.py", "new.py", "a.py", "c.py"], read, budget_tokens=1_000)
    assert [f.path for f in choice.files] == ["c.py", "a.py"]
    assert choice.too_large == ()


def test_a_file_over_the_remaining_budget_is_named_not_shown() -> None:
    choice = choose_preloads(["a.py", "big.py", "c.py"], read, budget_tokens=1_000)
    assert [f.path for f in choice.files] == ["a.py", "c.py"]  # a later small file still fits
    assert choice.too_large == ("big.py",)
    text = render_preloads(choice)
    assert '<file path="a.py">\nsmall\n\n</file>' in text
    assert "x" * 100 not in text
    assert text.endswith("Not shown (over the size budget; read them if you need to): big.py")


def test_the_budget_bounds_what_is_shown() -> None:
    budget = estimate_tokens("x" * 7_000) + 20
    choice = choose_preloads(["big.py", "a.py"], read, budget_tokens=budget)
    shown = sum(estimate_tokens(f.shown) for f in choice.files)
    assert shown <= budget
    assert [f.path for f in choice.files] == ["big.py"]


SHOWN = "    1| a = 1\n    2| b = 2"
A_PY = Preloaded(path="a.py", shown=SHOWN)
FIRST = "Implement the plan.\n" + render_preloads(PreloadChoice(files=(A_PY,), too_large=()))


def test_an_unchanged_preloaded_file_read_again_gets_a_short_note() -> None:
    assert unchanged_reread(A_PY, shown_now=SHOWN, first_message=FIRST) == (
        "unchanged since it was shown in the first message (2 lines); read a line range if you need a part again")


def test_a_changed_or_no_longer_shown_file_is_read_as_usual() -> None:
    assert unchanged_reread(A_PY, shown_now="    1| a = 2\n    2| b = 2", first_message=FIRST) is None
    assert unchanged_reread(A_PY, shown_now=None, first_message=FIRST) is None  # deleted meanwhile
    assert unchanged_reread(A_PY, shown_now=SHOWN, first_message="Implement the plan.") is None


def test_only_a_whole_file_read_counts_as_a_reread() -> None:
    assert whole_file_read({"path": "a.py"}) == "a.py"
    assert whole_file_read({"path": "a.py", "start_line": 1}) is None
    assert whole_file_read({"path": "a.py", "end_line": 9}) is None
    assert whole_file_read({}) is None
