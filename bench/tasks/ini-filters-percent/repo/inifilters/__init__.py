"""Template filters converting between dicts and INI text."""

from inifilters.errors import FilterError
from inifilters.from_ini import from_ini
from inifilters.to_ini import to_ini

__all__ = ["FilterError", "from_ini", "to_ini"]
