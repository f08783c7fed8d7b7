"""Scorecard facts over a real Snapshot, and the secret scanner they use."""

from __future__ import annotations

import random
import string
from pathlib import Path

import pytest

from bot.core.changes import FileChange
from bot.core.facts import Facts, compute_facts, facts_for_prompt, is_test_path
from bot.core.secrets_scan import find_secrets
from bot.core.snapshot import Snapshot

PYPROJECT = """[project]
name = "demo"
dependencies = ["PyYAML>=6", "attrs"]
"""
PACKAGE_JSON = '{"name": "demo", "dependencies": {"react": "^18", "@scope/pkg": "^1"}}'


@pytest.fixture
def snapshot(tmp_path: Path) -> Snapshot:
    files = {
        "pyproject.toml": PYPROJECT,
        "requirements.txt": "click>=8\n",
        "package.json": PACKAGE_JSON,
        "src/demo/__init__.py": "",
        "src/demo/core.py": "import os\n\n\ndef run():\n    return os.getcwd()\n",
        "web/index.js": 'import React from "react";\n',
        "tests/test_core.py": "from demo.core import run\n",
        "logo.png": "\0\1\2",
    }
    for path, text in files.items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return Snapshot.from_directory(tmp_path, "abc123")


def fake_syntax(path: str, content: str) -> str:
    if not path.endswith(".py"):
        return "unchecked"
    return "error" if "def (" in content else "ok"


def _modify(snapshot: Snapshot, path: str, new: str) -> FileChange:
    return FileChange(path=path, action="modify", old=snapshot.read_text(path), new=new)


def _facts(snapshot: Snapshot, changes: list[FileChange], planned: list[str] | None = None) -> Facts:
    return compute_facts(
        snapshot=snapshot,
        changes=changes,
        planned_files=planned if planned is not None else [c.path for c in changes],
        syntax=fake_syntax,
    )


def _token(prefix: str, length: int, seed: int = 7) -> str:
    # Built at run time so no token-shaped literal lives in the repository.
    rng = random.Random(seed)
    return prefix + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(length))


# --- dependencies -----------------------------------------------------------------------

def test_undeclared_import_flagged_declared_stdlib_and_local_not(snapshot: Snapshot) -> None:
    new = "import os\nimport json\nimport yaml\nimport attr\nimport click\nimport requests\nfrom demo import core\n"
    facts = _facts(snapshot, [_modify(snapshot, "src/demo/core.py", new)])
    assert facts.unknown_imports == (("src/demo/core.py", "requests"),)


def test_dependency_added_to_pyproject_in_same_change_counts(snapshot: Snapshot) -> None:
    changes = [
        _modify(snapshot, "src/demo/core.py", "import requests\n"),
        _modify(snapshot, "pyproject.toml", PYPROJECT.replace('"attrs"', '"attrs", "requests"')),
    ]
    assert _facts(snapshot, changes).unknown_imports == ()


def test_new_local_module_created_in_change_is_local(snapshot: Snapshot) -> None:
    changes = [
        FileChange("src/demo/helpers.py", "create", None, "X = 1\n"),
        _modify(snapshot, "src/demo/core.py", "import helpers\n"),
    ]
    assert _facts(snapshot, changes).unknown_imports == ()


def test_dependency_removed_from_manifest_in_change_is_not_declared(snapshot: Snapshot) -> None:
    changes = [
        FileChange("requirements.txt", "delete", "click>=8\n", None),
        _modify(snapshot, "src/demo/core.py", "import click\n"),
    ]
    assert _facts(snapshot, changes).unknown_imports == (("src/demo/core.py", "click"),)


def test_js_undeclared_package_flagged_and_scoped_subpath_resolved(snapshot: Snapshot) -> None:
    new = 'import React from "react";\nimport x from "@scope/pkg/sub";\nimport pad from "left-pad";\n'
    facts = _facts(snapshot, [_modify(snapshot, "web/index.js", new)])
    assert facts.unknown_imports == (("web/index.js", "left-pad"),)


def test_js_dependency_added_to_package_json_in_same_change(snapshot: Snapshot) -> None:
    changes = [
        _modify(snapshot, "web/index.js", 'import pad from "left-pad";\n'),
        _modify(snapshot, "package.json", PACKAGE_JSON.replace('"react"', '"left-pad": "1", "react"')),
    ]
    assert _facts(snapshot, changes).unknown_imports == ()


