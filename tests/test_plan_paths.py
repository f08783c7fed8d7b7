"""Which files a plan names, including a human's free-form Markdown plan (`/edit`)."""

from __future__ import annotations

from bot.core.plan import Plan, PlanVersion
from bot.core.plan_paths import paths_in_markdown, planned_paths
from tests import scenario as sc

REPO = {"calc/ops.py", "tests/test_ops.py", "README.md", "pyproject.toml"}
exists = REPO.__contains__


def test_backticked_and_bare_paths_that_exist_are_found_in_order():
    text = ("## My plan\n\n1. In calc/ops.py guard `b == 0`.\n"
            "2. Test it in `./tests/test_ops.py` with `pytest.raises` and `ValueError`.\n")
    assert paths_in_markdown(text, exists=exists) == ["calc/ops.py", "tests/test_ops.py"]


def test_a_files_section_lists_files_even_without_backticks_and_marks_new_ones():
    text = ("Fix the divide bug.\n\n### Files\n- README.md: mention the error\n"
            "- `calc/errors.py` (new)\n- calc/ops.py\n\n### Steps\n- docs/notes.md is unrelated\n")
    assert paths_in_markdown(text, exists=exists) == ["README.md", "calc/errors.py", "calc/ops.py"]


def test_mentions_that_are_neither_in_the_repo_nor_created_are_not_guessed():
    text = ("Use `requests` like `src/lib/http.py` in the other project does; see "
            "https://example.com/a/b.py and `setup.cfg`.\n")
    assert paths_in_markdown(text, exists=exists) == []


def test_a_created_file_outside_a_files_section_needs_a_directory_and_an_extension():
    text = "Create `calc/errors.py` for the exception; add a `helpers` module and a `notes.txt`.\n"
    assert paths_in_markdown(text, exists=exists) == ["calc/errors.py"]


def test_planned_paths_prefers_the_models_structured_list():
    model = PlanVersion(number=1, plan=Plan.model_validate(sc.PLAN), markdown=None, author="planner",
                        base_sha="a" * 40, created_at=0.0)
    human = PlanVersion(number=2, plan=None, markdown="Edit `calc/ops.py`.", author="@alice",
                        base_sha="a" * 40, created_at=0.0)
    assert planned_paths(model, exists=exists) == ["calc/ops.py", "tests/test_ops.py"]
    assert planned_paths(human, exists=exists) == ["calc/ops.py"]
