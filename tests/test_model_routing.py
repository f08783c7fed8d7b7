"""The composed model stack against fake providers: retries, fallback, breaker, budgets, ledger and cost."""

from __future__ import annotations

import asyncio
import random

import pytest

from bot.core.costs import PriceTable
from bot.core.usage import Usage
from bot.models.anthropic_adapter import AnthropicClient
from bot.models.breaker import CircuitBreaker
from bot.models.budget import Budget
from bot.models.errors import (
    AllModelsFailed,
    AuthFailed,
    BadRequest,
    BudgetExceeded,
    PriceUnknown,
    SpendLimited,
)
from bot.models.ledger import CallContext, LedgerEntry, summarize
from bot.models.model import CallInfo, Served
from bot.models.openai_adapter import OpenAICompatClient
from bot.models.port import Message, ModelRequest, ModelSpec
from bot.models.retrying import RetryPolicy
from bot.models.stack import ModelStack
from tests.fakes.anthropic_server import FakeAnthropic, text_reply
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.openai_server import text_reply as openai_text_reply

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

OPUS = ModelSpec("anthropic", "claude-opus-4-5")
SONNET = ModelSpec("anthropic", "claude-sonnet-4-5")
KIMI = ModelSpec("moonshot", "kimi-k2.6")
CONTEXT = CallContext(installation_id=42, repo="octo/repo", issue=7, stage="plan")
REQUEST = ModelRequest(system="You plan.", messages=(Message(role="user", text="Fix it"),), max_tokens=1000)
PRICES = PriceTable.load_default()


class Harness:
    """A model stack over both fakes with recorded sleeps, an injected clock and an in-memory ledger."""

    def __init__(self, anthropic: FakeAnthropic, openai: FakeOpenAI) -> None:
        self.anthropic = anthropic
        self.openai = openai
        self.sleeps: list[float] = []
        self.now = 1000.0
        self.entries: list[LedgerEntry] = []
        self.clients = {
            "anthropic": AnthropicClient(api_key=anthropic.api_key, base_url=anthropic.base_url),
            "moonshot": OpenAICompatClient(api_key=openai.api_key, base_url=openai.base_url, provider="moonshot"),
        }

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def ledger(self, entry: LedgerEntry) -> None:
        self.entries.append(entry)

    def stack(self, *, breaker_threshold: int = 3, breaker_cooldown: float = 60.0, max_attempts_per_model: int = 3,
              **overrides: object) -> ModelStack:
        options: dict = dict(
            clients=self.clients, prices=PRICES, strong=OPUS, ledger=self.ledger, sleep=self.sleep,
            clock=lambda: self.now, wall_clock=lambda: 1_700_000_000.0, rng=random.Random(7),
            retry=RetryPolicy(max_attempts=max_attempts_per_model),
            breaker=CircuitBreaker(threshold=breaker_threshold, cooldown=breaker_cooldown, clock=lambda: self.now),
        )
        options.update(overrides)
        return ModelStack(**options)

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()


async def call(stack: ModelStack, request: ModelRequest, *, spec: ModelSpec, fallbacks: list[ModelSpec] | None = None,
               context: CallContext = CONTEXT, budgets: list[Budget] | None = None) -> Served:
    """One call of the model a role with ``spec`` and ``fallbacks`` would get."""
    return await stack.model(spec, fallbacks or ()).complete(request, call=CallInfo(context, budgets or ()))


@pytest.fixture
async def h():
    async with FakeAnthropic() as anthropic, FakeOpenAI() as openai:
        harness = Harness(anthropic, openai)
        yield harness
        await harness.close()


