"""Comment commands: what counts as a command line and what does not."""

from __future__ import annotations

import pytest

from bot.core.commands import (
    COMMAND_SCOPE,
    COMMAND_USAGE,
    KNOWN_COMMANDS,
    Command,
    parse_commands,
    parse_variant,
    suggest,
    unknown_commands,
)


def names(text: str | None) -> list[str]:
    return [command.name for command in parse_commands(text)]


def test_single_command_and_argument() -> None:
    assert parse_commands("/revise please use a dict here  ") == [
        Command("revise", "please use a dict here")
    ]


def test_bare_command_has_empty_argument_and_body() -> None:
    assert parse_commands("/approve") == [Command("approve", "", "")]


@pytest.mark.parametrize("text", ["/APPROVE", "/Approve", "  /approve", "\t/approve", "/approve\t"])
def test_case_and_leading_whitespace(text: str) -> None:
    assert names(text) == ["approve"]


def test_command_among_prose_lines_and_crlf() -> None:
    text = "Looks good to me.\r\n/approve\r\nthanks!\r\n/status"
    assert names(text) == ["approve", "status"]


@pytest.mark.parametrize(
    "text",
    [
        "/approved",
        "/approvefoo",
        "/approve-now",
        "/approve, please",
        "please /approve",
        "/usr/bin/env python",
        "/approve/this",
        "https://github.com/o/r/approve",
        "//approve",
        "/ approve",
        "`/approve`",
        "",
        None,
    ],
)
def test_lookalikes_are_not_commands(text: str | None) -> None:
    assert parse_commands(text) == []


def test_quoted_lines_are_not_commands() -> None:
    text = "> /approve\n  > /cancel\n>/retry\nI disagree with that"
    assert parse_commands(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "```\n/approve\n```",
        "~~~\n/approve\n~~~",
        "````md\n```\n/approve\n```\n/cancel\n````",
        "   ```\n/approve\n   ```",
        "```python\n/approve\n",  # unclosed fence runs to the end
        "~~~~\n/approve\n~~~\n/cancel\n~~~~",  # shorter closing fence does not close
    ],
)
def test_fenced_blocks_hide_commands(text: str) -> None:
    assert parse_commands(text) == []


def test_command_after_a_closed_fence_counts() -> None:
    text = "```\n/approve\n```\n/status"
    assert names(text) == ["status"]


def test_fence_indented_four_spaces_is_not_a_fence() -> None:
    # Indented 4+ spaces it is no fence opener, so the next line is a real command.
    assert names("    ```\n/approve") == ["approve"]


def test_backtick_fence_with_backtick_in_info_is_not_a_fence() -> None:
    assert names("``` a`b\n/approve") == ["approve"]


def test_edit_consumes_the_rest_of_the_comment() -> None:
    text = "/edit use this plan\n\n## Summary\nDo it.\n/approve\n```\n/cancel\n```\n"
    assert parse_commands(text) == [
        Command("edit", "use this plan", "## Summary\nDo it.\n/approve\n```\n/cancel\n```")
    ]


def test_commands_before_edit_are_kept() -> None:
    commands = parse_commands("/variant KK\n/EDIT\nnew plan")
    assert commands == [Command("variant", "KK"), Command("edit", "", "new plan")]


def test_edit_inside_fence_does_not_consume() -> None:
    assert names("```\n/edit\n```\n/approve") == ["approve"]


def test_multiple_commands_in_order() -> None:
    assert names("/variant ko\n/approve\n/help") == ["variant", "approve", "help"]


def test_every_known_command_parses() -> None:
    for name in KNOWN_COMMANDS:
        assert names(f"/{name} arg") == [name]


def test_unknown_commands_reported_once_lower_case() -> None:
    text = "/aprove\n/Aprove now\n/usr/bin\n> /quoted\n```\n/infence\n```\n/approve"
    assert unknown_commands(text) == ["aprove"]


