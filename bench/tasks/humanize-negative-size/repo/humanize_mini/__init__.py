"""Human-friendly numbers."""

from humanize_mini.filesize import naturalsize

__all__ = ["naturalsize"]