async def test_529_on_every_strong_call_falls_back_and_names_the_model(h: Harness) -> None:
    h.anthropic.fail(529, "overloaded_error", times=3)
    h.openai.reply_text("plan from kimi", usage=Usage(100, 50))
    routed = await call(h.stack(), REQUEST, spec=OPUS, fallbacks=[KIMI], context=CONTEXT)
    assert routed.served_by == KIMI and routed.requested == OPUS
    assert routed.reply.text == "plan from kimi" and routed.reply.model == "kimi-k2.6"
    assert routed.fallback_reason == "`anthropic:claude-opus-4-5` was overloaded (529) 3 times"
    assert h.anthropic.calls == 3 and h.openai.calls == 1
    # Two exponential backoffs with jitter between the three tries, none before falling back.
    assert len(h.sleeps) == 2
    assert 0.5 <= h.sleeps[0] <= 1.0 and 1.0 <= h.sleeps[1] <= 2.0
    assert [e.outcome for e in h.entries] == ["Overloaded", "Overloaded", "Overloaded", "ok"]
    assert h.entries[-1].model == "moonshot:kimi-k2.6" and h.entries[-1].requested_model == "anthropic:claude-opus-4-5"
    assert h.entries[-1].fallback_reason == routed.fallback_reason
    assert routed.cost_usd == pytest.approx((100 * 0.95 + 50 * 4.0) / 1e6)
    assert routed.strong_cost_usd == pytest.approx((100 * 5 + 50 * 25) / 1e6)


async def test_an_overload_inside_the_stream_is_reported_as_529_not_200(h: Harness) -> None:
    h.anthropic.fail_midstream("overloaded_error")
    h.anthropic.fail_midstream("overloaded_error")
    h.anthropic.fail_midstream("overloaded_error")
    h.openai.reply_text("plan from kimi")
    routed = await call(h.stack(), REQUEST, spec=OPUS, fallbacks=[KIMI], context=CONTEXT)
    assert routed.served_by == KIMI
    assert routed.fallback_reason == "`anthropic:claude-opus-4-5` was overloaded (529) 3 times"


async def test_429_retry_after_is_honoured_on_the_same_model(h: Harness) -> None:
    h.anthropic.fail(429, "rate_limit_error", retry_after=7)
    h.anthropic.reply_text("plan")
    routed = await call(h.stack(), REQUEST, spec=OPUS, fallbacks=[KIMI], context=CONTEXT)
    assert h.sleeps == [7.0]
    assert routed.served_by == OPUS and routed.fallback_reason is None
    assert h.openai.calls == 0 and h.anthropic.calls == 2
    assert [e.outcome for e in h.entries] == ["RateLimited", "ok"]


async def test_retry_after_beyond_the_cap_falls_back_without_waiting(h: Harness) -> None:
    h.anthropic.fail(429, "rate_limit_error", retry_after=600)
    h.openai.reply_text("ok")
    routed = await call(h.stack(), REQUEST, spec=OPUS, fallbacks=[KIMI], context=CONTEXT)
    assert h.sleeps == []
    assert routed.served_by == KIMI
    assert routed.fallback_reason == "`anthropic:claude-opus-4-5` was rate-limited (429) and asked to wait 600s"


async def test_rate_limit_without_hint_falls_back_at_once_but_retries_the_last_model(h: Harness) -> None:
    h.anthropic.fail(429, "rate_limit_error")
    h.openai.fail(429, "requests", code="rate_limit_exceeded")
    h.openai.reply_text("ok")
    routed = await call(h.stack(), REQUEST, spec=OPUS, fallbacks=[KIMI], context=CONTEXT)
    assert routed.served_by == KIMI
    assert h.anthropic.calls == 1 and h.openai.calls == 2
    assert len(h.sleeps) == 1 and 0.5 <= h.sleeps[0] <= 1.0


async def test_5xx_falls_back_immediately(h: Harness) -> None:
    h.anthropic.fail(500, "api_error")
    h.openai.reply_text("ok")
    routed = await call(h.stack(), REQUEST, spec=OPUS, fallbacks=[KIMI], context=CONTEXT)
    assert routed.served_by == KIMI and h.sleeps == [] and h.anthropic.calls == 1
    assert routed.fallback_reason == "`anthropic:claude-opus-4-5` was unavailable (HTTP 500)"


