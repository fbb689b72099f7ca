// webhook-mcp dashboard: plain JavaScript, no build step, nothing fetched from elsewhere.
// Everything shown comes from the REST API with the key pasted into the page. What events
// carry is written by whoever sent them: it only ever enters the page as text
// (textContent, DOM nodes), never as markup.
"use strict";

// The API routes this script calls, and no others: each call below goes through `call`, by
// name. tests/it/dashboard.rs reads this table from the served script and checks that every
// route answers, so keep one route per line, as `name: ["METHOD", "/api/path"],`.
const API = {
  keys: ["GET", "/api/keys"],
  createKey: ["POST", "/api/keys"],
  revokeKey: ["DELETE", "/api/keys/{key_id}"],
  audit: ["GET", "/api/audit"],
  webhooks: ["GET", "/api/webhooks"],
  createWebhook: ["POST", "/api/webhooks"],
  webhook: ["GET", "/api/webhooks/{webhook_id}"],
  updateWebhook: ["PUT", "/api/webhooks/{webhook_id}"],
  deleteWebhook: ["DELETE", "/api/webhooks/{webhook_id}"],
  enableWebhook: ["POST", "/api/webhooks/{webhook_id}/enable"],
  disableWebhook: ["POST", "/api/webhooks/{webhook_id}/disable"],
  rotateSecret: ["POST", "/api/webhooks/{webhook_id}/rotate-secret"],
  testWebhook: ["POST", "/api/webhooks/{webhook_id}/test"],
  commands: ["GET", "/api/webhooks/{webhook_id}/commands"],
  addCommand: ["POST", "/api/webhooks/{webhook_id}/commands"],
  updateCommand: ["PUT", "/api/webhooks/{webhook_id}/commands/{command_id}"],
  removeCommand: ["DELETE", "/api/webhooks/{webhook_id}/commands/{command_id}"],
  events: ["GET", "/api/events"],
  event: ["GET", "/api/events/{event_id}"],
  replayEvent: ["POST", "/api/events/{event_id}/replay"],
  retryAction: ["POST", "/api/actions/{action_id}/retry"],
  tasks: ["GET", "/api/tasks"],
  task: ["GET", "/api/tasks/{task_id}"],
  cancelTask: ["POST", "/api/tasks/{task_id}/cancel"],
};

const KEY_STORE = "webhook-mcp.dashboard.key";
const PAGE_SIZE = 50;

// ---- talking to the API ----

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function storedKey() {
  return sessionStorage.getItem(KEY_STORE) || "";
}

// Calls the route named `name` in API, its `{params}` filled in, with the key. Resolves to
// the answer's JSON (null for a 204); rejects with an ApiError carrying the server's
// `error.message`.
async function call(name, params = {}, { query, body } = {}) {
  const [method, template] = API[name];
  let url = template.replace(/\{(\w+)\}/g, (_, p) => {
    if (params[p] === undefined) throw new Error(`${name}: no ${p} given`);
    return encodeURIComponent(params[p]);
  });
  // Relative to the page, so that a proxy serving the dashboard under a prefix is followed.
  url = url.slice(1);
  if (query) {
    const search = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== "") search.set(k, String(v));
    }
    const text = search.toString();
    if (text) url += "?" + text;
  }
  const headers = { Accept: "application/json" };
  const key = storedKey();
  if (key) headers.Authorization = "Bearer " + key;
  const init = { method, headers, cache: "no-store", credentials: "omit" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (e) {
    throw new ApiError(0, "network", `the server did not answer (${e.message})`);
  }
  // Read even when empty: a response left unread shows in the browser as a cancelled request.
  const text = await response.text();
  if (response.status === 204) return null;
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch (_) {
    json = null;
  }
  if (!response.ok) {
    const error = json && json.error;
    const message = error && typeof error.message === "string"
      ? error.message
      : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, error && error.code, message);
  }
  return json;
}

// ---- building the page: text and nodes only ----

const $ = (id) => document.getElementById(id);

// An element with attributes and children; strings become text nodes.
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k in node && typeof node[k] !== "string") node[k] = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function button(label, onclick, cls) {
  return el("button", { type: "button", class: cls, onclick }, label);
}

function pretty(value) {
  return value === undefined ? "" : JSON.stringify(value, null, 2);
}

function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return isNaN(date) ? String(iso) : date.toLocaleString();
}

function cut(text, max) {
  if (text === null || text === undefined) return "";
  const s = String(text);
  return s.length > max ? s.slice(0, max - 1) + "…" : s;
}

// A `<dl>` of label/value pairs; a value may be a node.
function facts(list, pairs) {
  list.replaceChildren();
  for (const [label, value] of pairs) {
    if (value === undefined || value === null || value === "") continue;
    list.append(el("dt", {}, label), el("dd", {}, value));
  }
}

function notify(message, kind = "error") {
  const box = $("notice");
  box.className = "notice " + kind;
  $("notice-text").textContent = message;
  box.hidden = false;
  if (kind !== "error") {
    const shown = message;
    setTimeout(() => {
      if ($("notice-text").textContent === shown) box.hidden = true;
    }, 4000);
  }
}

function fail(error) {
  const status = error.status ? `${error.status}: ` : "";
  notify(status + error.message, "error");
}

// Runs an async handler, showing its error; the buttons inside `scope` wait meanwhile.
async function guarded(work) {
  try {
    return await work();
  } catch (e) {
    fail(e);
    return undefined;
  }
}

async function copy(text, source) {
  let done = false;
  try {
    await navigator.clipboard.writeText(text);
    done = true;
  } catch (_) {
    // Not a secure context (plain http to another machine): the older way.
    const area = el("textarea", { class: "offscreen", readOnly: true });
    area.value = text;
    document.body.append(area);
    area.select();
    try {
      done = document.execCommand("copy");
    } catch (_) {
      done = false;
    }
    area.remove();
  }
  if (source) {
    const label = source.textContent;
    source.textContent = done ? "Copied" : "Select and copy by hand";
    setTimeout(() => (source.textContent = label), 1500);
  }
}

