/**
 * Starts and stops a local etcd cluster on loopback: one `etcd` process per
 * member, each with its own temporary data directory and free ports. Used by
 * the etcd store's contract tests and by the KV benchmark against etcd.
 *
 * @module
 */

/** Options of {@link startEtcdCluster}. */
export interface EtcdClusterOptions {
  /** Number of members (default 3). */
  members?: number;
  /** The etcd executable (default `$ETCD_BIN`, else `etcd` on the PATH). */
  etcdBinary?: string;
  /** Raft heartbeat interval in milliseconds (default 100, etcd's default). */
  heartbeatIntervalMs?: number;
  /** Raft election timeout in milliseconds (default 1000, etcd's default). */
  electionTimeoutMs?: number;
  /** How long to wait for every member to report healthy (default 20 000 ms). */
  startTimeoutMs?: number;
  /**
   * Directory under which the members' data directories and logs are made
   * (default: a new temp dir, removed on stop; a given directory is kept,
   * only the members' files in it are removed).
   */
  baseDir?: string;
}

/** A running local etcd cluster. */
export interface EtcdCluster {
  /** Client endpoints as `host:port`, one per member. */
  readonly endpoints: string[];
  /** The same endpoints as `http://host:port` URLs. */
  readonly clientUrls: string[];
  /** Directory holding every member's data directory and log file. */
  readonly baseDir: string;
  /** Index of the member that is leader, as the running members report it. */
  leaderIndex(): Promise<number>;
  /** Kills one member (SIGKILL: no clean shutdown), keeping its data directory. */
  killMember(index: number): Promise<void>;
  /** Starts a killed member again on its data directory and ports. */
  restartMember(index: number): void;
  /**
   * Adds a voting member (etcd's member add, then a new process that joins
   * the running cluster with its own data directory); returns its index.
   */
  addMember(): Promise<number>;
  /** Process id of a running member. */
  pid(index: number): number | undefined;
  /** A member's data directory. */
  dataDir(index: number): string;
  /** Stops every member (TERM, then KILL after a grace period) and removes the data. */
  stop(): Promise<void>;
  /** Same as {@link EtcdCluster.stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** The etcd cluster could not be started; carries the tail of the members' logs. */
export class EtcdStartError extends Error {
  /** Last lines of each member's log, for diagnosis. */
  readonly logTail: string;

  /** Creates the error. */
  constructor(message: string, logTail: string) {
    super(logTail === "" ? message : `${message}\n--- etcd log tail ---\n${logTail}`);
    this.name = "EtcdStartError";
    this.logTail = logTail;
  }
}

const LOOPBACK = "127.0.0.1";
const STOP_GRACE_MS = 3_000;
const HEALTH_POLL_MS = 100;
const LOG_TAIL_LINES = 15;

/** Asks the OS for a free loopback TCP port (released before etcd binds it). */
function freePort(): number {
  const listener = Deno.listen({ hostname: LOOPBACK, port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Distinct free ports; distinct because a port can be handed out again once released. */
function freePorts(count: number): number[] {
  const ports = new Set<number>();
  for (let attempt = 0; ports.size < count; attempt++) {
    if (attempt >= count * 20) throw new Error(`could not find ${count} distinct free ports`);
    ports.add(freePort());
  }
  return [...ports];
}

async function isHealthy(clientUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1_000) });
    const body = await response.text();
    return response.ok && JSON.parse(body).health === "true";
  } catch {
    return false;
  }
}

/** A member's id and the leader it knows, from etcd's JSON gateway (ids are 64-bit: strings). */
async function status(clientUrl: string): Promise<{ memberId: string; leader: string } | null> {
  try {
    const response = await fetch(`${clientUrl}/v3/maintenance/status`, {
      method: "POST",
      body: "{}",
      signal: AbortSignal.timeout(1_000),
    });
    const body = await response.json();
    return { memberId: String(body.header.member_id), leader: String(body.leader) };
  } catch {
    return null;
  }
}

async function readTail(path: string): Promise<string> {
  try {
    const lines = (await Deno.readTextFile(path)).trimEnd().split("\n");
    return lines.slice(-LOG_TAIL_LINES).join("\n");
  } catch {
    return "";
  }
}

async function stopProcess(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch {
    return; // already exited
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const exited = await Promise.race([
    child.status.then(() => true),
    new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), STOP_GRACE_MS)),
  ]);
  clearTimeout(timer);
  if (!exited) {
    try {
      child.kill("SIGKILL");
    } catch {
      // exited between the race and the kill
    }
    await child.status;
  }
}

/**
 * Starts a local etcd cluster and waits until every member is healthy (a
 * leader is elected). Writes are fsynced as etcd always does.
 *
 * @example
 * ```ts
 * import { startEtcdCluster } from "./etcd_process.ts";
 * await using cluster = await startEtcdCluster({ members: 3 });
 * console.log(cluster.endpoints.join(","));
 * ```
 */
