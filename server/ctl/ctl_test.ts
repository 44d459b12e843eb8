import assert from "node:assert/strict";
import { freePort, waitFor } from "@safla/transports/host/testing";
import { config, stdioReplicas } from "../testing/harness.ts";
import { startLoneNode } from "../cluster/testing/lone_node.ts";
import { type CtlIo, runCtl } from "./ctl.ts";
import { table } from "./table.ts";

function capture(): CtlIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, out: (l) => lines.push(l), err: (l) => errors.push(l) };
}

Deno.test("table pads every column but the last to its widest cell", () => {
  assert.equal(table([["A", "BB"], ["ccc", "d"]]), "A    BB\nccc  d");
});

Deno.test({
  name: "deno task ctl: status, members, services, sessions and kv against a real node",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const { node, dir, close } = await startLoneNode(
      "ctl-test",
      config({ svc: stdioReplicas("r1") }),
    );
    const ctl = async (...args: string[]) => {
      const io = capture();
      const code = await runCtl(["--endpoint", node.url, "--data", dir, ...args], io);
      return { code, out: io.lines.join("\n"), err: io.errors.join("\n") };
    };
    try {
      await waitFor("the backend", () => node.gateway!.gateway.healthy(), 20_000);

      await t.step("status finds the token in the data dir and shows the node", async () => {
        const r = await ctl("status");
        assert.equal(r.code, 0, r.err);
        assert.match(r.out, /^NODE\s+ROLE\s+LEADER\s+TERM/);
        assert.match(r.out, /\nn1\s+leader\s+n1\s+\d+/);
        const json = await ctl("--json", "status");
        assert.equal(JSON.parse(json.out).role, "leader");
      });

      await t.step("kv put, get, list, watch and del", async () => {
        assert.equal((await ctl("kv", "put", "/app/a", "one")).code, 0);
        assert.equal((await ctl("kv", "get", "/app/a")).out, "one");
        const list = await ctl("kv", "list", "/app/");
        assert.match(list.out, /\/app\/a\s+one\s+\d+/);
        const watching = ctl("kv", "watch", "/app/", "--count", "1");
        // The watch starts at the current revision: write until it has seen a change.
        let watched: { code: number; out: string; err: string } | undefined;
        void watching.then((r) => watched = r);
        for (let i = 0; i < 50 && watched === undefined; i++) {
          await ctl("kv", "put", "/app/b", `v${i}`);
          await new Promise((r) => setTimeout(r, 50));
        }
        const r = await watching;
        assert.equal(r.code, 0, r.err);
        assert.match(r.out, /^\d+ PUT \/app\/b v\d+$/);
        assert.equal((await ctl("kv", "del", "/app/", "--prefix")).out, "deleted 2");
        const gone = await ctl("kv", "get", "/app/a");
        assert.equal(gone.code, 1);
        assert.match(gone.err, /^error: 404/);
      });

      await t.step("services list and show read the node's registry", async () => {
        const list = await ctl("services", "list");
        assert.match(list.out, /\nsvc\s+\S+\s+1\s+1\s+\d+/, list.out);
        const show = await ctl("services", "show", "svc");
        assert.match(show.out, /svc#0\s+ready\s+/, show.out);
        assert.equal((await ctl("services", "show", "nope")).code, 1);
      });

      await t.step("sessions counts open 2025 sessions", async () => {
        assert.match((await ctl("sessions")).out, /^0 open, 0 holding a stream$/);
      });

      await t.step("a member that never shows up stays a learner and can be removed", async () => {
        const add = await ctl(
          "members",
          "add",
          "n9",
          "--peer",
          `127.0.0.1:${freePort()}`,
          "--url",
          `http://127.0.0.1:${freePort()}`,
          "--wait-ms",
          "300",
        );
        assert.equal(add.code, 0, add.err);
        assert.match(add.out, /^n9 stays a learner: /);
        assert.match((await ctl("members", "list")).out, /\nn9\s+learner\s+/);
        assert.equal((await ctl("members", "remove", "n9")).out, "n9 removed");
        assert.doesNotMatch((await ctl("members", "list")).out, /n9/);
      });

      await t.step(
        "bad usage exits 2; a wrong token or no node exits 1 with one line",
        async () => {
          assert.equal((await ctl("kv", "frobnicate")).code, 2);
          assert.equal((await ctl()).code, 2);
          const io = capture();
          assert.equal(await runCtl(["--endpoint", node.url, "--token", "wrong", "status"], io), 1);
          assert.match(io.errors[0], /^error: 401: /);
          const gone = capture();
          const closed = `http://127.0.0.1:${freePort()}`;
          assert.equal(await runCtl(["--endpoint", closed, "--token", "x", "status"], gone), 1);
          assert.match(gone.errors[0], /^error: cannot reach /);
        },
      );

      await t.step("deno task ctl runs as its own process", async () => {
        const output = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            new URL("./ctl.ts", import.meta.url).pathname,
            "--endpoint",
            node.url,
            "--data",
            dir,
            "status",
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
        assert.match(new TextDecoder().decode(output.stdout), /n1\s+leader/);
      });
    } finally {
      await close();
    }
  },
});
