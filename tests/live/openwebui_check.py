"""End-to-end check against a live Open WebUI (open-webui 0.12.4 from PyPI), loopback only.

Starts a fake OpenAI-compatible model, Open WebUI, and the real webhook-mcp binary with its
agent runner pointed at Open WebUI's own chat API. Then, through Open WebUI only where a user
would use it:

1. webhook-mcp is registered as an MCP tool server (as the admin settings page does it); Open
   WebUI verifies it and lists its tools.
2. A chat whose model calls `webhook-mcp_create_webhook` and `webhook-mcp_add_command`: Open
   WebUI runs the tool loop server-side against webhook-mcp's /mcp; the webhook and its command
   exist in webhook-mcp afterwards, and the tool results are stored in the chat.
   A second connection with `function_name_filter_list` (the README's narrower chat set): the
   model is offered only those tools, and calls one.
3. Open WebUI's own event webhook is pointed at the new webhook's URL (`?token=`); creating a
   user makes Open WebUI send `user.created`, which webhook-mcp stores as verified.
   That user (role `user`, not among WEBHOOK_MCP_OPENWEBUI_WRITE_ROLES) chats with the same
   connection: Open WebUI lists the tools with the user's headers, so the model is offered only
   the `list_*`/`get_*` tools, and a read tool call works.
4. The command turns that event into a task; the built-in runner asks Open WebUI's
   `/api/chat/completions` (with an Open WebUI API key), the model calls the runner's
   `get_event` tool, and its final answer, built from the event, lands in an Open WebUI
   channel through the channel's incoming webhook: the channel the chat user gave the command
   as its `target` (the agent itself is declared with no channel).

5. Open WebUI's user notification webhook delivers `chat.finished`.
6. With an mcpo binary given: the repository's `mcp-proxy.json` served by mcpo (both entries),
   and registered in Open WebUI as an OpenAPI tool server whose tools a chat's model calls.

Usage: <Open WebUI's python> openwebui_check.py <webhook-mcp binary> [<mcpo binary>]
(`tests/live/openwebui.sh` installs Open WebUI into a venv and runs this.)
Exits non-zero on the first failure; prints what it checked.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KEY = "live-check-key"
MODEL = "fake-model"
STEP_TIMEOUT = 60
# The tools a connection that may only read is offered.
READ_TOOLS = sorted(["list_webhooks", "get_webhook", "list_events", "get_event", "list_tasks", "get_task",
                     "list_actions", "get_action"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method: str, url: str, body=None, token: str | None = None, timeout: float = 60):
    """One JSON request; returns (status, parsed body or text)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def ok(method: str, url: str, body=None, token: str | None = None, timeout: float = 60):
    status, answer = call(method, url, body, token, timeout)
    if not 200 <= status < 300:
        raise SystemExit(f"FAIL {method} {url} -> {status}: {answer}")
    return answer


