/**
 * Golden scenarios for membership changes. Each file in `testdata/` is a
 * story of commands, each followed by `----` and the configuration (or error)
 * it must produce. `REWRITE=1 deno test -A ...` rewrites the expectations
 * from the actual outputs (review the diff before committing).
 */
import assert from "node:assert/strict";
import { ProgressTracker, trackerConfigToString } from "../tracker/tracker.ts";
import type { ConfState } from "../types.ts";
import { Changer } from "./changer.ts";
import { confChangesFromString } from "./conf_change.ts";
import { ConfChangeError } from "./errors.ts";
import { restore } from "./restore.ts";

const TESTDATA = new URL("./testdata/", import.meta.url);
const MAX_INFLIGHT_MSGS = 8;

interface Case {
  /** Comment and blank lines before the command, kept when rewriting. */
  preamble: string[];
  command: string;
  input: string[];
  expected: string[];
}

function parse(text: string, file: string): Case[] {
  const lines = text.split("\n");
  const cases: Case[] = [];
  let preamble: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === "" || line.startsWith("#")) {
      preamble.push(line);
      i++;
      continue;
    }
    const command = line;
    const input: string[] = [];
    i++;
    while (i < lines.length && lines[i] !== "----") input.push(lines[i++]);
    if (i >= lines.length) throw new Error(`${file}: "${command}" has no ---- separator`);
    i++;
    const expected: string[] = [];
    while (i < lines.length && lines[i].trim() !== "") expected.push(lines[i++]);
    cases.push({ preamble, command, input, expected });
    preamble = [];
  }
  if (preamble.some((line) => line.trim() !== "")) throw new Error(`${file}: trailing comment`);
  return cases;
}

function render(cases: Case[]): string {
  return cases.map((c) => [...c.preamble, c.command, ...c.input, "----", ...c.expected].join("\n"))
    .join("\n") + "\n";
}

/** Parses `voters=(1 2) voters_outgoing=(1 3) learners=(4) learners_next=(3) autoleave`. */
function parseConfState(text: string): ConfState {
  const list = (key: string): string[] => {
    const match = new RegExp(`(?:^|\\s)${key}=\\(([^)]*)\\)`).exec(text);
    return match ? match[1].split(" ").filter((id) => id !== "") : [];
  };
  return {
    voters: list("voters"),
    votersOutgoing: list("voters_outgoing"),
    learners: list("learners"),
    learnersNext: list("learners_next"),
    autoLeave: /(?:^|\s)autoleave(?:\s|$)/.test(text),
  };
}

class Scenario {
  trk = new ProgressTracker(MAX_INFLIGHT_MSGS, 0);
  lastIndex = 0;

  run(command: string, input: string[]): string[] {
    const [verb, ...args] = command.split(" ").filter((word) => word !== "");
    const text = input.join(" ");
    try {
      switch (verb) {
        case "simple":
          return this.#apply((c) => c.simple(confChangesFromString(text)));
        case "enter-joint":
          return this.#apply((c) =>
            c.enterJoint(args.includes("autoleave=true"), confChangesFromString(text))
          );
        case "leave-joint":
          return this.#apply((c) => c.leaveJoint());
        case "restore":
          this.trk = new ProgressTracker(MAX_INFLIGHT_MSGS, 0);
          return this.#apply((c) => restore(c, parseConfState(text)));
        case "last-index":
          this.lastIndex = Number(args[0]);
          return ["ok"];
        case "ack": {
          // ack <id> <index>: the follower acknowledged up to <index>.
          const pr = this.trk.progress.get(args[0]);
          if (pr === undefined) return [`no progress for ${args[0]}`];
          pr.maybeUpdate(Number(args[1]));
          return this.#describe();
        }
        default:
          throw new Error(`unknown command ${verb}`);
      }
    } catch (error) {
      if (error instanceof ConfChangeError) return [error.message];
      throw error;
    }
  }

  #apply(op: (changer: Changer) => ReturnType<Changer["simple"]>): string[] {
    const result = op(new Changer(this.trk, this.lastIndex));
    this.trk.config = result.config;
    this.trk.progress = result.progress;
    return this.#describe();
  }

  #describe(): string[] {
    const lines = [trackerConfigToString(this.trk.config)];
    this.trk.visit((id, pr) => lines.push(`${id}: ${pr.toString()}`));
    return lines;
  }
}

const rewrite = Deno.env.get("REWRITE") === "1";

for (const entry of [...Deno.readDirSync(TESTDATA)].sort((a, b) => a.name < b.name ? -1 : 1)) {
  if (!entry.name.endsWith(".txt")) continue;
  Deno.test(`confchange scenario ${entry.name}`, () => {
    const url = new URL(entry.name, TESTDATA);
    const cases = parse(Deno.readTextFileSync(url), entry.name);
    assert.ok(cases.length > 0, `${entry.name} has no cases`);
    const scenario = new Scenario();
    for (const c of cases) {
      const actual = scenario.run(c.command, c.input);
      if (rewrite) c.expected = actual;
      else {
        assert.deepEqual(
          actual,
          c.expected,
          `${entry.name}: ${c.command} ${c.input.join(" ")}`,
        );
      }
    }
    if (rewrite) Deno.writeTextFileSync(url, render(cases));
  });
}
