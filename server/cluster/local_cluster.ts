/**
 * A cluster of node processes on this machine: what `deno task serve`
 * starts, and what the nemesis tests and the failover bench break. Each node
 * runs `node_main.ts` in its own process; the secret travels in the
 * environment; every child exits when the launcher's stdin pipe to it
 * closes, so no node outlives its launcher.
 *
 * @module
 */
import type { NodeId } from "@safla/core";
import type { HostStatus, HostTiming, MemberAddress } from "@safla/transports/host";
import { freePort } from "@safla/transports/host/testing";
import { formatPeers, localMembers, SECRET_ENV } from "./cluster_args.ts";
import { deriveAdminToken } from "./admin/admin_token.ts";
import { withAdminToken } from "./testing/admin_client.ts";

/** Options of {@link LocalCluster.start}. */
export interface LocalClusterOptions {
  /** Number of nodes (n1..nN). */
  nodes: number;
  /** HTTP port of n1 (n2 gets the next, ...); 0 picks free ports. */
  basePort: number;
  /** Root data directory; node `id` keeps its state in `<dataDir>/<id>`. */
  dataDir: string;
  /** Cluster secret. */
  secret: string;
  /** Cluster id. Default "safla". */
  clusterId?: string;
  /** Gateway config file every node fronts. */
  configFile?: string;
  /** Front the built-in demo backend (ignored with `configFile`). */
  demo?: boolean;
  /** How long store requests wait for a leader, per node. */
  requestTimeoutMs?: number;
  /**
   * Members to run instead of a generated layout (their peer addresses may
   * point at a relay; see `peerListen`).
   */
  members?: Record<NodeId, MemberAddress>;
  /** Where each node's Raft listener binds when its peer address is a relay. */
  peerListen?: Record<NodeId, string>;
  /** Raft clock of every node; defaults to the host's. */
  timing?: Partial<HostTiming>;
  /** Receives every line a node writes to stderr. */
  onLog?: (id: NodeId, line: string) => void;
  /** More flags for every node (benches pass through flags this launcher does not know). */
  nodeArgs?: readonly string[];
}

const NODE_MAIN = new URL("./node_main.ts", import.meta.url).pathname;
/** How long a node gets to stop after SIGTERM before it is killed. */
const STOP_GRACE_MS = 5_000;

interface Child {
  process: Deno.ChildProcess;
  stdin: WritableStreamDefaultWriter<Uint8Array>;
  exited: Promise<Deno.CommandStatus>;
  paused: boolean;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Loopback members on free ports (for tests: no fixed port can collide). */
export function freeMembers(count: number): Record<NodeId, MemberAddress> {
  const members: Record<NodeId, MemberAddress> = {};
  for (let i = 1; i <= count; i++) {
    members[`n${i}`] = { peer: `127.0.0.1:${freePort()}`, url: `http://127.0.0.1:${freePort()}` };
  }
  return members;
}

/** How often {@link LocalCluster.waitForReady} reports what it waits for. */
const READY_REPORT_INTERVAL_MS = 10_000;

/**
 * Node processes on loopback.
 *
 * @example
 * ```ts ignore
 * const cluster = await LocalCluster.start({ nodes: 3, basePort: 0, dataDir, secret });
 * const leader = await cluster.waitForLeader(10_000);
 * await cluster.kill(leader);
 * await cluster.stop();
 * ```
 */
export class LocalCluster {
  readonly members: Record<NodeId, MemberAddress>;
  readonly options: LocalClusterOptions;
  readonly #children = new Map<NodeId, Child>();

  private constructor(options: LocalClusterOptions, members: Record<NodeId, MemberAddress>) {
    this.options = options;
    this.members = members;
  }

  /** Starts every node. */
  static start(options: LocalClusterOptions): Promise<LocalCluster> {
    const members = options.members ??
      (options.basePort === 0
        ? freeMembers(options.nodes)
        : localMembers(options.nodes, options.basePort));
    const cluster = new LocalCluster(options, members);
    for (const id of cluster.ids) cluster.startNode(id);
    return Promise.resolve(cluster);
  }

  /** Node ids. */
  get ids(): NodeId[] {
    return Object.keys(this.members);
  }

  /** Base URL of a node's HTTP API. */
  url(id: NodeId): string {
    return this.members[id].url;
  }

  /** The cluster's admin token (each node also writes it to `<dataDir>/<id>/admin-token`). */
  adminToken(): Promise<string> {
    return deriveAdminToken(this.options.secret);
  }

  /**
   * Calls the admin API of node `id` at `path` with the admin token, and
   * `application/json` on a body that names no type.
   */
  async adminFetch(id: NodeId, path: string, init: RequestInit = {}): Promise<Response> {
    return await fetch(`${this.url(id)}${path}`, await withAdminToken(this.options.secret, init));
  }

  /** Whether a node's process is running (paused counts as running). */
  running(id: NodeId): boolean {
    return this.#children.has(id);
  }

  /** Process id of a running node. */
  pid(id: NodeId): number | undefined {
    return this.#children.get(id)?.process.pid;
  }

