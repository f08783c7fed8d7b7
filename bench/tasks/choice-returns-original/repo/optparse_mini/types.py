"""Parameter types that check and convert a command-line string."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class Choice:
    """One of a fixed set of strings."""

    def __init__(self, choices: Sequence[str], case_sensitive: bool = True) -> None:
        self.choices = list(choices)
        self.case_sensitive = case_sensitive

    def convert(self, value: str, param: Any, ctx: Any) -> str:
        from optparse_mini.core import UsageError

        # Exact match
        if value in self.choices:
            return value

        normed_value = value
        normed_choices = self.choices
        if ctx is not None and ctx.token_normalize_func is not None:
            normed_value = ctx.token_normalize_func(value)
            normed_choices = [ctx.token_normalize_func(choice) for choice in self.choices]

        if not self.case_sensitive:
            normed_value = normed_value.casefold()
            normed_choices = [choice.casefold() for choice in normed_choices]

        if normed_value in normed_choices:
            return normed_value

        raise UsageError(f"--{param.name}: invalid choice: {value}. (choose from {', '.join(self.choices)})")