@pytest.mark.parametrize(
    ("status", "error_type", "message", "expected"),
    [
        (401, "authentication_error", "invalid x-api-key", AuthFailed),
        (402, "billing_error", "spend limit reached", SpendLimited),
        (400, "invalid_request_error", "Your credit balance is too low", SpendLimited),
        (400, "invalid_request_error", "tools.0: bad schema", BadRequest),
    ],
)
async def test_auth_spend_and_bad_request_stop_at_once(
    h: Harness, status: int, error_type: str, message: str, expected: type
) -> None:
    h.anthropic.fail(status, error_type, message=message)
    with pytest.raises(expected):
        await call(h.stack(), REQUEST, spec=OPUS, fallbacks=[KIMI, SONNET], context=CONTEXT)
    assert h.anthropic.calls == 1 and h.openai.calls == 0 and h.sleeps == []
    assert [e.outcome for e in h.entries] == [expected.__name__]


async def test_a_spend_limit_sent_as_429_stops_at_once_without_waiting_or_falling_back(h: Harness) -> None:
    h.anthropic.fail(429, "rate_limit_error", message="monthly limit", retry_after=5,
                     error_code="enforced_spend_limit_reached")
    with pytest.raises(SpendLimited):
        await call(h.stack(), REQUEST, spec=OPUS, fallbacks=[KIMI], context=CONTEXT)
    assert h.anthropic.calls == 1 and h.openai.calls == 0 and h.sleeps == []


async def test_breaker_trips_then_recovers_after_cooldown(h: Harness) -> None:
    stack = h.stack(breaker_threshold=3, breaker_cooldown=60.0)
    h.anthropic.fail(529, "overloaded_error", times=3)
    h.openai.reply_text("one")
    h.openai.reply_text("two")
    await call(stack, REQUEST, spec=OPUS, fallbacks=[KIMI], context=CONTEXT)
    assert stack.breaker.is_open(OPUS)

    second = await call(stack, REQUEST, spec=OPUS, fallbacks=[KIMI], context=CONTEXT)
    assert h.anthropic.calls == 3  # skipped, not called
    assert second.served_by == KIMI and "failed repeatedly in the last minute" in (second.fallback_reason or "")

    h.now += 61.0
    h.anthropic.reply_text("opus is back")
    third = await call(stack, REQUEST, spec=OPUS, fallbacks=[KIMI], context=CONTEXT)
    assert third.served_by == OPUS and third.fallback_reason is None
    assert not stack.breaker.is_open(OPUS)


async def test_half_open_breaker_reopens_after_one_failure(h: Harness) -> None:
    stack = h.stack(breaker_threshold=2, breaker_cooldown=30.0, max_attempts_per_model=5)
    h.anthropic.fail(529, "overloaded_error", times=3)
    h.openai.reply_text("a")
    h.openai.reply_text("b")
    await call(stack, REQUEST, spec=OPUS, fallbacks=[KIMI], context=CONTEXT)
    assert h.anthropic.calls == 2  # the breaker opened mid-retry, so no third try
    h.now += 31.0
    await call(stack, REQUEST, spec=OPUS, fallbacks=[KIMI], context=CONTEXT)
    assert h.anthropic.calls == 3 and stack.breaker.is_open(OPUS)


async def test_half_open_breaker_lets_exactly_one_concurrent_trial_through(h: Harness) -> None:
    stack = h.stack(breaker_threshold=1, breaker_cooldown=30.0)
    h.anthropic.fail(529, "overloaded_error")
    h.openai.reply_text("first")
    await call(stack, REQUEST, spec=OPUS, fallbacks=[KIMI], context=CONTEXT)
    assert stack.breaker.is_open(OPUS)
    h.now += 31.0

    trial_started, finish_trial = asyncio.Event(), asyncio.Event()

    async def slow_opus(body: dict) -> object:
        if trial_started.is_set():  # a second caller reached opus: answer at once, the test then fails
            return text_reply("a second trial")
        trial_started.set()
        await finish_trial.wait()
        return text_reply("opus is back")

    h.anthropic.responder = slow_opus
    h.openai.responder = lambda body: openai_text_reply("kimi covers")
    trial = asyncio.create_task(call(stack, REQUEST, spec=OPUS, fallbacks=[KIMI], context=CONTEXT))
    await trial_started.wait()
    others = await asyncio.gather(*(call(stack, REQUEST, spec=OPUS, fallbacks=[KIMI], context=CONTEXT)
                                    for _ in range(3)))
    finish_trial.set()
    assert (await trial).served_by == OPUS
    assert [o.served_by for o in others] == [KIMI, KIMI, KIMI]
    assert all("failed repeatedly in the last minute" in (o.fallback_reason or "") for o in others)
    assert h.anthropic.calls == 2  # the failure that opened it, then the one trial
    assert stack.breaker.allows(OPUS)  # the trial's success closed it