function copyable(text) {
  return el("span", { class: "copyable" }, el("code", { class: "wrap" }, text),
    button("Copy", (e) => copy(text, e.currentTarget), "small"));
}

function parseJsonField(form, name, label) {
  const text = form.elements[name].value.trim();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(0, "invalid_json", `${label} is not JSON: ${e.message}`);
  }
}

function showForm(form, shown) {
  form.hidden = !shown;
  if (shown) {
    const first = form.querySelector("input, select, textarea");
    if (first) first.focus();
  }
}

// ---- the key ----

async function useKey(key) {
  if (key) sessionStorage.setItem(KEY_STORE, key);
  else sessionStorage.removeItem(KEY_STORE);
  $("key-input").value = "";
  closeViews();
  await checkKey();
}

// Says which kind of key is in use: /api/keys answers admin keys only.
async function checkKey() {
  const status = $("key-status");
  try {
    await call("keys");
    status.textContent = storedKey() ? "admin key: may change things" : "no key needed (--no-auth)";
  } catch (e) {
    if (e.status === 403) {
      status.textContent = "read key: browse only";
    } else {
      status.textContent = storedKey() ? "key refused" : "no key";
      $("no-key").hidden = false;
      if (storedKey() || e.code !== "missing_api_key") fail(e);
      return false;
    }
  }
  $("no-key").hidden = true;
  $("notice").hidden = true;
  showTab(currentTab());
  return true;
}

// What one key was shown goes when another is used, or none.
function closeViews() {
  for (const id of ["webhook-detail", "event-detail", "task-detail", "audit-detail", "secret-once", "webhook-create", "key-create"]) $(id).hidden = true;
  for (const id of ["commands-table", "wd-events-table"]) $(id).tBodies[0].replaceChildren();
  $("secret-once-value").textContent = "";
  $("secret-once-url").textContent = "";
  detail.hook = null;
}

// ---- tabs ----

const TABS = ["webhooks", "events", "tasks", "keys", "audit"];

function currentTab() {
  const name = location.hash.slice(1);
  return TABS.includes(name) ? name : "webhooks";
}

function showTab(name) {
  for (const tab of TABS) {
    $("tab-" + tab).hidden = tab !== name;
  }
  for (const b of document.querySelectorAll("nav .tab")) {
    b.classList.toggle("active", b.dataset.tab === name);
  }
  if (location.hash.slice(1) !== name) history.replaceState(null, "", "#" + name);
  if (name === "webhooks") loadWebhooks();
  if (name === "events") loadEvents();
  if (name === "tasks") loadTasks();
  if (name === "keys") loadKeys();
  if (name === "audit") loadAudit();
}

// ---- webhooks ----

const webhooksState = { cursor: null };

async function loadWebhooks(more = false) {
  await guarded(async () => {
    const page = await call("webhooks", {}, {
      query: { limit: PAGE_SIZE, cursor: more ? webhooksState.cursor : undefined },
    });
    const body = $("webhooks-table").tBodies[0];
    if (!more) body.replaceChildren();
    for (const hook of page.webhooks) body.append(webhookRow(hook));
    webhooksState.cursor = page.next_cursor;
    $("webhooks-more").hidden = !page.next_cursor;
    $("webhooks-empty").hidden = body.rows.length > 0;
  });
}

function webhookRow(hook) {
  const toggle = el("input", {
    type: "checkbox",
    checked: hook.enabled,
    title: "enabled: receives and runs its commands",
    onchange: async (e) => {
      const box = e.currentTarget;
      const done = await setEnabled(hook.id, box.checked);
      if (done === undefined) box.checked = !box.checked;
    },
  });
  return el("tr", {},
    el("td", {}, button(hook.name, () => openWebhook(hook.id), "link")),
    el("td", {}, el("code", {}, hook.id)),
    el("td", {}, hook.provider),
    el("td", {}, toggle),
    el("td", {}, copyable(hook.url)),
    el("td", { class: "num" }, String(hook.commands ?? "")),
    el("td", { class: "actions" },
      button("Open", () => openWebhook(hook.id), "small"),
      button("Test", () => openWebhook(hook.id, { test: true }), "small"),
      button("Delete", () => deleteWebhook(hook), "small danger")));
}

async function setEnabled(id, enabled) {
  return guarded(async () => {
    const hook = await call(enabled ? "enableWebhook" : "disableWebhook", { webhook_id: id });
    notify(`${hook.name}: ${hook.enabled ? "enabled" : "disabled"}`, "ok");
    if (detail.hook && detail.hook.id === id) showWebhook(hook);
    return hook;
  });
}

async function deleteWebhook(hook) {
  if (!confirm(`Delete webhook "${hook.name}" (${hook.id}) and its commands? Its events stay in the log; its open tasks are cancelled.`)) return;
  await guarded(async () => {
    await call("deleteWebhook", { webhook_id: hook.id });
    notify(`Deleted ${hook.id}`, "ok");
    if (detail.hook && detail.hook.id === hook.id) closeWebhook();
    await loadWebhooks();
  });
}

// Shows a secret the server gives once (a new webhook's, a rotated one, a new API key), with
// a copy button, until "I have copied it": the card is above the tabs, so another tab keeps it.
function showSecretOnce(what, answer, copyLabel = "Copy secret") {
  $("secret-once-what").textContent = what;
  $("secret-once-value").textContent = answer.secret || "";
  $("secret-once-copy").textContent = copyLabel;
  $("secret-once-url").textContent = answer.url_with_token || "";
  $("secret-once-url-row").hidden = !answer.url_with_token;
  const notes = $("secret-once-warnings");
  notes.replaceChildren();
  const warnings = [...(answer.warnings || [])];
  if (answer.secret_placeholder) {
    warnings.unshift("This secret is a placeholder: the sender issues its own. Set it with Rotate secret, or every delivery is refused.");
  }
  for (const c of answer.added_commands || []) {
    for (const w of c.warnings || []) warnings.push(`command ${c.id}: ${w}`);
  }
  for (const w of warnings) notes.append(el("li", {}, w));
  $("secret-once").hidden = false;
  $("secret-once").scrollIntoView({ block: "nearest" });
}