# --- plan, lines, syntax, tests ---------------------------------------------------------

def test_plan_vs_touched(snapshot: Snapshot) -> None:
    changes = [
        _modify(snapshot, "src/demo/core.py", "import os\n"),
        FileChange("src/demo/extra.py", "create", None, "x = 1\n"),
    ]
    facts = _facts(snapshot, changes, planned=["./src/demo/core.py", "/docs/usage.md", "src/demo/core.py"])
    assert facts.files_planned == ("docs/usage.md", "src/demo/core.py")
    assert facts.files_touched == ("src/demo/core.py", "src/demo/extra.py")
    assert facts.outside_plan == ("src/demo/extra.py",)
    assert facts.planned_not_touched == ("docs/usage.md",)


def test_planned_directory_covers_files_under_it(snapshot: Snapshot) -> None:
    changes = [FileChange("tests/test_new.py", "create", None, "def test_x():\n    assert 1\n")]
    facts = _facts(snapshot, changes, planned=["tests/"])
    assert facts.outside_plan == ()
    assert facts.planned_not_touched == ()


def test_line_counts(snapshot: Snapshot) -> None:
    old = snapshot.read_text("src/demo/core.py")
    assert old is not None
    changes = [
        _modify(snapshot, "src/demo/core.py", old.replace("return os.getcwd()", "return os.getcwd() or '.'") + "X = 1\n"),
        FileChange("new.py", "create", None, "a = 1\nb = 2\n"),
        FileChange("tests/test_core.py", "delete", "from demo.core import run\n", None),
    ]
    facts = _facts(snapshot, changes)
    assert (facts.lines_added, facts.lines_removed) == (1 + 1 + 2, 1 + 1)


def test_crlf_and_missing_final_newline(snapshot: Snapshot) -> None:
    changes = [FileChange("a.txt", "create", None, "one\r\ntwo")]
    facts = _facts(snapshot, changes)
    assert (facts.lines_added, facts.lines_removed) == (2, 0)


def test_syntax_per_changed_file_and_deleted_files_skipped(snapshot: Snapshot) -> None:
    changes = [
        _modify(snapshot, "src/demo/core.py", "def (:\n"),
        _modify(snapshot, "web/index.js", "x"),
        FileChange("tests/test_core.py", "delete", "x\n", None),
    ]
    facts = _facts(snapshot, changes)
    assert facts.syntax == {"src/demo/core.py": "error", "web/index.js": "unchecked"}


def test_tests_changed_only_for_added_or_modified_tests(snapshot: Snapshot) -> None:
    changes = [
        FileChange("tests/test_new.py", "create", None, "def test_a():\n    assert True\n"),
        FileChange("tests/test_core.py", "delete", "x\n", None),
        _modify(snapshot, "src/demo/core.py", "import os\n"),
    ]
    assert _facts(snapshot, changes).tests_changed == ("tests/test_new.py",)
    assert _facts(snapshot, changes[1:]).tests_changed == ()


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("tests/test_x.py", True), ("pkg/test_x.py", True), ("pkg/x_test.py", True),
        ("conftest.py", True), ("web/app.test.ts", True), ("web/app.spec.js", True),
        ("web/__tests__/app.js", True), ("cmd/main_test.go", True),
        ("src/test/java/AppTest.java", True), ("test/helper.rb", True), ("spec/x_spec.rb", True),
        ("src/app.py", False), ("src/contest.py", False), ("docs/testing.md", False),
        ("src/latest.py", False), ("web/app.ts", False),
    ],
)
def test_is_test_path(path: str, expected: bool) -> None:
    assert is_test_path(path) is expected


def test_ci_passed_through(snapshot: Snapshot) -> None:
    facts = compute_facts(snapshot=snapshot, changes=[], planned_files=[], syntax=fake_syntax, ci="failure")
    assert facts.ci == "failure"
    assert facts.files_touched == () and facts.lines_added == 0


# --- secrets ----------------------------------------------------------------------------

