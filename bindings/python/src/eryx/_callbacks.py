"""Callbacks: host functions the sandboxed code awaits."""

from __future__ import annotations

import inspect
import json
import keyword
import typing
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypedDict

__all__ = ["CallbackDict", "CallbackRegistry"]


class CallbackDict(TypedDict, total=False):
    """A callback as a dict: ``name`` and ``fn`` are required."""

    name: str
    fn: Callable[..., Any]
    description: str
    schema: dict[str, Any]


_JSON_TYPES: dict[Any, str] = {
    int: "integer",
    float: "number",
    str: "string",
    bool: "boolean",
    list: "array",
    tuple: "array",
    dict: "object",
}


def _json_type(annotation: Any) -> dict[str, Any]:
    if annotation is inspect.Parameter.empty or annotation is Any:
        return {}
    origin = typing.get_origin(annotation) or annotation
    t = _JSON_TYPES.get(origin)
    return {"type": t} if t else {}


def infer_schema(fn: Callable[..., Any]) -> dict[str, Any]:
    """A JSON Schema for ``fn``'s parameters, from its signature: each
    parameter a property (typed from its annotation when it is int, float,
    str, bool, list or dict), those without a default required."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return {"type": "object", "properties": {}}
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable annotations: untyped
        hints = {}
    props: dict[str, Any] = {}
    required: list[str] = []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        props[p.name] = _json_type(hints.get(p.name, p.annotation))
        if p.default is p.empty:
            required.append(p.name)
    schema: dict[str, Any] = {"properties": props}
    if required:
        schema["required"] = required
    schema["type"] = "object"
    return schema


def _first_doc_line(fn: Callable[..., Any]) -> str:
    doc = inspect.getdoc(fn) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _check_name(name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError("callback name must be a str")
    parts = name.split(".")
    if not name or not all(p.isidentifier() and not keyword.iskeyword(p) for p in parts):
        raise ValueError(f"invalid callback name {name!r}: a dotted Python name")
    return name


def _check_schema(schema: Any) -> dict[str, Any]:
    if not isinstance(schema, dict):
        raise ValueError("Invalid schema: must be a dict")  # noqa: TRY004 - as the reference
    try:
        json.dumps(schema)
    except (TypeError, ValueError) as e:
        raise ValueError(f"Invalid schema: {e}") from None
    if schema.get("type", "object") != "object":
        raise ValueError("Invalid JSON Schema: the parameters must be an object")
    props = schema.get("properties", {})
    if not isinstance(props, dict):
        raise ValueError("Invalid JSON Schema: properties must be an object")  # noqa: TRY004
    return schema


class CallbackRegistry:
    """Callbacks collected with a decorator or ``add``::

    registry = eryx.CallbackRegistry()

    @registry.callback(description="Current time")
    def now() -> float:
        return time.time()

    eryx.Sandbox(callbacks=registry).execute("print(await now())")
    """

    def __init__(self) -> None:
        self._items: list[CallbackDict] = []

    def callback(
        self,
        name: str | None = None,
        description: str | None = None,
        schema: dict[str, Any] | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: register the function (returned unchanged)."""

        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.add(fn, name=name, description=description, schema=schema)
            return fn

        return deco

    def add(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        schema: dict[str, Any] | None = None,
    ) -> None:
        """Register ``fn``.  name defaults to ``fn.__name__``, description
        to the first line of its docstring, schema to one inferred from its
        signature."""
        if not callable(fn):
            raise TypeError("callback fn must be callable")
        item: CallbackDict = {
            "name": _check_name(name if name is not None else getattr(fn, "__name__", "unknown")),
            "fn": fn,
            "description": description if description is not None else _first_doc_line(fn),
            "schema": _check_schema(schema) if schema is not None else infer_schema(fn),
        }
        self._items.append(item)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[CallbackDict]:
        return iter([dict(i) for i in self._items])  # type: ignore[misc]

    def __repr__(self) -> str:
        return "CallbackRegistry([" + ", ".join(i["name"] for i in self._items) + "])"


def _normalize_callbacks(
    callbacks: CallbackRegistry | Sequence[Any] | None,
) -> list[CallbackDict]:
    """The callbacks as checked dicts (name, fn, description, schema)."""
    if callbacks is None:
        return []
    if isinstance(callbacks, CallbackRegistry):
        return list(callbacks)
    if isinstance(callbacks, (str, bytes, dict)) or not isinstance(callbacks, Sequence):
        raise TypeError("callbacks must be a CallbackRegistry or list of callback dicts")
    out: list[CallbackDict] = []
    for item in callbacks:
        if isinstance(item, CallbackRegistry):
            out.extend(item)
            continue
        if not isinstance(item, dict):
            raise TypeError("Callback list items must be dicts or CallbackRegistry instances")
        if "name" not in item:
            raise KeyError("Callback dict missing 'name' key")
        if "fn" not in item:
            raise KeyError("Callback dict missing 'fn' key")
        fn = item["fn"]
        if not callable(fn):
            raise TypeError("callback fn must be callable")
        schema = item.get("schema")
        out.append(
            {
                "name": _check_name(item["name"]),
                "fn": fn,
                "description": str(item.get("description") or ""),
                "schema": _check_schema(schema) if schema is not None else infer_schema(fn),
            }
        )
    names = [c["name"] for c in out]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ValueError(f"callback names must be unique: {sorted(dup)}")
    return out
