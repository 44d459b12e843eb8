/**
 * `deno task ctl`: the operator's command line for a running cluster, like
 * `etcdctl`. It talks to one node's admin API (followers forward writes to
 * the leader themselves) with the admin credential, prints tables for people
 * and JSON with `--json` for scripts, and exits 0, 1 (the node refused or
 * could not be reached, one line on stderr) or 2 (bad usage).
 *
 * The credential is `--token`, else `SAFLA_ADMIN_TOKEN`, else `--token-file`,
 * else the first `<data>/<node>/admin-token` under `--data` (default
 * `./data`, where `deno task serve` keeps its nodes).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { AdminApiError, AdminClient } from "./admin_client.ts";
import { table } from "./table.ts";

export const USAGE =
  `usage: deno task ctl [--endpoint URL] [--token T | --token-file F | --data DIR] [--json] COMMAND
  status                                   the node's view: role, leader, term, indexes, members
  members list                             voters and learners with their addresses and links
  members add ID --peer HOST:PORT --url URL [--learner] [--wait-ms N]
                                           add a member (a learner, promoted once caught up)
  members promote ID [--wait-ms N]         make a caught-up learner a voter
  members remove ID                        remove a member
  services list                            services this node fronts, with replica health
  services show NAME                       one service's replicas: state, breaker, latency
  sessions                                 open 2025 sessions on this node
  kv get KEY | put KEY VALUE | del KEY [--prefix] | list PREFIX [--limit N]
  kv watch PREFIX [--from REV] [--count N] changes as they are committed (Ctrl-C to stop)`;

/** Bad usage: exit code 2 with the usage text. */
class UsageError extends Error {}

/** Where the CLI writes (tests capture it). */
export interface CtlIo {
  out(line: string): void;
  err(line: string): void;
}

const STDIO: CtlIo = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
};

/** Runs one command; returns the exit code. */
export async function runCtl(args: string[], io: CtlIo = STDIO): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        endpoint: {
          type: "string",
          default: Deno.env.get("SAFLA_ENDPOINT") ?? "http://127.0.0.1:8080",
        },
        token: { type: "string" },
        "token-file": { type: "string" },
        data: { type: "string", default: "./data" },
        json: { type: "boolean", default: false },
        peer: { type: "string" },
        url: { type: "string" },
        learner: { type: "boolean", default: false },
        "wait-ms": { type: "string" },
        prefix: { type: "boolean", default: false },
        limit: { type: "string" },
        from: { type: "string" },
        count: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    io.err(`${error instanceof Error ? error.message : error}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length === 0) {
    (values.help ? io.out : io.err)(USAGE);
    return values.help ? 0 : 2;
  }
  try {
    const token = await adminToken(values);
    const client = new AdminClient(values.endpoint, token);
    const print = (human: () => void, json: unknown) =>
      values.json ? io.out(JSON.stringify(json, null, 2)) : human();
    await dispatch(client, positionals, values, io, print);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${error.message}\n${USAGE}`);
      return 2;
    }
    if (error instanceof AdminApiError) {
      io.err(`error: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

type Values = Record<string, string | boolean | undefined>;
type Print = (human: () => void, json: unknown) => void;

async function adminToken(values: Values): Promise<string | undefined> {
  if (typeof values.token === "string") return values.token;
  const fromEnv = Deno.env.get("SAFLA_ADMIN_TOKEN");
  if (fromEnv) return fromEnv;
  if (typeof values["token-file"] === "string") {
    try {
      return (await Deno.readTextFile(values["token-file"])).trim();
    } catch (error) {
      throw new AdminApiError(0, `cannot read the token file: ${(error as Error).message}`);
    }
  }
  try {
    for await (const entry of Deno.readDir(String(values.data))) {
      if (!entry.isDirectory) continue;
      try {
        return (await Deno.readTextFile(`${values.data}/${entry.name}/admin-token`)).trim();
      } catch { /* not a node's directory */ }
    }
  } catch { /* no data dir here: the node will say the token is missing */ }
  return undefined;
}

function need(value: string | undefined, what: string): string {
  if (value === undefined || value === "") throw new UsageError(`missing ${what}`);
  return value;
}

function positiveInt(values: Values, flag: string): number | undefined {
  const raw = values[flag];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--${flag}: expected an integer`);
  return n;
}

const kvPath = (key: string) => `/admin/kv/${encodeURIComponent(key)}`;

