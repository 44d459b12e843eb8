/**
 * What the scale bench (`scale.ts`) measures on one system, and its report:
 * two Markdown tables, one row per key count, then the recovery and memory
 * figures at the largest key count next to the targets of issue 16.
 *
 * @module
 */

/** Writes at which throughput is the baseline of the 80 % target. */
export const BASELINE_KEYS = 10_000;

/** Measurements at one key count. */
export interface SizeRow {
  keys: number;
  /** Rate of the initial writes that brought the store to this size. */
  loadOpsPerSec: number;
  /** Rate of overwrites at this size. */
  writeOpsPerSec: number;
  /** Largest RSS of the members. */
  rssMb: number;
  /** Largest data directory of the members. */
  dataDirMb: number;
  /** Keys and values held, in MB. */
  liveMb: number;
}

/** A recovery measurement; `error` when it did not finish. */
export interface Recovery {
  ms: number;
  elections: number;
  error?: string;
}

/** Everything measured on one system. */
export interface ScaleResult {
  system: string;
  sizes: SizeRow[];
  freshRssMb: number;
  restart: Recovery;
  catchUp: Recovery;
  missedWrites: number;
  join: Recovery;
  /** Whether the system ran a compaction (ours compacts by itself). */
  compacted: boolean;
  dataDirAfterCompactionMb: number;
  rssAfterDeleteMb: number;
  /** Whether no key was left after the delete (an attempt that timed out may have done it). */
  allDeleted: boolean;
  /** The one prefix delete of every key (retried while it fails: it is idempotent). */
  deleteAll: Recovery;
}

function fixed(value: number, digits = 0): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "-";
}

function seconds(r: Recovery): string {
  return r.error ? `not done (${r.error})` : `${fixed(r.ms / 1_000, 1)} s`;
}

/** Renders the results as two Markdown tables: per size, then recovery and memory with targets. */
export function formatScaleReport(results: readonly ScaleResult[]): string {
  const lines = [
    `| system | keys | load writes/s | overwrites/s | vs 10k keys | RSS max MB | data dir max MB | live MB |`,
    `|---|---:|---:|---:|---:|---:|---:|---:|`,
  ];
  for (const r of results) {
    const baseline = r.sizes.find((s) => s.keys === BASELINE_KEYS) ?? r.sizes[0];
    for (const s of r.sizes) {
      lines.push(
        `| ${r.system} | ${s.keys} | ${fixed(s.loadOpsPerSec)} | ${fixed(s.writeOpsPerSec)} | ${
          fixed(100 * s.writeOpsPerSec / baseline.writeOpsPerSec)
        } % | ${fixed(s.rssMb)} | ${fixed(s.dataDirMb, 1)} | ${fixed(s.liveMb, 1)} |`,
      );
    }
  }
  lines.push(
    "",
    `| measure (at the largest K) | target | ${results.map((r) => r.system).join(" | ")} |`,
  );
  lines.push(`|---|---|${results.map(() => "---:|").join("")}`);
  const row = (name: string, target: string, cell: (r: ScaleResult) => string) =>
    lines.push(`| ${name} | ${target} | ${results.map(cell).join(" | ")} |`);
  const last = (r: ScaleResult) => r.sizes[r.sizes.length - 1];
  row("keys", "", (r) => String(last(r).keys));
  row("restart after kill -9, to caught up", "≤ 5 s", (r) => seconds(r.restart));
  row("elections during restart", "0", (r) => fixed(r.restart.elections));
  row(
    "follower catch-up after missing writes",
    "≤ 30 s (300k missed)",
    (r) => `${seconds(r.catchUp)} (${r.missedWrites} missed)`,
  );
  row("elections during catch-up", "0", (r) => fixed(r.catchUp.elections));
  row("new member (join) catch-up", "≤ 60 s", (r) => seconds(r.join));
  row("elections during join", "0", (r) => fixed(r.join.elections));
  row(
    "data dir after compaction / live data",
    "≤ 3x",
    (r) =>
      `${fixed(r.dataDirAfterCompactionMb / last(r).liveMb, 1)}x (${
        fixed(r.dataDirAfterCompactionMb, 1)
      } MB${r.compacted ? "" : ", own compaction"})`,
  );
  row(
    "RSS max / (3x live + 150 MB)",
    "≤ 1",
    (r) => `${fixed(last(r).rssMb / (3 * last(r).liveMb + 150), 2)} (${fixed(last(r).rssMb)} MB)`,
  );
  row(
    "RSS after deleting all, vs fresh",
    "≤ +20 %",
    (r) =>
      `${fixed(100 * (r.rssAfterDeleteMb / r.freshRssMb - 1))} % (${fixed(r.rssAfterDeleteMb)} vs ${
        fixed(r.freshRssMb)
      } MB${r.allDeleted ? "" : ", keys left!"})`,
  );
  row("delete of every key (one prefix delete)", "", (r) => seconds(r.deleteAll));
  row("elections during that delete", "0", (r) => fixed(r.deleteAll.elections));
  row("overwrites/s at K vs at 10k", "≥ 80 %", (r) => {
    const baseline = r.sizes.find((s) => s.keys === BASELINE_KEYS) ?? r.sizes[0];
    return `${fixed(100 * last(r).writeOpsPerSec / baseline.writeOpsPerSec)} %`;
  });
  return lines.join("\n");
}
