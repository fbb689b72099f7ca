// End-to-end check with the senders' own signing libraries: starts the real binary, registers
// one webhook per scheme, and sends deliveries signed by Octokit (GitHub), Stripe's test
// helper, the Standard Webhooks library and Svix's. Each must be accepted and stored as
// verified with its event type and delivery id; a replay is a duplicate; a tampered body and
// a stale timestamp get 401. Then a `forward` command sends an event on to a local receiver,
// which checks our signature with the Standard Webhooks library. Exits non-zero on failure.
//
// Usage: node senders_check.mjs <path to webhook-mcp binary>

import { randomBytes, randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { join } from "node:path";
import { sign as githubSign } from "@octokit/webhooks-methods";
import { Webhook as StandardWebhook } from "standardwebhooks";
import Stripe from "stripe";
import { Webhook as SvixWebhook } from "svix";
import { KEY, check, freePort, runCheck, startServer, tempDir } from "./server.mjs";

const binary = process.argv[2];
if (!binary) {
  console.error("usage: node senders_check.mjs <path to webhook-mcp binary>");
  process.exit(2);
}

async function api(base, method, path, body) {
  const res = await fetch(`${base}/api${path}`, {
    method,
    headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  check(res.ok, `${method} /api${path} answered ${res.status}`, json);
  return json;
}

async function deliver(url, headers, body) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body,
  });
  return { status: res.status, json: await res.json().catch(() => null) };
}

/// Sends a signed delivery, its replay, a tampered copy and (if given) a stale one, and
/// checks what was stored.
async function exercise(base, c) {
  const url = `${base}/webhooks/${c.provider}/${c.id}`;
  const first = await deliver(url, c.headers, c.body);
  check(first.status === 200 && first.json?.status === "accepted", `${c.name}: signed delivery`, first);
  const again = await deliver(url, c.headers, c.body);
  check(again.json?.status === "duplicate", `${c.name}: the same delivery again is a duplicate`, again);
  check(again.json.event_id === first.json.event_id, `${c.name}: a duplicate names the first event`, again);
  const tampered = await deliver(url, c.tamperedHeaders ?? c.headers, c.body.replace("}", ',"x":1}'));
  check(tampered.status === 401, `${c.name}: tampered body`, tampered);
  if (c.staleHeaders) {
    const stale = await deliver(url, c.staleHeaders, c.body);
    check(stale.status === 401, `${c.name}: timestamp outside the window`, stale);
  }
  const e = await api(base, "GET", `/events/${first.json.event_id}`);
  check(e.verified === true, `${c.name}: stored as verified`, e);
  check(e.event_type === c.eventType, `${c.name}: event type`, e.event_type);
  check(e.delivery_id === c.deliveryId, `${c.name}: delivery id`, e.delivery_id);
  console.log(`ok  ${c.name}`);
}

async function main() {
  const { dir, cleanup } = tempDir();
  const forwardPort = await freePort();
  let forwarded;
  const receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      forwarded?.(req.headers, body);
      res.writeHead(200, { "Content-Type": "application/json" }).end("{}");
    });
  });
  await new Promise((r) => receiver.listen(forwardPort, "127.0.0.1", r));
  const server = await startServer(binary, join(dir, "senders.db"), [
    "--allowed-target-hosts", `127.0.0.1:${forwardPort}`, "--retry-schedule", "1s",
  ]);
  try {
    await run(server.base, forwardPort, (fn) => (forwarded = fn));
  } finally {
    await server.stop();
    receiver.close();
    cleanup();
  }
}

