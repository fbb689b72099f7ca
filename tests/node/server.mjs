// Shared by the Node checks: start the real binary on a free loopback port with a temp
// database, wait for /health, and stop it again.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const KEY = "node-check-key";

export function check(cond, what, detail) {
  if (!cond) throw new Error(`${what}${detail === undefined ? "" : `: ${JSON.stringify(detail)}`}`);
}

export async function freePort() {
  const server = createServer();
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

/// A temp folder for databases, removed by `cleanup`.
export function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), "webhook-mcp-node-"));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/// Starts `binary` serving on a free port with `database`; resolves once /health answers.
export async function startServer(binary, database, extraArgs = []) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(binary, ["--listen", `127.0.0.1:${port}`, "--database", database, ...extraArgs], {
    env: { ...process.env, WEBHOOK_MCP_API_KEY: KEY, RUST_LOG: "warn" },
    stdio: ["ignore", "inherit", "inherit"],
  });
  for (let i = 0; ; i++) {
    const up = await fetch(`${base}/health`).then((r) => r.ok, () => false);
    if (up) break;
    check(i < 100 && child.exitCode === null, `the server did not start (${binary})`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const stop = () =>
    new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once("exit", resolve);
      child.kill("SIGTERM");
    });
  return { base, stop };
}

/// Runs `main` and exits non-zero with its error.
export function runCheck(name, main) {
  main().then(
    () => console.log(`all ${name} checks passed`),
    (e) => {
      console.error(`FAILED: ${e.stack ?? e.message}`);
      process.exit(1);
    },
  );
}
