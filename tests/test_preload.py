"""The implementer's first message carries the plan's files within a budget (pure)."""

from __future__ import annotations

from bot.core.preload import choose_preloads, render_preloads
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
