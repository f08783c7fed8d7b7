"""The package scripts and make targets CI invokes are protected entry by entry
(bot/core/ci_entries.py through bot/core/ci_paths.py), and enforced by the workspace and validator."""

from __future__ import annotations

import json

import pytest

from bot.core.changes import FileChange
from bot.core.ci_entries import DEFAULT_GOAL, make_rules, run_entries
from bot.core.ci_paths import ci_executed
from bot.core.paths import PathRefused
from bot.core.snapshot import Snapshot
from bot.core.validate import validate_changes
from bot.core.workspace import Workspace

PACKAGE = json.dumps({"name": "app", "scripts": {"test": "jest", "pretest": "tsc", "lint": "eslint .",
                                                  "build": "webpack"},
                      "dependencies": {"left-pad": "1.0.0"}}, indent=2) + "\n"
MAKEFILE = ("all: build\n\techo all\n\nbuild:\n\tcc -o app app.c\n\n"
            "check: build\n\t./app --selftest\n\ndocs:\n\tsphinx-build docs out\n")


def workflow(*runs: str) -> str:
    steps = "".join(f"      - run: {run}\n" for run in runs)
    return f"on: push\njobs:\n  ci:\n    runs-on: ubuntu-latest\n    steps:\n{steps}"


def executed(runs: list[str], files: dict[str, str]):
    files = {".github/workflows/ci.yml": workflow(*runs), **files}
    return ci_executed(files, files.get)


def package_with(**scripts: str) -> str:
    document = json.loads(PACKAGE)
    document["scripts"].update(scripts)
    return json.dumps(document, indent=2) + "\n"


def edit(ci, path: str, old: str | None, new: str | None) -> str | None:
    return ci.edit_denial(path, old, new, allowed_paths=[])


# npm, yarn, pnpm -------------------------------------------------------------------------


def test_npm_test_protects_the_test_script_and_its_hooks_but_not_dependencies():
    ci = executed(["npm ci", "npm test"], {"package.json": PACKAGE})
    reason = edit(ci, "package.json", PACKAGE, package_with(test="exit 0"))
    assert reason is not None and "`scripts.test`" in reason and "ci.yml" in reason and "`npm test`" in reason
    assert edit(ci, "package.json", PACKAGE, package_with(pretest="true")) is not None
    assert edit(ci, "package.json", PACKAGE, package_with(posttest="rm -rf coverage")) is not None
    document = json.loads(PACKAGE)
    document["dependencies"]["lodash"] = "4.17.21"
    assert edit(ci, "package.json", PACKAGE, json.dumps(document)) is None
    assert edit(ci, "package.json", PACKAGE, package_with(lint="true")) is None  # CI does not run lint


def test_removing_the_script_or_the_file_or_breaking_its_json_is_refused():
    ci = executed(["npm t"], {"package.json": PACKAGE})
    document = json.loads(PACKAGE)
    del document["scripts"]["test"]
    assert edit(ci, "package.json", PACKAGE, json.dumps(document)) is not None
    assert "deleting it" in edit(ci, "package.json", PACKAGE, None)
    assert edit(ci, "package.json", PACKAGE, PACKAGE.replace("{", "", 1)) is not None


def test_a_missing_script_cannot_be_added_nor_a_missing_package_json_created():
    files = {"README.md": "x"}
    ci = executed(["npm test"], files)
    assert edit(ci, "package.json", None, json.dumps({"scripts": {"test": "exit 0"}})) is not None
    assert edit(ci, "package.json", None, json.dumps({"dependencies": {}})) is None


def test_npm_run_lint_protects_only_lint():
    ci = executed(["npm run lint -- --fix"], {"package.json": PACKAGE})
    assert edit(ci, "package.json", PACKAGE, package_with(lint="true")) is not None
    assert edit(ci, "package.json", PACKAGE, package_with(test="exit 0")) is None
    assert set(ci.entries["package.json"]) == {"scripts.prelint", "scripts.lint", "scripts.postlint"}


@pytest.mark.parametrize(("run", "path", "name"), [
    ("npm run-script build", "package.json", "scripts.build"),
    ("npm --prefix web test", "web/package.json", "scripts.test"),
    ("npm test --prefix=web", "web/package.json", "scripts.test"),
    ("cd web && npm run build", "web/package.json", "scripts.build"),
    ("yarn test", "package.json", "scripts.test"),
    ("yarn build", "package.json", "scripts.build"),
    ("yarn run lint", "package.json", "scripts.lint"),
    ("yarn --cwd web lint", "web/package.json", "scripts.lint"),
    ("pnpm check", "package.json", "scripts.check"),
    ("pnpm -C web run e2e", "web/package.json", "scripts.e2e"),
    ("CI=true npm test", "package.json", "scripts.test"),
    ("npm ci", "package.json", "scripts.postinstall"),
])
def test_package_manager_invocations(run, path, name):
    found = {entry for entry, _ in run_entries(run, work="", exists=lambda p: False)}
    assert (path, name) in found


@pytest.mark.parametrize("run", ["yarn add left-pad", "pnpm install --frozen-lockfile", "npm publish",
                                 "echo npm test", "npm --workspace x test"])