async function dispatch(
  client: AdminClient,
  [command, sub, ...rest]: string[],
  values: Values,
  io: CtlIo,
  print: Print,
): Promise<void> {
  switch (command) {
    case "status":
      return showStatus(await client.get("/admin/status"), io, print);
    case "members":
      return await members(client, sub, rest, values, io, print);
    case "services":
      return await services(client, sub, rest, io, print);
    case "sessions": {
      const health = await client.get("/healthz");
      return print(
        () => io.out(`${health.sessions} open, ${health.listening} holding a stream`),
        { sessions: health.sessions, listening: health.listening },
      );
    }
    case "kv":
      return await kv(client, sub, rest, values, io, print);
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

interface Status {
  id: string;
  role: string;
  leader: string | null;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  members: { voters: string[]; learners: string[] };
  addresses: Record<string, { peer: string; url: string }>;
  peers: Record<string, { connected: boolean; queued: number }>;
}

function showStatus(raw: Record<string, unknown>, io: CtlIo, print: Print): void {
  const s = raw as unknown as Status;
  print(() => {
    io.out(table([
      ["NODE", "ROLE", "LEADER", "TERM", "COMMIT", "APPLIED", "LAST", "VOTERS", "LEARNERS"],
      [
        s.id,
        s.role,
        s.leader ?? "-",
        s.term,
        s.commitIndex,
        s.appliedIndex,
        s.lastIndex,
        s.members.voters.join(","),
        s.members.learners.join(",") || "-",
      ],
    ]));
  }, raw);
}

async function members(
  client: AdminClient,
  sub: string | undefined,
  [id]: string[],
  values: Values,
  io: CtlIo,
  print: Print,
): Promise<void> {
  const wait = positiveInt(values, "wait-ms");
  const reportChange = (status: number, body: Record<string, unknown>) =>
    print(
      () =>
        io.out(
          status === 200
            ? `${id} is a voter`
            : `${id} stays a learner: ${body.reason ?? "not caught up"}`,
        ),
      body,
    );
  switch (sub) {
    case "list": {
      const s = await client.get("/admin/status") as unknown as Status;
      const rows = [
        ...s.members.voters.map((m) => [m, "voter"]),
        ...s.members.learners.map((m) => [m, "learner"]),
      ]
        .map(([m, kind]) => [
          m,
          kind,
          s.addresses[m]?.peer ?? "-",
          s.addresses[m]?.url ?? "-",
          m === s.id ? "self" : s.peers[m]?.connected ? "up" : "down",
          m === s.leader ? "yes" : "",
        ]);
      return print(
        () => io.out(table([["ID", "KIND", "PEER", "URL", "LINK", "LEADER"], ...rows])),
        { members: s.members, addresses: s.addresses, leader: s.leader },
      );
    }
    case "add": {
      const body: Record<string, unknown> = {
        id: need(id, "member id"),
        peer: need(values.peer as string | undefined, "--peer HOST:PORT"),
        url: need(values.url as string | undefined, "--url URL"),
      };
      if (values.learner) body.learner = true;
      if (wait !== undefined) body.catchUpTimeoutMs = wait;
      if (!values.learner && !values.json) io.err(`adding ${id}; waiting for it to catch up…`);
      const { status, body: reply } = await client.send("POST", "/admin/members", body);
      return reportChange(status, reply);
    }
    case "promote": {
      const body: Record<string, unknown> = wait === undefined ? {} : { catchUpTimeoutMs: wait };
      if (!values.json) io.err(`promoting ${need(id, "member id")}; waiting for it to catch up…`);
      const path = `/admin/members/${encodeURIComponent(id)}/promote`;
      const { status, body: reply } = await client.send("POST", path, body);
      return reportChange(status, reply);
    }
    case "remove": {
      const path = `/admin/members/${encodeURIComponent(need(id, "member id"))}`;
      const { body } = await client.send("DELETE", path);
      return print(() => io.out(`${id} removed`), body);
    }
    default:
      throw new UsageError(`members: expected list, add, promote or remove`);
  }
}

interface ServiceStatus {
  name: string;
  strategy: string;
  replicas: {
    id: string;
    state: string;
    era?: string;
    tools: number;
    restarts: number;
    routing?: { health?: string; breaker?: string; ejected?: boolean };
    stats?: { ewmaLatencyMs?: number; outstanding?: number; errorRate?: number };
  }[];
}

async function services(
  client: AdminClient,
  sub: string | undefined,
  [name]: string[],
  io: CtlIo,
  print: Print,
): Promise<void> {
  const registry = await client.get("/admin/registry");
  const list = (registry.status as { services?: ServiceStatus[] })?.services ?? [];
  switch (sub) {
    case "list":
      return print(
        () =>
          io.out(table([
            ["SERVICE", "STRATEGY", "REPLICAS", "READY", "TOOLS"],
            ...list.map((s) => [
              s.name,
              s.strategy,
              s.replicas.length,
              s.replicas.filter((r) => r.state === "ready").length,
              Math.max(0, ...s.replicas.map((r) => r.tools)),
            ]),
          ])),
        list.map((s) => ({ name: s.name, strategy: s.strategy, replicas: s.replicas.length })),
      );
    case "show": {
      const service = list.find((s) => s.name === need(name, "service name"));
      if (service === undefined) throw new AdminApiError(404, `no service ${name} on this node`);
      return print(() =>
        io.out(table([
          [
            "REPLICA",
            "STATE",
            "HEALTH",
            "BREAKER",
            "EJECTED",
            "ERA",
            "TOOLS",
            "RESTARTS",
            "EWMA MS",
            "IN FLIGHT",
          ],
          ...service.replicas.map((r) => [
            r.id,
            r.state,
            r.routing?.health ?? "-",
            r.routing?.breaker ?? "-",
            r.routing?.ejected ? "yes" : "no",
            r.era ?? "-",
            r.tools,
            r.restarts,
            r.stats?.ewmaLatencyMs === undefined ? "-" : r.stats.ewmaLatencyMs.toFixed(1),
            r.stats?.outstanding ?? 0,
          ]),
        ])), service);
    }
    default:
      throw new UsageError(`services: expected list or show`);
  }
}

async function kv(
  client: AdminClient,
  sub: string | undefined,
  [key, value]: string[],
  values: Values,
  io: CtlIo,
  print: Print,
): Promise<void> {
  switch (sub) {
    case "get": {
      const reply = await client.get(kvPath(need(key, "key")));
      const kv = reply.kv as { value: string } | null | undefined;
      if (!kv) throw new AdminApiError(404, `no key ${key}`);
      return print(() => io.out(kv.value), reply);
    }
    case "put": {
      const { body } = await client.send("PUT", kvPath(need(key, "key")), {
        value: need(value, "value"),
      });
      return print(() => io.out(`OK revision ${body.revision}`), body);
    }
    case "del": {
      const query = values.prefix ? "?prefix=true" : "";
      const { body } = await client.send("DELETE", `${kvPath(need(key, "key"))}${query}`);
      return print(() => io.out(`deleted ${body.deleted ?? 0}`), body);
    }
    case "list": {
      const limit = positiveInt(values, "limit");
      const query = new URLSearchParams({ prefix: key ?? "" });
      if (limit !== undefined) query.set("limit", String(limit));
      const reply = await client.get(`/admin/kv?${query}`);
      const kvs = (reply.kvs ?? []) as { key: string; value: string; modRevision: number }[];
      return print(() => {
        io.out(
          table([["KEY", "VALUE", "REVISION"], ...kvs.map((k) => [k.key, k.value, k.modRevision])]),
        );
        if (reply.more) io.out(`… more: --limit, or list from ${reply.next}`);
      }, reply);
    }
    case "watch": {
      const from = positiveInt(values, "from");
      const count = positiveInt(values, "count");
      const query = new URLSearchParams({ prefix: need(key, "prefix") });
      if (from !== undefined) query.set("startRevision", String(from));
      let seen = 0;
      await client.watch(`/admin/watch?${query}`, (message) => {
        if (message.event === "end") {
          io.err(`watch ended: ${JSON.stringify(message.data)}`);
          return false;
        }
        if (message.event !== "events") return true;
        for (
          const event of message.data.events as {
            type: string;
            kv: { key: string; value: string };
            revision: number;
          }[]
        ) {
          print(
            () =>
              io.out(
                `${event.revision} ${event.type.toUpperCase()} ${event.kv.key}${
                  event.type === "put" ? ` ${event.kv.value}` : ""
                }`,
              ),
            event,
          );
          seen++;
          if (count !== undefined && seen >= count) return false;
        }
        return true;
      });
      return;
    }
    default:
      throw new UsageError(`kv: expected get, put, del, list or watch`);
  }
}

if (import.meta.main) Deno.exit(await runCtl(Deno.args));