export async function startEtcdCluster(options: EtcdClusterOptions = {}): Promise<EtcdCluster> {
  const members = options.members ?? 3;
  if (!Number.isSafeInteger(members) || members < 1 || members > 9) {
    throw new RangeError(`members must be an integer in 1..9, got ${members}`);
  }
  const binary = options.etcdBinary ?? Deno.env.get("ETCD_BIN") ?? "etcd";
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 100;
  const electionTimeoutMs = options.electionTimeoutMs ?? 1_000;
  const startTimeoutMs = options.startTimeoutMs ?? 20_000;
  const ownsBaseDir = options.baseDir === undefined;
  const baseDir = options.baseDir ?? await Deno.makeTempDir({ prefix: "safla-etcd-" });

  const ports = freePorts(members * 2);
  const names = Array.from({ length: members }, (_, i) => `m${i}`);
  const peerUrls = names.map((_, i) => `http://${LOOPBACK}:${ports[2 * i + 1]}`);
  const clientUrls = names.map((_, i) => `http://${LOOPBACK}:${ports[2 * i]}`);
  const endpoints = clientUrls.map((url) => url.slice("http://".length));
  const logPaths = names.map((name) => `${baseDir}/${name}.log`);
  const children: (Deno.ChildProcess | undefined)[] = [];

  // Every member known so far; a restarted member ignores it (its data directory knows better).
  const spawn = (i: number, state: "new" | "existing" = "new"): Deno.ChildProcess =>
    new Deno.Command(binary, {
      args: [
        `--name=${names[i]}`,
        `--data-dir=${baseDir}/${names[i]}.etcd`,
        `--listen-client-urls=${clientUrls[i]}`,
        `--advertise-client-urls=${clientUrls[i]}`,
        `--listen-peer-urls=${peerUrls[i]}`,
        `--initial-advertise-peer-urls=${peerUrls[i]}`,
        `--initial-cluster=${names.map((name, j) => `${name}=${peerUrls[j]}`).join(",")}`,
        `--initial-cluster-state=${state}`,
        `--initial-cluster-token=safla-${ports[0]}`,
        `--heartbeat-interval=${heartbeatIntervalMs}`,
        `--election-timeout=${electionTimeoutMs}`,
        `--logger=zap`,
        `--log-outputs=${logPaths[i]}`,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
  const logTail = async (): Promise<string> => {
    const tails = await Promise.all(logPaths.map(readTail));
    return tails.map((tail, i) => tail === "" ? "" : `[${names[i]}]\n${tail}`)
      .filter((t) => t !== "").join("\n");
  };
  const stop = async (): Promise<void> => {
    await Promise.all(children.map((child) => child ? stopProcess(child) : undefined));
    children.length = 0;
    const paths = ownsBaseDir
      ? [baseDir]
      : [...names.map((name) => `${baseDir}/${name}.etcd`), ...logPaths];
    await Promise.all(paths.map((path) => Deno.remove(path, { recursive: true }).catch(() => {})));
  };
  const checkIndex = (index: number): void => {
    if (!Number.isSafeInteger(index) || index < 0 || index >= names.length) {
      throw new RangeError(`member index must be in 0..${names.length - 1}, got ${index}`);
    }
  };
  const leaderIndex = async (): Promise<number> => {
    const statuses = await Promise.all(
      clientUrls.map((url, i) => children[i] ? status(url) : null),
    );
    const leader = statuses.find((s) => s !== null)?.leader;
    const index = statuses.findIndex((s) => s !== null && s.memberId === leader);
    if (leader === undefined || index < 0) throw new Error("no running etcd member knows a leader");
    return index;
  };
  const killMember = async (index: number): Promise<void> => {
    checkIndex(index);
    const child = children[index];
    if (child === undefined) throw new Error(`member ${index} is not running`);
    children[index] = undefined;
    child.kill("SIGKILL");
    await child.status;
  };
  const restartMember = (index: number): void => {
    checkIndex(index);
    if (children[index] !== undefined) throw new Error(`member ${index} is already running`);
    children[index] = spawn(index);
  };

  const addMember = async (): Promise<number> => {
    if (names.length >= 9) throw new RangeError("at most 9 members");
    const running = children.findIndex((child) => child !== undefined);
    if (running < 0) throw new Error("no running member to add a member through");
    const i = names.length;
    const [clientPort, peerPort] = freePorts(2);
    const peerUrl = `http://${LOOPBACK}:${peerPort}`;
    const response = await fetch(`${clientUrls[running]}/v3/cluster/member/add`, {
      method: "POST",
      body: JSON.stringify({ peerURLs: [peerUrl] }),
    });
    const body = await response.text();
    if (!response.ok) throw new Error(`etcd member add: HTTP ${response.status}: ${body}`);
    names.push(`m${i}`);
    peerUrls.push(peerUrl);
    clientUrls.push(`http://${LOOPBACK}:${clientPort}`);
    endpoints.push(`${LOOPBACK}:${clientPort}`);
    logPaths.push(`${baseDir}/m${i}.log`);
    children.push(spawn(i, "existing"));
    return i;
  };

  try {
    const exits: (number | undefined)[] = [];
    for (let i = 0; i < members; i++) {
      const child = spawn(i);
      children.push(child);
      child.status.then((status) => exits[i] = status.code);
    }
    const deadline = Date.now() + startTimeoutMs;
    for (;;) {
      const health = await Promise.all(clientUrls.map(isHealthy));
      if (health.every((ok) => ok)) break;
      const exited = exits.findIndex((code) => code !== undefined);
      if (exited >= 0) {
        throw new EtcdStartError(
          `etcd member ${names[exited]} exited with code ${exits[exited]} while starting`,
          await logTail(),
        );
      }
      if (Date.now() > deadline) {
        throw new EtcdStartError(
          `etcd cluster not healthy within ${startTimeoutMs} ms (healthy: ${health})`,
          await logTail(),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, HEALTH_POLL_MS));
    }
  } catch (error) {
    const tail = error instanceof EtcdStartError ? "" : await logTail();
    await stop();
    if (error instanceof Deno.errors.NotFound) {
      throw new EtcdStartError(
        `etcd executable "${binary}" not found (install Debian's etcd-server or set ETCD_BIN)`,
        tail,
      );
    }
    throw error;
  }

  return {
    endpoints,
    clientUrls,
    baseDir,
    leaderIndex,
    killMember,
    restartMember,
    addMember,
    pid: (index) => children[index]?.pid,
    dataDir: (index) => `${baseDir}/${names[index]}.etcd`,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
