/**
 * Merging the messages of one Ready that say the same thing twice. A leader
 * sends an append per proposal and a commit update per acknowledgement, so
 * under load a Ready carries many small appends to each follower, each
 * answered by its own acknowledgement. Consecutive appends to one peer that
 * continue each other are one append; consecutive successful
 * acknowledgements to one peer are the last one. The receiver ends in the
 * same state either way, with a fraction of the steps and the bytes.
 *
 * @module
 */
import type { Message } from "./types.ts";
import { entrySizeBytes } from "./entries.ts";

/** Whether `next` continues `prev`: same sender term, its entries start right after prev's. */
function continues(prev: Message, next: Message): boolean {
  if (prev.term !== next.term || prev.snapshot || next.snapshot) return false;
  if (next.index !== prev.index + prev.entries.length) return false;
  const lastTerm = prev.entries.length > 0
    ? prev.entries[prev.entries.length - 1].term
    : prev.logTerm;
  return next.logTerm === lastTerm;
}

function sizeBytes(m: Message): number {
  let size = 0;
  for (const e of m.entries) size += entrySizeBytes(e);
  return size;
}

/**
 * Returns `messages` with each append merged into the previous message to the
 * same peer when it is an append it continues (up to `maxSizePerMsgBytes` of
 * entries), and each successful append acknowledgement merged into a previous
 * successful one to the same peer. Per peer, the order of what is left is
 * unchanged. Messages are not mutated; merged ones are copies.
 *
 * @example
 * ```ts
 * import { newMessage } from "./raft.ts";
 * import { coalesceMessages } from "./coalesce.ts";
 * const e = (index: number) => ({ term: 2, index, type: "normal" as const, data: new Uint8Array(1) });
 * const a = newMessage({ type: "app", from: "a", to: "b", term: 2, index: 4, logTerm: 2, entries: [e(5)] });
 * const b = newMessage({ type: "app", from: "a", to: "b", term: 2, index: 5, logTerm: 2, entries: [e(6)], commit: 5 });
 * const [merged] = coalesceMessages([a, b], 1 << 20);
 * console.assert(merged.entries.length === 2 && merged.commit === 5);
 * ```
 */
export function coalesceMessages(messages: Message[], maxSizePerMsgBytes: number): Message[] {
  if (messages.length < 2) return messages;
  const out: Message[] = [];
  /** Position in `out` of the last message to each peer. */
  const lastTo = new Map<string, number>();
  /** Entry bytes of merged appends in `out`, by position. */
  const sizes = new Map<number, number>();
  for (const m of messages) {
    const at = lastTo.get(m.to);
    const prev = at === undefined ? undefined : out[at];
    if (prev !== undefined && at !== undefined && prev.type === m.type) {
      if (m.type === "app" && continues(prev, m)) {
        const prevSize = sizes.get(at) ?? sizeBytes(prev);
        const size = prevSize + sizeBytes(m);
        if (size <= maxSizePerMsgBytes || prev.entries.length === 0 || m.entries.length === 0) {
          out[at] = {
            ...prev,
            entries: m.entries.length === 0 ? prev.entries : [...prev.entries, ...m.entries],
            commit: Math.max(prev.commit, m.commit),
          };
          sizes.set(at, size);
          continue;
        }
      }
      if (
        m.type === "appResp" && !prev.reject && !m.reject && prev.term === m.term &&
        prev.from === m.from
      ) {
        // A successful acknowledgement covers every index below it.
        if (m.index > prev.index) out[at] = m;
        continue;
      }
    }
    lastTo.set(m.to, out.length);
    out.push(m);
  }
  return out;
}