def wait_for(what: str, probe, timeout: float = STEP_TIMEOUT):
    """Polls `probe` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.5)
    raise SystemExit(f"FAIL timed out waiting for {what}")


# --- the fake model -------------------------------------------------------------------------

class FakeModel(BaseHTTPRequestHandler):
    """An OpenAI-compatible model with a script instead of weights:
    - a last message from a tool gets the answer `TOOL RESULT: <its text>`;
    - a user message `/tool <name> <json>` gets a call of that tool, if it was offered;
    - a request that offers `get_event` (webhook-mcp's runner) gets a call of it;
    - anything else is echoed."""

    requests: list[dict] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.rstrip("/").endswith("/models"):
            self.reply({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "fake"}]})
        else:
            self.reply({"error": "not found"}, 404)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        FakeModel.requests.append(body)
        tools = [t.get("function", {}).get("name") for t in body.get("tools") or []]
        messages = body.get("messages") or []
        last = messages[-1] if messages else {}
        content = last.get("content")
        if isinstance(content, list):  # OpenAI content parts
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        content = content or ""
        call_tool = None
        if last.get("role") == "tool":
            text = f"TOOL RESULT: {content[:600]}"
        elif content.startswith("/tool "):
            _, name, args = content.split(" ", 2)
            if name in tools:
                call_tool = (name, args)
                text = None
            else:
                text = f"TOOL NOT OFFERED: {name} (offered: {tools})"
        elif "get_event" in tools:
            call_tool = ("get_event", "{}")
            text = None
        else:
            text = f"ECHO: {content[:200]}"
        message = {"role": "assistant", "content": text}
        if call_tool:
            message["tool_calls"] = [{"id": f"call_{len(FakeModel.requests)}", "type": "function",
                                      "function": {"name": call_tool[0], "arguments": call_tool[1]}}]
        finish = "tool_calls" if call_tool else "stop"
        if body.get("stream"):
            self.stream(message, finish)
        else:
            self.reply({"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                        "model": MODEL, "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

    def reply(self, value, status=200):
        raw = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def stream(self, message, finish):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        delta = {"role": "assistant"}
        if message.get("content"):
            delta["content"] = message["content"]
        if message.get("tool_calls"):
            delta["tool_calls"] = [dict(c, index=i) for i, c in enumerate(message["tool_calls"])]
        chunks = [{"index": 0, "delta": delta, "finish_reason": None},
                  {"index": 0, "delta": {}, "finish_reason": finish}]
        for choice in chunks:
            event = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                     "model": MODEL, "choices": [choice]}
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


# --- processes ------------------------------------------------------------------------------

STARTED: list[subprocess.Popen] = []


def start(args, env, log_path, health_url, what, timeout=180):
    """Starts a process (stopped at the end, see STARTED) and waits for `health_url` to answer."""
    log = open(log_path, "wb")
    process = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    STARTED.append(process)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"FAIL {what} exited with {process.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(health_url, timeout=2) as response:
                if response.status == 200:
                    return process
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    process.kill()
    raise SystemExit(f"FAIL {what} did not start in {timeout} s; see {log_path}")


def stop(process):
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def check_mcpo(mcpo_binary, binary, work, ours, database, owui, jwt, chat):
    """6. The README's mcpo route: the repository's mcp-proxy.json (the key filled in) served by
    mcpo, both entries (Streamable HTTP and stdio) answering, and the HTTP one registered in
    Open WebUI as an OpenAPI tool server that a chat's model calls."""
    config = json.load(open(os.path.join(os.path.dirname(__file__), "..", "..", "mcp-proxy.json")))
    servers = config["mcpServers"]
    http = servers["webhook-mcp"]
    assert http["headers"]["Authorization"] == "Bearer ${WEBHOOK_MCP_API_KEY}", http
    http["headers"]["Authorization"] = f"Bearer {KEY}"
    http["url"] = f"{ours}/mcp"
    servers["webhook-mcp-stdio"]["env"].update(WEBHOOK_MCP_DATABASE=database, PUBLIC_BASE_URL=ours)
    path = os.path.join(work, "mcp-proxy.json")
    json.dump(config, open(path, "w"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PATH": os.path.dirname(os.path.abspath(binary)) + os.pathsep + os.environ["PATH"]}
    start([mcpo_binary, "--host", "127.0.0.1", "--port", str(port), "--api-key", "proxy-key",
                   "--config", path], env, os.path.join(work, "mcpo.log"), f"{base}/docs", "mcpo", 60)
    for name in servers:
        listed = ok("POST", f"{base}/{name}/list_webhooks", {}, token="proxy-key")
        assert "owui" in json.dumps(listed), f"{name} through mcpo: {listed}"
    connection = {"type": "openapi", "url": f"{base}/webhook-mcp", "path": "openapi.json", "auth_type": "bearer",
                  "key": "proxy-key", "headers": None,
                  "config": {"enable": True, "access_grants": [
                      {"principal_type": "user", "principal_id": "*", "permission": "read"}]},
                  "info": {"id": "mcpo", "name": "webhook-mcp via mcpo", "description": "Own webhooks"}}
    verified = ok("POST", f"{owui}/api/v1/configs/tool_servers/verify", connection, token=jwt)
    assert verified, verified
    current = ok("GET", f"{owui}/api/v1/configs/tool_servers", token=jwt)["TOOL_SERVER_CONNECTIONS"]
    ok("POST", f"{owui}/api/v1/configs/tool_servers", {"TOOL_SERVER_CONNECTIONS": current + [connection]}, token=jwt)
    answer = chat("/tool tool_list_webhooks_post {}", "server:mcpo")
    assert "TOOL RESULT" in answer and "owui" in answer, answer
    print("ok  6. mcp-proxy.json through mcpo: both entries answer; Open WebUI calls the tools as an "
          "OpenAPI tool server")


def main(binary: str, mcpo_binary: str | None = None) -> None:
    work = tempfile.mkdtemp(prefix="owui-live-")
    # Each port is picked just before its server takes it: Open WebUI takes a while to start,
    # and a port picked long before may be someone else's by then.
    llm = ThreadingHTTPServer(("127.0.0.1", 0), FakeModel)
    llm_port = llm.server_address[1]
    threading.Thread(target=llm.serve_forever, daemon=True).start()
    owui_port = free_port()
    owui = f"http://127.0.0.1:{owui_port}"
    owui_env = {
        **os.environ,
        "DATA_DIR": os.path.join(work, "owui-data"), "WEBUI_SECRET_KEY": "live-check-secret",
        "WEBUI_AUTH": "true", "ENABLE_CHANNELS": "true", "ENABLE_API_KEYS": "true",
        "ENABLE_USER_WEBHOOKS": "true", "ENABLE_LOCAL_WEB_FETCH": "true", "OFFLINE_MODE": "true",
        "HF_HUB_OFFLINE": "1", "RAG_EMBEDDING_ENGINE": "openai", "ENABLE_OLLAMA_API": "false",
        "OPENAI_API_BASE_URLS": f"http://127.0.0.1:{llm_port}/v1", "OPENAI_API_KEYS": "fake",
        "ENABLE_TITLE_GENERATION": "false", "ENABLE_FOLLOW_UP_GENERATION": "false",
        "ENABLE_TAGS_GENERATION": "false", "ENABLE_AUTOCOMPLETE_GENERATION": "false",
        "WEBUI_URL": owui, "PYTHONUNBUFFERED": "1",
        # Who is chatting, on every tool-server request: the audit log names the user.
        "ENABLE_FORWARD_USER_INFO_HEADERS": "true",
        # The fake model is the admin's: without this a non-admin user may not chat with it.
        "BYPASS_MODEL_ACCESS_CONTROL": "true",
    }
    os.makedirs(owui_env["DATA_DIR"])
    passed = False
    try:
        print(f"--- starting Open WebUI on {owui} (log {work}/open-webui.log)", flush=True)
        start([os.path.join(os.path.dirname(sys.executable), "open-webui"), "serve",
                            "--host", "127.0.0.1", "--port", str(owui_port)],
                           owui_env, os.path.join(work, "open-webui.log"), f"{owui}/health", "Open WebUI", 300)
        admin = ok("POST", f"{owui}/api/v1/auths/signup",
                   {"name": "Admin", "email": "admin@example.com", "password": "live-check-pass"})
        jwt = admin["token"]
        api_key = ok("POST", f"{owui}/api/v1/auths/api_key", token=jwt)["api_key"]
        channel = ok("POST", f"{owui}/api/v1/channels/create", {"name": "webhooks"}, token=jwt)
        hook = ok("POST", f"{owui}/api/v1/channels/{channel['id']}/webhooks/create", {"name": "webhook-mcp"}, token=jwt)
        channel_url = f"{owui}/api/v1/channels/webhooks/{hook['id']}/{hook['token']}"
        print("ok  Open WebUI up: admin, API key, channel with an incoming webhook")

        # No channel of its own: its results go where each command says (or stay on the task).
        agents = [{"name": "triage", "model": MODEL, "tools": ["get_event"], "max_steps": 4}]
        mcp_port = free_port()
        ours = f"http://127.0.0.1:{mcp_port}"
        our_env = {
            **os.environ, "WEBHOOK_MCP_API_KEY": KEY, "RUST_LOG": "info",
            "OPENWEBUI_URL": owui, "OPENWEBUI_API_KEY": api_key, "AI_MODEL": MODEL,
            "WEBHOOK_MCP_AGENTS": json.dumps(agents), "ALLOWED_TARGET_HOSTS": f"127.0.0.1:{owui_port}",
            "PUBLIC_BASE_URL": ours,
            # Only Open WebUI admins change things: the chat below is the admin's, whose role
            # Open WebUI forwards, so its tool calls still work.
            "WEBHOOK_MCP_OPENWEBUI_WRITE_ROLES": "admin",
        }
        print(f"--- starting webhook-mcp on {ours}", flush=True)
        start([binary, "--listen", f"127.0.0.1:{mcp_port}", "--database", os.path.join(work, "wm.db")],
                       our_env, os.path.join(work, "webhook-mcp.log"), f"{ours}/health", "webhook-mcp", 60)

        # 1. Registered as the admin settings page does it; Open WebUI speaks MCP to us: verify
        # lists our tools with their schemas.
        connection = {
            "type": "mcp", "url": f"{ours}/mcp", "path": "", "auth_type": "bearer", "key": KEY, "headers": None,
            "config": {"enable": True, "function_name_filter_list": "",
                       "access_grants": [{"principal_type": "user", "principal_id": "*", "permission": "read"}]},
            "info": {"id": "webhook-mcp", "name": "webhook-mcp", "description": "Own webhooks"},
        }
        ok("POST", f"{owui}/api/v1/configs/tool_servers", {"TOOL_SERVER_CONNECTIONS": [connection]}, token=jwt)
        verified = ok("POST", f"{owui}/api/v1/configs/tool_servers/verify", connection, token=jwt)
        names = {spec["name"] for spec in verified.get("specs", [])}
        for name in ["create_webhook", "add_command", "list_events", "comment", "ask", "respond"]:
            assert name in names, f"verify did not list {name}: {sorted(names)}"
        tools = ok("GET", f"{owui}/api/v1/tools/", token=jwt)
        tool_ids = [t["id"] for t in tools]
        assert "server:mcp:webhook-mcp" in tool_ids, tool_ids
        print(f"ok  1. Open WebUI verified the MCP server: {len(names)} tools")

        # 2. A chat user creates a webhook and a command through the model's tool calls.
        chats: list[tuple[str, str]] = []  # each chat() call's new chat and answer, in order
        def chat(text: str, tool_id: str = "server:mcp:webhook-mcp", token: str | None = None) -> str:
            token = token or jwt
            user_id, answer_id = f"u-{time.monotonic_ns()}", f"a-{time.monotonic_ns()}"
            body = {"model": MODEL, "stream": True, "tool_ids": [tool_id],
                    "messages": [{"role": "user", "content": text}],
                    "parent_id": None, "id": answer_id,
                    "user_message": {"id": user_id, "role": "user", "content": text, "parentId": None,
                                     "childrenIds": [answer_id]},
                    "features": {}, "params": {"function_calling": "native"}}
            before = {c["id"] for c in ok("GET", f"{owui}/api/v1/chats/?page=1", token=token)}
            started = ok("POST", f"{owui}/api/chat/completions", body, token=token, timeout=120)

            def answered():
                for c in ok("GET", f"{owui}/api/v1/chats/?page=1", token=token):
                    if c["id"] in before:
                        continue
                    full = ok("GET", f"{owui}/api/v1/chats/{c['id']}", token=token)
                    message = full["chat"].get("history", {}).get("messages", {}).get(answer_id)
                    if message and message.get("done") is not False and message.get("content"):
                        chats.append((c["id"], answer_id))
                        return message["content"]
                return None

            try:
                return wait_for(f"the chat answer to {text[:40]}", answered)
            except SystemExit:
                print(f"chat/completions answered {started!r}; the model saw {len(FakeModel.requests)} "
                      f"requests: {json.dumps(FakeModel.requests)[:2000]}", flush=True)
                raise

        created = chat('/tool webhook-mcp_create_webhook {"id": "owui", "name": "Open WebUI events", '
                       '"provider": "openwebui"}')
        assert "TOOL RESULT" in created and "owui" in created, created
        webhook = ok("GET", f"{ours}/api/webhooks/owui", token=KEY)
        assert webhook["provider"] == "openwebui", webhook
        command = {"webhook_id": "owui", "trigger": "user.created", "action": "create_task", "agent": "triage",
                   "template": "A new {{data.role}} user joined", "target": {"url": channel_url}}
        added = chat(f"/tool webhook-mcp_add_command {json.dumps(command)}")
        assert "TOOL RESULT" in added, added
        commands = ok("GET", f"{ours}/api/webhooks/owui/commands", token=KEY)
        assert any(c["trigger"] == "user.created" for c in commands["commands"]), commands
        assert hook["token"] not in json.dumps(commands), f"the channel's token is shown: {commands}"
        assert hook["token"] not in added, f"the channel's token is in the chat: {added}"
        audit = ok("GET", f"{ours}/api/audit?user=admin@example.com", token=KEY)["entries"]
        made = [e for e in audit if e["action"] == "mcp create_webhook"]
        assert made, f"no create_webhook entry for the admin's email: {json.dumps(audit)[:2000]}"
        user = made[0]["user"]
        assert user["name"] == "Admin" and user["role"] == "admin" and user["verified"] is False, user
        # Where it was asked for: the chat Open WebUI made for the first turn and the answer it
        # was writing; the chat finds it (and only what was changed in that chat).
        assert (made[0]["chat_id"], made[0]["message_id"]) == chats[0], (made[0], chats[0])
        in_chat = ok("GET", f"{ours}/api/audit?chat={chats[0][0]}", token=KEY)["entries"]
        assert made[0]["id"] in [e["id"] for e in in_chat], in_chat
        assert all(e["chat_id"] == chats[0][0] for e in in_chat), in_chat
        print("ok  2. chat -> model tool calls -> Open WebUI -> /mcp: webhook 'owui' and its command exist; "
              f"the audit log names the chatting user ({user['name']}, {user['email']}) and the chat")

        # 2b. The README's narrower connection: Open WebUI's function_name_filter_list keeps the
        # model's tool list (sent again with every model call of a turn) to the names given.
        narrow = ["list_webhooks", "get_webhook", "list_events", "get_event", "comment", "list_tasks",
                  "get_task", "answer_task"]
        chat_connection = json.loads(json.dumps(connection))
        chat_connection["config"]["function_name_filter_list"] = ",".join(narrow)
        chat_connection["info"] = {"id": "webhook-mcp-chat", "name": "webhook-mcp (chat)",
                                   "description": "Watch webhooks and answer tasks"}
        ok("POST", f"{owui}/api/v1/configs/tool_servers",
           {"TOOL_SERVER_CONNECTIONS": [connection, chat_connection]}, token=jwt)
        seen = len(FakeModel.requests)
        listed = chat("/tool webhook-mcp-chat_list_webhooks {}", "server:mcp:webhook-mcp-chat")
        assert "TOOL RESULT" in listed and "owui" in listed, listed
        offered = [r.get("tools") or [] for r in FakeModel.requests[seen:]]
        assert offered and all(offered), f"a model call of the narrow chat had no tools: {offered}"
        names = sorted(t["function"]["name"] for t in offered[0])
        assert names == sorted(f"webhook-mcp-chat_{n}" for n in narrow), names
        narrow_chars = len(json.dumps(offered[0]))
        full = [r.get("tools") for r in FakeModel.requests[:seen] if len(r.get("tools") or []) > len(narrow)]
        assert full, "no earlier model call carried the whole tool list"
        print(f"ok  2b. function_name_filter_list narrows a connection: {len(names)} tools "
              f"({narrow_chars} characters) reach the model instead of {len(full[0])} "
              f"({len(json.dumps(full[0]))} characters)")

        # 3. Open WebUI's event webhook delivers to the new webhook (the token in the URL).
        # The secret is shown once, at creation: in the tool result Open WebUI kept in the chat.
        url_with_token = None
        for piece in created.replace('"', " ").replace("\\", " ").split():
            if piece.startswith(f"{ours}/webhooks/openwebui/owui?token="):
                url_with_token = piece.rstrip(".,)}'")
        assert url_with_token, f"no url_with_token in the tool result: {created}"
        ok("POST", f"{owui}/api/events/webhooks",
           {"name": "webhook-mcp", "url": url_with_token, "enabled": True, "events": ["user.created"]}, token=jwt)
        ok("POST", f"{owui}/api/v1/auths/add",
           {"name": "Newcomer", "email": "new@example.com", "password": "newcomer-pass", "role": "user"}, token=jwt)

        def stored_event():
            events = ok("GET", f"{ours}/api/events?webhook_id=owui", token=KEY)
            return [e for e in events["events"] if e["event_type"] == "user.created"]

        event = wait_for("user.created from Open WebUI", stored_event)[0]
        assert event["verified"] is True and event["status"] != "rejected", event
        assert event["delivery_id"], f"Open WebUI's event id should be the delivery id: {event}"
        print(f"ok  3. Open WebUI sent user.created; stored as event {event.get('id')}")

        # 3b. That user's role is not a write role: Open WebUI lists the connection's tools for the
        # chat turn with the user's headers, and the model is offered only the tools that read.
        newcomer = ok("POST", f"{owui}/api/v1/auths/signin",
                      {"email": "new@example.com", "password": "newcomer-pass"})
        assert newcomer["role"] == "user", newcomer
        seen = len(FakeModel.requests)
        read = chat("/tool webhook-mcp_list_webhooks {}", token=newcomer["token"])
        assert "TOOL RESULT" in read and "owui" in read, read
        # The runner's model calls (from the user.created task) offer its own tools, unprefixed.
        user_calls = [r for r in FakeModel.requests[seen:]
                      if any(t["function"]["name"].startswith("webhook-mcp_") for t in r.get("tools") or [])]
        assert user_calls, f"no model call of the user's chat offered webhook-mcp's tools: {FakeModel.requests[seen:]}"
        for r in user_calls:
            ours_offered = sorted(t["function"]["name"].removeprefix("webhook-mcp_") for t in r["tools"]
                                  if t["function"]["name"].startswith("webhook-mcp_"))
            assert ours_offered == READ_TOOLS, ours_offered
            # Open WebUI puts the server's instructions in the model's messages: this user's are
            # the reader's guide, not the walk through create_webhook and add_command.
            said = json.dumps(r.get("messages"))
            assert "may only read" in said and "add_command" not in said, said[:2000]
        refused = chat('/tool webhook-mcp_delete_webhook {"webhook_id": "owui"}', token=newcomer["token"])
        assert "TOOL NOT OFFERED" in refused, refused
        ok("GET", f"{ours}/api/webhooks/owui", token=KEY)
        print(f"ok  3b. a non-admin Open WebUI user's model is offered {len(ours_offered)} read-only tools "
              "(no create_webhook or delete_webhook) and the reader's guide, and list_webhooks works through Open WebUI")

        # 4. The task runs through Open WebUI's chat API; the results land in the channel.
        def channel_messages():
            listed = ok("GET", f"{owui}/api/v1/channels/{channel['id']}/messages?skip=0&limit=50", token=jwt)
            return [m["content"] for m in listed if "Posted by the `triage` agent" in m["content"]]

        final = wait_for("the agent's answer in the Open WebUI channel", channel_messages)
        assert "TOOL RESULT" in final[0] and "user.created" in final[0], final
        tasks = ok("GET", f"{ours}/api/tasks?webhook_id=owui", token=KEY)
        assert any(t["status"] == "done" and t["prompt"] == "A new user user joined" for t in tasks["tasks"]), tasks
        runner_calls = [r for r in FakeModel.requests if any(
            (t.get("function") or {}).get("name") == "get_event" for t in r.get("tools") or [])]
        assert runner_calls, "the runner's request never reached the model through Open WebUI"
        print("ok  4. task -> Open WebUI /api/chat/completions -> get_event tool -> answer in the channel: "
              f"{final[0].splitlines()[0]!r}")

        # 5. A user notification webhook: Open WebUI tells us when a chat answer is finished.
        ok("POST", f"{owui}/api/v1/notifications/targets",
           {"type": "webhook", "enabled": True, "events": ["chat.finished"], "delivery": "always",
            "config": {"url": url_with_token}}, token=jwt)
        chat("hello from the live check")

        def notified():
            events = ok("GET", f"{ours}/api/events?webhook_id=owui&event_type=notification.*", token=KEY)
            return [e for e in events["events"] if e["event_type"] == "notification.chat"]

        note = wait_for("the chat.finished notification", notified)[0]
        detail = ok("GET", f"{ours}/api/events/{note['id']}", token=KEY)
        assert "ECHO: hello from the live check" in json.dumps(detail["payload"]), detail
        print("ok  5. Open WebUI's user notification webhook delivered chat.finished as notification.chat")

        if mcpo_binary:
            check_mcpo(mcpo_binary, binary, work, ours, os.path.join(work, "wm.db"), owui, jwt, chat)
        print("--- live Open WebUI check passed")
        passed = True
    finally:
        for process in reversed(STARTED):
            stop(process)
        llm.shutdown()
        if passed:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"logs kept in {work}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
