"""Which fallbacks a call may use: order, merging the server's and the repo's chains, strong roles."""

from __future__ import annotations

from bot.core.costs import Price, PriceTable
from bot.models.chain import fallback_chain, merged_fallbacks, no_cheaper_than
from bot.models.port import ModelSpec

OPUS = ModelSpec("anthropic", "claude-opus-4-5")
SONNET = ModelSpec("anthropic", "claude-sonnet-4-5")
KIMI = ModelSpec("moonshot", "kimi-k2.6")


def _price(input_usd: float, output_usd: float) -> Price:
    return Price(input=input_usd, output=output_usd, cache_write=input_usd, cache_read=input_usd,
                 source="test", as_of="2026-11")


PRICES = PriceTable({
    "kimi-k2.6": _price(0.95, 4.0),
    "claude-sonnet-4-5": _price(3.0, 15.0),
    "tiny": _price(0.1, 0.4),
    "lopsided": _price(0.5, 20.0),  # cheaper input, dearer output: not a cheap model by price
})


def test_fallback_chain_dedupes_and_drops_primary_and_excluded() -> None:
    chain = fallback_chain(OPUS, [OPUS, KIMI, SONNET, KIMI, ModelSpec("x", "y")], exclude=[ModelSpec("x", "y")])
    assert chain == [KIMI, SONNET]
    assert fallback_chain(OPUS, []) == []


def test_repo_fallbacks_come_after_the_server_chain_without_duplicates() -> None:
    merged = merged_fallbacks(("anthropic:claude-sonnet-4-5", "moonshot:kimi-k2.6"),
                              ("openai:gpt-4.1", "anthropic:claude-sonnet-4-5"))
    assert merged == ("anthropic:claude-sonnet-4-5", "moonshot:kimi-k2.6", "openai:gpt-4.1")
    assert merged_fallbacks((), ("openai:gpt-4.1",)) == ("openai:gpt-4.1",)
    assert merged_fallbacks(("openai:gpt-4.1",), ()) == ("openai:gpt-4.1",)


def test_a_strong_role_never_gets_the_cheap_model_under_any_provider_or_a_cheaper_one() -> None:
    cheap = ModelSpec("openai", "kimi-k2.6")
    candidates = [KIMI, ModelSpec("openrouter", "kimi-k2.6"), ModelSpec("x", "tiny"), SONNET,
                  ModelSpec("x", "lopsided"), ModelSpec("x", "unpriced")]
    assert no_cheaper_than(cheap, candidates, PRICES) == [SONNET, ModelSpec("x", "lopsided"),
                                                          ModelSpec("x", "unpriced")]


def test_with_an_unpriced_cheap_model_only_its_id_is_excluded() -> None:
    cheap = ModelSpec("local", "llama")
    candidates = [ModelSpec("other", "llama"), ModelSpec("x", "tiny"), SONNET]
    assert no_cheaper_than(cheap, candidates, PRICES) == [ModelSpec("x", "tiny"), SONNET]
