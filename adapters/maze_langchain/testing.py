"""A scripted chat model for tests, examples and benchmarks of agents: stateless,
deterministic, tool-calling, picklable, offline."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

__all__ = ["ScriptedChatModel"]


class ScriptedChatModel(BaseChatModel):
    """First turn: call every tool in ``calls`` (in one message, so they run in parallel);
    after the tool results: answer with them joined. Decides from the history alone.
    Each answer takes ``latency`` seconds of waiting, as a provider's would."""

    calls: list[dict[str, Any]] = Field(default_factory=list)
    latency: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: Any = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.latency:
            time.sleep(self.latency)
        return self._answer(messages)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: Any = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.latency:
            await asyncio.sleep(self.latency)
        return self._answer(messages)

    def _answer(self, messages: list[BaseMessage]) -> ChatResult:
        results = [m for m in messages if isinstance(m, ToolMessage)]
        if results:
            text = "; ".join(f"{m.name}={m.content}" for m in results)
            message = AIMessage(content=f"done: {text}")
        else:
            tool_calls = [
                {"name": c["name"], "args": c["args"], "id": f"call_{i}", "type": "tool_call"}
                for i, c in enumerate(self.calls)
            ]
            message = AIMessage(content="", tool_calls=tool_calls)
        return ChatResult(generations=[ChatGeneration(message=message)])
