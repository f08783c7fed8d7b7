"""Each model layer alone, over the scripted client at the port (no HTTP): one concern per layer.

tests/test_model_routing.py and tests/test_real_providers.py drive the composed stack through the
real SDKs against the fake servers; here each wrapper is pinned down on its own, and the stack's
order is checked where it matters (breaker before budget, every retry admitted and ledgered).
"""

from __future__ import annotations

import asyncio
import random

import pytest

from bot.core.costs import PriceTable
from bot.core.usage import Usage
from bot.models.breaker import CircuitBreaker, CircuitBreaking
from bot.models.budget import Budget, Budgeted, BudgetGate
from bot.models.errors import (
    AllModelsFailed,
    AuthFailed,
    BadRequest,
    BudgetExceeded,
    CircuitOpen,
    NotConfigured,
    Overloaded,
    PriceUnknown,
    ProviderUnavailable,
    RateLimited,
    Refused,
    RequestNotSent,
    StreamDropped,
)
from bot.models.fallback import Fallback
from bot.models.ledger import CallContext, Ledgered, LedgerEntry
from bot.models.model import CallInfo, ClientModel, Model, Unconfigured
from bot.models.port import STOP_REFUSAL, Message, ModelRequest, ModelSpec
from bot.models.retrying import Retrying, RetryPolicy
from bot.models.stack import ModelStack
from tests.fakes.scripted_model import ScriptedClient, reply, scripted_model

OPUS = ModelSpec("anthropic", "claude-opus-4-5")
KIMI = ModelSpec("moonshot", "kimi-k2.6")
MYSTERY = ModelSpec("moonshot", "kimi-mystery")
PRICES = PriceTable.load_default()
CONTEXT = CallContext(installation_id=42, repo="octo/repo", issue=7, stage="plan")
CALL = CallInfo(CONTEXT)
REQUEST = ModelRequest(system="s", messages=(Message(role="user", text="go"),), max_tokens=1000)


def overloaded(spec: ModelSpec = OPUS) -> Overloaded:
    return Overloaded("overloaded", provider=spec.provider, model=spec.model, status=529)


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def retrying(inner: Model, sleeps: Sleeps, **policy: float) -> Retrying:
    return Retrying(inner, policy=RetryPolicy(**policy), sleep=sleeps, rng=random.Random(1))  # type: ignore[arg-type]


# Retrying ---------------------------------------------------------------------------------

async def test_retrying_backs_off_exponentially_with_jitter_then_serves() -> None:
    client, sleeps = ScriptedClient([overloaded(), overloaded(), reply("ok")]), Sleeps()
    served = await retrying(scripted_model(client, OPUS), sleeps).complete(REQUEST, call=CALL)
    assert served.reply.text == "ok" and client.calls == 3
    assert 0.5 <= sleeps.waits[0] <= 1.0 and 1.0 <= sleeps.waits[1] <= 2.0


async def test_retrying_waits_out_a_body_only_hint_and_gives_up_at_the_cap() -> None:
    hinted = RateLimited("Please try again in 18.642s.", provider="openai", model="gpt-4o", retry_after=18.642)
    client, sleeps = ScriptedClient([hinted, reply("ok")]), Sleeps()
    await retrying(scripted_model(client), sleeps).complete(REQUEST, call=CallInfo(CONTEXT, has_fallback=True))
    assert sleeps.waits == [18.642]

    too_long = RateLimited("wait", retry_after=600.0)
    client, sleeps = ScriptedClient([too_long]), Sleeps()
    with pytest.raises(RateLimited) as caught:
        await retrying(scripted_model(client), sleeps).complete(REQUEST, call=CALL)
    assert sleeps.waits == [] and caught.value.attempts == 1 and client.calls == 1


async def test_retrying_stops_after_max_attempts_naming_how_many() -> None:
    client, sleeps = ScriptedClient([overloaded()] * 2), Sleeps()
    with pytest.raises(Overloaded) as caught:
        await retrying(scripted_model(client, OPUS), sleeps, max_attempts=2).complete(REQUEST, call=CALL)
    assert caught.value.attempts == 2 and client.calls == 2 and len(sleeps.waits) == 1


