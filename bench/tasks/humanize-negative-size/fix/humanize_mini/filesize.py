"""File sizes for people: 123456 -> '123.5 kB'."""

SUFFIXES = {
    "decimal": ("kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"),
    "binary": ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"),
    "gnu": "KMGTPEZY",
}


def naturalsize(value, binary=False, gnu=False, format="%.1f"):
    """Format a number of bytes as a human-readable file size (e.g. 10 kB).

    Decimal suffixes (kB, MB) are used by default; ``binary=True`` uses binary suffixes (KiB, MiB) and a
    base of 1024; ``gnu=True`` uses GNU-style single-letter suffixes (K, M) with no space and base 1024.
    """
    if gnu:
        suffix = SUFFIXES["gnu"]
    elif binary:
        suffix = SUFFIXES["binary"]
    else:
        suffix = SUFFIXES["decimal"]

    base = 1024 if (gnu or binary) else 1000
    size = float(value)
    # The unit depends on the magnitude; the sign is kept in the shown number.
    magnitude = abs(size)

    if magnitude == 1 and not gnu:
        return "%d Byte" % size
    if magnitude < base and not gnu:
        return "%d Bytes" % size
    if magnitude < base and gnu:
        return "%dB" % size

    for i, s in enumerate(suffix):
        unit = base ** (i + 2)
        if magnitude < unit:
            return (format + ("%s" if gnu else " %s")) % ((base * size / unit), s)
    return (format + ("%s" if gnu else " %s")) % ((base * size / unit), s)
