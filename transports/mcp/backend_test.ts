// McpBackend against the test backend of server/testing: era detected once
// and cached, catalog after connect, supervision after a crash, no leaked
// child, and an unreachable HTTP server that backs off with a clear error.
import assert from "node:assert/strict";
import { type BackendState, McpBackend } from "./backend.ts";
import { type EraCache, eraKey } from "./era_cache.ts";
import { waitFor } from "../host/testing.ts";

const BACKEND_MAIN = new URL("../../server/testing/backend_main.ts", import.meta.url).pathname;

function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

/** Runs the test backend through a shell that appends a line to `log` on every start. */
function countedSpec(log: string): { kind: "stdio"; command: string; args: string[] } {
  return {
    kind: "stdio",
    command: "sh",
    args: ["-c", `echo start >> '${log}'; exec '${Deno.execPath()}' run -A '${BACKEND_MAIN}'`],
  };
}

async function starts(log: string): Promise<number> {
  return (await Deno.readTextFile(log)).trim().split("\n").length;
}

function stdioBackend(eraCache: EraCache, log: string, states: BackendState[] = []): McpBackend {
  return new McpBackend({
    label: "svc#0",
    spec: countedSpec(log),
    requestTimeoutMs: 10_000,
    connectTimeoutMs: 20_000,
    initialBackoffMs: 50,
    maxBackoffMs: 400,
    eraCache,
    hooks: { onStateChange: (_b, state) => void states.push(state) },
  });
}

Deno.test({
  name: "McpBackend over stdio",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const eraCache: EraCache = new Map();
    const states: BackendState[] = [];
    const log = await Deno.makeTempFile();
    const backend = stdioBackend(eraCache, log, states);
    const pids: number[] = [];
    try {
      await t.step("connects, discovers the catalog and caches the era", async () => {
        await backend.start();
        assert.equal(backend.state, "ready");
        assert.equal(backend.catalog?.era, "modern");
        assert.ok(backend.catalog!.tools.some((x) => x.name === "echo"));
        assert.ok(backend.catalog!.resourceTemplates.length > 0);
        assert.equal(eraCache.get(eraKey(countedSpec(log)))?.kind, "modern");
        // The era probe runs in place, on the one process.
        assert.equal(await starts(log), 1);
        pids.push(backend.pid!);
      });

      await t.step("a second connection uses the cached era instead of probing", async () => {
        // Both eras are served by the test backend; a cached "legacy" answer must be
        // taken as is (no probe), so the second connection comes up in the 2025 era.
        eraCache.set(eraKey(countedSpec(log)), { kind: "legacy" });
        const again = stdioBackend(eraCache, log);
        try {
          await again.start();
          assert.equal(again.state, "ready");
          assert.equal(again.catalog?.era, "legacy");
          assert.equal(await starts(log), 2);
          pids.push(again.pid!);
        } finally {
          await again.close();
        }
      });

      await t.step("requests forward progress with our own token", async () => {
        const progress: number[] = [];
        const result = await backend.request("tools/call", {
          name: "slow",
          arguments: { steps: 3, stepMs: 1 },
        }, { onprogress: (p) => progress.push(p.progress) });
        assert.deepEqual(progress, [1, 2, 3]);
        assert.match(JSON.stringify(result), /done after 3 steps/);
      });

      await t.step("a crashed child is restarted and its catalog re-discovered", async () => {
        const before = backend.pid!;
        Deno.kill(before, "SIGKILL");
        await waitFor("restart", () => backend.restarts >= 1 && backend.state === "ready", 15_000);
        assert.notEqual(backend.pid, before);
        assert.ok(backend.catalog!.tools.length > 0);
        assert.ok(states.includes("backoff"));
        pids.push(backend.pid!);
      });
    } finally {
      await backend.close();
      await Deno.remove(log);
    }
    for (const pid of pids) await waitFor(`child ${pid} to exit`, () => !alive(pid), 5_000);
    assert.equal(backend.state, "closed");
  },
});

Deno.test({
  name: "McpBackend: an unreachable HTTP server backs off with a clear error and never blocks",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    const backend = new McpBackend({
      label: "web#0",
      spec: {
        kind: "streamable-http",
        url: `http://127.0.0.1:${port}/mcp`,
        headers: { "x-k": "v" },
      },
      requestTimeoutMs: 1_000,
      connectTimeoutMs: 2_000,
      initialBackoffMs: 50,
      maxBackoffMs: 100,
      eraCache: new Map(),
    });
    try {
      await backend.start();
      assert.equal(backend.state, "backoff");
      assert.ok(backend.lastError !== undefined);
      await assert.rejects(
        backend.request("tools/list", {}),
        (e: Error) => e.name === "BackendUnavailableError" && /web#0/.test(e.message),
      );
      await waitFor("a retry", () => backend.restarts >= 2, 5_000);
    } finally {
      await backend.close();
    }
  },
});

Deno.test({
  name: "McpBackend: configured headers reach an HTTP server (upstream credentials)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const seen: (string | null)[] = [];
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
      seen.push(req.headers.get("authorization"));
      return new Response("no", { status: 503 });
    });
    const backend = new McpBackend({
      label: "auth#0",
      spec: {
        kind: "streamable-http",
        url: `http://127.0.0.1:${server.addr.port}/mcp`,
        headers: { authorization: "Bearer upstream-secret" },
      },
      requestTimeoutMs: 1_000,
      connectTimeoutMs: 2_000,
      initialBackoffMs: 1_000,
      maxBackoffMs: 1_000,
      eraCache: new Map(),
    });
    try {
      await backend.start();
      assert.equal(backend.state, "backoff");
      assert.ok(seen.length > 0);
      assert.ok(seen.every((h) => h === "Bearer upstream-secret"), JSON.stringify(seen));
    } finally {
      await backend.close();
      await server.shutdown();
    }
  },
});