@pytest.mark.parametrize("error", [AuthFailed("key"), BadRequest("schema"), RequestNotSent("utf-8"),
                                   BudgetExceeded("over", estimated_usd=1, remaining_usd=0, budget_name="b"),
                                   PriceUnknown("?", budget_name="b")])
async def test_retrying_never_repeats_a_stop_error(error: Exception) -> None:
    client, sleeps = ScriptedClient([error]), Sleeps()
    with pytest.raises(type(error)):
        await retrying(scripted_model(client), sleeps).complete(REQUEST, call=CALL)
    assert client.calls == 1 and sleeps.waits == []


async def test_retrying_never_asks_a_refusing_model_again() -> None:
    client, sleeps = ScriptedClient([reply("no", stop_reason=STOP_REFUSAL)]), Sleeps()
    with pytest.raises(Refused):
        await retrying(scripted_model(client), sleeps).complete(REQUEST, call=CALL)
    assert client.calls == 1


async def test_retrying_moves_on_sooner_when_a_fallback_follows() -> None:
    down = ProviderUnavailable("502", status=502)
    client, sleeps = ScriptedClient([down]), Sleeps()
    with pytest.raises(ProviderUnavailable):
        await retrying(scripted_model(client), sleeps).complete(REQUEST, call=CallInfo(CONTEXT, has_fallback=True))
    assert client.calls == 1 and sleeps.waits == []
    # Alone in its chain, the same error is worth a retry.
    client, sleeps = ScriptedClient([ProviderUnavailable("502", status=502), reply("ok")]), Sleeps()
    await retrying(scripted_model(client), sleeps).complete(REQUEST, call=CALL)
    assert client.calls == 2 and len(sleeps.waits) == 1
    # A dropped stream gets one more try even with a fallback behind it.
    client, sleeps = ScriptedClient([StreamDropped("eof"), StreamDropped("eof")]), Sleeps()
    with pytest.raises(StreamDropped) as caught:
        await retrying(scripted_model(client), sleeps).complete(REQUEST, call=CallInfo(CONTEXT, has_fallback=True))
    assert client.calls == 2 and caught.value.attempts == 2


# CircuitBreaking --------------------------------------------------------------------------

async def test_the_breaker_opens_on_repeated_overloads_and_skips_without_a_call() -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=2, cooldown=30.0, clock=lambda: now[0])
    client = ScriptedClient([overloaded(), overloaded(), reply("back")])
    model = CircuitBreaking(scripted_model(client, OPUS), breaker=breaker)
    with pytest.raises(Overloaded) as first:
        await model.complete(REQUEST, call=CALL)
    assert not first.value.circuit_open
    with pytest.raises(Overloaded) as second:
        await model.complete(REQUEST, call=CALL)
    assert second.value.circuit_open  # Retrying stops here instead of waiting for a skip
    with pytest.raises(CircuitOpen, match="failed repeatedly in the last minute"):
        await model.complete(REQUEST, call=CALL)
    assert client.calls == 2
    now[0] = 31.0
    assert (await model.complete(REQUEST, call=CALL)).reply.text == "back"
    assert not breaker.is_open(OPUS)


async def test_errors_of_our_own_request_and_refusals_never_open_the_breaker() -> None:
    breaker = CircuitBreaker(threshold=1, cooldown=30.0, clock=lambda: 0.0)
    client = ScriptedClient([RequestNotSent("lone surrogate"), BadRequest("schema"),
                             reply("no", stop_reason=STOP_REFUSAL)])
    model = CircuitBreaking(scripted_model(client, OPUS), breaker=breaker)
    for expected in (RequestNotSent, BadRequest, Refused):
        with pytest.raises(expected):
            await model.complete(REQUEST, call=CALL)
    assert breaker.allows(OPUS)


