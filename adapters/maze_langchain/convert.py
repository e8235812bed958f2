"""Tools both ways: a Maze tool for LangChain agents, a LangChain tool in Maze workflows."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from maze_core import Resources, Runtime, get_runtime
from maze_core.tools import Kind, ToolSpec, make_spec, spec_of
from maze_langchain.tools import twin

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

__all__ = ["as_langchain_tool", "from_langchain_tool"]


def as_langchain_tool(
    fn: Callable[..., Any] | ToolSpec, *, runtime: Runtime | str | None = None
) -> BaseTool:
    """A LangChain tool for a Maze ``@tool`` (its name, description and argument schema
    from the function's signature), whose calls run as Maze tasks with the tool's
    resources, kind, model, timeout and retries."""
    from langchain_core.tools import StructuredTool

    spec = spec_of(fn)
    tool = StructuredTool.from_function(
        func=None if spec.is_async else spec.fn,
        coroutine=spec.fn if spec.is_async else None,
        name=spec.name,
        description=spec.description or f"Run the Maze tool {spec.name}.",
    )
    options = {
        "resources": spec.resources,
        "kind": spec.kind,
        "model": spec.model,
        "timeout": spec.timeout,
        "retries": spec.retries,
        "load": spec.load,
    }
    return twin(tool, get_runtime(runtime), options)


def from_langchain_tool(
    tool: BaseTool,
    *,
    resources: Resources | None = None,
    kind: Kind | None = None,
    model: str | None = None,
    timeout: float | None = None,
    retries: int = 0,
) -> ToolSpec:
    """A Maze tool spec that runs ``tool`` (validation, callbacks and all) with the
    arguments of its schema, as keywords: ``wf.add(from_langchain_tool(search), query=q)``.
    Its output is what ``tool.invoke(arguments)`` returns (the content, for
    ``content_and_artifact`` tools)."""
    from langchain_core.utils.function_calling import convert_to_openai_tool

    call = LangChainCall(tool)
    spec = make_spec(
        call,
        resources=resources,
        kind=kind,
        model=model,
        timeout=timeout,
        retries=retries,
        name=tool.name,
        description=tool.description,
    )
    schema = convert_to_openai_tool(tool)["function"].get("parameters", {})
    return dataclasses.replace(spec, parameters=schema)


class LangChainCall:
    """Calls a LangChain tool with keyword arguments; its signature is the tool's schema
    (keyword-only), so ``Workflow.add`` checks arguments as for any tool."""

    def __init__(self, tool: BaseTool) -> None:
        self.tool = tool
        self.__name__ = tool.name
        self.__qualname__ = tool.name
        self.__doc__ = tool.description
        self.__signature__ = _signature(tool)

    def __call__(self, **arguments: Any) -> Any:
        if getattr(self.tool, "func", "") is None:  # a coroutine-only tool
            return asyncio.run(self.tool.ainvoke(arguments))
        return self.tool.invoke(arguments)

    def __reduce__(self) -> tuple[Any, ...]:
        return (LangChainCall, (self.tool,))


def _signature(tool: BaseTool) -> inspect.Signature:
    schema = tool.tool_call_schema
    fields = getattr(schema, "model_fields", None)
    if fields is None:  # a JSON-schema dict
        properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
        required = set(schema.get("required", ())) if isinstance(schema, dict) else set()
        return inspect.Signature(
            [
                inspect.Parameter(
                    name,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=inspect.Parameter.empty if name in required else None,
                )
                for name in properties
            ]
        )
    return inspect.Signature(
        [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=inspect.Parameter.empty if field.is_required() else field.default,
                annotation=field.annotation,
            )
            for name, field in fields.items()
        ]
    )
