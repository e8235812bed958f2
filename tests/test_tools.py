from __future__ import annotations

import sys
import textwrap
from typing import Literal

import pytest

from maze_core import DuplicateToolError, Resources, ToolRegistry, ValidationError, discover, tool
from maze_core.tools import parse_size, spec_of


@tool
def bare(x: int) -> int:
    return x + 1


@tool(resources=Resources(gpus=1, gpu_memory="16GiB"), model="qwen3-32b", retries=2, timeout=5)
def generate(prompt: str, max_tokens: int = 128) -> str:
    """Generate text.

    Args:
        prompt: what to continue
        max_tokens: how many tokens
            at most
    """
    return prompt


def test_bare_decorator_returns_the_same_callable_function():
    assert bare(1) == 2
    assert bare.__maze_tool__.name == "bare"
    assert bare.__maze_tool__.kind == "cpu"
    assert bare.__maze_tool__.resources == Resources(cpus=1)


def test_called_decorator_records_every_option():
    spec = generate.__maze_tool__
    assert spec.kind == "gpu"
    assert spec.resources.gpu_memory == 16 * 2**30
    assert (spec.model, spec.retries, spec.timeout) == ("qwen3-32b", 2, 5.0)
    assert spec.description == "Generate text."
    assert generate("hi") == "hi"


def test_spec_is_frozen():
    with pytest.raises(AttributeError):
        generate.__maze_tool__.retries = 3
    with pytest.raises(AttributeError):
        generate.__maze_tool__.resources.cpus = 3


def test_json_schema_comes_from_type_hints_and_docstring():
    assert generate.__maze_tool__.parameters == {
        "type": "object",
        "properties": {
            "prompt": {"type": "string", "description": "what to continue"},
            "max_tokens": {
                "type": "integer",
                "description": "how many tokens at most",
                "default": 128,
            },
        },
        "required": ["prompt"],
    }


def test_specs_of_one_function_each_have_their_own_schema():
    from maze_core.tools import make_spec

    first, second = (make_spec(generate, name=n) for n in ("first", "second"))
    first.parameters["properties"]["prompt"]["description"] = "changed"
    assert second.parameters == generate.__maze_tool__.parameters


def test_json_schema_of_containers_unions_and_literals():
    @tool
    def f(a: list[str], b: dict[str, float], c: int | None, d: Literal["x", "y"], e=3):
        """Sphinx style.

        :param a: the list
        """

    props = f.__maze_tool__.parameters["properties"]
    assert props["a"] == {"type": "array", "items": {"type": "string"}, "description": "the list"}
    assert props["b"] == {"type": "object", "additionalProperties": {"type": "number"}}
    assert props["c"] == {"anyOf": [{"type": "integer"}, {"type": "null"}]}
    assert props["d"] == {"enum": ["x", "y"]}
    assert props["e"] == {"default": 3}


def test_io_tools_reserve_no_cpu_by_default():
    @tool(kind="io")
    def fetch(url: str) -> str:
        return url

    assert fetch.__maze_tool__.resources.cpus == 0


def test_kind_is_inferred_from_gpus():
    @tool(resources=Resources(gpus=0.5))
    def half():
        pass

    assert half.__maze_tool__.kind == "gpu"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1024, 1024),
        ("512MB", 512_000_000),
        ("16GiB", 16 * 2**30),
        ("1.5GB", 1_500_000_000),
        ("2 kib", 2048),
        (None, None),
    ],
)
def test_sizes(value, expected):
    assert parse_size(value) == expected


@pytest.mark.parametrize("value", ["-1GB", "12XB", "lots", -5, True, float("nan")])
def test_malformed_sizes_say_how_to_write_one(value):
    with pytest.raises(ValidationError, match="16GiB"):
        Resources(memory=value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"kind": "tpu"}, "use one of cpu, gpu, io"),
        ({"timeout": 0}, "timeout in seconds"),
        ({"retries": -1}, "integer >= 0"),
        ({"features": 3}, "callable"),
        ({"resources": "big"}, "Resources(cpus="),
    ],
)
def test_bad_options_fail_at_decoration(options, message):
    with pytest.raises(ValidationError) as info:
        tool(**options)(lambda: None)
    assert message in str(info.value)


def test_gpu_memory_without_gpu_is_refused():
    with pytest.raises(ValidationError, match="gpus=1"):
        Resources(gpu_memory="1GiB")


def test_negative_cpus_are_refused():
    with pytest.raises(ValidationError, match="cpus=-1"):
        Resources(cpus=-1)


def test_plain_callables_get_a_default_spec_without_being_modified():
    def plain(x):
        return x

    spec = spec_of(plain)
    assert (spec.name, spec.kind, spec.resources) == ("plain", "cpu", Resources())
    assert not hasattr(plain, "__maze_tool__")


def test_registry_rejects_a_second_function_under_one_name_naming_both():
    registry = ToolRegistry()
    registry.register(bare)
    registry.register(bare)  # the same function again is fine

    @tool(name="bare")
    def impostor(x: int) -> int:
        return x

    with pytest.raises(DuplicateToolError) as info:
        registry.register(impostor)
    assert "test_tools:bare" in str(info.value)
    assert "impostor" in str(info.value)


def test_registry_lookup_of_an_unknown_name_lists_the_known_ones():
    registry = ToolRegistry()
    registry.register(bare)
    with pytest.raises(ValidationError, match="known: bare"):
        registry["nope"]


def test_discover_finds_every_tool_of_a_package(tmp_path, monkeypatch):
    package = tmp_path / "toolpkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    code = "from maze_core import tool\n@tool\ndef {0}():\n    pass\ndef not_a_tool():\n    pass\n"
    (package / "a.py").write_text(code.format("alpha"))
    (package / "sub" / "b.py").write_text(code.format("beta"))
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = discover("toolpkg")
    assert sorted(spec.name for spec in registry) == ["alpha", "beta"]
    for name in [m for m in sys.modules if m.startswith("toolpkg")]:
        monkeypatch.delitem(sys.modules, name)


def test_discover_of_a_module_with_clashing_names_raises(tmp_path, monkeypatch):
    (tmp_path / "clash.py").write_text(
        textwrap.dedent("""
        from maze_core import tool
        @tool(name="same")
        def one(): pass
        @tool(name="same")
        def two(): pass
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(DuplicateToolError, match="same"):
        discover("clash")
