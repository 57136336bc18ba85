"""A small stdio MCP server written with the official SDK, for the tests:
its tools become the sandbox's callbacks through MCPManager."""

from __future__ import annotations

import logging

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel

server = MCPServer(name="test-tools", version="1.0", log_level="ERROR")
logging.getLogger("mcp").setLevel(logging.CRITICAL)


class Sum(BaseModel):
    total: int
    terms: int


@server.tool(description="Add two whole numbers.")
def add(a: int, b: int) -> Sum:
    return Sum(total=a + b, terms=2)


@server.tool(description="Say it back, louder.", structured_output=False)
def shout(text: str) -> str:
    return text.upper() + "!"


@server.tool(
    name="get-weather", description="A name that is not an identifier.", structured_output=False
)
def get_weather(city: str) -> str:
    return f"sunny in {city}"


@server.tool(description="Always fails.")
def broken() -> str:
    raise ToolError("the tool broke on purpose")


if __name__ == "__main__":
    server.run()
