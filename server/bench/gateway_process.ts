/**
 * Child processes of the benchmark, each in a process group of its own so
 * that a gateway and every backend it spawns end together: nothing the
 * benchmark starts outlives it.
 *
 * @module
 */

/** Bytes of a child's output kept to explain a failure. */
const TAIL_CHARS = 4096;
/** How long a group gets to exit on SIGTERM before SIGKILL. */
const TERM_GRACE_MS = 2_000;
/** How long SIGKILLed members may take to disappear from /proc. */
const KILL_WAIT_MS = 3_000;

/** A free TCP port on loopback (bound, then released for the child to take). */
export function freeLoopbackPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** A child process leading its own process group. */
export interface GroupProcess {
  /** Pid of the group leader, which is also the group id. */
  pid: number;
  /** Settles when the leader exits. */
  exited: Promise<Deno.CommandStatus>;
  /** The last few kilobytes the group wrote to stdout and stderr. */
  outputTail(): string;
  /** Ends the whole tree (SIGTERM, then SIGKILL) and waits until it is gone. */
  close(): Promise<void>;
}

/** Processes of a tree still live after SIGKILL. */
export class LeakedProcessError extends Error {
  constructor(readonly rootPid: number, readonly pids: number[]) {
    super(`processes under ${rootPid} still alive after SIGKILL: ${pids.join(", ")}`);
    this.name = "LeakedProcessError";
  }
}

/**
 * Spawns `command args` under `setsid`, so the child leads a new process
 * group and its descendants (npx, node, the backend) share that group.
 */
export function spawnGroup(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): GroupProcess {
  const child = new Deno.Command("setsid", {
    args: [command, ...args],
    cwd: options.cwd,
    // Plain output, so that a failure's last lines read well in the table.
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let tail = "";
  const keep = async (stream: ReadableStream<Uint8Array>) => {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      tail = (tail + text).slice(-TAIL_CHARS);
    }
  };
  const drained = Promise.allSettled([keep(child.stdout), keep(child.stderr)]);
  const pid = child.pid;
  let closing: Promise<void> | undefined;
  return {
    pid,
    exited: child.status,
    outputTail: () => tail,
    close: () => {
      closing ??= endProcessTree(pid, async () => {
        await child.status;
        await drained;
      });
      return closing;
    },
  };
}

/**
 * Ends the process tree under `rootPid`: its descendants and the members of
 * its process group, including children that moved to a session of their own
 * (supergateway spawns its stdio backends detached). SIGTERM to all, a grace
 * period, then SIGKILL; waits for `reap` (the root's exit status, if this
 * process is its parent) and throws {@link LeakedProcessError} if any process
 * of the tree is still alive afterwards.
 */
export async function endProcessTree(rootPid: number, reap?: () => Promise<void>): Promise<void> {
  // Descendants are found through their parents, so list them before any dies.
  const tree = new Set(processTree(rootPid));
  for (const pid of tree) signal(pid, "SIGTERM");
  await waitForExit(rootPid, tree, TERM_GRACE_MS);
  for (const pid of tree) if (isAlive(pid)) signal(pid, "SIGKILL");
  await reap?.();
  const left = await waitForExit(rootPid, tree, KILL_WAIT_MS);
  if (left.length > 0) throw new LeakedProcessError(rootPid, left);
}

function signal(pid: number, name: Deno.Signal): void {
  try {
    Deno.kill(pid, name);
  } catch (error) {
    // Already gone; any other failure is a real problem.
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/**
 * Polls until every process of `tree` (growing it with processes that appear
 * under `rootPid` meanwhile) has exited, or `timeoutMs` passes; returns those left.
 */
async function waitForExit(
  rootPid: number,
  tree: Set<number>,
  timeoutMs: number,
): Promise<number[]> {
  const deadline = performance.now() + timeoutMs;
  const left = () => {
    for (const pid of processTree(rootPid)) tree.add(pid);
    return [...tree].filter(isAlive);
  };
  let alive = left();
  while (alive.length > 0 && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    alive = left();
  }
  return alive;
}

interface ProcEntry {
  pid: number;
  ppid: number;
  pgrp: number;
  /** One letter, `Z` for a zombie. */
  state: string;
}

function readProc(pid: number | string): ProcEntry | undefined {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined; // exited
  }
  // Fields after the command name, which may itself hold spaces or parens.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { pid: Number(pid), state: fields[0], ppid: Number(fields[1]), pgrp: Number(fields[2]) };
}

/** Whether `pid` runs and is not a zombie (which holds nothing but its exit status). */
export function isAlive(pid: number): boolean {
  const entry = readProc(pid);
  return entry !== undefined && entry.state !== "Z";
}

/**
 * Live (not zombie) processes of the tree under `rootPid`: the root, the
 * members of its process group, and every descendant of those, read from /proc.
 */
export function processTree(rootPid: number): number[] {
  const entries: ProcEntry[] = [];
  for (const dirent of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(dirent.name)) continue;
    const entry = readProc(dirent.name);
    if (entry !== undefined && entry.state !== "Z") entries.push(entry);
  }
  const children = new Map<number, number[]>();
  for (const e of entries) children.set(e.ppid, [...children.get(e.ppid) ?? [], e.pid]);
  const found = new Set<number>();
  const queue = entries.filter((e) => e.pid === rootPid || e.pgrp === rootPid).map((e) => e.pid);
  // Each pid enters the queue at most once per parent link: bounded by the table size.
  while (queue.length > 0) {
    const pid = queue.pop()!;
    if (found.has(pid)) continue;
    found.add(pid);
    queue.push(...children.get(pid) ?? []);
  }
  return [...found];
}

/** CPU time (user + system) of one process so far, with what it runs. */
export interface ProcessCpu {
  pid: number;
  cpuMs: number;
  /** Its command line: the program as invoked, then its arguments. */
  argv: string[];
}

let clockTicksPerSec: number | undefined;

/** The kernel's clock tick rate (`getconf CLK_TCK`), which /proc times count in. */
export function clockTicksPerSecond(): number {
  if (clockTicksPerSec === undefined) {
    try {
      const out = new Deno.Command("getconf", { args: ["CLK_TCK"] }).outputSync();
      const ticks = Number(new TextDecoder().decode(out.stdout).trim());
      clockTicksPerSec = Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
    } catch {
      clockTicksPerSec = 100;
    }
  }
  return clockTicksPerSec;
}

/** CPU time of process `pid` (`"self"` for this one), or undefined once it is gone. */
export function processCpu(pid: number | "self"): ProcessCpu | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    const ticks = Number(fields[11]) + Number(fields[12]);
    const argv = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0");
    if (argv.at(-1) === "") argv.pop();
    return {
      pid: pid === "self" ? Deno.pid : pid,
      cpuMs: (ticks * 1000) / clockTicksPerSecond(),
      argv,
    };
  } catch {
    return undefined;
  }
}

/** CPU time of every live process of the tree under `rootPid`. */
export function treeCpu(rootPid: number): ProcessCpu[] {
  return processTree(rootPid).flatMap((pid) => processCpu(pid) ?? []);
}
