/**
 * `deno task sim --coverage`: runs the same campaign under `deno run
 * --coverage` in a child process and reports the branch and line coverage of
 * `core/raft/` and `core/state/` it reached, from `deno coverage --lcov`. A
 * new fault or scenario has to raise these figures to be worth its time.
 *
 * @module
 */

/** Coverage of one area of the core. */
export interface AreaCoverage {
  /** Branches taken at least once / branches found. */
  branchesHit: number;
  branchesFound: number;
  /** Lines run at least once / lines found. */
  linesHit: number;
  linesFound: number;
}

/** The areas reported, by path prefix. */
export const COVERAGE_AREAS = ["core/raft/", "core/state/"] as const;

/** Sums lcov records per area; test, bench and mod files are left out. */
export function summarizeLcov(lcov: string, root: string): Record<string, AreaCoverage> {
  const out: Record<string, AreaCoverage> = {};
  for (const area of COVERAGE_AREAS) {
    out[area] = { branchesHit: 0, branchesFound: 0, linesHit: 0, linesFound: 0 };
  }
  let area: AreaCoverage | undefined;
  for (const line of lcov.split("\n")) {
    if (line.startsWith("SF:")) {
      const path = line.slice(3).replace(/^file:\/\//, "").replace(root, "");
      const name = COVERAGE_AREAS.find((a) => path.startsWith(a));
      const skip = /_(test|bench)\.ts$|\/mod\.ts$/.test(path);
      area = name === undefined || skip ? undefined : out[name];
    } else if (area !== undefined) {
      const [key, value] = line.split(":");
      const n = Number(value);
      if (key === "BRF") area.branchesFound += n;
      else if (key === "BRH") area.branchesHit += n;
      else if (key === "LF") area.linesFound += n;
      else if (key === "LH") area.linesHit += n;
    }
  }
  return out;
}

/** One line per area: `core/raft/  branches 812/1034 (78.5 %)  lines ...`. */
export function formatCoverage(summary: Record<string, AreaCoverage>): string {
  const pct = (hit: number, found: number) =>
    found === 0 ? "-" : `${(100 * hit / found).toFixed(1)} %`;
  return Object.entries(summary).map(([area, c]) =>
    `${area.padEnd(12)} branches ${c.branchesHit}/${c.branchesFound} ` +
    `(${pct(c.branchesHit, c.branchesFound)})  lines ${c.linesHit}/${c.linesFound} ` +
    `(${pct(c.linesHit, c.linesFound)})`
  ).join("\n");
}

/**
 * Runs `sim/main.ts` with `args` (without `--coverage`) under coverage and
 * returns the child's exit code and the coverage of each area.
 */
export async function runWithCoverage(
  args: readonly string[],
): Promise<{ code: number; coverage: Record<string, AreaCoverage> }> {
  const root = new URL("..", import.meta.url).pathname;
  const dir = await Deno.makeTempDir({ prefix: "safla-sim-coverage-" });
  try {
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `--coverage=${dir}`, `${root}sim/main.ts`, ...args],
      stdout: "inherit",
      stderr: "inherit",
      stdin: "null",
    }).output();
    const report = await new Deno.Command(Deno.execPath(), {
      args: ["coverage", "--lcov", ...COVERAGE_AREAS.map((a) => `--include=${a}`), dir],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (report.code !== 0) {
      throw new Error(`deno coverage failed: ${new TextDecoder().decode(report.stderr)}`);
    }
    return {
      code: run.code,
      coverage: summarizeLcov(new TextDecoder().decode(report.stdout), root),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