async function createWebhook(form) {
  await guarded(async () => {
    const body = {
      name: form.elements.name.value.trim(),
      provider: form.elements.provider.value,
    };
    const id = form.elements.id.value.trim();
    if (id) body.id = id;
    const secret = form.elements.secret.value;
    if (secret) body.secret = secret;
    const options = parseJsonField(form, "options", "Options");
    if (options !== undefined) body.options = options;
    const hook = await call("createWebhook", {}, { body });
    form.reset();
    form.hidden = true;
    showSecretOnce(`Webhook "${hook.name}" (${hook.id}) is at ${hook.url}. Its signing secret:`, hook);
    await loadWebhooks();
  });
}

// ---- one webhook ----

const detail = { hook: null, commands: [], editing: null };

async function openWebhook(id, { test = false } = {}) {
  await guarded(async () => {
    const hook = await call("webhook", { webhook_id: id });
    for (const form of ["wd-edit-form", "wd-rotate-form", "wd-test-form", "command-form"]) {
      $(form).hidden = true;
      // What was typed for another webhook (a sample of its provider's, a secret) goes.
      if (!detail.hook || detail.hook.id !== id) $(form).reset();
    }
    $("wd-test-result").hidden = true;
    showWebhook(hook);
    $("webhook-detail").hidden = false;
    await Promise.all([loadCommands(), loadWebhookEvents()]);
    if (test) await runTest();
    $("webhook-detail").scrollIntoView({ block: "start" });
  });
}

async function openWebhookFromAnywhere(id) {
  location.hash = "webhooks";
  await openWebhook(id);
}

function closeWebhook() {
  detail.hook = null;
  $("webhook-detail").hidden = true;
}

function showWebhook(hook) {
  detail.hook = hook;
  $("wd-title").textContent = `${hook.name} (${hook.provider})`;
  const secret = el("span", {}, el("code", {}, "••••••••" + (hook.secret_hint || "").replace(/^…/, "")),
    hook.secret_placeholder ? el("span", { class: "bad" }, " placeholder: set the sender's own with Rotate secret") : "");
  facts($("wd-facts"), [
    ["Id", el("code", {}, hook.id)],
    ["Status", el("span", { class: hook.enabled ? "good" : "bad" }, hook.enabled ? "enabled" : "disabled")],
    ["Receive URL", copyable(hook.url)],
    ["Secret", secret],
    ["Previous secret verifies until", when(hook.previous_secret_expires_at)],
    ["Commands", String(hook.commands ?? "")],
    ["Options", el("pre", { class: "json" }, pretty(hook.options))],
    ["Created", `${when(hook.created_at)}${hook.created_by ? " by " + hook.created_by : ""}`],
    ["Updated", when(hook.updated_at)],
  ]);
  $("wd-toggle").textContent = hook.enabled ? "Disable" : "Enable";
}

async function saveWebhookEdit(form) {
  await guarded(async () => {
    const hook = detail.hook;
    const body = {};
    const name = form.elements.name.value.trim();
    if (name !== hook.name) body.name = name;
    const options = parseJsonField(form, "options", "Options") || {};
    if (typeof options !== "object" || Array.isArray(options)) {
      throw new ApiError(0, "invalid_json", "Options must be a JSON object");
    }
    // Only what changed: a stored option left out is removed (null), one kept as read (its
    // credentials masked) is not sent back.
    const changed = {};
    const before = hook.options || {};
    for (const [k, v] of Object.entries(options)) {
      if (JSON.stringify(v) !== JSON.stringify(before[k])) changed[k] = v;
    }
    for (const k of Object.keys(before)) {
      if (!(k in options)) changed[k] = null;
    }
    if (Object.keys(changed).length) body.options = changed;
    if (!Object.keys(body).length) {
      form.hidden = true;
      return;
    }
    const updated = await call("updateWebhook", { webhook_id: hook.id }, { body });
    form.hidden = true;
    showWebhook(updated);
    for (const w of updated.warnings || []) notify(w, "warn");
    await loadWebhooks();
  });
}

async function rotateSecret(form) {
  await guarded(async () => {
    const hook = detail.hook;
    const body = {};
    if (form.elements.secret.value) body.secret = form.elements.secret.value;
    const grace = form.elements.grace_period_secs.value.trim();
    if (grace !== "") body.grace_period_secs = Number(grace);
    const answer = await call("rotateSecret", { webhook_id: hook.id }, { body });
    form.reset();
    form.hidden = true;
    showSecretOnce(`New secret for "${hook.name}" (${hook.id}):`, answer);
    await openWebhook(hook.id);
  });
}

// The Test buttons: the form shown, and a test sent at once with what it holds (nothing: the
// provider's built-in sample, a dry run).
async function runTest() {
  const form = $("wd-test-form");
  showForm(form, true);
  await testWebhook(form);
}

async function testWebhook(form) {
  await guarded(async () => {
    const hook = detail.hook;
    const body = {};
    const type = form.elements.event_type.value.trim();
    if (type) body.event_type = type;
    const payload = parseJsonField(form, "payload", "Payload");
    if (payload !== undefined) body.payload = payload;
    if (form.elements.run_actions.checked) body.run_actions = true;
    const report = await call("testWebhook", { webhook_id: hook.id }, { body });
    showTestReport($("wd-test-result"), report);
    await loadWebhookEvents();
  });
}

