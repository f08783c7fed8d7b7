"""Commands, options and the parsing context."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


class UsageError(Exception):
    """Bad command line; the message says what is wrong."""


@dataclass
class Context:
    token_normalize_func: Callable[[str], str] | None = None


@dataclass
class Option:
    name: str
    type: Any = str
    default: Any = None

    def convert(self, value: str, ctx: Context) -> Any:
        converter = getattr(self.type, "convert", None)
        if converter is not None:
            return converter(value, self, ctx)
        try:
            return self.type(value)
        except ValueError as exc:
            raise UsageError(f"--{self.name}: {exc}") from None


class Command:
    def __init__(self, callback: Callable[..., Any], options: Sequence[Option], *,
                 context: Context | None = None) -> None:
        self.callback = callback
        self.options = {o.name: o for o in options}
        self.context = context or Context()

    def main(self, argv: Sequence[str]) -> Any:
        values = {name.replace("-", "_"): o.default for name, o in self.options.items()}
        args: list[str] = []
        items = list(argv)
        while items:
            item = items.pop(0)
            if not item.startswith("--"):
                args.append(item)
                continue
            name, has_value, value = item[2:].partition("=")
            option = self.options.get(name)
            if option is None:
                raise UsageError(f"no such option: --{name}")
            if not has_value:
                if not items:
                    raise UsageError(f"--{name} needs a value")
                value = items.pop(0)
            values[name.replace("-", "_")] = option.convert(value, self.context)
        return self.callback(args=args, **values)
