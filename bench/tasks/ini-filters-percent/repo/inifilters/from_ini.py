"""INI text -> {section: {key: value}}."""

from __future__ import annotations

import configparser

from inifilters.errors import FilterError


class _Parser(configparser.ConfigParser):
    """Keeps key case as written (ConfigParser lower-cases keys by default)."""

    def optionxform(self, optionstr: str) -> str:
        return optionstr


def from_ini(text: str) -> dict[str, dict[str, str]]:
    if not isinstance(text, str):
        raise FilterError(f"from_ini expects a string, got {type(text).__name__}")
    parser = _Parser()
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        raise FilterError(f"from_ini: {exc}") from None
    return {section: dict(parser.items(section)) for section in parser.sections()}