async def test_a_trial_stopped_before_its_call_frees_the_slot(h: Harness) -> None:
    stack = h.stack(breaker_threshold=1, breaker_cooldown=30.0)
    h.anthropic.fail(529, "overloaded_error")
    h.openai.reply_text("first")
    await call(stack, REQUEST, spec=OPUS, fallbacks=[KIMI], context=CONTEXT)
    h.now += 31.0
    h.anthropic.count_tokens = 10_000_000
    with pytest.raises(BudgetExceeded):
        await call(stack, REQUEST, spec=OPUS, context=CONTEXT, budgets=[Budget("issue", limit_usd=0.01)])
    h.anthropic.count_tokens = None
    h.anthropic.reply_text("opus answers")
    routed = await call(stack, REQUEST, spec=OPUS, fallbacks=[KIMI], context=CONTEXT)
    assert routed.served_by == OPUS


def test_circuit_breaker_unit() -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=2, cooldown=10.0, clock=lambda: now[0])
    breaker.record_failure("x")
    assert breaker.allows("x")
    breaker.record_success("x")
    breaker.record_failure("x")
    assert breaker.allows("x") and not breaker.is_open("x")
    breaker.record_failure("x")
    assert not breaker.allows("x") and breaker.allows("y")
    now[0] = 10.0
    assert breaker.allows("x")


async def test_budget_stop_makes_no_model_call(h: Harness) -> None:
    h.anthropic.count_tokens = 2000
    budget = Budget(name="issue", limit_usd=0.02)  # worst case: 2000*$5 + 1000*$25 per M = $0.035
    with pytest.raises(BudgetExceeded) as caught:
        await call(h.stack(), REQUEST, spec=OPUS, fallbacks=[KIMI], context=CONTEXT, budgets=[budget])
    error = caught.value
    assert error.budget_name == "issue"
    assert error.estimated_usd == pytest.approx(0.035)
    assert error.remaining_usd == pytest.approx(0.02)
    assert h.anthropic.calls == 0 and h.openai.calls == 0 and h.entries == []
    assert budget.spent_usd == 0.0


async def test_two_concurrent_calls_cannot_together_overshoot_a_shared_budget(h: Harness) -> None:
    h.anthropic.count_tokens = 2000  # worst case per call: 2000*$5 + 1000*$25 per M = $0.035
    first_started, finish_first = asyncio.Event(), asyncio.Event()

    async def slow(body: dict) -> object:
        first_started.set()
        await finish_first.wait()
        return text_reply("done", usage=Usage(2000, 400))

    h.anthropic.responder = slow
    stack = h.stack()
    # Two jobs for the same installation, each with its own snapshot of the shared daily cap.
    job_a = [Budget("daily", limit_usd=0.05, key="daily:42")]
    job_b = [Budget("daily", limit_usd=0.05, key="daily:42")]
    first = asyncio.create_task(call(stack, REQUEST, spec=OPUS, context=CONTEXT, budgets=job_a))
    await first_started.wait()
    with pytest.raises(BudgetExceeded) as caught:
        await call(stack, REQUEST, spec=OPUS, context=CONTEXT, budgets=job_b)
    assert "held by calls in progress" in str(caught.value)
    assert caught.value.remaining_usd == pytest.approx(0.05 - 0.035)
    finish_first.set()
    assert (await first).served_by == OPUS
    assert h.anthropic.calls == 1
    assert stack.budget_gate.reserved_usd(job_b[0]) == 0.0  # released once the call ended


