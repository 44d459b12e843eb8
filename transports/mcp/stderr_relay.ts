/**
 * A stdio child's stderr, passed through to ours line by line with the
 * backend's label in front, and read for the few failures a user can only
 * fix by hand: an `npx` whose install was interrupted leaves a cache entry
 * that makes every later start fail the same way, and the child's own words
 * are the only place that says so.
 *
 * @module
 */

/** Longest stderr line relayed whole; longer ones are cut (a runaway child). */
const MAX_RELAYED_LINE_CHARS = 4_096;

/**
 * Failures of a child that point at a fix outside the gateway, and the one
 * line that names it. `npm` reports a cache entry left by an interrupted
 * install as `ENOENT ... Could not read package.json` under `_npx/<hash>`.
 */
export function diagnoseStderrLine(line: string): string | undefined {
  if (!/could not read package\.json/i.test(line) && !/enoent.*_npx/i.test(line)) return undefined;
  const entry = /([^\s'"]*[\\/]_npx[\\/][0-9a-f]+)/i.exec(line)?.[1];
  const where = entry === undefined ? "its npx cache entry" : entry;
  return `npx cache entry is broken (an earlier install was interrupted); ` +
    `delete ${where} (or run 'npm cache clean --force') and the next start reinstalls it`;
}

/** Where a relay writes and reports. */
export interface StderrRelayOptions {
  /** Put in front of every relayed line. */
  prefix: string;
  /** Receives each relayed line (default: our stderr). */
  write?: (line: string) => void;
  /** Called with the first diagnosis of each distinct kind the relay finds. */
  onDiagnosis?: (diagnosis: string) => void;
}

/**
 * Relays `stderr` until it ends; resolves then. Never throws: a child's
 * stderr is diagnostics, and losing it must not end the connection.
 */
export async function relayStderr(
  stderr: ReadableStream<Uint8Array>,
  options: StderrRelayOptions,
): Promise<void> {
  const write = options.write ?? ((line: string) => console.error(line));
  const seen = new Set<string>();
  let partial = "";
  const emit = (line: string): void => {
    const text = line.endsWith("\r") ? line.slice(0, -1) : line;
    if (text.length === 0) return;
    write(`${options.prefix}${text.slice(0, MAX_RELAYED_LINE_CHARS)}`);
    const diagnosis = diagnoseStderrLine(text);
    if (diagnosis !== undefined && !seen.has(diagnosis)) {
      seen.add(diagnosis);
      options.onDiagnosis?.(diagnosis);
    }
  };
  try {
    for await (const chunk of stderr.pipeThrough(new TextDecoderStream())) {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop() ?? "";
      // A line with no end in sight is relayed in pieces rather than held.
      if (partial.length > MAX_RELAYED_LINE_CHARS) {
        emit(partial);
        partial = "";
      }
      for (const line of lines) emit(line);
    }
  } catch {
    // The child went away mid-read; what was read has been relayed.
  }
  emit(partial);
}
