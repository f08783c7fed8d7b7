"""``ask_advisor``: the implementer asks the strong model one question when it is stuck.

The strong model gets the issue, the approved plan and the question, never the
implementer's whole conversation (that would cost strong-model prices for cheap-model
tokens).  At most ``max_advice`` answers per implementer run; each call is priced as ledger
stage ``advice`` and counts against the issue's budget like every other call.  A refused or
failed call comes back to the implementer as a tool error, so it can carry on alone.
"""

from __future__ import annotations

import logging

from bot.core.plan import PlanVersion, plan_text
from bot.models.errors import ModelError
from bot.models.model import CallInfo
from bot.models.port import ModelSpec, ToolCall, ToolSpec
from bot.stages.context import IssueContext, Models
from bot.stages.loop import Answer
from bot.stages.roles import ADVISOR

log = logging.getLogger(__name__)

TOOL_NAME = "ask_advisor"
STAGE = "advice"
MAX_QUESTION_CHARS = 4_000


def advisor_tool(limit: int) -> ToolSpec:
    """The tool as the implementer is offered it (only when ``max_advice`` > 0)."""
    return ToolSpec(
        name=TOOL_NAME,
        description=(
            "Ask a stronger model one question when you are stuck: the plan is ambiguous, you cannot find "
            "where a change belongs, or the cause of a CI failure is unclear. It sees the issue, the approved "
            "plan and your question only, not this conversation or the files you read, so make the question "
            f"self-contained (quote the code or error it is about). At most {limit} per run; each costs more "
            "than your own turns, so try the file tools first."),
        input_schema={"type": "object", "properties": {"question": {"type": "string"}},
                      "required": ["question"], "additionalProperties": False})


class Advisor:
    """Answers one implementer run's ``ask_advisor`` calls, up to ``limit``."""

    def __init__(self, ctx: IssueContext, *, version: PlanVersion, models: Models, limit: int) -> None:
        self.ctx, self.version, self.models, self.limit = ctx, version, models, limit
        self.used = 0

    async def answer(self, call: ToolCall) -> Answer:
        question = call.arguments.get("question")
        if not isinstance(question, str) or not question.strip():
            return Answer("error: ask_advisor needs a non-empty `question` string", is_error=True)
        if self.used >= self.limit:
            return Answer(f"error: no advice left (ask_advisor may be called {self.limit} time(s) per run); "
                          "continue with the file tools", is_error=True)
        self.used += 1
        ctx, prompts = self.ctx, self.ctx.runtime.prompts
        user = prompts.render(
            ADVISOR.user_prompt, repo=ctx.repo, issue_number=ctx.number, issue_title=ctx.issue_title,
            issue_body=ctx.issue_body or "(no description)", plan_version=self.version.number,
            plan=plan_text(self.version), question=question.strip()[:MAX_QUESTION_CHARS])
        request = ADVISOR.request(prompts, user=user, reasoning=ctx.role_reasoning(ADVISOR.reasoning_key))
        strong = self.models.strong
        try:
            model = ctx.runtime.models.model(ModelSpec.parse(strong),
                                             ctx.fallbacks_for(strong, self.models, strong_role=True))
            routed = await model.complete(request, call=CallInfo(ctx.call_context(STAGE), ctx.budgets()))
        except ModelError as exc:
            log.warning("%s#%s: the advisor call failed: %s", ctx.repo, ctx.number, exc)
            return Answer(f"error: the advisor could not answer ({type(exc).__name__}); continue on your own",
                          is_error=True)
        text = (routed.reply.text or "").strip()
        return Answer(text or "(the advisor gave no answer)")