def test_unknown_commands_stop_at_edit() -> None:
    assert unknown_commands("/foo\n/edit\n/bar") == ["foo"]


def test_unknown_commands_none() -> None:
    assert unknown_commands(None) == []
    assert unknown_commands("/approve") == []


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("aprove", "approve"),
        ("/aprove", "approve"),
        ("REVISE", "revise"),
        ("rescor", "rescore"),
        ("stauts", "status"),
        ("xyzzy", None),
        ("", None),
    ],
)
def test_suggest(word: str, expected: str | None) -> None:
    assert suggest(word) == expected


@pytest.mark.parametrize(
    ("arg", "expected"),
    [("OK", "OK"), ("ko", "KO"), (" kk ", "KK"), ("`Oo`", "OO"), ("OX", None), ("", None),
     ("OK please", None), ("OOK", None)],
)
def test_parse_variant(arg: str, expected: str | None) -> None:
    assert parse_variant(arg) == expected


def test_scope_table_matches_spec() -> None:
    assert set(COMMAND_SCOPE) == set(KNOWN_COMMANDS) == set(COMMAND_USAGE)
    pr_only = {name for name, where in COMMAND_SCOPE.items() if where == {"pr"}}
    both = {name for name, where in COMMAND_SCOPE.items() if where == {"issue", "pr"}}
    assert pr_only == {"fix", "rescore"}
    assert both == {"retry", "help"}
    assert COMMAND_SCOPE["approve"] == {"issue"}


def test_command_is_frozen() -> None:
    command = Command("approve", "")
    with pytest.raises(AttributeError):
        command.name = "cancel"  # type: ignore[misc]


def test_revise_feedback_runs_over_lines_up_to_the_next_command() -> None:
    text = "/revise keep the public API\nand document the ValueError\n\n- in the README\n/approve"
    revise, approve = parse_commands(text)
    assert revise.text == "keep the public API\nand document the ValueError\n\n- in the README"
    assert approve == Command("approve", "")


def test_fix_feedback_may_start_on_the_next_line() -> None:
    [fix] = parse_commands("/fix\nalso handle empty input\n```\nassert f('') == 0\n```")
    assert fix.text == "also handle empty input\n```\nassert f('') == 0\n```"


def test_feedback_lines_are_not_unknown_commands() -> None:
    assert unknown_commands("/revise please\n/shrug this part\n/approve\n/lgtm") == ["lgtm"]


def test_edit_line_text_is_the_first_line_of_the_plan() -> None:
    [edit] = parse_commands("/edit My title\n\n1. Do it.")
    assert edit.text == "My title\n1. Do it."
    assert parse_commands("/edit Just this line")[0].text == "Just this line"


@pytest.mark.parametrize(
    "text",
    [
        "Some code:\n\n    /approve\n",  # indented code block
        "Text\n    /approve",  # a paragraph continuation, rendered on the line above
        "- step one\n- ```\n  /approve\n  ```",  # a fence inside a list item
        "1. step\n   ```sh\n   /approve\n   ```",
        "- outer\n  - inner\n        ```\n        /approve\n        ```",
        "<!--\n/approve\n-->",  # an HTML comment
        "note <!-- hidden\n/approve\n-->",
        "> I think we should\n/approve",  # lazy continuation of the quote
    ],
)
def test_commands_hidden_by_markdown_are_not_commands(text: str) -> None:
    assert parse_commands(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<!-- a note -->\n/approve", ["approve"]),
        ("<!--\nhidden\n-->\n/approve", ["approve"]),
        ("> quoted\n\n/approve", ["approve"]),
        ("- ```\n  code\n  ```\n/approve", ["approve"]),
        ("- a list item\n\n/approve", ["approve"]),
        ("An HTML comment starts with `<!--`.\n/approve", ["approve"]),
    ],
)
def test_commands_after_hidden_markdown_still_count(text: str, expected: list[str]) -> None:
    assert names(text) == expected
