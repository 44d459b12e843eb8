/**
 * The audit trail's pure decisions: what one record holds, how a flood of
 * equal denials coalesces into one record with a count, where a node's
 * batches go (a fixed ring of slots per node, so the count is bounded
 * without a delete), which slots are past the age limit, and which records
 * a reader gets. The server's audit log (server/access/audit_log.ts) only
 * moves batches to and from the store.
 *
 * @module
 */

/** What was decided about an action. `changed`: a policy, service or membership change. */
export type AuditDecision = "allowed" | "denied" | "changed";

/** One audited event. */
export interface AuditRecord {
  /** `principalKey` of who acted. */
  readonly principal: string;
  /** The method or management tool, e.g. `tools/call`, `safla__policy_put`. */
  readonly action: string;
  /** What it was about: a tool, a URI, a policy name. */
  readonly target: string;
  readonly decision: AuditDecision;
  /** When it first happened (node clock, ms since the epoch). */
  readonly timeMs: number;
  /** The policy revision in force. */
  readonly revision: number;
  /** How many equal events this record stands for (absent: one). */
  readonly count?: number;
}

/** What one node writes at once: one store key. */
export interface AuditBatch {
  readonly node: string;
  /** The node's batch counter; the slot is `seq % slots`. */
  readonly seq: number;
  readonly timeMs: number;
  readonly records: readonly AuditRecord[];
  /** Events this node dropped (pending buffer full) since its previous batch. */
  readonly dropped?: number;
}

/** Longest target or action kept, in characters; longer ones are cut (with an ellipsis). */
export const MAX_AUDIT_FIELD_CHARS = 512;

/**
 * Most bytes of one batch's JSON: well under the store's 1 MiB value limit,
 * and small enough that a node's whole ring stays a few MiB of replicated state.
 */
export const MAX_AUDIT_BATCH_BYTES = 128 * 1024;

/** UTF-8 length of `text`, without an encoder (core stays free of platform APIs). */
function utf8Bytes(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * The records of a batch that fit in `maxBytes` of JSON (in order), and how
 * many did not: those are dropped and counted like any overflow.
 */
export function fitAuditBatch(
  records: readonly AuditRecord[],
  maxBytes: number = MAX_AUDIT_BATCH_BYTES,
): { kept: AuditRecord[]; dropped: number } {
  // Room for the batch's own fields.
  let bytes = 256;
  const kept: AuditRecord[] = [];
  for (const record of records) {
    bytes += utf8Bytes(JSON.stringify(record)) + 1;
    if (bytes > maxBytes) break;
    kept.push(record);
  }
  return { kept, dropped: records.length - kept.length };
}

/** Two records with the same key are the same event repeated. */
export function auditCoalesceKey(
  record: Omit<AuditRecord, "timeMs" | "revision" | "count">,
): string {
  return `${record.decision}\u0000${record.principal}\u0000${record.action}\u0000${record.target}`;
}

/** `text` cut to {@link MAX_AUDIT_FIELD_CHARS}. */
export function auditField(text: string): string {
  return text.length <= MAX_AUDIT_FIELD_CHARS
    ? text
    : `${text.slice(0, MAX_AUDIT_FIELD_CHARS - 1)}…`;
}

/** The ring slot of a node's batch number `seq`. */
export function auditSlot(seq: number, slots: number): number {
  if (!Number.isSafeInteger(seq) || seq < 0 || !Number.isSafeInteger(slots) || slots < 1) {
    throw new RangeError(`bad audit slot arguments ${seq}, ${slots}`);
  }
  return seq % slots;
}

/**
 * The slots whose batch is older than `maxAgeMs` at `nowMs`, in slot order:
 * the ones to delete.
 *
 * @example
 * ```ts
 * import { expiredAuditSlots } from "./policy_audit.ts";
 * const slots = new Map([[0, 1_000], [1, 5_000], [2, 9_000]]);
 * console.assert(expiredAuditSlots(slots, 10_000, 6_000).join() === "0");
 * ```
 */
export function expiredAuditSlots(
  batchTimeBySlot: ReadonlyMap<number, number>,
  nowMs: number,
  maxAgeMs: number,
): number[] {
  const expired: number[] = [];
  for (const [slot, timeMs] of batchTimeBySlot) if (nowMs - timeMs > maxAgeMs) expired.push(slot);
  return expired.sort((a, b) => a - b);
}

/**
 * The newest `limit` records of `batches` not older than `maxAgeMs`, newest
 * first (ties in a fixed order), with the total of events dropped in them.
 */
export function newestAuditRecords(
  batches: Iterable<AuditBatch>,
  nowMs: number,
  maxAgeMs: number,
  limit: number,
): { records: AuditRecord[]; dropped: number } {
  // Newest first; within one millisecond a node's later batch and later record first,
  // and nodes in name order, so every reader gets the same order.
  const found: { record: AuditRecord; node: string; seq: number; index: number }[] = [];
  let dropped = 0;
  for (const batch of batches) {
    if (nowMs - batch.timeMs > maxAgeMs) continue;
    dropped += batch.dropped ?? 0;
    batch.records.forEach((record, index) => {
      if (nowMs - record.timeMs <= maxAgeMs) {
        found.push({ record, node: batch.node, seq: batch.seq, index });
      }
    });
  }
  found.sort((a, b) =>
    b.record.timeMs - a.record.timeMs ||
    (a.node < b.node ? -1 : a.node > b.node ? 1 : 0) ||
    b.seq - a.seq ||
    b.index - a.index
  );
  return { records: found.slice(0, Math.max(0, limit)).map((f) => f.record), dropped };
}
