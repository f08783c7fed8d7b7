"""Per-repository config: parsing, every key's type errors, and the path policy."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.core.repo_config import (
    KNOWN_KEYS,
    ConfigError,
    RepoConfig,
    glob_match,
    implementer_route_for,
    is_path_denied,
    parse_repo_config,
    validate_model_spec,
)


def errors_for(text: str) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        parse_repo_config(text)
    return caught.value.errors


@pytest.mark.parametrize("text", [None, "", "   \n", "# only a comment\n"])
def test_no_file_or_empty_gives_defaults(text: str | None) -> None:
    config = parse_repo_config(text)
    assert config == RepoConfig()
    assert config.label == "route-me"
    assert config.variant == "OK"
    assert config.strong is None and config.cheap is None and config.judge is None
    assert config.require_approval is True
    assert config.allowed_paths == [] and config.denied_paths == []
    assert (config.max_files, config.max_changed_lines, config.max_turns) == (20, 1000, 30)
    assert config.budget_usd is None
    assert config.draft is False
    assert config.branch_prefix == "route-me/"
    assert config.fallbacks == [] and config.implementer_routes == []
    assert config.allow_cheap_planner_fallback is False


def test_full_valid_file() -> None:
    config = parse_repo_config(
        """
label: AI
variant: KK
strong: anthropic:claude-opus-4-1
cheap: Moonshot:kimi-k2.6
judge: openai:gpt-5
require_approval: false
allowed_paths: ["src/**", "./tests/"]
denied_paths: [src/secret.py]
max_files: 5
max_changed_lines: 200
max_turns: 10
budget_usd: 2
draft: true
branch_prefix: bots/route-me-
fallbacks: [openrouter:moonshotai/kimi-k2:free]
allow_cheap_planner_fallback: true
implementer_routes:
  - paths: ["web/**", "*.css"]
    model: openai:gpt-5-mini
