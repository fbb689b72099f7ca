// End-to-end check with the official MCP TypeScript SDK (the client inside MCP Inspector,
// Claude Desktop's mcp-remote and most Node agents), against the real binary:
// - Streamable HTTP in the default stateless mode: initialize, list tools/prompts/resources,
//   a webhook's lifecycle through tools, and a broken template as a tool error the model can
//   read (not a protocol error);
// - stdio (`webhook-mcp stdio --database ...`, flags after the subcommand) on the same
//   database sees that webhook;
// - with `--mcp-sessions`, the legacy `resources/subscribe` push: a signed delivery arrives as
//   `notifications/resources/updated` for `webhook://{id}/events`.
//
// Usage: node mcp_client_check.mjs <path to webhook-mcp binary>

import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { sign as githubSign } from "@octokit/webhooks-methods";
import { KEY, check, runCheck, startServer, tempDir } from "./server.mjs";

const binary = process.argv[2];
if (!binary) {
  console.error("usage: node mcp_client_check.mjs <path to webhook-mcp binary>");
  process.exit(2);
}

async function connectHttp(base) {
  const client = new Client({ name: "webhook-mcp-ts-check", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
    requestInit: { headers: { Authorization: `Bearer ${KEY}` } },
  });
  await client.connect(transport);
  return { client, transport };
}

async function stateless(base) {
  const { client, transport } = await connectHttp(base);
  check(client.getServerVersion()?.name === "webhook-mcp", "server name", client.getServerVersion());
  check(transport.sessionId === undefined, "the default mode is stateless", transport.sessionId);
  // Without a session there is nowhere to push a legacy subscription to, so it is not offered.
  check(client.getServerCapabilities()?.resources?.subscribe === undefined, "resources.subscribe not offered without sessions", client.getServerCapabilities());
  const tools = new Map((await client.listTools()).tools.map((t) => [t.name, t]));
  for (const name of ["create_webhook", "add_command", "test_webhook", "list_events", "comment", "respond"]) {
    check(tools.has(name), `tool ${name} listed`);
    check(tools.get(name).description && tools.get(name).inputSchema?.type === "object", `tool ${name} is described`);
  }
  check(tools.get("list_events").annotations?.readOnlyHint === true, "list_events is marked read-only");
  check(tools.get("delete_webhook").annotations?.destructiveHint === true, "delete_webhook is marked destructive");
  const prompts = (await client.listPrompts()).prompts.map((p) => p.name);
  check(prompts.includes("setup-webhook"), "the setup-webhook prompt", prompts);

  const created = await client.callTool({ name: "create_webhook", arguments: { name: "ts", provider: "github", id: "ts" } });
  check(!created.isError && created.structuredContent?.webhook?.secret, "create_webhook", created);
  const broken = await client.callTool({
    name: "add_command",
    arguments: { webhook_id: "ts", trigger: "issues.opened", action: "comment", template: "{{ x" },
  });
  check(broken.isError === true && /template/.test(broken.content?.[0]?.text), "a broken template is a tool error", broken);
  const added = await client.callTool({
    name: "add_command",
    arguments: { webhook_id: "ts", trigger: "issues.*", action: "create_task", agent: "planning" },
  });
  check(!added.isError, "add_command", added);
  const tested = await client.callTool({ name: "test_webhook", arguments: { webhook_id: "ts", event_type: "issues.opened" } });
  check(tested.structuredContent?.status === "matched", "test_webhook matches the command", tested.structuredContent);
  const resources = (await client.listResources()).resources.map((r) => r.uri);
  check(resources.includes("webhook://ts/events"), "the webhook's events resource", resources);
  await client.close();
  console.log("ok  Streamable HTTP (stateless): tools, prompts, resources, tool errors");
}

async function stdio(database) {
  const client = new Client({ name: "webhook-mcp-ts-stdio", version: "1.0.0" });
  await client.connect(new StdioClientTransport({ command: binary, args: ["stdio", "--database", database], stderr: "ignore" }));
  const listed = await client.callTool({ name: "list_webhooks", arguments: {} });
  const ids = (listed.structuredContent?.webhooks ?? []).map((w) => w.id);
  check(ids.includes("ts"), "stdio sees the webhook made over HTTP", listed.structuredContent);
  await client.close();
  console.log("ok  stdio on the same database");
}

async function push(base) {
  const { client, transport } = await connectHttp(base);
  check(transport.sessionId, "--mcp-sessions issues a session id");
  check(client.getServerCapabilities()?.resources?.subscribe === true, "resources.subscribe advertised", client.getServerCapabilities());
  const created = await client.callTool({ name: "create_webhook", arguments: { name: "push", provider: "github", id: "push" } });
  const secret = created.structuredContent.webhook.secret;
  const updated = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no resources/updated within 10 s")), 10_000);
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      clearTimeout(timer);
      resolve(n);
    });
  });
  await client.subscribeResource({ uri: "webhook://push/events" });
  const body = JSON.stringify({ action: "opened", issue: { number: 1, title: "Push me", labels: [] }, repository: { full_name: "octo/app" }, sender: { login: "octocat" } });
  const sent = await fetch(`${base}/webhooks/github/push`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-GitHub-Event": "issues", "X-GitHub-Delivery": "push-1", "X-Hub-Signature-256": await githubSign(secret, body) },
    body,
  });
  check(sent.status === 200, "the signed delivery", sent.status);
  const note = await updated;
  check(note.params?.uri === "webhook://push/events", "the pushed resource", note);
  await client.close();
  console.log("ok  --mcp-sessions: resources/subscribe push on a delivery");
}

async function main() {
  const { dir, cleanup } = tempDir();
  const database = join(dir, "mcp.db");
  const servers = [];
  try {
    const plain = await startServer(binary, database);
    servers.push(plain);
    await stateless(plain.base);
    await stdio(database);
    const sessions = await startServer(binary, database, ["--mcp-sessions"]);
    servers.push(sessions);
    await push(sessions.base);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    cleanup();
  }
}

runCheck("MCP TypeScript SDK", main);
