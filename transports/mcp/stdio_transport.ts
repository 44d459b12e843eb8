/**
 * The client side of the MCP stdio transport on `Deno.Command`: one child
 * process, newline-delimited JSON-RPC on its stdin and stdout, stderr relayed
 * line by line with the backend's label (see `stderr_relay.ts`). Written for Deno rather than through the Node compatibility layer,
 * whose string writes dominated the gateway's CPU profile on the stdio path.
 *
 * Closing follows the stdio binding's shutdown order: close stdin, wait, then
 * SIGTERM, then SIGKILL, so no child outlives the gateway. The child runs in
 * a process group of its own and the signals go to the whole group; whatever
 * of the group outlives the child (on close or when it exits by itself) is
 * ended the same way, so a wrapper's grandchildren do not linger.
 *
 * @module
 */
import type { JSONRPCMessage, Transport } from "@modelcontextprotocol/server";
import { endGroup, PROCESS_GROUPS, signalGroup } from "./process_group.ts";
import { relayStderr } from "./stderr_relay.ts";

/** What to run. */
export interface StdioCommand {
  command: string;
  args: string[];
  /** Added to a small default environment (PATH, HOME, ...); secrets are not inherited. */
  env?: Record<string, string>;
  cwd?: string;
  /** Put in front of each line of the child's stderr we relay (e.g. the backend's label). */
  stderrPrefix?: string;
  /** Told once per kind when the child's stderr names a failure only a user can fix. */
  onDiagnosis?: (diagnosis: string) => void;
}

/** How long a child gets to exit after stdin closes, and again after SIGTERM. */
const EXIT_GRACE_MS = 2_000;
/** Longest line accepted from a child, against a runaway server. */
const MAX_LINE_BYTES = 64 * 1024 * 1024;
/** Size of the buffer stdout is read into. */
const READ_BUFFER_BYTES = 64 * 1024;
const NEWLINE = 0x0a;
/**
 * What a backend inherits from the node's environment (everything else, the
 * cluster secret first, stays out). The cache locations are here so that
 * `npx` and `deno` backends use the caches the operator set up instead of
 * filling a cold one under HOME on every start.
 */
const INHERITED_ENV = [
  "PATH",
  "HOME",
  "USER",
  "LOGNAME",
  "SHELL",
  "TERM",
  "LANG",
  "TMPDIR",
  "XDG_CACHE_HOME",
  "DENO_DIR",
  "npm_config_cache",
  "NPM_CONFIG_CACHE",
  // Behind a proxy or a TLS-inspecting gateway, `npx` and `deno` backends
  // reach their registries only with the machine's proxy and CA settings.
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "http_proxy",
  "https_proxy",
  "no_proxy",
  "NODE_EXTRA_CA_CERTS",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "DENO_CERT",
  "DENO_TLS_CA_STORE",
];