// What a test did, readably: the commands it fired and what each would send, the others and
// why not; the whole report below.
function showTestReport(out, report) {
  const matched = report.matched || [];
  const unmatched = report.unmatched || [];
  const headline = `${matched.length} command(s) matched` +
    (report.actions_queued ? ", actions queued" : ", dry run (nothing sent)");
  const problems = [report.problem, report.note].filter(Boolean);
  out.replaceChildren(
    el("p", {}, statusBadge(report.status), " ", headline,
      report.event_id ? el("span", {}, " — event ", button(report.event_id, () => showEventFromAnywhere(report.event_id), "link")) : ""),
    ...problems.map((p) => el("p", { class: "bad" }, p)),
    matched.length ? el("h4", {}, "Fired") : "",
    el("ul", {}, matched.map((c) => el("li", {},
      el("code", {}, c.trigger), ` → ${c.action}${c.agent ? " (" + c.agent + ")" : ""}`,
      c.url ? el("div", { class: "muted" }, "to: " + c.url) : "",
      c.would_send ? el("div", { class: "muted" }, "would send: " + cut(c.would_send, 300)) : "",
      c.template_error ? el("div", { class: "bad" }, "template: " + c.template_error) : "",
      c.would_fail ? el("div", { class: "bad" }, "would fail: " + c.would_fail) : ""))),
    unmatched.length ? el("h4", {}, "Not fired") : "",
    el("ul", {}, unmatched.map((c) => el("li", {}, el("code", {}, c.trigger), ": " + c.why))),
    el("details", {}, el("summary", {}, "Whole report"), el("pre", { class: "json" }, pretty(report))));
  out.hidden = false;
}

// ---- commands ----

async function loadCommands() {
  const hook = detail.hook;
  const answer = await call("commands", { webhook_id: hook.id });
  const commands = Array.isArray(answer) ? answer : (answer.commands || []);
  detail.commands = commands;
  const body = $("commands-table").tBodies[0];
  body.replaceChildren();
  for (const command of commands) body.append(commandRow(command));
  $("commands-empty").hidden = commands.length > 0;
}

function commandRow(command) {
  const toggle = el("input", {
    type: "checkbox",
    checked: command.enabled,
    onchange: async (e) => {
      const box = e.currentTarget;
      const done = await guarded(() => call("updateCommand",
        { webhook_id: command.webhook_id, command_id: command.id },
        { body: { enabled: box.checked } }));
      if (done === undefined) box.checked = !box.checked;
      else await guarded(loadCommands);
    },
  });
  const action = command.agent ? `${command.action} (${command.agent})` : command.action;
  const target = command.target && command.target.url ? ` → ${command.target.url}` : "";
  return el("tr", { title: command.id },
    el("td", { class: "num" }, String(command.priority)),
    el("td", {}, el("code", {}, command.trigger),
      command.schedule ? el("div", { class: "muted" },
        `${command.schedule} (${command.timezone || "UTC"})` + (command.next_run_at ? `, next ${when(command.next_run_at)}` : "")) : "",
      Object.keys(command.conditions || {}).length ? el("div", { class: "muted" }, "if " + JSON.stringify(command.conditions)) : "",
      command.stop ? el("div", { class: "muted" }, "stop") : ""),
    el("td", {}, action + target),
    el("td", {}, cut(command.template, 120)),
    el("td", {}, toggle),
    el("td", { class: "actions" },
      command.schedule ? button("Preview", () => tickNow(command, false), "small") : "",
      command.schedule && command.enabled ? button("Run now", () => tickNow(command, true), "small") : "",
      button("Edit", () => editCommand(command), "small"),
      button("Remove", () => removeCommand(command), "small danger")));
}

// A scheduled command's tick fired now: a preview of what it sends, or run for real.
async function tickNow(command, run) {
  if (run && !confirm(`Run ${command.id} now, as its next tick would (${command.action})? Its next tick still fires on time.`)) return;
  await guarded(async () => {
    const body = { command_id: command.id };
    if (run) body.run_actions = true;
    const report = await call("testWebhook", { webhook_id: command.webhook_id }, { body });
    showForm($("wd-test-form"), true);
    showTestReport($("wd-test-result"), report);
    await loadWebhookEvents();
  });
}

function commandFieldsFor(form) {
  const action = form.elements.action.value;
  const agent = action === "create_task" || action === "ask";
  // A create_task's target is optional: the channel its task's result is posted to.
  const channel = action === "post_message" || action === "create_task";
  const target = action === "forward" || channel;
  form.querySelector('[data-for="agent"]').hidden = !agent;
  form.querySelector('[data-for="target"]').hidden = !target;
  form.querySelector('[data-for="target-secret"]').hidden = action !== "forward";
  form.querySelector('[data-for="target-kind"]').hidden = !channel;
  form.querySelector('[data-for="target-headers"]').hidden = action !== "forward";
  const scheduled = form.elements.trigger.value.trim() === "schedule";
  form.querySelector('[data-for="schedule"]').hidden = !scheduled;
  form.querySelector('[data-for="timezone"]').hidden = !scheduled;
}

function editCommand(command) {
  const form = $("command-form");
  form.reset();
  detail.editing = command || null;
  $("command-form-title").textContent = command ? `Edit command ${command.id}` : "Add command";
  if (command) {
    const f = form.elements;
    f.trigger.value = command.trigger;
    f.action.value = command.action;
    f.agent.value = command.agent || "";
    f.template.value = command.template || "";
    f.conditions.value = Object.keys(command.conditions || {}).length ? pretty(command.conditions) : "";
    const target = command.target || {};
    f.target_url.value = target.url || "";
    f.target_secret.value = "";
    f.target_secret.placeholder = target.secret ? "kept unless you type a new one" : "forward: optional signing secret";
    f.target_kind.value = target.kind || "";
    f.target_headers.value = target.headers ? pretty(target.headers) : "";
    f.schedule.value = command.schedule || "";
    f.timezone.value = command.timezone || "";
    f.priority.value = command.priority;
    f.stop.checked = command.stop;
    f.enabled.checked = command.enabled;
  }
  commandFieldsFor(form);
  showForm(form, true);
}

