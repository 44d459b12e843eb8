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
  /** Ends the whole group (SIGTERM, then SIGKILL) and waits until it is gone. */
  close(): Promise<void>;
}

/** The process group still has live members after SIGKILL. */
export class LeakedProcessError extends Error {
  constructor(readonly pgid: number, readonly pids: number[]) {
    super(`process group ${pgid} still has live members after SIGKILL: ${pids.join(", ")}`);
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
    env: options.env,
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
      closing ??= endGroup(pid, async () => {
        await child.status;
        await drained;
      });
      return closing;
    },
  };
}

/**
 * Ends process group `pgid`: SIGTERM, a grace period, then SIGKILL; waits for
 * `reap` (the leader's exit status, if this process is its parent) and throws
 * {@link LeakedProcessError} if any member is still alive afterwards.
 */
export async function endGroup(pgid: number, reap?: () => Promise<void>): Promise<void> {
  signalGroup(pgid, "SIGTERM");
  await waitForGroupExit(pgid, TERM_GRACE_MS);
  signalGroup(pgid, "SIGKILL");
  await reap?.();
  const left = await waitForGroupExit(pgid, KILL_WAIT_MS);
  if (left.length > 0) throw new LeakedProcessError(pgid, left);
}

function signalGroup(pgid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(-pgid, signal);
  } catch (error) {
    // The group is already empty; any other failure is a real problem.
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/** Polls until `pgid` has no live members or `timeoutMs` passes; returns those left. */
async function waitForGroupExit(pgid: number, timeoutMs: number): Promise<number[]> {
  const deadline = performance.now() + timeoutMs;
  let left = liveGroupMembers(pgid);
  while (left.length > 0 && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    left = liveGroupMembers(pgid);
  }
  return left;
}

/**
 * Pids of live (not zombie) processes in group `pgid`, read from /proc.
 * Zombies are skipped: they hold no resources and wait only on their reaper.
 */
export function liveGroupMembers(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let stat: string;
    try {
      stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
    } catch {
      continue; // exited while we were listing
    }
    // Fields after the command name, which may itself hold spaces or parens.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const state = fields[0];
    const group = Number(fields[2]);
    if (group === pgid && state !== "Z") pids.push(Number(entry.name));
  }
  return pids;
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

/** CPU time of every live member of process group `pgid`. */
export function groupCpu(pgid: number): ProcessCpu[] {
  return liveGroupMembers(pgid).flatMap((pid) => processCpu(pid) ?? []);
}