async def test_a_refreshed_budget_counts_what_other_jobs_spent_since_it_was_built(h: Harness) -> None:
    h.openai.reply_text("a", usage=Usage(10_000, 2_000))
    h.openai.reply_text("b", usage=Usage(10, 5))
    stack = h.stack()
    request = REQUEST  # worst case on kimi: max_tokens 1000 * $4 per M = $0.004 and a few input tokens

    def ledger_spending() -> float:
        return sum(e.cost_usd or 0.0 for e in h.entries)

    stale = Budget("daily", limit_usd=0.02, key="daily:42", refresh=ledger_spending)  # built at $0
    other_job = Budget("daily", limit_usd=0.02, key="daily:42", refresh=ledger_spending)
    await call(stack, request, spec=KIMI, context=CONTEXT, budgets=[other_job])  # costs $0.0175
    with pytest.raises(BudgetExceeded):
        await call(stack, request, spec=KIMI, context=CONTEXT, budgets=[stale])
    assert stale.spent_usd == pytest.approx((10_000 * 0.95 + 2_000 * 4) / 1e6)
    assert h.openai.calls == 1


async def test_budgets_accumulate_actual_cost_then_stop(h: Harness) -> None:
    h.openai.reply_text("a", usage=Usage(1000, 500))
    budgets = [Budget("issue", limit_usd=0.01), Budget("installation", limit_usd=None)]
    request = ModelRequest(system="s", messages=(Message(role="user", text="x"),), max_tokens=100)
    routed = await call(h.stack(), request, spec=KIMI, context=CONTEXT, budgets=budgets)
    cost = (1000 * 0.95 + 500 * 4.0) / 1e6
    assert routed.cost_usd == pytest.approx(cost)
    assert budgets[0].spent_usd == pytest.approx(cost) and budgets[1].spent_usd == pytest.approx(cost)
    budgets[0].spent_usd = 0.01
    with pytest.raises(BudgetExceeded):
        await call(h.stack(), request, spec=KIMI, context=CONTEXT, budgets=budgets)
    assert h.openai.calls == 1


async def test_ledger_totals_equal_fake_usage_per_kind(h: Harness) -> None:
    h.anthropic.fail(529, "overloaded_error")
    h.anthropic.reply_text("p1", usage=Usage(1000, 200, cache_write_tokens=5000, cache_read_tokens=0))
    h.anthropic.reply_text("p2", usage=Usage(300, 100, cache_write_tokens=0, cache_read_tokens=5000))
    h.openai.reply_text("i1", usage=Usage(800, 400, cache_read_tokens=1200))
    h.openai.reply_text("i2", usage=Usage(50, 10))
    stack = h.stack()
    results = [
        await call(stack, REQUEST, spec=OPUS, context=CONTEXT),
        await call(stack, REQUEST, spec=OPUS, context=CONTEXT),
        await call(stack, REQUEST, spec=KIMI, context=CallContext(42, "octo/repo", 7, "implement")),
        await call(stack, REQUEST, spec=KIMI, context=CallContext(42, "octo/repo", 7, "implement")),
    ]
    by_model = {t.key: t for t in summarize(h.entries, by="model")}
    assert by_model["anthropic:claude-opus-4-5"].usage == Usage(1300, 300, 5000, 5000)
    assert by_model["anthropic:claude-opus-4-5"].calls == 3  # the failed attempt is a row too
    assert by_model["moonshot:kimi-k2.6"].usage == Usage(850, 410, 0, 1200)
    opus_cost = (1300 * 5 + 300 * 25 + 5000 * 6.25 + 5000 * 0.5) / 1e6
    assert by_model["anthropic:claude-opus-4-5"].cost_usd == pytest.approx(opus_cost)
    assert by_model["moonshot:kimi-k2.6"].cost_usd == pytest.approx((850 * 0.95 + 410 * 4 + 1200 * 0.16) / 1e6)
    total_usage = sum((r.usage for r in results), Usage())
    assert total_usage == Usage(2150, 710, 5000, 6200)
    by_repo = summarize(h.entries, by="repo")
    assert by_repo[0].usage == total_usage and by_repo[0].unpriced_calls == 0
    assert by_repo[0].strong_cost_usd == pytest.approx(sum(r.strong_cost_usd for r in results))
    assert all(e.at == 1_700_000_000.0 and e.installation_id == 42 for e in h.entries)


