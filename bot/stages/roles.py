"""The roles as values: what each one is told, may call, how its loop ends and how long it may run.

A stage takes its role, adjusts what the repository's config changes (``dataclasses.replace``:
the implementer's turn cap, the advisor tool), builds the first request with ``Role.request``
and hands role, model and request to ``bot.stages.loop.run_tool_loop``.  What a role does with
each tool call (validate a plan, edit the workspace, score) stays in its stage, as the
``answer`` callback: that is per run, the rest is declared here.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.implementer_tools import IMPLEMENTER_TOOLS
from bot.core.plan import SUBMIT_PLAN_SCHEMA
from bot.core.scorecard import SUBMIT_SCORECARD_SCHEMA
from bot.core.scorecard import TOOL_NAME as SUBMIT_SCORECARD_NAME
from bot.models.port import Message, ModelRequest, Reasoning, ToolSpec
from bot.prompts import Prompts


@dataclass(frozen=True)
class Role:
    """One role of the product (SPEC 5), declared."""

    name: str
    """The role's name, and the key of its reasoning setting (SPEC 8) unless ``reasoning_role`` says otherwise."""
    system_prompt: str
    """The file in ``prompts/`` (without ``.md``) sent as the system prompt."""
    user_prompt: str
    """The file in ``prompts/`` the stage renders as the first user turn."""
    tools: tuple[ToolSpec, ...] = ()
    terminal_tool: str | None = None
    """The tool whose accepted call ends the loop (None: one call, no loop)."""
    max_turns: int = 1
    """Model calls per run."""
    max_output_tokens: int = 8192
    """What one answer may write (adapters add the thinking budget on top)."""
    reasoning_role: str | None = None
    """Whose reasoning setting applies (the advisor thinks like the planner); None: ``name``."""
    final_turns: int = 0
    """The last this-many calls offer only ``terminal_tool`` (never forced: the API refuses a forced
    tool with thinking on), carry ``final_turns_prompt``, and any other call in them is refused."""
    final_turns_prompt: str | None = None
    turns_left_prompt: str | None = None
    """A note (placeholder ``turns_left``) added before each of the last ``turns_left_warned`` calls;
    only a note: every tool stays offered."""
    turns_left_warned: int = 0

    @property
    def reasoning_key(self) -> str:
        return self.reasoning_role or self.name

    def request(self, prompts: Prompts, *, user: str, reasoning: Reasoning | None,
                cached_context: str = "") -> ModelRequest:
        """The first request of a run: this role's system prompt, tools and output limit, and ``user``."""
        return ModelRequest(system=prompts.text(self.system_prompt), messages=(Message(role="user", text=user),),
                            tools=self.tools, max_tokens=self.max_output_tokens, reasoning=reasoning,
                            cached_context=cached_context)

    def turns_left_note(self, prompts: Prompts | None, turns_left: int) -> str | None:
        """The warning before one of the last calls (``turns_left`` calls still allowed); else None."""
        if self.turns_left_prompt is None or turns_left > self.turns_left_warned:
            return None
        assert prompts is not None, f"{self.name} declares turns_left_prompt: the loop needs the prompts"
        left = f"{turns_left} turn" if turns_left == 1 else f"{turns_left} turns"
        return prompts.render(self.turns_left_prompt, turns_left=left).strip()

    def final_note(self, prompts: Prompts) -> str:
        """What the final turns say (why only the terminal tool is left)."""
        assert self.final_turns_prompt is not None, f"{self.name} declares final_turns without a prompt"
        return prompts.text(self.final_turns_prompt).strip()


def _tools(names: tuple[str, ...] | None = None) -> tuple[ToolSpec, ...]:
    return tuple(ToolSpec(name=t.name, description=t.description, input_schema=dict(t.input_schema))
                 for t in IMPLEMENTER_TOOLS if names is None or t.name in names)


READ_ONLY_TOOLS = ("list_files", "read_file", "search")
SUBMIT_PLAN = ToolSpec(
    name="submit_plan",
    description="Submit the finished plan. Call exactly once, when the plan is complete.",
    input_schema=SUBMIT_PLAN_SCHEMA,
)
SUBMIT_SCORECARD = ToolSpec(name=SUBMIT_SCORECARD_NAME, description="Submit the scorecard for this pull request.",
                            input_schema=SUBMIT_SCORECARD_SCHEMA)

PLANNER = Role(
    name="planner", system_prompt="planner_system", user_prompt="planner_user",
    tools=(*_tools(READ_ONLY_TOOLS), SUBMIT_PLAN), terminal_tool="submit_plan",
    max_turns=12, max_output_tokens=16_000,
    # One call to submit, one to fix a refused plan, instead of running out of turns while exploring.
    final_turns=2, final_turns_prompt="planner_last_turns",
)

IMPLEMENTER = Role(
    name="implementer", system_prompt="implementer_system", user_prompt="implementer_user",
    tools=_tools(), terminal_tool="finish",
    max_turns=30,  # SPEC 5's default; the repository's `max_turns` replaces it per run
    max_output_tokens=16_000,
    # Warned, never forced: forcing `finish` would commit a change the model had not completed.
    turns_left_prompt="implementer_turns_left", turns_left_warned=2,
)

JUDGE = Role(
    name="judge", system_prompt="judge_system", user_prompt="judge_user",
    tools=(SUBMIT_SCORECARD,), terminal_tool=SUBMIT_SCORECARD_NAME,
    max_turns=2,  # the first answer and one retry with the errors
    max_output_tokens=4_000,
)

ADVISOR = Role(
    name="advisor", system_prompt="advisor_system", user_prompt="advisor_user",
    max_output_tokens=2_000,
    reasoning_role="planner",  # the same question depth as the planner's: how to approach the code
)

ROLES = (PLANNER, IMPLEMENTER, JUDGE, ADVISOR)
