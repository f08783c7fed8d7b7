"""A minimal text progress meter."""

from meter.display import format_meter

__all__ = ["format_meter"]
