"""A tiny declarative option parser."""

from optparse_mini.core import Command, Context, Option, UsageError
from optparse_mini.types import Choice

__all__ = ["Choice", "Command", "Context", "Option", "UsageError"]
