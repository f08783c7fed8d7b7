"""What an issue names (paths, identifiers, error strings) and which files it points at, best first."""

from __future__ import annotations

import math
import posixpath
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.core.snapshot import Snapshot

# Content scanning caps: what keeps a 20,000-file repository fast.
SCAN_FILE_BYTES = 1024 * 1024  # source files beyond 1 MB are rare; generated data is not worth it
SCAN_TOTAL_BYTES = 64 * 1024 * 1024
_SKIP_DIRS = frozenset(
    "node_modules vendor third_party dist build .git __pycache__ .venv venv site-packages".split()
)
_BINARY_EXT = frozenset(
    "png jpg jpeg gif bmp ico webp pdf zip gz tgz bz2 xz 7z jar war class so dll dylib exe bin "
    "woff woff2 ttf otf eot mp3 mp4 wav ogg mov avi pyc pyo o a lock sqlite db npy pkl".split()
)
_STOPWORDS = frozenset(
    """the and for with that this from have has had not but are was were will would should
    could can cannot when then than there their them they what which while where who why how
    into onto out our you your yours its it's also just like some any all each every more most
    other such only own same very too use used using uses get gets got set does did doing done
    make makes made see seen new old one two way want need needs issue bug bugs error errors
    fix fixed fails fail failed failing expected actual behavior behaviour steps reproduce
    version versions python file files function line lines code run runs running work works
    working example instead after before because about above below here please thanks hello
    true false none null self return def class import pass else elif try except raise async
    await lambda yield global print value values type types call called calling traceback
    recent last most should shouldn't doesn't isn't don't can't won't""".split()
)
_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
_PATHLIKE_RE = re.compile(r"(?:[\w.-]+/)+[\w.-]+|[\w-]+\.[A-Za-z][A-Za-z0-9]{0,7}\b")
_DOTTED_RE = re.compile(r"\b[A-Za-z_]\w*(?:\.[A-Za-z_]\w*){2,}\b")
_ERROR_RE = re.compile(r"\b[A-Z]\w*(?:Error|Exception|Warning|Fault)\b:?[ \t]*([^\n]{6,200})")
_QUOTED_RE = re.compile(r"\"([^\"\n]{8,200})\"|'([^'\n]{8,200})'")
_DEF_KEYWORDS = rb"def|class|function|func|fn|struct|interface|type|const|let|var"
_CODE_RE = re.compile(r"```.*?```|`[^`\n]+`", re.DOTALL)
_SPLIT_PATH_RE = re.compile(r"[/._\-\s]+|(?<=[a-z0-9])(?=[A-Z])")


@dataclass
class IssueSignals:
    """What the issue names: paths, identifiers (with weights) and literal error fragments."""

    mentions: list[str] = field(default_factory=list)
    idents: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_issue(cls, title: str, body: str, comments: Sequence[str]) -> IssueSignals:
        text = "\n".join([title, body, *comments])
        code = " ".join(m.group(0) for m in _CODE_RE.finditer(text))
        signals = cls()
        mentions = _PATHLIKE_RE.findall(text) + [
            d.replace(".", "/") + ".py" for d in _DOTTED_RE.findall(text)
        ]
        signals.mentions = list(dict.fromkeys(m.strip("./") for m in mentions if m.strip("./")))
        weights: dict[str, float] = {}
        for source, factor in ((text, 1.0), (code, 2.0), (title, 1.5)):
            for word in _WORD_RE.findall(source):
                if word.lower() in _STOPWORDS or word.isdigit():
                    continue
                specific = "_" in word.strip("_") or any(c.isdigit() for c in word) or (
                    word[1:] != word[1:].lower() and word != word.upper()
                )
                weights[word] = max(weights.get(word, 0.0), (2.0 if specific else 1.0) * factor)
        top = sorted(weights.items(), key=lambda kv: -kv[1])[:40]
        signals.idents = dict(top)
        fragments: list[str] = []
        for match in _ERROR_RE.finditer(text):
            fragments += _literal_fragments(match.group(1))
        for match in _QUOTED_RE.finditer(text):
            fragments += _literal_fragments(match.group(1) or match.group(2))
        signals.errors = list(dict.fromkeys(fragments))[:12]
        return signals


def _literal_fragments(message: str) -> list[str]:
    """Pieces of a runtime message likely to appear verbatim in source (values removed)."""
    pieces = re.split(r"'[^']*'|\"[^\"]*\"|`[^`]*`|\b\d[\w.]*|[{}()\[\]<>]", message)
    kept = [p.strip(" :,.;") for p in pieces]
    return [p for p in kept if len(p) >= 12 and " " in p]


# --- ranking -------------------------------------------------------------------------------