async def test_unknown_price_without_a_budget_is_served_with_cost_none(h: Harness) -> None:
    mystery = ModelSpec("anthropic", "claude-mystery")
    nowhere = ModelSpec("nowhere", "model-x")
    h.anthropic.reply_text("ok", usage=Usage(10, 10))
    unlimited = Budget("installation", limit_usd=None)
    routed = await call(h.stack(), REQUEST, spec=nowhere, fallbacks=[mystery], context=CONTEXT, budgets=[unlimited])
    assert routed.served_by == mystery
    assert routed.fallback_reason == "provider `nowhere` is not configured"
    assert routed.cost_usd is None and routed.strong_cost_usd == pytest.approx((10 * 5 + 10 * 25) / 1e6)
    assert h.entries[-1].cost_usd is None
    # Counted as unknown, never as $0.
    assert unlimited.spent_usd == 0.0 and unlimited.unpriced_calls == 1


async def test_unknown_price_under_any_active_budget_refuses_the_call(h: Harness) -> None:
    mystery = ModelSpec("anthropic", "claude-mystery")
    generous = Budget("daily budget for this installation", limit_usd=1000.0)
    with pytest.raises(PriceUnknown) as caught:
        await call(h.stack(), REQUEST, spec=mystery, fallbacks=[KIMI], context=CONTEXT,
                              budgets=[Budget("other", limit_usd=None), generous])
    message = str(caught.value)
    assert "anthropic:claude-mystery" in message and "ROUTE_ME_PRICES" in message
    assert caught.value.budget_name == "daily budget for this installation"
    assert h.anthropic.calls == 0 and h.openai.calls == 0 and h.entries == []


async def test_an_unpriced_fallback_under_a_budget_is_refused_after_the_priced_primary_fails(h: Harness) -> None:
    h.anthropic.fail(500, "api_error")
    with pytest.raises(PriceUnknown):
        await call(h.stack(), REQUEST, spec=OPUS, fallbacks=[ModelSpec("anthropic", "claude-mystery")],
                              context=CONTEXT, budgets=[Budget("issue", limit_usd=5.0)])
    assert h.anthropic.calls == 1


async def test_all_models_failing_lists_every_attempt(h: Harness) -> None:
    h.anthropic.fail(529, "overloaded_error", times=2)
    h.openai.fail(503, "server_error", message="overloaded", times=2)
    stack = h.stack(max_attempts_per_model=2)
    with pytest.raises(AllModelsFailed) as caught:
        await call(stack, REQUEST, spec=OPUS, fallbacks=[KIMI, ModelSpec("ghost", "m")], context=CONTEXT)
    assert caught.value.attempts == [
        ("anthropic:claude-opus-4-5", "`anthropic:claude-opus-4-5` was overloaded (529) 2 times"),
        ("moonshot:kimi-k2.6", "`moonshot:kimi-k2.6` was overloaded (503) 2 times"),
        ("ghost:m", "provider `ghost` is not configured"),
    ]
    assert caught.value.status == 503
    assert len(h.entries) == 4


async def test_a_broken_ledger_does_not_lose_the_reply(h: Harness) -> None:
    async def broken(entry: LedgerEntry) -> None:
        raise RuntimeError("disk full")

    h.openai.reply_text("still here")
    routed = await call(h.stack(ledger=broken), REQUEST, spec=KIMI, context=CONTEXT)
    assert routed.reply.text == "still here"
