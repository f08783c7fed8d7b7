"""What GitHub Actions runs from the repository, found by parsing workflows (bot/core/ci_paths.py)."""

from __future__ import annotations

from bot.core.ci_paths import MAX_STEPS, ci_executed

WORKFLOW = """
on: push
defaults:
  run:
    working-directory: app
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: ./.github/actions/setup
      - name: build
        run: |
          ./build.sh
          python ../tools/gen.py --out dist
          bash "${{ github.workspace }}/scripts/ci.sh" && make test
          cat README.md
      - run: npm test
        working-directory: web
      - uses: ./
  deploy:
    uses: ./.github/workflows/deploy.yml
"""

FILES = {
    ".github/workflows/ci.yml": WORKFLOW,
    ".github/workflows/deploy.yml": "on: workflow_call\njobs:\n  d:\n    runs-on: x\n    steps:\n      - run: scripts/deploy.sh\n",
    ".github/actions/setup/action.yml": ("runs:\n  using: composite\n  steps:\n"
                                         "    - run: $GITHUB_ACTION_PATH/install.sh\n      shell: bash\n"
                                         "    - uses: ./actions/inner\n"),
    ".github/actions/setup/install.sh": "",
    "actions/inner/action.yaml": "runs:\n  using: docker\n  image: Dockerfile\n",
    "actions/inner/Dockerfile": "FROM x\n",
    "actions/inner/entry.sh": "",
    "action.yml": "runs:\n  using: node20\n  main: dist/index.js\n",
    "dist/index.js": "",
    "app/build.sh": "", "tools/gen.py": "", "scripts/ci.sh": "", "scripts/deploy.sh": "",
    "README.md": "", "app/README.md": "", "Makefile": "", "web/package.json": "", "src/lib.py": "",
}


def run(files: dict[str, str]):
    return ci_executed(files, files.get)


def test_what_workflows_and_local_actions_run_is_found() -> None:
    found = run(FILES)
    protected = {p for p in FILES if found.reason(p)}
    assert protected == {
        ".github/actions/setup/action.yml", ".github/actions/setup/install.sh",
        "actions/inner/action.yaml", "actions/inner/Dockerfile", "actions/inner/entry.sh",
        "action.yml", "dist/index.js", "app/build.sh", "tools/gen.py", "scripts/ci.sh",
        "scripts/deploy.sh", ".github/workflows/deploy.yml",
    }
    assert "ci.yml, job test, step build runs it" in found.reason("app/build.sh")
    assert "reusable workflow" in found.reason(".github/workflows/deploy.yml")


def test_an_allowed_pattern_must_name_the_file() -> None:
    found = run(FILES)
    assert found.denial("scripts/ci.sh", allowed_paths=["**"]) is not None
    assert found.denial("scripts/ci.sh", allowed_paths=["**/*.sh"]) is not None
    assert found.denial("scripts/ci.sh", allowed_paths=["scripts/**"]) is None
    assert found.denial("src/lib.py", allowed_paths=[]) is None
    message = found.denial("scripts/ci.sh", allowed_paths=[])
    assert "run by CI" in message and "secrets" in message and "allowed_paths" in message


def test_composite_actions_are_protected_even_when_no_workflow_names_them() -> None:
    found = run({".github/actions/lint/action.yml": "runs: {using: composite, steps: []}\n",
                 ".github/actions/lint/lint.py": ""})
    assert found.reason(".github/actions/lint/lint.py") and found.reason(".github/actions/lint/action.yml")


def test_broken_or_hostile_yaml_protects_nothing_more_and_never_raises() -> None:
    for text in ["jobs: [", "- a\n- b\n", "jobs: 3\n", "jobs:\n  x: [1, 2]\n", "\t\0", "a" * 300_000,
                 "jobs:\n  j:\n    steps: {run: x}\n", "jobs:\n  j:\n    uses: ./../../etc/passwd\n"]:
        assert run({".github/workflows/w.yml": text, "x": ""}).files == {}


def test_paths_leaving_the_repository_are_ignored() -> None:
    files = {".github/workflows/w.yml": "jobs:\n  j:\n    steps:\n      - run: ../../x.sh /etc/y.sh ~/z.sh\n      - uses: ./../a\n"}
    found = run(files)
    assert found.files == {} and found.dirs == {}


def test_aliases_cannot_make_the_scan_quadratic() -> None:
    # 3,000 jobs sharing one 3,000-step list through a YAML alias: 9 million steps unbounded;
    # the scan stops after MAX_STEPS, so this returns at once and still finds the script.
    shared = "".join("    - run: ./x.sh\n" for _ in range(3000))
    jobs = "\n".join(f"  j{i}: {{steps: *all}}" for i in range(3000))
    text = f"defs:\n  all: &all\n{shared}jobs:\n{jobs}\n"
    assert MAX_STEPS < 3000 * 3000
    found = run({".github/workflows/w.yml": text, "x.sh": ""})
    assert found.reason("x.sh") is not None