async function run(base, forwardPort, onForward) {
  const now = Math.floor(Date.now() / 1000);

  // GitHub: the secret is whatever the user typed into the webhook form.
  {
    const secret = "It's a Secret to Everybody";
    await api(base, "POST", "/webhooks", { id: "gh", name: "gh", provider: "github", secret });
    const body = JSON.stringify({
      action: "opened",
      issue: { number: 7, title: "Login fails", labels: [{ name: "bug" }], user: { login: "octocat" } },
      repository: { full_name: "octo/app", name: "app" },
      sender: { login: "octocat" },
    });
    const delivery = randomUUID();
    const headers = {
      "X-GitHub-Event": "issues",
      "X-GitHub-Delivery": delivery,
      "X-Hub-Signature-256": await githubSign(secret, body),
    };
    await exercise(base, { name: "GitHub (@octokit/webhooks-methods)", provider: "github", id: "gh", body, headers, eventType: "issues.opened", deliveryId: delivery });
  }

  // Stripe: the endpoint secret Stripe shows is whsec_ + random text, used as it is.
  {
    const secret = `whsec_${randomBytes(24).toString("hex")}`;
    await api(base, "POST", "/webhooks", { id: "stripe", name: "stripe", provider: "stripe", secret });
    const stripe = new Stripe("sk_test_not_used_offline");
    const body = JSON.stringify({ id: `evt_${randomBytes(12).toString("hex")}`, object: "event", type: "payment_intent.succeeded", data: { object: { id: "pi_1", object: "payment_intent", amount: 2000 } } });
    const header = (timestamp) => ({ "Stripe-Signature": stripe.webhooks.generateTestHeaderString({ payload: body, secret, timestamp }) });
    await exercise(base, { name: "Stripe (stripe-node generateTestHeaderString)", provider: "stripe", id: "stripe", body, headers: header(now), staleHeaders: header(now - 600), eventType: "payment_intent.succeeded", deliveryId: JSON.parse(body).id });
  }

  // Standard Webhooks and Svix: the secret is whsec_ + base64, as webhook-mcp generates it.
  const standard = await api(base, "POST", "/webhooks", { id: "std", name: "std", provider: "standard-webhooks" });
  {
    const wh = new StandardWebhook(standard.secret);
    const body = JSON.stringify({ type: "invoice.paid", timestamp: new Date().toISOString(), data: { id: "inv_1" } });
    const id = `msg_${randomBytes(8).toString("hex")}`;
    const headers = (at) => ({ "webhook-id": id, "webhook-timestamp": String(Math.floor(at.getTime() / 1000)), "webhook-signature": wh.sign(id, at, body) });
    await exercise(base, { name: "Standard Webhooks (standardwebhooks)", provider: "standard-webhooks", id: "std", body, headers: headers(new Date()), staleHeaders: headers(new Date(Date.now() - 600_000)), eventType: "invoice.paid", deliveryId: id });
  }
  {
    await api(base, "POST", "/webhooks", { id: "svix", name: "svix", provider: "svix", secret: standard.secret });
    const wh = new SvixWebhook(standard.secret);
    const body = JSON.stringify({ type: "user.created", data: { id: "u_1" } });
    const id = `msg_${randomBytes(8).toString("hex")}`;
    const headers = (at) => ({ "svix-id": id, "svix-timestamp": String(Math.floor(at.getTime() / 1000)), "svix-signature": wh.sign(id, at, body) });
    await exercise(base, { name: "Svix (svix, svix-* headers)", provider: "svix", id: "svix", body, headers: headers(new Date()), staleHeaders: headers(new Date(Date.now() - 600_000)), eventType: "user.created", deliveryId: id });
  }

  // Our own signature, checked by the Standard Webhooks library on the receiving end.
  {
    const target = { url: `http://127.0.0.1:${forwardPort}/hook`, secret: `whsec_${randomBytes(32).toString("base64")}` };
    await api(base, "POST", "/webhooks/gh/commands", { trigger: "issues.opened", action: "forward", target });
    const arrived = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("forward: nothing arrived within 15 s")), 15_000);
      onForward((headers, body) => { clearTimeout(timer); resolve({ headers, body }); });
    });
    const body = JSON.stringify({ action: "opened", issue: { number: 8, title: "Forward me", labels: [] }, repository: { full_name: "octo/app" }, sender: { login: "octocat" } });
    const sent = await deliver(`${base}/webhooks/github/gh`, { "X-GitHub-Event": "issues", "X-GitHub-Delivery": randomUUID(), "X-Hub-Signature-256": await githubSign("It's a Secret to Everybody", body) }, body);
    check(sent.status === 200, "forward: the triggering delivery", sent);
    const got = await arrived;
    const verified = new StandardWebhook(target.secret).verify(got.body, got.headers);
    check(verified?.issue?.title === "Forward me", "forward: the verified payload", verified);
    let refused = false;
    try { new StandardWebhook(`whsec_${randomBytes(32).toString("base64")}`).verify(got.body, got.headers); } catch { refused = true; }
    check(refused, "forward: another secret must not verify");
    console.log("ok  forward, verified by standardwebhooks");
  }
}

runCheck("sender library", main);
