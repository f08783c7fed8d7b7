"""Numbers with SI prefixes: 1234567 -> '1.23M'."""

PREFIXES = ("", "k", "M", "G", "T", "P", "E", "Z")


def format_sizeof(num: float, suffix: str = "", divisor: float = 1000) -> str:
    """``num`` with an SI prefix and three significant digits (at most four characters before ``suffix``)."""
    for prefix in PREFIXES:
        if abs(num) < 999.5:  # from 999.5 on, "{:3.0f}" would print 1000
            if abs(num) < 99.95:
                if abs(num) < 9.995:
                    return f"{num:1.2f}{prefix}{suffix}"
                return f"{num:2.1f}{prefix}{suffix}"
            return f"{num:3.0f}{prefix}{suffix}"
        num /= divisor
    return f"{num:3.1f}Y{suffix}"