def test_secret_in_added_line_flagged_with_line_number_and_redacted(snapshot: Snapshot) -> None:
    token = _token("gh" + "p_", 36)
    old = snapshot.read_text("src/demo/core.py")
    assert old is not None
    changes = [_modify(snapshot, "src/demo/core.py", old + f'TOKEN = "{token}"\n')]
    facts = _facts(snapshot, changes)
    assert len(facts.secrets) == 1
    hit = facts.secrets[0]
    assert (hit.path, hit.line, hit.kind) == ("src/demo/core.py", 6, "GitHub token")
    assert token not in hit.preview and token[4:12] not in hit.preview
    assert token not in facts_for_prompt(facts)


def test_secret_only_in_removed_lines_not_flagged(snapshot: Snapshot) -> None:
    token = _token("gh" + "p_", 36)
    changes = [FileChange("a.py", "modify", f'T = "{token}"\n', "T = os.environ['T']\n")]
    assert _facts(snapshot, changes).secrets == ()


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (f'k = "{_token("AKIA", 0)}{_token("", 16).upper()}"', "AWS access key id"),
        (f'k = "{_token("gh" + "s_", 36)}"', "GitHub token"),
        (f'k = "{_token("github_" + "pat_", 60)}"', "GitHub token"),
        (f'ANTHROPIC = "{_token("sk-" + "ant-api03-", 40)}"', "Anthropic API key"),
        (f'OPENAI = "{_token("sk-" + "proj-", 40)}"', "OpenAI-style API key"),
        (f'slack = "{_token("xo" + "xb-", 30)}"', "Slack token"),
        ("-----BEGIN RSA " + "PRIVATE KEY-----", "private key"),
        ("-----BEGIN OPENSSH " + "PRIVATE KEY-----", "private key"),
        (f'api_key = "{_token("", 24)}"', "hard-coded api_key"),
        (f'"client_secret": "{_token("", 20)}",', "hard-coded client_secret"),
        (f'db_password: str = "{_token("", 16)}"', "hard-coded db_password"),
    ],
)
def test_real_looking_secrets_flagged(line: str, kind: str) -> None:
    hits = find_secrets([("f.py", 3, line)])
    assert [(h.path, h.line, h.kind) for h in hits] == [("f.py", 3, kind)]
    assert "redacted" in hits[0].preview or kind == "private key"


@pytest.mark.parametrize(
    "line",
    [
        'password = "changeme"',
        'api_key = "<your-api-key>"',
        'token = "xxxxxxxxxxxxxxxxxxxx"',
        'token = os.environ["GITHUB_TOKEN"]',
        'token = os.getenv("API_TOKEN", "")',
        'AWS_KEY = "AKIAIOSFODNN7EXAMPLE"',
        f'k = "{"gh" + "p_"}{"x" * 36}"',
        'OPENAI = "sk-your-openai-key-goes-here"',
        'secret = "${SECRET_FROM_ENV_VARIABLE}"',
        'password_prompt = "Please enter your password"',
        'token_url = "https://example.com/oauth/token"',
        'token_env = "GITHUB_APP_PRIVATE_KEY"',
        'secret_path = "/etc/route-me/secret.pem"',
        'api_key = "short"',
        'password = "correcthorsebatterystaple"',
    ],
)
def test_placeholders_and_env_lookups_not_flagged(line: str) -> None:
    assert find_secrets([("f.py", 1, line)]) == []


def test_known_token_assigned_to_secret_name_reported_once() -> None:
    token = _token("gh" + "p_", 36)
    hits = find_secrets([("f.py", 1, f'github_token = "{token}"')])
    assert [h.kind for h in hits] == ["GitHub token"]


def test_find_secrets_empty_input() -> None:
    assert find_secrets([]) == []


# --- prompt text ------------------------------------------------------------------------

def test_facts_for_prompt_is_compact_and_complete(snapshot: Snapshot) -> None:
    changes = [
        _modify(snapshot, "src/demo/core.py", "import requests\n"),
        FileChange("src/demo/extra.py", "create", None, "x = 1\n"),
    ]
    text = facts_for_prompt(_facts(snapshot, changes, planned=["src/demo/core.py"]))
    assert "touched outside the plan: src/demo/extra.py" in text
    assert "requests (in src/demo/core.py)" in text
    assert "test files added or changed: none" in text
    assert "CI: no checks reported yet" in text
    assert len(text.splitlines()) == 10
