"""The status line of the meter."""

from meter.units import format_sizeof


def format_interval(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def format_meter(n: float, total: float | None, elapsed: float, *, unit: str = "it",
                 unit_scale: bool = False) -> str:
    rate = n / elapsed if elapsed else None
    if unit_scale:
        shown_n = format_sizeof(n)
        shown_total = format_sizeof(total) if total else "?"
        shown_rate = (format_sizeof(rate) + " " if rate is not None else "? ") + f"{unit}/s"
    else:
        shown_n, shown_total = str(n), str(total) if total else "?"
        shown_rate = (f"{rate:.2f}" if rate is not None else "?") + f" {unit}/s"
    elapsed_text = format_interval(elapsed)
    if not total:
        return f"{shown_n} [{elapsed_text}, {shown_rate}]"
    left = format_interval((total - n) / rate) if rate else "?"
    percent = int(100 * n / total)
    return f"{percent:3d}%|{shown_n}/{shown_total} [{elapsed_text}<{left}, {shown_rate}]"