async def test_a_half_open_trial_stopped_by_the_budget_frees_the_slot() -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=1, cooldown=30.0, clock=lambda: now[0])
    breaker.record_failure(OPUS)
    now[0] = 31.0
    client = ScriptedClient([reply("ok")], input_tokens=10_000_000)
    model = CircuitBreaking(Budgeted(scripted_model(client, OPUS), gate=BudgetGate(), prices=PRICES), breaker=breaker)
    with pytest.raises(BudgetExceeded):
        await model.complete(REQUEST, call=CallInfo(CONTEXT, budgets=[Budget("issue", limit_usd=0.01)]))
    assert client.calls == 0 and breaker.allows(OPUS)


# Budgeted ---------------------------------------------------------------------------------

async def test_budgeted_stops_before_an_over_budget_call_and_reserves_nothing() -> None:
    client, gate = ScriptedClient([reply("never")], input_tokens=2000), BudgetGate()
    budget = Budget("issue", limit_usd=0.02)  # worst case: 2000*$5 + 1000*$25 per M = $0.035
    with pytest.raises(BudgetExceeded) as caught:
        await Budgeted(scripted_model(client, OPUS), gate=gate, prices=PRICES).complete(
            REQUEST, call=CallInfo(CONTEXT, budgets=[budget]))
    assert caught.value.estimated_usd == pytest.approx(0.035)
    assert client.calls == 0 and client.counted == 1 and gate.reserved_usd(budget) == 0.0


async def test_budgeted_holds_the_worst_case_while_the_call_runs_then_charges_the_real_cost() -> None:
    gate = BudgetGate()
    budget = Budget("issue", limit_usd=1.0, key="issue:octo/repo#7")
    held: list[float] = []

    def answer(request: ModelRequest):
        held.append(gate.reserved_usd(budget))
        return reply("ok", usage=Usage(1000, 500))

    client = ScriptedClient([answer], input_tokens=2000)
    await Budgeted(scripted_model(client, OPUS), gate=gate, prices=PRICES).complete(
        REQUEST, call=CallInfo(CONTEXT, budgets=[budget]))
    assert held == [pytest.approx((2000 * 5 + 1000 * 25) / 1e6)]
    assert gate.reserved_usd(budget) == 0.0
    assert budget.spent_usd == pytest.approx((1000 * 5 + 500 * 25) / 1e6)


async def test_budgeted_charges_a_refusal_and_releases_after_a_failure() -> None:
    gate, budget = BudgetGate(), Budget("issue", limit_usd=1.0)
    client = ScriptedClient([reply("no", usage=Usage(100, 10), stop_reason=STOP_REFUSAL), overloaded(KIMI)])
    model = Budgeted(scripted_model(client, KIMI), gate=gate, prices=PRICES)
    with pytest.raises(Refused):
        await model.complete(REQUEST, call=CallInfo(CONTEXT, budgets=[budget]))
    assert budget.spent_usd == pytest.approx((100 * 0.95 + 10 * 4.0) / 1e6)
    with pytest.raises(Overloaded):
        await model.complete(REQUEST, call=CallInfo(CONTEXT, budgets=[budget]))
    assert gate.reserved_usd(budget) == 0.0


async def test_an_unpriced_model_is_refused_under_a_limit_and_counted_apart_without_one() -> None:
    client = ScriptedClient([reply("ok", usage=Usage(10, 10))])
    model = Budgeted(scripted_model(client, MYSTERY), gate=BudgetGate(), prices=PRICES)
    with pytest.raises(PriceUnknown, match="ROUTE_ME_PRICES"):
        await model.complete(REQUEST, call=CallInfo(CONTEXT, budgets=[Budget("daily", limit_usd=100.0)]))
    unlimited = Budget("installation", limit_usd=None)
    served = await model.complete(REQUEST, call=CallInfo(CONTEXT, budgets=[unlimited]))
    assert served.cost_usd is None and unlimited.unpriced_calls == 1 and unlimited.spent_usd == 0.0


# Ledgered ---------------------------------------------------------------------------------