def test_tool_commands_that_run_no_named_script(run):
    found = {name for (_, name), _ in run_entries(run, work="", exists=lambda p: False)}
    assert not found & {"scripts.test", "scripts.add", "scripts.publish"}


def test_the_steps_working_directory_and_an_unknown_one():
    assert {e for e, _ in run_entries("npm test", work="web", exists=lambda p: False)} >= {
        ("web/package.json", "scripts.test")}
    assert run_entries("npm test", work=None, exists=lambda p: False) == []
    assert run_entries("cd $DIR && npm test", work="", exists=lambda p: False) == []


# make ------------------------------------------------------------------------------------


def test_make_dash_c_protects_that_makefiles_target_and_its_prerequisites():
    ci = executed(["make -C sub check"], {"sub/Makefile": MAKEFILE, "Makefile": MAKEFILE})
    assert set(ci.entries) == {"sub/Makefile"}
    changed_recipe = MAKEFILE.replace("./app --selftest", "true")
    reason = edit(ci, "sub/Makefile", MAKEFILE, changed_recipe)
    assert reason is not None and "`check`" in reason and "make -C sub check" in reason
    # check depends on build: stubbing build is stubbing check
    assert edit(ci, "sub/Makefile", MAKEFILE, MAKEFILE.replace("cc -o app app.c", "touch app")) is not None
    assert edit(ci, "sub/Makefile", MAKEFILE, MAKEFILE.replace("check: build", "check:")) is not None
    assert edit(ci, "sub/Makefile", MAKEFILE, MAKEFILE.replace("sphinx-build docs out", "mkdocs")) is None
    assert edit(ci, "Makefile", MAKEFILE, changed_recipe) is None
    assert edit(ci, "sub/Makefile", MAKEFILE, None) is not None


def test_bare_make_protects_the_first_target():
    ci = executed(["make"], {"Makefile": MAKEFILE})
    assert ci.entries["Makefile"].keys() == {DEFAULT_GOAL}
    reason = edit(ci, "Makefile", MAKEFILE, MAKEFILE.replace("echo all", "true"))
    assert reason is not None and "default make goal" in reason
    assert edit(ci, "Makefile", MAKEFILE, "ok:\n\ttrue\n" + MAKEFILE) is not None  # a new first goal
    assert edit(ci, "Makefile", MAKEFILE, MAKEFILE.replace("sphinx-build", "mkdocs")) is None


def test_a_makefile_that_is_not_simple_is_protected_whole():
    tricky = "include common.mk\ncheck:\n\t./run\n\ndocs:\n\tsphinx-build\n"
    ci = executed(["make check"], {"Makefile": tricky})
    assert make_rules(tricky) is None
    assert edit(ci, "Makefile", tricky, tricky.replace("sphinx-build", "mkdocs")) is not None


def test_make_options_and_a_makefile_named_otherwise():
    found = {e for e, _ in run_entries("make -j4 -k -f build.mk V=1 test lint", work="",
                                       exists=lambda p: False)}
    assert found == {("build.mk", "test"), ("build.mk", "lint")}
    found = {e for e, _ in run_entries("gmake --directory=sub", work="", exists={"sub/makefile"}.__contains__)}
    assert found == {("sub/makefile", DEFAULT_GOAL)}


def test_an_allowed_pattern_naming_the_file_opens_it():
    ci = executed(["make check"], {"Makefile": MAKEFILE})
    assert ci.edit_denial("Makefile", MAKEFILE, "", allowed_paths=["Makefile"]) is None
    assert ci.edit_denial("Makefile", MAKEFILE, "", allowed_paths=["**"]) is not None


# enforcement -----------------------------------------------------------------------------


def snapshot_of(tmp_path, files: dict[str, str]) -> Snapshot:
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    return Snapshot.from_directory(tmp_path, "a" * 40)


def guarded(tmp_path, files: dict[str, str]) -> tuple[Workspace, object]:
    ci = ci_executed(files, files.get)
    deny_edit = lambda path, old, new: ci.edit_denial(path, old, new, allowed_paths=[])  # noqa: E731
    return Workspace(snapshot_of(tmp_path, files), deny_edit=deny_edit), deny_edit


def test_the_workspace_refuses_each_tool_that_would_change_a_protected_script(tmp_path):
    files = {".github/workflows/ci.yml": workflow("npm test"), "package.json": PACKAGE}
    workspace, deny_edit = guarded(tmp_path, files)
    with pytest.raises(PathRefused, match="scripts.test"):
        workspace.replace("package.json", '"test": "jest"', '"test": "exit 0"')
    with pytest.raises(PathRefused, match="deleting it"):
        workspace.delete("package.json")
    workspace.replace("package.json", '"left-pad": "1.0.0"', '"left-pad": "1.3.0"')
    assert workspace.changes()[0].new.count("1.3.0") == 1
    # the validator at finish judges the whole change the same way, whatever produced it
    sneaked = FileChange("package.json", "modify", PACKAGE, package_with(test="exit 0"))
    problems = validate_changes([sneaked], deny=lambda p: None, deny_edit=deny_edit,
                                max_files=10, max_changed_lines=100)
    assert any("scripts.test" in p for p in problems), problems
