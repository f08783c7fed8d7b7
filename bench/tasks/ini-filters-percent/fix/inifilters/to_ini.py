"""{section: {key: value}} -> INI text."""

from __future__ import annotations

import configparser
import io
from collections.abc import Mapping

from inifilters.errors import FilterError


class _Parser(configparser.ConfigParser):
    """Keeps key case as written (ConfigParser lower-cases keys by default)."""

    def optionxform(self, optionstr: str) -> str:
        return optionstr


def to_ini(data: Mapping[str, Mapping[str, str]]) -> str:
    if not isinstance(data, Mapping) or not all(isinstance(v, Mapping) for v in data.values()):
        raise FilterError("to_ini expects a mapping of sections to mappings")
    # Values are plain text: '%' must not be read as an interpolation directive.
    parser = _Parser(interpolation=None)
    for section, values in data.items():
        parser.add_section(section)
        for key, value in values.items():
            parser.set(section, key, str(value))
    out = io.StringIO()
    parser.write(out)
    return out.getvalue().rstrip("\n") + "\n"