async def test_ledgered_writes_one_row_per_call_with_its_outcome_and_context() -> None:
    rows: list[LedgerEntry] = []

    async def sink(entry: LedgerEntry) -> None:
        rows.append(entry)

    ticks = iter([10.0, 10.25, 20.0, 20.5, 30.0, 30.1])
    client = ScriptedClient([overloaded(KIMI), reply("no", usage=Usage(100, 10), stop_reason=STOP_REFUSAL),
                             reply("ok", usage=Usage(1000, 500))])
    model = Ledgered(scripted_model(client, KIMI, strong=OPUS), sink=sink, prices=PRICES, strong=OPUS,
                     clock=lambda: next(ticks), wall_clock=lambda: 1_700_000_000.0)
    call = CallInfo(CONTEXT, requested=OPUS, fallback_reason="`anthropic:claude-opus-4-5` was overloaded (529)")
    for expected in (Overloaded, Refused):
        with pytest.raises(expected):
            await model.complete(REQUEST, call=call)
    await model.complete(REQUEST, call=call)
    assert [(r.outcome, r.usage, r.latency_ms) for r in rows] == [
        ("Overloaded", Usage(), 250), ("Refused", Usage(100, 10), 500), ("ok", Usage(1000, 500), 100)]
    assert {(r.requested_model, r.model, r.fallback_reason, r.stage, r.issue) for r in rows} == {
        ("anthropic:claude-opus-4-5", "moonshot:kimi-k2.6", call.fallback_reason, "plan", 7)}
    assert rows[1].cost_usd == pytest.approx((100 * 0.95 + 10 * 4.0) / 1e6)
    assert rows[1].strong_cost_usd == pytest.approx((100 * 5 + 10 * 25) / 1e6)
    assert rows[2].cost_usd == pytest.approx((1000 * 0.95 + 500 * 4.0) / 1e6)
    assert rows[2].strong_cost_usd == pytest.approx((1000 * 5 + 500 * 25) / 1e6)


