"""The one error the filters raise for bad input."""


class FilterError(ValueError):
    """The input cannot be converted; the message says why."""