// The command as the form says it; for an edit, only what differs from `before`.
function commandBody(form, before) {
  const f = form.elements;
  const action = f.action.value;
  const all = {
    trigger: f.trigger.value.trim(),
    action,
    agent: f.agent.value.trim(),
    template: f.template.value,
    conditions: parseJsonField(form, "conditions", "Conditions") || {},
    priority: f.priority.value.trim() === "" ? 0 : Number(f.priority.value),
    stop: f.stop.checked,
    enabled: f.enabled.checked,
  };
  if (action !== "create_task" && action !== "ask") all.agent = "";
  const scheduled = all.trigger === "schedule";
  const schedule = f.schedule.value.trim();
  const timezone = f.timezone.value.trim();
  const old = (before && before.target) || {};
  let target;
  let headersChanged = false;
  const channel = action === "post_message" || action === "create_task";
  if (action === "forward" || channel) {
    const url = f.target_url.value.trim();
    if (url) {
      target = { url };
      if (action === "forward" && f.target_secret.value) target.secret = f.target_secret.value;
      // Shown masked, and a masked value sent back for the same URL keeps the stored one.
      else if (action === "forward" && old.secret && url === old.url) target.secret = old.secret;
      if (channel && f.target_kind.value.trim()) target.kind = f.target_kind.value.trim();
      const headersText = f.target_headers.value.trim();
      if (action === "forward" && headersText) {
        target.headers = parseJsonField(form, "target_headers", "Target headers");
      }
      headersChanged = action === "forward" && headersText !== (old.headers ? pretty(old.headers).trim() : "");
    }
  }
  if (!before) {
    const body = { trigger: all.trigger, action, priority: all.priority, stop: all.stop, enabled: all.enabled };
    if (scheduled && schedule) body.schedule = schedule;
    if (scheduled && timezone) body.timezone = timezone;
    if (all.agent) body.agent = all.agent;
    if (all.template) body.template = all.template;
    if (Object.keys(all.conditions).length) body.conditions = all.conditions;
    if (target) body.target = target;
    return body;
  }
  const body = {};
  for (const k of ["trigger", "action", "priority", "stop", "enabled"]) {
    if (all[k] !== before[k]) body[k] = all[k];
  }
  if (all.agent !== (before.agent || "")) body.agent = all.agent;
  if (all.template !== (before.template || "")) body.template = all.template;
  if (JSON.stringify(all.conditions) !== JSON.stringify(before.conditions || {})) body.conditions = all.conditions;
  if (scheduled && schedule !== (before.schedule || "")) body.schedule = schedule;
  if (scheduled && timezone !== (before.timezone || "")) body.timezone = timezone;
  const secretTyped = Boolean(f.target_secret.value);
  if (target && (target.url !== old.url || secretTyped || headersChanged
      || (target.kind || "") !== (old.kind || "") || body.action)) {
    // Headers emptied by hand are removed; left out, the server keeps them for the same URL.
    if (headersChanged && !target.headers) target.headers = {};
    body.target = target;
  }
  // A create_task's channel cleared: its results go where its agent sends them again.
  if (!target && action === "create_task" && old.url) body.target = {};
  return body;
}

async function saveCommand(form) {
  await guarded(async () => {
    const hook = detail.hook;
    const before = detail.editing;
    const body = commandBody(form, before);
    let saved;
    if (before) {
      if (!Object.keys(body).length) {
        form.hidden = true;
        return;
      }
      saved = await call("updateCommand", { webhook_id: hook.id, command_id: before.id }, { body });
    } else {
      saved = await call("addCommand", { webhook_id: hook.id }, { body });
    }
    form.hidden = true;
    detail.editing = null;
    notify(`Command ${saved.id} saved` + ((saved.warnings || []).length ? ": " + saved.warnings.join(" ") : ""),
      (saved.warnings || []).length ? "warn" : "ok");
    await loadCommands();
    await refreshWebhook();
  });
}

async function removeCommand(command) {
  if (!confirm(`Remove command ${command.id} (${command.trigger} → ${command.action})? Actions and tasks it queued already still go.`)) return;
  await guarded(async () => {
    await call("removeCommand", { webhook_id: command.webhook_id, command_id: command.id });
    await loadCommands();
    await refreshWebhook();
  });
}

async function refreshWebhook() {
  if (!detail.hook) return;
  showWebhook(await call("webhook", { webhook_id: detail.hook.id }));
  await loadWebhooks();
}

async function loadWebhookEvents() {
  const hook = detail.hook;
  const page = await call("events", {}, { query: { webhook_id: hook.id, limit: 10 } });
  const body = $("wd-events-table").tBodies[0];
  body.replaceChildren();
  for (const event of page.events) {
    body.append(el("tr", { class: "clickable", onclick: () => showEventFromAnywhere(event.id) },
      el("td", {}, when(event.received_at)),
      el("td", {}, event.event_type || ""),
      el("td", {}, aboutOf(event)),
      el("td", {}, statusBadge(event.status)),
      el("td", { class: "num" }, String(matchedCount(event))),
      el("td", {}, el("code", {}, event.id))));
  }
  $("wd-events-empty").hidden = page.events.length > 0;
}

// ---- events ----

const eventsState = { cursor: null, filter: {} };

function statusBadge(status) {
  return el("span", { class: "status s-" + String(status).replace(/[^a-z_]/g, "") }, status);
}

// What an event is about: its thread (repo#issue, Jira key, channel) and its title, when the
// server read one (a verified delivery's issue or alert title, a message's first line).
function aboutOf(event) {
  const key = event.source && typeof event.source.key === "string" ? event.source.key : "";
  return [key, event.title || ""].filter(Boolean).join(" — ");
}

