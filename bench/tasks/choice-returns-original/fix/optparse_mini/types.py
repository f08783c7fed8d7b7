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
        """The matching choice exactly as declared, whatever normalisation found the match."""
        from optparse_mini.core import UsageError

        normed_value = value
        # normalised form -> the choice as declared
        normed_choices = {choice: choice for choice in self.choices}
        if ctx is not None and ctx.token_normalize_func is not None:
            normed_value = ctx.token_normalize_func(value)
            normed_choices = {ctx.token_normalize_func(normed): original
                              for normed, original in normed_choices.items()}

        if not self.case_sensitive:
            normed_value = normed_value.casefold()
            normed_choices = {normed.casefold(): original for normed, original in normed_choices.items()}

        if normed_value in normed_choices:
            return normed_choices[normed_value]

        raise UsageError(f"--{param.name}: invalid choice: {value}. (choose from {', '.join(self.choices)})")
