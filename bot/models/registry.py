"""Which providers exist (from the environment) and the one ModelClient built for each."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from bot.models.anthropic_adapter import AnthropicClient
from bot.models.openai_adapter import OpenAICompatClient
from bot.models.port import ModelClient

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
_EXTRA_PROVIDER = re.compile(r"^ROUTE_ME_PROVIDER_([A-Z0-9_]+?)_(BASE_URL|API_KEY)$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")


@dataclass(frozen=True)
class ProviderConfig:
    """One provider: its name as used in model specs, its wire format, endpoint and key."""

    name: str
    kind: Literal["anthropic", "openai"]
    base_url: str | None
    api_key: str = field(repr=False)  # never shown in logs or reprs


def providers_from_env(env: Mapping[str, str]) -> list[ProviderConfig]:
    """Providers declared in ``env``; one whose key is missing or empty is simply absent.

    ``anthropic`` from ANTHROPIC_API_KEY/ANTHROPIC_BASE_URL, ``openai`` from OPENAI_API_KEY/
    OPENAI_BASE_URL, and ``<name>`` from each ROUTE_ME_PROVIDER_<NAME>_BASE_URL/_API_KEY
    (OpenAI-compatible; the base URL is required because there is no default to guess).
    """
    found: dict[str, ProviderConfig] = {}
    if env.get("ANTHROPIC_API_KEY", "").strip():
        found["anthropic"] = ProviderConfig(
            name="anthropic",
            kind="anthropic",
            base_url=env.get("ANTHROPIC_BASE_URL", "").strip() or None,
            api_key=env["ANTHROPIC_API_KEY"].strip(),
        )
    if env.get("OPENAI_API_KEY", "").strip():
        found["openai"] = ProviderConfig(
            name="openai",
            kind="openai",
            base_url=env.get("OPENAI_BASE_URL", "").strip() or OPENAI_DEFAULT_BASE_URL,
            api_key=env["OPENAI_API_KEY"].strip(),
        )
    names = sorted({m.group(1) for key in env if (m := _EXTRA_PROVIDER.match(key))})
    for upper in names:
        api_key = env.get(f"ROUTE_ME_PROVIDER_{upper}_API_KEY", "").strip()
        if not api_key:
            continue
        base_url = env.get(f"ROUTE_ME_PROVIDER_{upper}_BASE_URL", "").strip()
        if not base_url:
            raise ValueError(
                f"ROUTE_ME_PROVIDER_{upper}_API_KEY is set but ROUTE_ME_PROVIDER_{upper}_BASE_URL is not"
            )
        name = upper.lower()
        if not _NAME.match(name):
            raise ValueError(f"provider name {name!r} (from ROUTE_ME_PROVIDER_{upper}_*) is not a valid name")
        # An explicit declaration wins over the SDK-style variables for the same name.
        found[name] = ProviderConfig(name=name, kind="openai", base_url=base_url, api_key=api_key)
    return list(found.values())


def build_clients(providers: Iterable[ProviderConfig], *, timeout: float) -> dict[str, ModelClient]:
    """One client per provider name; call inside the app's lifecycle, never at import time."""
    clients: dict[str, ModelClient] = {}
    for provider in providers:
        if provider.kind == "anthropic":
            clients[provider.name] = AnthropicClient(
                api_key=provider.api_key, base_url=provider.base_url, timeout=timeout, provider=provider.name
            )
        elif provider.kind == "openai":
            clients[provider.name] = OpenAICompatClient(
                api_key=provider.api_key,
                base_url=provider.base_url or OPENAI_DEFAULT_BASE_URL,
                timeout=timeout,
                provider=provider.name,
            )
        else:
            raise ValueError(f"unknown provider kind {provider.kind!r} for {provider.name!r}")
    return clients