function matchedCount(event) {
  const m = event.matched_commands;
  return Array.isArray(m) ? m.length : 0;
}

async function loadEvents(more = false) {
  await guarded(async () => {
    const page = await call("events", {}, {
      query: { ...eventsState.filter, limit: PAGE_SIZE, cursor: more ? eventsState.cursor : undefined },
    });
    const body = $("events-table").tBodies[0];
    if (!more) body.replaceChildren();
    for (const event of page.events) {
      body.append(el("tr", { class: "clickable", onclick: () => showEvent(event.id) },
        el("td", {}, when(event.received_at)),
        el("td", {}, el("code", {}, event.webhook_id)),
        el("td", {}, event.provider),
        el("td", {}, event.event_type || ""),
        el("td", {}, aboutOf(event)),
        el("td", {}, statusBadge(event.status)),
        el("td", { class: "num" }, String(matchedCount(event))),
        el("td", {}, el("code", {}, event.id))));
    }
    eventsState.cursor = page.next_cursor;
    $("events-more").hidden = !page.next_cursor;
    $("events-empty").hidden = body.rows.length > 0;
  });
}

function filterEvents(form) {
  const filter = {};
  for (const name of ["webhook_id", "provider", "event_type", "status"]) {
    const v = form.elements[name].value.trim();
    if (v) filter[name] = v;
  }
  eventsState.filter = filter;
  $("event-detail").hidden = true;
  loadEvents();
}

async function showEventFromAnywhere(id) {
  location.hash = "events";
  await showEvent(id);
}

async function showEvent(id) {
  await guarded(async () => {
    const event = await call("event", { event_id: id });
    $("ed-title").textContent = `${event.event_type || "event"} — ${event.id}`;
    $("ed-replay-result").hidden = true;
    facts($("ed-facts"), [
      ["Status", statusBadge(event.status)],
      ["Webhook", button(event.webhook_id, () => openWebhookFromAnywhere(event.webhook_id), "link")],
      ["Provider", event.provider],
      ["Received", when(event.received_at)],
      ["Delivery id", event.delivery_id],
      ["Verification", `${event.verified ? "verified" : "not verified"}: ${event.verification}`],
      ["Source", event.source ? JSON.stringify(event.source) : ""],
      ["From", event.remote_addr],
      ["Content type", event.content_type],
      ["Body size", `${event.body_size} bytes`],
      ["Body cut", event.body_truncated ? JSON.stringify(event.body_truncated) : event.body_cut],
      ["Answered tasks", (event.answered_tasks || []).join(", ")],
    ]);
    $("ed-matched").textContent = pretty(event.matched_commands);
    const actions = $("ed-actions").tBodies[0];
    actions.replaceChildren();
    for (const action of event.actions || []) {
      const retry = ["dead", "cancelled", "retrying", "pending"].includes(action.status)
        ? button("Retry now", () => retryAction(action.id, event.id), "small") : "";
      actions.append(el("tr", { title: pretty(action.attempt_log) },
        el("td", {}, el("code", {}, action.id)),
        el("td", {}, `${action.action} → ${action.target}`),
        el("td", {}, statusBadge(action.status)),
        el("td", { class: "num" }, String(action.attempts)),
        el("td", {}, cut(action.last_error, 200)),
        el("td", {}, retry)));
    }
    if (!(event.actions || []).length) actions.append(el("tr", {}, el("td", { colSpan: 6, class: "muted" }, "none")));
    const tasks = $("ed-tasks").tBodies[0];
    tasks.replaceChildren();
    for (const task of event.tasks || []) {
      tasks.append(el("tr", {},
        el("td", {}, el("code", {}, task.id)),
        el("td", {}, task.agent),
        el("td", {}, statusBadge(task.status)),
        el("td", {}, button("Open", () => showTaskFromAnywhere(task.id), "small"))));
    }
    if (!(event.tasks || []).length) tasks.append(el("tr", {}, el("td", { colSpan: 4, class: "muted" }, "none")));
    $("ed-headers").textContent = pretty(event.headers);
    $("ed-payload").textContent = event.payload !== null && event.payload !== undefined
      ? pretty(event.payload) : (event.body_text || "");
    $("ed-replay").onclick = () => replayEvent(event.id);
    $("event-detail").hidden = false;
    $("event-detail").scrollIntoView({ block: "start" });
  });
}

async function replayEvent(id) {
  if (!confirm(`Replay ${id} through the webhook's current commands? Delivered actions are not repeated.`)) return;
  await guarded(async () => {
    const report = await call("replayEvent", { event_id: id });
    await showEvent(id);
    const out = $("ed-replay-result");
    out.textContent = "Replayed:\n" + pretty(report);
    out.hidden = false;
  });
}

async function retryAction(actionId, eventId) {
  await guarded(async () => {
    await call("retryAction", { action_id: actionId });
    notify(`Action ${actionId} queued again`, "ok");
    await showEvent(eventId);
  });
}

// ---- tasks ----

const tasksState = { cursor: null, filter: {} };

async function loadTasks(more = false) {
  await guarded(async () => {
    const page = await call("tasks", {}, {
      query: { ...tasksState.filter, limit: PAGE_SIZE, cursor: more ? tasksState.cursor : undefined },
    });
    const body = $("tasks-table").tBodies[0];
    if (!more) body.replaceChildren();
    for (const task of page.tasks) {
      body.append(el("tr", { class: "clickable", title: task.prompt, onclick: () => showTask(task.id) },
        el("td", {}, when(task.created_at)),
        el("td", {}, task.agent),
        el("td", {}, statusBadge(task.status)),
        el("td", {}, el("code", {}, task.webhook_id || "")),
        el("td", {}, el("code", {}, task.event_id || "")),
        el("td", {}, el("code", {}, task.id))));
    }
    tasksState.cursor = page.next_cursor;
    $("tasks-more").hidden = !page.next_cursor;
    $("tasks-empty").hidden = body.rows.length > 0;
  });
}

