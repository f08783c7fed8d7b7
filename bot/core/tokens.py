"""Token estimates for budgets: a conservative count from UTF-8 bytes, no tokenizer needed."""

from __future__ import annotations

# Real tokenizers average ~4 bytes per token on code and English; 3.5 over-counts a little,
# so a text that fits this estimate fits the model's real budget too.
BYTES_PER_TOKEN = 3.5


def estimate_tokens(text: str) -> int:
    """ceil(len(utf-8 bytes) / 3.5), computed in integers so it is exact."""
    return -(-2 * len(text.encode("utf-8")) // 7)


def max_bytes_for(tokens: int) -> int:
    """The largest UTF-8 byte length whose estimate is still within ``tokens``."""
    return max(0, 7 * tokens // 2)
