"""A scripted model client at the port: replies (or errors) in order, no HTTP.

For tests of the model layers (tests/test_model_layers.py) and of stage logic (the tool loop,
a role's policies) where the wire format is not the point.  It implements ``ModelClient``, so it
plugs in wherever an adapter does: under ``ClientModel``, or in a ``ModelStack``'s clients.
Where the wire format matters, tests use the fake servers (tests/fakes/anthropic_server.py,
openai_server.py) through the real SDKs instead; the task bench's scripted roles
(tests/fakes/task_roles.py) play through those servers for that reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from bot.core.costs import PriceTable
from bot.core.usage import Usage
from bot.models.errors import ModelError
from bot.models.model import ClientModel
from bot.models.port import (
    STOP_END,
    STOP_TOOL_USE,
    ModelReply,
    ModelRequest,
    ModelSpec,
    ToolCall,
    estimate_tokens,
    request_text,
)

Step = ModelReply | ModelError | Callable[[ModelRequest], "ModelReply | ModelError"]


def reply(text: str = "", *calls: ToolCall, usage: Usage = Usage(), stop_reason: str | None = None,
          model: str = "scripted") -> ModelReply:
    """A reply with ``text`` and ``calls``; the stop reason follows from them unless given."""
    stop = stop_reason or (STOP_TOOL_USE if calls else STOP_END)
    return ModelReply(text=text, tool_calls=tuple(calls), usage=usage, model=model, stop_reason=stop)


def tool_reply(name: str, arguments: dict[str, Any], *, call_id: str = "call_1", usage: Usage = Usage(),
               stop_reason: str | None = None) -> ModelReply:
    """A reply making one tool call."""
    return reply("", ToolCall(id=call_id, name=name, arguments=arguments), usage=usage, stop_reason=stop_reason)


class ScriptedClient:
    """Answers each ``complete`` with the next step of ``script``: a reply is returned, an error
    raised, a callable asked with the request.  Every request is kept (``requests``, with the model
    id asked for in ``models``).  Running out of script fails the test loudly."""

    def __init__(self, script: Iterable[Step] = (), *, input_tokens: int | None = None) -> None:
        self.script: list[Step] = list(script)
        self.requests: list[ModelRequest] = []
        self.models: list[str] = []
        self.input_tokens = input_tokens
        self.counted = 0
        self.closed = False

    def add(self, *steps: Step) -> ScriptedClient:
        self.script.extend(steps)
        return self

    @property
    def calls(self) -> int:
        return len(self.requests)

    async def complete(self, request: ModelRequest, *, model: str) -> ModelReply:
        self.requests.append(request)
        self.models.append(model)
        if not self.script:
            raise AssertionError(f"the scripted model {model} was called {len(self.requests)} times; "
                                 f"the script had {len(self.requests) - 1} steps")
        step = self.script.pop(0)
        if callable(step) and not isinstance(step, ModelReply):
            step = step(request)
        if isinstance(step, ModelError):
            raise step
        return step

    async def count_input_tokens(self, request: ModelRequest, *, model: str) -> int:
        self.counted += 1
        return self.input_tokens if self.input_tokens is not None else estimate_tokens(request_text(request))

    async def close(self) -> None:
        self.closed = True


def scripted_model(client: ScriptedClient, spec: ModelSpec | str = "moonshot:kimi-k2.6", *,
                   prices: PriceTable | None = None, strong: ModelSpec | None = None) -> ClientModel:
    """``client`` as a priced model at the port; the all-strong comparison prices at ``strong``
    (default: ``spec`` itself)."""
    spec = ModelSpec.parse(spec) if isinstance(spec, str) else spec
    return ClientModel(client, spec, prices=prices or PriceTable.load_default(), strong=strong or spec)
