// A stdio backend started through a wrapper that leaves a process behind (as
// `npx` leaves node, or a shell its background job): unregistering the service
// (closing its backend) and reconnecting after a crash end what the wrapper left.
import assert from "node:assert/strict";
import { McpBackend } from "./backend.ts";
import { groupMembers } from "./process_group.ts";
import { waitFor } from "../host/testing.ts";

const BACKEND_MAIN = new URL("../../server/testing/backend_main.ts", import.meta.url).pathname;

/** Whether a process runs (a zombie, which holds nothing but its pid, does not). */
function running(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(")") + 2));
  } catch {
    return false;
  }
}

/** Each start appends the pid of the process it leaves behind to `pidFile`. */
function leavingBackend(pidFile: string): McpBackend {
  return new McpBackend({
    label: "wrapped#0",
    spec: {
      kind: "stdio",
      command: "sh",
      args: [
        "-c",
        `sleep 300 & echo $! >> '${pidFile}'; exec '${Deno.execPath()}' run -A '${BACKEND_MAIN}'`,
      ],
    },
    requestTimeoutMs: 10_000,
    connectTimeoutMs: 30_000,
    initialBackoffMs: 50,
    maxBackoffMs: 400,
    eraCache: new Map(),
  });
}

async function leftBehind(pidFile: string): Promise<number[]> {
  return (await Deno.readTextFile(pidFile)).trim().split("\n").filter((l) => l !== "").map(Number);
}

Deno.test({
  name: "a wrapped stdio backend leaves nothing running after close or a reconnect",
  ignore: Deno.build.os !== "linux",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const pidFile = await Deno.makeTempFile();
    const backend = leavingBackend(pidFile);
    try {
      await t.step("a crashed child's leftovers end before the reconnect replaces it", async () => {
        await backend.start();
        assert.equal(backend.state, "ready");
        const [first] = await leftBehind(pidFile);
        assert.ok(running(first), "the wrapper left its process running");
        const child = backend.pid!;
        Deno.kill(child, "SIGKILL");
        await waitFor("a reconnect", async () => (await leftBehind(pidFile)).length === 2, 30_000);
        await waitFor("the crashed child's leftover to end", () => !running(first), 5_000);
        await waitFor("the new child", () => backend.state === "ready", 30_000);
        assert.ok(running((await leftBehind(pidFile))[1]));
      });

      await t.step("close (unregister, shutdown) ends the whole group", async () => {
        const pid = backend.pid!;
        await backend.close();
        const survivors = (await leftBehind(pidFile)).filter(running);
        assert.deepEqual(survivors, [], "processes the wrapper started outlived close()");
        assert.deepEqual(await groupMembers(pid), []);
      });
    } finally {
      await backend.close();
      for (const pid of await leftBehind(pidFile)) if (running(pid)) Deno.kill(pid, "SIGKILL");
      await Deno.remove(pidFile);
    }
  },
});
