/**
 * The exact command that replays one seed of a campaign: every flag the
 * campaign ran with (cluster size, scenario, injected bug and any flag added
 * later), so the hint and the JSON reproduce the failing run, not a
 * different one that shares its seed.
 *
 * @example
 * ```ts
 * import { replayCommand } from "./replay.ts";
 * const cmd = replayCommand({ seeds: 50, firstSeed: 1, json: true, nodes: 5, bug: "x" }, 7);
 * console.assert(cmd === "deno task sim --seed 7 --nodes 5 --bug x");
 * ```
 *
 * @module
 */

/** Options that select seeds or output form: a replay sets its own. */
const CAMPAIGN_ONLY = new Set(["seeds", "firstSeed", "seed", "json"]);

/** `deno task sim --seed S` plus every other option as its flag (`firstSeed` -> `--first-seed`). */
export function replayCommand(options: object, seed: number): string {
  const words = ["deno task sim", "--seed", String(seed)];
  for (const [key, value] of Object.entries(options)) {
    if (CAMPAIGN_ONLY.has(key) || value === undefined || value === false) continue;
    words.push(`--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
    if (value !== true) words.push(shellWord(String(value)));
  }
  return words.join(" ");
}

function shellWord(word: string): string {
  return /^[\w.,:=\/-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