async function showTaskFromAnywhere(id) {
  location.hash = "tasks";
  await showTask(id);
}

async function showTask(id) {
  await guarded(async () => {
    const task = await call("task", { task_id: id });
    $("td-title").textContent = `${task.agent}: ${task.status} — ${task.id}`;
    $("td-body").textContent = pretty(task);
    $("td-cancel").hidden = ["done", "failed", "cancelled"].includes(task.status);
    $("td-cancel").onclick = () => cancelTask(task.id);
    $("task-detail").hidden = false;
    $("task-detail").scrollIntoView({ block: "start" });
  });
}

async function cancelTask(id) {
  if (!confirm(`Cancel task ${id}?`)) return;
  await guarded(async () => {
    await call("cancelTask", { task_id: id });
    await showTask(id);
    await loadTasks();
  });
}

// ---- API keys ----

// Admin keys only: with a read key the tab says what the server answered, rather than an
// empty list.
async function loadKeys() {
  const body = $("keys-table").tBodies[0];
  let answer;
  try {
    answer = await call("keys");
  } catch (e) {
    body.replaceChildren();
    for (const id of ["keys-empty", "keys-environment", "key-new", "key-create"]) $(id).hidden = true;
    const refused = $("keys-refused");
    refused.textContent = "API keys are listed and made with an admin key only. The server said: "
      + (e.status ? `${e.status}: ` : "") + e.message;
    refused.hidden = false;
    // A key revoked meanwhile (this page's own) is refused everywhere: say so as a new key would.
    if (e.status === 401) await checkKey();
    else fail(e);
    return;
  }
  $("keys-refused").hidden = true;
  $("key-new").hidden = false;
  body.replaceChildren();
  for (const key of answer.keys) body.append(keyRow(key));
  $("keys-empty").hidden = answer.keys.length > 0;
  // The configured key is an admin key too, but lives in the environment, not in the list.
  $("keys-environment").hidden = !answer.environment_key;
}

function keyRow(key) {
  const revoked = Boolean(key.revoked_at);
  return el("tr", { class: revoked ? "muted" : undefined },
    el("td", {}, key.name),
    el("td", {}, el("span", { class: "status s-" + (key.scope === "admin" ? "admin" : "read") }, key.scope)),
    el("td", {}, el("code", {}, key.id)),
    el("td", {}, `${when(key.created_at)}${key.created_by ? " by " + key.created_by : ""}`),
    el("td", {}, key.last_used_at ? when(key.last_used_at) : "never"),
    el("td", {}, revoked
      ? el("span", { class: "bad" }, "revoked " + when(key.revoked_at))
      : el("span", { class: "good" }, "active")),
    el("td", { class: "actions" }, revoked ? "" : button("Revoke", () => revokeKey(key), "small danger")));
}

async function createKey(form) {
  await guarded(async () => {
    const body = { name: form.elements.name.value.trim(), scope: form.elements.scope.value };
    const created = await call("createKey", {}, { body });
    form.reset();
    form.hidden = true;
    showSecretOnce(`API key "${created.name}" (${created.scope}, ${created.id}): send it as `
      + "Authorization: Bearer <key>. The server keeps only its hash: it cannot show it again.",
      { secret: created.key }, "Copy key");
    await loadKeys();
  });
}

async function revokeKey(key) {
  if (!confirm(`Revoke API key "${key.name}" (${key.scope}, ${key.id})? Whatever uses it is refused from then on, this page too if it is the key pasted here. It cannot be undone.`)) return;
  const done = await guarded(async () => {
    await call("revokeKey", { key_id: key.id });
    return true;
  });
  if (done) notify(`Revoked ${key.name} (${key.id})`, "ok");
  await loadKeys();
}

// ---- audit log ----

const auditState = { cursor: null, filter: {} };

async function loadAudit(more = false) {
  await guarded(async () => {
    const page = await call("audit", {}, {
      query: { ...auditState.filter, limit: PAGE_SIZE, cursor: more ? auditState.cursor : undefined },
    });
    const body = $("audit-table").tBodies[0];
    if (!more) body.replaceChildren();
    for (const entry of page.entries) {
      body.append(el("tr", { class: "clickable", onclick: () => showAudit(entry) },
        el("td", { class: "nowrap" }, when(entry.at)),
        el("td", {}, whoOf(entry)),
        el("td", {}, el("code", {}, entry.action)),
        el("td", {}, el("code", { class: "wrap" }, entry.target || "")),
        el("td", {}, outcomeOf(entry))));
    }
    auditState.cursor = page.next_cursor;
    $("audit-more").hidden = !page.next_cursor;
    $("audit-empty").hidden = body.rows.length > 0;
  });
}

// The key's name, and the Open WebUI user it was used for when the request named one.
function whoOf(entry) {
  const user = entry.user;
  if (!user) return entry.actor;
  const person = user.name || user.email || user.id;
  return `${entry.actor} for ${person}${user.verified ? "" : " (unverified)"}`;
}

// `ok`, `error: why`, `pending` (or none, on old entries), with the HTTP status of a REST call.
function outcomeOf(entry) {
  const outcome = entry.outcome;
  const http = entry.status ? `HTTP ${entry.status}` : "";
  if (!outcome) return el("span", { class: "muted" }, http);
  if (outcome === "ok") return el("span", { class: "good" }, http ? `ok (${http})` : "ok");
  if (outcome.startsWith("error")) {
    const text = http && !outcome.includes(http) ? `${outcome} (${http})` : outcome;
    return el("span", { class: "bad", title: text }, cut(text, 160));
  }
  return el("span", { class: "muted" }, http ? `${outcome} (${http})` : outcome);
}