  /**
   * Starts (or restarts, with its data) the process of `id`, with `extraArgs`
   * (`--join` for a member just added) after the common flags.
   */
  startNode(id: NodeId, extraArgs: readonly string[] = []): void {
    if (this.#children.has(id)) throw new Error(`node ${id} is already running`);
    const o = this.options;
    const args = [
      "run",
      "-A",
      NODE_MAIN,
      "--node-id",
      id,
      "--peers",
      formatPeers(this.members),
      "--data",
      o.dataDir,
      "--cluster-id",
      o.clusterId ?? "safla",
      "--exit-with-stdin",
    ];
    if (o.configFile) args.push("--config", o.configFile);
    else if (o.demo) args.push("--demo");
    if (o.requestTimeoutMs) args.push("--request-timeout-ms", String(o.requestTimeoutMs));
    if (o.timing?.tickMs) args.push("--tick-ms", String(o.timing.tickMs));
    if (o.timing?.electionTicks) args.push("--election-ticks", String(o.timing.electionTicks));
    if (o.timing?.heartbeatTicks) args.push("--heartbeat-ticks", String(o.timing.heartbeatTicks));
    const listen = o.peerListen?.[id];
    if (listen) args.push("--peer-listen", listen);
    args.push(...o.nodeArgs ?? [], ...extraArgs);
    const process = new Deno.Command(Deno.execPath(), {
      args,
      env: { [SECRET_ENV]: o.secret },
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const child: Child = {
      process,
      stdin: process.stdin.getWriter(),
      exited: process.status,
      paused: false,
    };
    this.#children.set(id, child);
    this.#pipeLog(id, process.stderr);
    child.exited.then(() => {
      if (this.#children.get(id) === child) this.#children.delete(id);
      child.stdin.close().catch(() => {});
    });
  }

  async #pipeLog(id: NodeId, stream: ReadableStream<Uint8Array>): Promise<void> {
    let buffer = "";
    try {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf("\n")) >= 0) {
          this.options.onLog?.(id, buffer.slice(0, end));
          buffer = buffer.slice(end + 1);
        }
      }
    } catch { /* the process went away */ }
    if (buffer !== "") this.options.onLog?.(id, buffer);
  }

  /** Sends `signal` to a node; for SIGKILL and SIGTERM, waits until it exited. */
  async kill(id: NodeId, signal: Deno.Signal = "SIGKILL"): Promise<void> {
    const child = this.#children.get(id);
    if (!child) return;
    if (child.paused && signal !== "SIGKILL") this.resume(id);
    child.process.kill(signal);
    await child.exited;
    this.#children.delete(id);
  }

  /** Freezes a node (SIGSTOP). */
  pause(id: NodeId): void {
    const child = this.#children.get(id);
    if (!child || child.paused) return;
    child.process.kill("SIGSTOP");
    child.paused = true;
  }

  /** Unfreezes a node (SIGCONT). */
  resume(id: NodeId): void {
    const child = this.#children.get(id);
    if (!child || !child.paused) return;
    child.process.kill("SIGCONT");
    child.paused = false;
  }

  /** A node's status, or undefined if it does not answer within `timeoutMs`. */
  async status(id: NodeId, timeoutMs = 1_000): Promise<HostStatus | undefined> {
    if (!this.running(id) || this.#children.get(id)!.paused) return undefined;
    try {
      const response = await this.adminFetch(id, "/admin/status", {
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (response.status !== 200) {
        await response.body?.cancel();
        return undefined;
      }
      return await response.json() as HostStatus;
    } catch {
      return undefined;
    }
  }

  /**
   * Waits until a running node reports itself leader and a majority of the
   * cluster agrees; returns its id. Throws after `timeoutMs`.
   */
  async waitForLeader(timeoutMs: number, exclude: NodeId[] = []): Promise<NodeId> {
    const deadline = performance.now() + timeoutMs;
    const majority = Math.floor(this.ids.length / 2) + 1;
    while (performance.now() < deadline) {
      const statuses = await Promise.all(this.ids.map((id) => this.status(id, 500)));
      const votes = new Map<NodeId, number>();
      for (const s of statuses) if (s?.leader) votes.set(s.leader, (votes.get(s.leader) ?? 0) + 1);
      for (const [leader, count] of votes) {
        const own = statuses[this.ids.indexOf(leader)];
        if (count >= majority && own?.role === "leader" && !exclude.includes(leader)) return leader;
      }
      await sleep(25);
    }
    throw new Error(`no leader within ${timeoutMs} ms`);
  }

  /**
   * Waits until every running node answers `/readyz` with 200; `onWaiting`
   * hears, every 10 s, why a node is not ready yet (e.g. a backend installing).
   */
  async waitForReady(timeoutMs: number, onWaiting?: (reason: string) => void): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    let reportAtMs = performance.now() + READY_REPORT_INTERVAL_MS;
    let reasons: string[] = [];
    while (performance.now() < deadline) {
      reasons = [];
      await Promise.all(
        [...this.#children.keys()].map(async (id) => {
          try {
            const r = await fetch(`${this.url(id)}/readyz`, { signal: AbortSignal.timeout(500) });
            const body = await r.json().catch(() => ({}));
            if (r.status !== 200) reasons.push(`${id}: ${body.reason ?? r.status}`);
          } catch {
            reasons.push(`${id}: no answer`);
          }
        }),
      );
      if (reasons.length === 0) return;
      if (onWaiting !== undefined && performance.now() >= reportAtMs) {
        onWaiting(reasons.sort().join("; "));
        reportAtMs = performance.now() + READY_REPORT_INTERVAL_MS;
      }
      await sleep(50);
    }
    throw new Error(`nodes not ready within ${timeoutMs} ms (${reasons.sort().join("; ")})`);
  }

  /** Stops every node: SIGTERM, then SIGKILL after a grace period. */
  async stop(): Promise<void> {
    const children = [...this.#children.entries()];
    for (const [id, child] of children) {
      if (child.paused) this.resume(id);
      try {
        child.process.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    await Promise.all(children.map(async ([, child]) => {
      const timer = setTimeout(() => {
        try {
          child.process.kill("SIGKILL");
        } catch { /* already gone */ }
      }, STOP_GRACE_MS);
      await child.exited;
      clearTimeout(timer);
    }));
    this.#children.clear();
  }
}