"""
    )
    assert config.variant == "KK"
    assert config.cheap == "moonshot:kimi-k2.6"  # provider lower-cased
    assert config.allowed_paths == ["src/**", "tests/"]
    assert config.budget_usd == 2.0 and isinstance(config.budget_usd, float)
    assert config.branch_prefix == "bots/route-me-"
    assert config.fallbacks == ["openrouter:moonshotai/kimi-k2:free"]
    assert config.implementer_routes[0].model == "openai:gpt-5-mini"


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        ("label: 3", "label", "string"),
        ("label: ''", "label", "at least 1"),
        ("variant: ok", "variant", "'OO', 'OK', 'KO' or 'KK'"),
        ("variant: OX", "variant", "'OO'"),
        ("strong: 5", "strong", "string"),
        ("strong: claude-opus", "strong", "provider:model"),
        ("cheap: 'moonshot: kimi'", "cheap", "provider:model"),
        ("judge: ':model'", "judge", "provider:model"),
        ("require_approval: 'false'", "require_approval", "boolean"),
        ("require_approval: 0", "require_approval", "boolean"),
        ("allowed_paths: src/**", "allowed_paths", "list"),
        ("allowed_paths: [3]", "allowed_paths[0]", "string"),
        ("denied_paths: ['']", "denied_paths[0]", "empty"),
        ("denied_paths: ['src\\\\x']", "denied_paths[0]", "'/'"),
        ("max_files: '20'", "max_files", "integer"),
        ("max_files: 0", "max_files", "greater than 0"),
        ("max_files: true", "max_files", "integer"),
        ("max_changed_lines: 1.5", "max_changed_lines", "integer"),
        ("max_changed_lines: -3", "max_changed_lines", "greater than 0"),
        ("max_turns: []", "max_turns", "integer"),
        ("budget_usd: 0", "budget_usd", "greater than 0"),
        ("budget_usd: '5'", "budget_usd", "number"),
        ("draft: yes please", "draft", "boolean"),
        ("branch_prefix: 7", "branch_prefix", "string"),
        ("branch_prefix: 'a b/'", "branch_prefix", "git"),
        ("branch_prefix: 'x..y/'", "branch_prefix", "git"),
        ("branch_prefix: '/abs'", "branch_prefix", "start"),
        ("branch_prefix: '.hidden/'", "branch_prefix", "'.'"),
        ("branch_prefix: 'a.lock/'", "branch_prefix", ".lock"),
        ("branch_prefix: ''", "branch_prefix", "empty"),
        ("branch_prefix: 'a~b'", "branch_prefix", "git"),
        ("fallbacks: openai:gpt", "fallbacks", "list"),
        ("fallbacks: [nope]", "fallbacks[0]", "provider:model"),
        ("allow_cheap_planner_fallback: 1", "allow_cheap_planner_fallback", "boolean"),
        ("implementer_routes: {}", "implementer_routes", "list"),
        ("implementer_routes: [{paths: [], model: 'a:b'}]", "implementer_routes[0].paths", "at least 1"),
        ("implementer_routes: [{paths: [x], model: b}]", "implementer_routes[0].model", "provider:model"),
        ("implementer_routes: [{paths: [x]}]", "implementer_routes[0].model", "required"),
        ("implementer_routes: [{paths: [x], model: 'a:b', why: 1}]", "implementer_routes[0].why", "Extra"),
    ],
)
def test_each_key_rejects_wrong_types(text: str, key: str, fragment: str) -> None:
    errors = errors_for(text)
    assert [k for k, _ in errors] == [key]
    assert fragment in errors[0][1]


def test_unknown_key_suggests_the_close_one() -> None:
    assert errors_for("lable: ai") == [("lable", 'unknown key; did you mean "label"?')]
    assert errors_for("max_file: 3") == [("max_file", 'unknown key; did you mean "max_files"?')]


def test_unknown_key_without_suggestion_and_non_string_key() -> None:
    assert errors_for("colour: blue") == [("colour", "unknown key")]
    assert errors_for("1: 2") == [("1", "keys must be strings")]


def test_several_errors_reported_together() -> None:
    errors = errors_for("lable: x\nmax_files: nope\ndraft: 3")
    assert [key for key, _ in errors] == ["lable", "max_files", "draft"]


def test_error_message_shows_what_was_given() -> None:
    (_, problem), = errors_for("max_files: '20'")
    assert "got a string '20'" in problem


@pytest.mark.parametrize("text", ["a: [", "key: 'unclosed", "\tx: 1", "a: b: c"])
def test_bad_yaml(text: str) -> None:
    (key, problem), = errors_for(text)
    assert key == "(file)"
    assert problem.startswith("is not valid YAML")


@pytest.mark.parametrize(("text", "kind"), [("- a\n- b", "a list"), ("just text", "a string 'just text'"), ("42", "an integer 42")])
def test_yaml_that_is_not_a_mapping(text: str, kind: str) -> None:
    assert errors_for(text) == [("(file)", f"must be a mapping of keys to values, not {kind}")]


def test_oversized_file_refused() -> None:
    (key, problem), = errors_for("label: x\n" + "# pad\n" * 20_000)
    assert key == "(file)" and "larger" in problem


def test_config_error_message_and_known_keys() -> None:
    error = ConfigError([("a", "bad"), ("b", "worse")])
    assert str(error) == "a: bad; b: worse"
    assert "implementer_routes" in KNOWN_KEYS and "label" in KNOWN_KEYS


def test_model_spec_validation() -> None:
    assert validate_model_spec(" OpenAI:gpt-5 ") == "openai:gpt-5"
    for bad in ["", "gpt", "open ai:gpt", "openai:", "1x:y", "a-b:c"]:
        with pytest.raises(ValueError):
            validate_model_spec(bad)


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("src/*.py", "src/a.py", True),
        ("src/*.py", "src/sub/a.py", False),  # * does not cross /
        ("src/**/*.py", "src/a.py", True),
        ("src/**/*.py", "src/x/y/a.py", True),
        ("src/**", "src/x/y/a.py", True),
        ("**/*.md", "README.md", True),
        ("**/*.md", "docs/a/b.md", True),
        ("*.md", "docs/b.md", False),
        ("docs", "docs/a.md", True),  # a directory covers what is under it
        ("docs/", "docs/a/b.md", True),
        ("docs", "docsx/a.md", False),
        ("/docs/*.md", "docs/a.md", True),
        ("a?.txt", "ab.txt", True),
        ("a?.txt", "a/.txt", False),
        ("[ab].txt", "b.txt", True),
        ("[!ab].txt", "c.txt", True),
        ("[!ab].txt", "a.txt", False),
        ("a.b", "aXb", False),  # dots are literal
        ("src/**", "src2/a", False),
    ],
)
def test_glob_semantics(pattern: str, path: str, expected: bool) -> None:
    assert glob_match(pattern, path) is expected


def test_git_dir_always_denied() -> None:
    config = RepoConfig(allowed_paths=["**"])
    for path in [".git", ".git/config", "sub/.git/hooks/pre-commit", ".GIT/config"]:
        assert is_path_denied(config, path)
    assert is_path_denied(config, ".gitignore") is None
    assert is_path_denied(config, ".github/CODEOWNERS") is None


@pytest.mark.parametrize(
    "path", ["../etc/passwd", "src/../../x", "/etc/passwd", "", "src//a.py", "./a.py", "a\\b.py",
             "C:/x", " a.py"],
)
def test_paths_that_leave_or_bend_the_repo_never_allowed(path: str) -> None:
    assert is_path_denied(RepoConfig(allowed_paths=["**"]), path)
    assert is_path_denied(RepoConfig(), path)


def test_dotdot_never_allowed_in_globs() -> None:
    with pytest.raises(ConfigError):
        parse_repo_config("allowed_paths: ['src/../..']")
    with pytest.raises(ConfigError):
        parse_repo_config("allowed_paths: ['../**']")


def test_workflows_denied_by_default_and_by_catch_alls() -> None:
    path = ".github/workflows/ci.yml"
    assert "workflow" in is_path_denied(RepoConfig(), path)
    assert is_path_denied(RepoConfig(allowed_paths=["**"]), path)
    assert is_path_denied(RepoConfig(allowed_paths=["**/*.yml"]), path)
    assert is_path_denied(RepoConfig(), ".GitHub/Workflows/x.yml")


@pytest.mark.parametrize("pattern", [".github/workflows/**", ".github/**", ".github/workflows/ci.yml", "/.github/workflows/"])
def test_workflows_allowed_when_named_explicitly(pattern: str) -> None:
    config = parse_repo_config(f"allowed_paths: ['{pattern}']")
    assert is_path_denied(config, ".github/workflows/ci.yml") is None


def test_denied_wins_over_allowed_for_workflows() -> None:
    config = RepoConfig(allowed_paths=[".github/**"], denied_paths=[".github/workflows/deploy.yml"])
    assert "denied_paths" in is_path_denied(config, ".github/workflows/deploy.yml")
    assert is_path_denied(config, ".github/workflows/ci.yml") is None


def test_denied_and_allowed_paths() -> None:
    config = RepoConfig(allowed_paths=["src/**", "tests"], denied_paths=["src/vendor/**"])
    assert is_path_denied(config, "src/app.py") is None
    assert is_path_denied(config, "tests/test_app.py") is None
    assert "denied_paths" in is_path_denied(config, "src/vendor/lib.py")
    assert "allowed_paths" in is_path_denied(config, "setup.py")


def test_no_allowed_paths_means_everything_but_denied() -> None:
    config = RepoConfig(denied_paths=["*.lock"])
    assert is_path_denied(config, "deep/dir/file.txt") is None
    assert is_path_denied(config, "poetry.lock")
    assert is_path_denied(config, "sub/poetry.lock") is None  # * stays in one directory


def test_implementer_routes_first_full_match_wins() -> None:
    config = parse_repo_config(
        """
implementer_routes:
  - paths: ["web/**"]
    model: a:front
  - paths: ["web/**", "docs/**"]
    model: b:mixed
"""
    )
    assert implementer_route_for(config, ["web/a.ts", "web/b.css"]) == "a:front"
    assert implementer_route_for(config, ["web/a.ts", "docs/x.md"]) == "b:mixed"
    assert implementer_route_for(config, ["web/a.ts", "src/x.py"]) is None
    assert implementer_route_for(config, []) is None
    assert implementer_route_for(RepoConfig(), ["web/a.ts"]) is None


def test_config_is_immutable() -> None:
    config = RepoConfig()
    with pytest.raises(ValidationError):  # pydantic refuses assignment on a frozen model
        config.label = "x"  # type: ignore[misc]


def test_star_runs_collapse_so_long_paths_stay_fast() -> None:
    long_path = "a/" * 200 + "b" * 300
    # Without collapsing, these patterns backtrack exponentially on a non-matching path.
    assert not glob_match("**/**/**/**/**/**/**/z", long_path)
    assert not glob_match("*************z", long_path)
    assert glob_match("**/**/*.py", "x/y.py")
    assert glob_match("a/***/b", "a/x/y/b")  # three stars mean two
