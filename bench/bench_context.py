"""Benchmark: the planner's context pack on a synthetic 20,000-file repository.

Run from the repository root:  .venv/bin/python bench/bench_context.py [--files N] [--budget T] [--dir D]
Prints the pack's size in tokens, its build time, and whether the file that defines the
function named in the issue made it into the pack.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.core.context import build_context_pack  # noqa: E402
from bot.core.snapshot import Snapshot  # noqa: E402
from bot.core.tokens import estimate_tokens  # noqa: E402

TARGET = "services/billing/core/engine.py"  # defines the function the issue names
TARGET_TEST = "tests/services/billing/core/test_engine.py"
ISSUE_TITLE = "compute_shipping_rate crashes for parcels with zero weight"
ISSUE_BODY = """When an order contains a digital item the checkout fails:

```
Traceback (most recent call last):
  File "/srv/app/services/checkout/flow.py", line 88, in finalize
    rate = compute_shipping_rate(order.parcels, region)
ValueError: shipping weight must be positive, got 0 for parcel 'p-1'
```

Digital items have no weight, so `compute_shipping_rate` should skip them instead of raising.
"""
WORDS = (
    "order parcel region invoice customer account payment refund ledger report export "
    "import session cache queue worker schedule notify email render template token user "
    "profile search index filter sort page config loader parser client server handler"
).split()


def make_repo(root: Path, n_files: int, seed: int = 7) -> None:
    """A mixed Python/JS/Markdown tree in nested directories, with a few big files."""
    rng = random.Random(seed)
    tops = ["services", "web", "libs", "tools", "docs", "scripts", "tests"]
    dirs = [
        "/".join([rng.choice(tops)] + [rng.choice(WORDS) for _ in range(rng.randint(1, 4))])
        for _ in range(n_files // 12)
    ]
    written = 0
    special = {TARGET, TARGET_TEST}
    while written < n_files - len(special) - 4:
        directory = rng.choice(dirs)
        kind = rng.random()
        stem = f"{rng.choice(WORDS)}_{rng.choice(WORDS)}_{written}"
        if kind < 0.55:
            path, text = f"{directory}/{stem}.py", _python(rng, stem)
        elif kind < 0.85:
            path, text = f"{directory}/{stem}.js", _javascript(rng, stem)
        else:
            path, text = f"{directory}/{stem}.md", f"# {stem}\n\n" + " ".join(rng.choices(WORDS, k=120)) + "\n"
        if path in special:
            continue
        _write(root / path, text)
        written += 1
    big_py = "".join(_python(rng, f"bulk_{i}") for i in range(700))  # ~0.6 MB
    engine = big_py[: len(big_py) // 2] + _TARGET_FUNCTION + big_py[len(big_py) // 2 :]
    _write(root / TARGET, engine)
    _write(root / TARGET_TEST, "from services.billing.core.engine import compute_shipping_rate\n\n"
           "def test_rate():\n    assert compute_shipping_rate([], 'eu') == 0\n")
    _write(root / "web/dist/bundle.min.js", "var a=1;" * 300_000)  # 2.4 MB, vendored
    _write(root / "libs/data/fixtures.py", "DATA = [\n" + "    {'id': 1},\n" * 200_000 + "]\n")
    _write(root / "README.md", "# Shop\n\nA synthetic monorepo.\n" + "Lorem ipsum dolor. " * 2000)
    _write(root / "pyproject.toml", '[project]\nname = "shop"\ndependencies = ["aiohttp"]\n')
    (root / "docs/logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0" + bytes(range(256)) * 40)


_TARGET_FUNCTION = '''

def compute_shipping_rate(parcels, region):
    """Sum the rate of every parcel for the region."""
    total = 0
    for parcel in parcels:
        if parcel.weight <= 0:
            raise ValueError(
                f"shipping weight must be positive, got {parcel.weight} for parcel {parcel.id!r}"
            )
        total += RATES[region] * parcel.weight
    return total

'''


def _python(rng: random.Random, stem: str) -> str:
    body = [f'"""Module {stem}."""\n', "import os\n\n"]
    for i in range(rng.randint(2, 8)):
        a, b = rng.choice(WORDS), rng.choice(WORDS)
        body.append(
            f"\ndef {a}_{b}_{i}({a}, {b}=None):\n"
            f"    \"\"\"Handle {a} for {b}.\"\"\"\n"
            f"    if {b} is None:\n        return {a}\n"
            f"    return [{a}, {b}, os.sep]\n"
        )
    return "".join(body)


def _javascript(rng: random.Random, stem: str) -> str:
    out = [f"// {stem}\n"]
    for i in range(rng.randint(2, 6)):
        a, b = rng.choice(WORDS), rng.choice(WORDS)
        out.append(f"export function {a}{b.title()}{i}({a}, {b}) {{\n  return {{ {a}, {b} }};\n}}\n")
    return "".join(out)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _default_dir() -> str | None:
    # Writing 20,000 files to an overlay disk can take longer than the measurement itself.
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--budget", type=int, default=60_000)
    parser.add_argument(
        "--dir", default=_default_dir(), help="where to generate the repository (default: tmpfs if any)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        make_repo(root, args.files)
        generated = time.perf_counter() - started
        started = time.perf_counter()
        snapshot = Snapshot.from_directory(root, "0" * 40)
        indexed = time.perf_counter() - started
        started = time.perf_counter()
        pack = build_context_pack(
            snapshot, issue_title=ISSUE_TITLE, issue_body=ISSUE_BODY, token_budget=args.budget
        )
        built = time.perf_counter() - started
    issue_tokens = estimate_tokens(ISSUE_TITLE + "\n" + ISSUE_BODY)
    print(f"repository files      {pack.total_files} (in {args.dir or tempfile.gettempdir()})")
    print(f"generate / index      {generated:.2f} s / {indexed:.2f} s")
    print(f"pack build time       {built:.2f} s")
    print(f"pack tokens           {pack.tokens} (budget {args.budget}); issue text adds ~{issue_tokens}")
    print(f"files in pack         {len(pack.files)}; tree truncated: {pack.tree_truncated}")
    print(f"relevant file         {TARGET} included: {TARGET in pack.files}")
    print(f"its test              {TARGET_TEST} included: {TARGET_TEST in pack.files}")
    print(f"first files           {', '.join(pack.files[:6])}")
    if pack.tokens > args.budget or TARGET not in pack.files:
        sys.exit(1)


if __name__ == "__main__":
    main()
