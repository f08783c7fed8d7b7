"""`ask_advisor`: the cheap implementer asks the strong model; answers are capped and priced as `advice`."""

from __future__ import annotations

import json

from bot.core.usage import Usage
from tests import scenario as sc
from tests.fakes import anthropic_server
from tests.test_plan_stage import comment

QUESTION = "Should the guard QUESTION-7781 raise ValueError or return None?"
ADVICE = "Raise ValueError('b must not be zero') before dividing. ADVICE-3141"
ADVICE_USAGE = Usage(input_tokens=900, output_tokens=120)


def strong_roles_with_advice():
    """The strong model as planner, judge and advisor (the advisor is offered no tools)."""
    roles = sc.anthropic_roles()

    def respond(body):
        if not body.get("tools"):
            return anthropic_server.text_reply(ADVICE, usage=ADVICE_USAGE)
        return roles(body)

    return respond


def advice_requests(anthropic) -> list[dict]:
    return [b for b in anthropic.message_bodies if not b.get("tools")]


ASKING = [("read_file", {"path": "README.md"}), ("ask_advisor", {"question": QUESTION}),
          *sc.IMPLEMENTER_TURNS[1:]]


async def test_the_strong_model_answers_from_the_issue_the_plan_and_the_question_only(
        start_planned, github, anthropic, openai):
    bot = await start_planned(implementer_turns=ASKING)
    anthropic.responder = strong_roles_with_advice()
    await comment(bot, "/approve")
    (asked,) = advice_requests(anthropic)
    text = json.dumps(asked)
    assert QUESTION in text and sc.ISSUE_TITLE in text and sc.PLAN["summary"] in text
    assert "Tiny arithmetic helpers" not in text  # the implementer's own reads stay out
    assert asked["model"] == anthropic.message_bodies[0]["model"]  # the strong model that planned
    answered = [r for body in openai.completion_bodies for r in sc.tool_results(body)]
    assert any("ADVICE-3141" in result for result in answered)
    pull = github.pulls(sc.OWNER, sc.REPO)[0]
    review = github.reviews(sc.OWNER, sc.REPO, pull["number"])[0]["body"]
    advice_row = [line for line in review.splitlines() if line.startswith("| advice |")]
    assert len(advice_row) == 1 and "claude" in advice_row[0]  # priced in the one full cost table


async def test_advice_is_capped_per_run(start_planned, github, anthropic, openai):
    turns = [("ask_advisor", {"question": f"{QUESTION} ({n})"}) for n in range(3)] + sc.IMPLEMENTER_TURNS[1:]
    bot = await start_planned(config="max_advice: 2\n", implementer_turns=turns)
    anthropic.responder = strong_roles_with_advice()
    await comment(bot, "/approve")
    assert len(advice_requests(anthropic)) == 2
    results = [r for body in openai.completion_bodies for r in sc.tool_results(body)]
    assert any(r.startswith("error: no advice left") for r in results)


async def test_max_advice_zero_offers_no_advisor(start_planned, github, anthropic, openai):
    bot = await start_planned(config="max_advice: 0\n")
    await comment(bot, "/approve")
    offered = {t["function"]["name"] for t in openai.completion_bodies[0]["tools"]}
    assert "ask_advisor" not in offered and "finish" in offered
    assert advice_requests(anthropic) == []