def rank_files(snapshot: Snapshot, paths: list[str], signals: IssueSignals) -> list[tuple[str, float]]:
    """Files by relevance to the issue, best first; files with no signal are left out."""
    scores: dict[str, float] = defaultdict(float)
    _score_mentions(paths, signals.mentions, scores)
    words = {w.lower(): wt for w, wt in signals.idents.items()}
    for ident, weight in signals.idents.items():
        for part in _SPLIT_PATH_RE.split(ident):
            if len(part) >= 3 and part.lower() not in _STOPWORDS:
                words.setdefault(part.lower(), weight / 2)
    for path in paths:
        parts = [p.lower() for p in _SPLIT_PATH_RE.split(path) if p]
        stem = posixpath.splitext(posixpath.basename(path))[0].lower()
        bonus = sum(3 * words[p] for p in set(parts) if p in words) + 5 * words.get(stem, 0)
        if bonus:
            scores[path] += bonus
    _score_contents(snapshot, paths, signals, scores)
    for path in list(scores):
        if is_vendored(path):
            scores[path] *= 0.2
    _boost_tests(paths, scores)
    return sorted(((p, s) for p, s in scores.items() if s > 0), key=lambda ps: (-ps[1], ps[0]))


def _score_mentions(paths: list[str], mentions: list[str], scores: dict[str, float]) -> None:
    by_suffix: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        parts = path.split("/")
        for i in range(len(parts)):
            by_suffix["/".join(parts[i:])].append(path)
    for mention in mentions:
        parts = mention.split("/")
        for i in range(len(parts)):  # an absolute traceback path matches by its longest suffix
            hits = by_suffix.get("/".join(parts[i:]))
            if hits and (len(parts) - i >= 2 or "." in parts[-1]):
                for path in hits[:20]:
                    scores[path] += 1000 / len(hits) ** 0.5 * (1 + (len(parts) - i) / 10)
                break


def _score_contents(
    snapshot: Snapshot, paths: list[str], signals: IssueSignals, scores: dict[str, float]
) -> None:
    """Identifier and error-string hits in file contents, reading each file's head only."""
    if not signals.idents and not signals.errors:
        return
    idents = b"|".join(re.escape(i.encode()) for i in sorted(signals.idents, key=len, reverse=True))
    word_re = re.compile(rb"\b(?:" + idents + rb")\b") if idents else None
    def_re = re.compile(rb"\b(?:" + _DEF_KEYWORDS + rb")\s+\*?(" + idents + rb")\b") if idents else None
    errors = [e.encode() for e in signals.errors]
    order = sorted((p for p in paths if _scannable(p)), key=lambda p: -scores.get(p, 0.0))
    hits: dict[str, Counter[str]] = {}
    defs: dict[str, set[str]] = defaultdict(set)
    budget = SCAN_TOTAL_BYTES
    for path in order:
        if budget <= 0:
            break
        try:
            with open(snapshot.root / path, "rb") as handle:
                data = handle.read(SCAN_FILE_BYTES)
        except OSError:
            continue
        budget -= len(data)
        if b"\0" in data[:8192]:
            continue
        for error in errors:
            if error in data:
                scores[path] += 60
        if word_re is None:
            continue
        found = Counter(m.decode() for m in word_re.findall(data))
        if found:
            hits[path] = found
            defs[path] = {m.decode() for m in def_re.findall(data)} if def_re else set()
    df = Counter(i for found in hits.values() for i in found)
    total = max(len(hits), 1)
    for path, found in hits.items():
        for ident, count in found.items():
            idf = math.log(1 + total / df[ident])
            weight = signals.idents[ident] * idf
            scores[path] += weight * (1 + math.log(count)) + (8 * weight if ident in defs[path] else 0)


def _boost_tests(paths: list[str], scores: dict[str, float]) -> None:
    """Tests named after the top-ranked sources are worth reading next to them."""
    by_name: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        by_name[posixpath.basename(path)].append(path)
    top = sorted((p for p in scores if not _is_test(p)), key=lambda p: -scores[p])[:8]
    for source in top:
        stem, ext = posixpath.splitext(posixpath.basename(source))
        names = [f"test_{stem}{ext}", f"{stem}_test{ext}", f"{stem}.test{ext}", f"{stem}.spec{ext}"]
        for name in names:
            for test in by_name.get(name, [])[:3]:
                scores[test] = max(scores.get(test, 0.0), 0.6 * scores[source])


def _is_test(path: str) -> bool:
    name = posixpath.basename(path)
    return name.startswith("test_") or any(t in name for t in ("_test.", ".test.", ".spec."))


def is_vendored(path: str) -> bool:
    """Third-party or generated code: under a vendored/build directory, or minified."""
    return any(part in _SKIP_DIRS for part in path.split("/")[:-1]) or ".min." in path


def _scannable(path: str) -> bool:
    ext = posixpath.splitext(path)[1].lstrip(".").lower()
    return ext not in _BINARY_EXT and not is_vendored(path)