async def test_a_broken_ledger_is_logged_and_the_reply_kept(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(entry: LedgerEntry) -> None:
        raise RuntimeError("disk full")

    model = Ledgered(scripted_model(ScriptedClient([reply("kept")])), sink=broken, prices=PRICES, strong=OPUS,
                     clock=lambda: 0.0, wall_clock=lambda: 0.0)
    assert (await model.complete(REQUEST, call=CALL)).reply.text == "kept"
    assert "could not write a ledger entry" in caplog.text


# Fallback ---------------------------------------------------------------------------------

async def test_fallback_tells_the_next_model_who_was_asked_for_and_why_it_serves() -> None:
    opus, kimi = ScriptedClient([overloaded()]), ScriptedClient([reply("kimi")])
    seen: list[CallInfo] = []

    class Spy(ClientModel):
        async def complete(self, request: ModelRequest, *, call: CallInfo):
            seen.append(call)
            return await super().complete(request, call=call)

    chain = Fallback([Spy(opus, OPUS, prices=PRICES, strong=OPUS), Spy(kimi, KIMI, prices=PRICES, strong=OPUS)],
                     retry_after_cap=60.0)
    served = await chain.complete(REQUEST, call=CALL)
    assert served.served_by == KIMI and served.requested == OPUS
    assert served.fallback_reason == "`anthropic:claude-opus-4-5` was overloaded (529)"
    assert [(c.requested, c.fallback_reason, c.has_fallback) for c in seen] == [
        (OPUS, None, True), (OPUS, served.fallback_reason, False)]


async def test_fallback_stops_the_chain_on_a_stop_error() -> None:
    kimi = ScriptedClient([reply("never")])
    chain = Fallback([scripted_model(ScriptedClient([AuthFailed("bad key")]), OPUS), scripted_model(kimi, KIMI)],
                     retry_after_cap=60.0)
    with pytest.raises(AuthFailed):
        await chain.complete(REQUEST, call=CALL)
    assert kimi.calls == 0


async def test_fallback_lists_every_reason_and_keeps_the_last_real_error() -> None:
    chain = Fallback([
        scripted_model(ScriptedClient([reply("no", stop_reason=STOP_REFUSAL)]), OPUS),
        scripted_model(ScriptedClient([ProviderUnavailable("down", status=503)]), KIMI),
        Unconfigured(ModelSpec("ghost", "m")),
    ], retry_after_cap=60.0)
    with pytest.raises(AllModelsFailed) as caught:
        await chain.complete(REQUEST, call=CALL)
    assert caught.value.attempts == [
        ("anthropic:claude-opus-4-5", "`anthropic:claude-opus-4-5` refused to answer"),
        ("moonshot:kimi-k2.6", "`moonshot:kimi-k2.6` was unavailable (HTTP 503)"),
        ("ghost:m", "provider `ghost` is not configured"),
    ]
    assert caught.value.status == 503  # the skipped model is not the last error


# The stack --------------------------------------------------------------------------------

def test_the_stack_composes_each_model_in_the_documented_order() -> None:
    stack = ModelStack(clients={"anthropic": ScriptedClient()}, prices=PRICES, strong=OPUS)
    chain = stack.model(OPUS, [KIMI, OPUS])
    assert isinstance(chain, Fallback) and [m.spec for m in chain.models] == [OPUS, KIMI]
    layers, layer = [], chain.models[0]
    while True:
        layers.append(type(layer))
        if not hasattr(layer, "inner"):
            break
        layer = layer.inner
    assert layers == [Retrying, CircuitBreaking, Budgeted, Ledgered, ClientModel]
    assert isinstance(chain.models[1], Unconfigured)


async def test_the_stack_admits_and_ledgers_every_retry_and_checks_the_breaker_before_the_budget() -> None:
    rows: list[LedgerEntry] = []

    async def sink(entry: LedgerEntry) -> None:
        rows.append(entry)

    opus = ScriptedClient([overloaded(), reply("ok", usage=Usage(10, 10))], input_tokens=100)
    stack = ModelStack(clients={"anthropic": opus}, prices=PRICES, strong=OPUS, ledger=sink,
                       sleep=Sleeps(), clock=lambda: 0.0, rng=random.Random(2))
    budget = Budget("issue", limit_usd=1.0)
    served = await stack.model(OPUS).complete(REQUEST, call=CallInfo(CONTEXT, budgets=[budget]))
    assert served.reply.text == "ok"
    assert [r.outcome for r in rows] == ["Overloaded", "ok"] and opus.counted == 2
    assert budget.spent_usd == pytest.approx((10 * 5 + 10 * 25) / 1e6)

    # With its breaker open, an unpriced model is skipped, not refused for its unknown price.
    stack.breaker = CircuitBreaker(threshold=1, cooldown=60.0, clock=lambda: 0.0)
    stack.breaker.record_failure(MYSTERY)
    kimi = ScriptedClient([reply("kimi")])
    stack.clients = {"anthropic": opus, "moonshot": kimi}
    served = await stack.model(MYSTERY, [KIMI]).complete(
        REQUEST, call=CallInfo(CONTEXT, budgets=[Budget("issue", limit_usd=1.0)]))
    assert served.served_by == KIMI and "failed repeatedly" in (served.fallback_reason or "")


async def test_concurrent_calls_share_the_stacks_gate() -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(request: ModelRequest):
        started.set()
        await release.wait()
        return reply("a")

    class Slow(ScriptedClient):
        async def complete(self, request: ModelRequest, *, model: str):
            self.requests.append(request)
            return await slow(request)

    stack = ModelStack(clients={"anthropic": Slow(input_tokens=2000)}, prices=PRICES, strong=OPUS)
    job_a, job_b = Budget("daily", limit_usd=0.05, key="daily:42"), Budget("daily", limit_usd=0.05, key="daily:42")
    first = asyncio.create_task(stack.model(OPUS).complete(REQUEST, call=CallInfo(CONTEXT, budgets=[job_a])))
    await started.wait()
    with pytest.raises(BudgetExceeded, match="held by calls in progress"):
        await stack.model(OPUS).complete(REQUEST, call=CallInfo(CONTEXT, budgets=[job_b]))
    release.set()
    await first
    assert stack.budget_gate.reserved_usd(job_b) == 0.0


async def test_a_missing_provider_is_not_configured_whatever_is_asked() -> None:
    model = ModelStack(clients={}, prices=PRICES, strong=OPUS).single(KIMI)
    assert isinstance(model, Unconfigured)
    with pytest.raises(NotConfigured, match="provider `moonshot` is not configured"):
        await model.complete(REQUEST, call=CALL)
