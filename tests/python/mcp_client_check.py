"""End-to-end check with the official Python MCP SDK (mcp 2.3.0, the one Open WebUI 0.12
bundles): starts the real binary, connects the way Open WebUI does (server/discover at
2026-07-28, stateless Streamable HTTP), lists tools, runs a webhook's lifecycle through tools,
and hears about a new event through subscriptions/listen. Exits non-zero on any failure.

Usage: python mcp_client_check.py <path to webhook-mcp binary>
"""

import asyncio
import hashlib
import hmac
import json
import sys

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from server import KEY, running_server


async def check(base: str) -> None:
    auth = httpx2.AsyncClient(headers={"Authorization": f"Bearer {KEY}"})
    async with Client(streamable_http_client(f"{base}/mcp", http_client=auth)) as client:
        assert client.session.protocol_version == "2026-07-28", client.session.protocol_version
        tools = {t.name: t for t in (await client.list_tools()).tools}
        for name in ["create_webhook", "add_command", "test_webhook", "list_events", "comment"]:
            assert name in tools, f"missing tool {name}"
            assert tools[name].description, f"{name} has no description"
        # The SDK parses the hints into its ToolAnnotations model.
        assert tools["list_events"].annotations.read_only_hint is True
        assert tools["delete_webhook"].annotations.destructive_hint is True
        assert tools["comment"].annotations.open_world_hint is True

        created = await client.call_tool(
            "create_webhook", {"name": "py", "provider": "github", "id": "py"}
        )
        assert not created.is_error, created.content
        secret = created.structured_content["webhook"]["secret"]

        bad = await client.call_tool(
            "add_command",
            {"webhook_id": "py", "trigger": "issues.opened", "action": "comment", "template": "{{ x"},
        )
        assert bad.is_error, "a broken template must be a tool error"

        added = await client.call_tool(
            "add_command",
            {"webhook_id": "py", "trigger": "issues.*", "action": "create_task", "agent": "planning"},
        )
        assert not added.is_error, added.content
        tested = await client.call_tool("test_webhook", {"webhook_id": "py", "event_type": "issues.opened"})
        assert tested.structured_content["status"] == "matched", tested.structured_content

        async with client.listen(resource_subscriptions=["webhook://py/events"]) as sub:
            body = json.dumps(
                {"action": "opened", "issue": {"number": 1, "title": "t"}, "repository": {"full_name": "o/r"}}
            ).encode()
            signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            async with httpx2.AsyncClient() as sender:
                response = await sender.post(
                    f"{base}/webhooks/github/py",
                    content=body,
                    headers={
                        "Content-Type": "application/json",
                        "X-GitHub-Event": "issues",
                        "X-GitHub-Delivery": "py-1",
                        "X-Hub-Signature-256": signature,
                    },
                )
                assert response.status_code == 200, response.text
            event = await asyncio.wait_for(sub.__anext__(), 10)
            assert getattr(event, "uri", None) == "webhook://py/events", event

        listed = await client.call_tool("list_events", {"webhook_id": "py"})
        assert len(listed.structured_content["events"]) == 2, listed.structured_content
    print("python mcp client check: ok")


def main() -> int:
    with running_server(sys.argv[1]) as base:
        asyncio.run(check(base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