function showAudit(entry) {
  const user = entry.user;
  $("ad-title").textContent = `${entry.action} — #${entry.id}`;
  facts($("ad-facts"), [
    ["When", when(entry.at)],
    ["Key", entry.actor],
    ["Open WebUI user", user
      ? [user.name, user.email, "id " + user.id, user.role].filter(Boolean).join(", ")
        + (user.verified ? " (signed by Open WebUI)" : " (unverified: as the request's headers said)")
      : ""],
    ["Chat", entry.chat_id],
    ["Message", entry.message_id],
    ["What", el("code", {}, entry.action)],
    ["Target", entry.target ? el("code", { class: "wrap" }, entry.target) : ""],
    ["Outcome", outcomeOf(entry)],
  ]);
  $("ad-detail").textContent = entry.detail === null || entry.detail === undefined ? "none" : pretty(entry.detail);
  $("audit-detail").hidden = false;
  $("audit-detail").scrollIntoView({ block: "nearest" });
}

function filterAudit(form) {
  const filter = {};
  for (const name of ["actor", "user", "chat"]) {
    const v = form.elements[name].value.trim();
    if (v) filter[name] = v;
  }
  auditState.filter = filter;
  $("audit-detail").hidden = true;
  loadAudit();
}

// ---- wiring ----

function onSubmit(id, handler) {
  $(id).addEventListener("submit", (e) => {
    e.preventDefault();
    handler(e.currentTarget);
  });
}

function wire() {
  onSubmit("key-form", () => useKey($("key-input").value.trim()));
  $("key-forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORE);
    $("key-status").textContent = "forgotten";
    closeViews();
    for (const id of ["webhooks-table", "events-table", "tasks-table", "keys-table", "audit-table"]) $(id).tBodies[0].replaceChildren();
    for (const id of ["keys-environment", "keys-refused"]) $(id).hidden = true;
    $("no-key").hidden = false;
  });
  $("notice-close").addEventListener("click", () => ($("notice").hidden = true));
  for (const b of document.querySelectorAll("nav .tab")) {
    b.addEventListener("click", () => (location.hash = b.dataset.tab));
  }
  window.addEventListener("hashchange", () => showTab(currentTab()));
  for (const cancel of document.querySelectorAll("[data-cancel]")) {
    cancel.addEventListener("click", () => (cancel.closest("form").hidden = true));
  }

  $("webhooks-reload").addEventListener("click", () => loadWebhooks());
  $("webhooks-more").addEventListener("click", () => loadWebhooks(true));
  $("webhook-new").addEventListener("click", () => showForm($("webhook-create"), true));
  onSubmit("webhook-create", createWebhook);
  $("secret-once-copy").addEventListener("click", (e) => copy($("secret-once-value").textContent, e.currentTarget));
  $("secret-once-url-copy").addEventListener("click", (e) => copy($("secret-once-url").textContent, e.currentTarget));
  $("secret-once-close").addEventListener("click", () => {
    $("secret-once-value").textContent = "";
    $("secret-once-url").textContent = "";
    $("secret-once").hidden = true;
  });

  $("wd-close").addEventListener("click", closeWebhook);
  $("wd-toggle").addEventListener("click", () => setEnabled(detail.hook.id, !detail.hook.enabled).then(() => loadWebhooks()));
  $("wd-edit").addEventListener("click", () => {
    const form = $("wd-edit-form");
    form.elements.name.value = detail.hook.name;
    form.elements.options.value = pretty(detail.hook.options || {});
    showForm(form, true);
  });
  onSubmit("wd-edit-form", saveWebhookEdit);
  $("wd-rotate").addEventListener("click", () => showForm($("wd-rotate-form"), true));
  onSubmit("wd-rotate-form", rotateSecret);
  $("wd-test").addEventListener("click", runTest);
  onSubmit("wd-test-form", testWebhook);
  $("wd-events").addEventListener("click", () => {
    const form = $("events-filter");
    form.reset();
    form.elements.webhook_id.value = detail.hook.id;
    eventsState.filter = { webhook_id: detail.hook.id };
    location.hash = "events";
  });
  $("wd-delete").addEventListener("click", () => deleteWebhook(detail.hook));
  $("command-new").addEventListener("click", () => editCommand(null));
  $("command-form").elements.action.addEventListener("change", () => commandFieldsFor($("command-form")));
  $("command-form").elements.trigger.addEventListener("input", () => commandFieldsFor($("command-form")));
  onSubmit("command-form", saveCommand);

  onSubmit("events-filter", filterEvents);
  $("events-clear").addEventListener("click", () => {
    $("events-filter").reset();
    filterEvents($("events-filter"));
  });
  $("events-more").addEventListener("click", () => loadEvents(true));
  $("ed-close").addEventListener("click", () => ($("event-detail").hidden = true));

  onSubmit("tasks-filter", (form) => {
    const filter = {};
    for (const name of ["status", "agent", "webhook_id"]) {
      const v = form.elements[name].value.trim();
      if (v) filter[name] = v;
    }
    tasksState.filter = filter;
    $("task-detail").hidden = true;
    loadTasks();
  });
  $("tasks-more").addEventListener("click", () => loadTasks(true));
  $("td-close").addEventListener("click", () => ($("task-detail").hidden = true));

  $("keys-reload").addEventListener("click", () => loadKeys());
  $("key-new").addEventListener("click", () => showForm($("key-create"), true));
  onSubmit("key-create", createKey);

  onSubmit("audit-filter", filterAudit);
  $("audit-clear").addEventListener("click", () => {
    $("audit-filter").reset();
    filterAudit($("audit-filter"));
  });
  $("audit-more").addEventListener("click", () => loadAudit(true));
  $("ad-close").addEventListener("click", () => ($("audit-detail").hidden = true));
}

document.addEventListener("DOMContentLoaded", () => {
  wire();
  checkKey();
});