/** The part of the node's environment (read through `get`) a backend starts with. */
export function inheritedEnv(get: (name: string) => string | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED_ENV) {
    const value = get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** A Transport over a spawned child's stdin/stdout. */
export class DenoStdioClientTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  #command: StdioCommand;
  #child?: Deno.ChildProcess;
  #writer?: WritableStreamDefaultWriter<Uint8Array>;
  #encoder = new TextEncoder();
  #closed = false;
  #pending: string[] = [];
  #flushed?: Promise<void>;
  #groupEnded?: Promise<void>;

  /** Prepares the command; {@link start} spawns it. */
  constructor(command: StdioCommand) {
    this.#command = command;
  }

  /** The child's process id, once started. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Spawns the child and starts reading its stdout. */
  start(): Promise<void> {
    if (this.#child !== undefined) throw new Error("stdio transport already started");
    const env = inheritedEnv((name) => Deno.env.get(name));
    Object.assign(env, this.#command.env ?? {});
    this.#child = new Deno.Command(this.#command.command, {
      args: this.#command.args,
      cwd: this.#command.cwd,
      env,
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      // Makes the child a process group leader, so its descendants can be ended with it.
      detached: PROCESS_GROUPS,
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    void this.#read(this.#child.stdout);
    void relayStderr(this.#child.stderr, {
      prefix: this.#command.stderrPrefix ?? "",
      onDiagnosis: this.#command.onDiagnosis,
    });
    void this.#child.status.then(() => {
      void this.#endGroup();
      this.#finish();
    });
    return Promise.resolve();
  }

  /**
   * Reads the child's stdout into one reused buffer (a default reader would
   * allocate a fresh 64 KiB chunk per read, i.e. per reply under load) and
   * splits it into lines at newline bytes, which never occur inside a UTF-8
   * sequence; only a line cut by the end of a read is decoded in pieces.
   */
  async #read(stdout: ReadableStream<Uint8Array>): Promise<void> {
    const reader = stdout.getReader({ mode: "byob" });
    const decoder = new TextDecoder();
    let buffer = new ArrayBuffer(READ_BUFFER_BYTES);
    let partial = "";
    try {
      for (;;) {
        const { value, done } = await reader.read(new Uint8Array(buffer));
        if (done || value === undefined) break;
        buffer = value.buffer as ArrayBuffer;
        let start = 0;
        for (let end = value.indexOf(NEWLINE); end >= 0; end = value.indexOf(NEWLINE, start)) {
          const line = partial + decoder.decode(value.subarray(start, end));
          partial = "";
          start = end + 1;
          const trimmed = line.endsWith("\r") ? line.slice(0, -1) : line;
          if (trimmed.length > 0) this.#deliver(trimmed);
        }
        if (start < value.byteLength) {
          partial += decoder.decode(value.subarray(start), { stream: true });
          if (partial.length > MAX_LINE_BYTES) {
            throw new Error(`a line from the child exceeds ${MAX_LINE_BYTES} bytes`);
          }
        }
      }
    } catch (error) {
      if (!this.#closed) this.onerror?.(error instanceof Error ? error : new Error(String(error)));
    } finally {
      reader.releaseLock();
    }
    this.#finish();
  }

  #deliver(line: string): void {
    let message: JSONRPCMessage;
    try {
      message = JSON.parse(line);
    } catch {
      // Servers that print banners to stdout are common; the line is not ours.
      this.onerror?.(new Error(`ignored non-JSON line from the child: ${line.slice(0, 200)}`));
      return;
    }
    this.onmessage?.(message);
  }

  /**
   * Writes one message as a line. Messages sent in the same turn of the event
   * loop go out in one write. (Holding writes for the next turn while the
   * child is busy, so that more requests share a wake-up, measured no better:
   * the timer costs what the write saves, and the wait adds latency.)
   */
  send(message: JSONRPCMessage): Promise<void> {
    if (this.#writer === undefined || this.#closed) {
      return Promise.reject(new Error("stdio transport is not connected"));
    }
    this.#pending.push(JSON.stringify(message));
    if (this.#flushed === undefined) {
      this.#flushed = Promise.resolve().then(() => this.#flush());
    }
    return this.#flushed;
  }

  async #flush(): Promise<void> {
    const lines = this.#pending;
    this.#pending = [];
    this.#flushed = undefined;
    await this.#writer!.write(this.#encoder.encode(lines.join("\n") + "\n"));
  }

  /**
   * How the child ended ("exited with code 1", "killed by SIGKILL"), waiting
   * up to `waitMs` for it; undefined while it runs.
   */
  async exitDescription(waitMs: number): Promise<string | undefined> {
    const child = this.#child;
    if (child === undefined) return undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), waitMs);
    });
    try {
      const status = await Promise.race([child.status, late]);
      if (status === undefined) return undefined;
      return status.signal === null
        ? `exited with code ${status.code}`
        : `was killed by ${status.signal}`;
    } finally {
      clearTimeout(timer);
    }
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.onclose?.();
  }

  /**
   * Ends the child: stdin closed, then SIGTERM, then SIGKILL, each to its
   * whole group; then whatever of the group is left.
   */
  async close(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return this.#finish();
    await this.#writer?.close().catch(() => {});
    if (!(await exitsWithin(child, EXIT_GRACE_MS))) {
      signal(child, "SIGTERM");
      if (!(await exitsWithin(child, EXIT_GRACE_MS))) signal(child, "SIGKILL");
    }
    await child.status;
    await this.#endGroup();
    this.#finish();
  }

  /** Ends what is left of the child's group once the child has exited (once). */
  #endGroup(): Promise<void> {
    const pid = this.#child!.pid;
    this.#groupEnded ??= PROCESS_GROUPS ? endGroup(pid, EXIT_GRACE_MS) : Promise.resolve();
    return this.#groupEnded;
  }
}

function signal(child: Deno.ChildProcess, name: Deno.Signal): void {
  if (PROCESS_GROUPS && signalGroup(child.pid, name)) return;
  try {
    child.kill(name);
  } catch {
    // Already exited between the check and the signal.
  }
}

async function exitsWithin(child: Deno.ChildProcess, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([child.status.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
