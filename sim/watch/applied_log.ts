/**
 * The reference the watch checker compares against: the committed command
 * sequence as the nodes applied it, reconstructed from every node's applies
 * (State Machine Safety says they agree index by index), then replayed
 * through a fresh production {@link KvStore} with an unbounded history to
 * give the global committed event sequence.
 *
 * Every committed command is applied through `StateMachine.apply` by at
 * least one state machine (a snapshot is only ever taken from a state
 * machine that applied what it covers), so tapping every state machine the
 * cluster creates sees every committed command.
 *
 * @module
 */
import { type KvQuery, KvStateMachine, type StateMachine } from "@safla/core/node";
import {
  type CommandResult,
  KvStore,
  type KvStoreOptions,
  type WatchEvent,
} from "@safla/core/state";

/** Bound on recorded disagreements (one is enough to fail a run; a few help debugging). */
const MAX_DISAGREEMENTS = 16;

/** The global committed event sequence. */
export interface CanonicalHistory {
  /** Every event of every committed command, in revision order. */
  events: WatchEvent[];
  /** Revision of the last committed write (0 if none). */
  lastRevision: number;
  /** Committed commands replayed. */
  commands: number;
}

/**
 * Commands applied by any node, by log index.
 *
 * @example
 * ```ts
 * import { encodeCommand } from "@safla/core/state";
 * import { AppliedLog } from "./applied_log.ts";
 * const log = new AppliedLog();
 * log.record("n1", 1, encodeCommand({ op: "put", key: "a", value: "1" }));
 * console.assert(log.canonical().lastRevision === 1);
 * ```
 */
export class AppliedLog {
  readonly #commands = new Map<number, { applier: string; command: Uint8Array }>();
  /** Indices where two nodes applied different commands (State Machine Safety broken). */
  readonly disagreements: string[] = [];

  /** Number of distinct indices recorded. */
  get size(): number {
    return this.#commands.size;
  }

  /** State machine `applier` applied `command` at log `index`. */
  record(applier: string, index: number, command: Uint8Array): void {
    const known = this.#commands.get(index);
    if (known === undefined) {
      this.#commands.set(index, { applier, command: command.slice() });
      return;
    }
    if (!sameBytes(known.command, command) && this.disagreements.length < MAX_DISAGREEMENTS) {
      this.disagreements.push(
        `index ${index}: ${applier} applied a different command than ${known.applier}`,
      );
    }
  }

  /** Replays the recorded commands in index order into a fresh store with an unbounded history. */
  canonical(): CanonicalHistory {
    const store = new KvStore({
      historyLimitEvents: Number.MAX_SAFE_INTEGER,
      historyLimitBytes: Number.MAX_SAFE_INTEGER,
    });
    const indices = [...this.#commands.keys()].sort((a, b) => a - b);
    for (const index of indices) store.applyEntry(index, this.#commands.get(index)!.command);
    const events: WatchEvent[] = [];
    store.history.forEachFrom(0, (event) => {
      events.push(event);
      return true;
    });
    if (store.history.compactRevision !== 0) {
      throw new Error(`AppliedLog: the reference history was compacted`);
    }
    return { events, lastRevision: store.revision, commands: indices.length };
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The production {@link KvStateMachine}, with every apply also recorded in
 * an {@link AppliedLog}, and a watch history bounded as asked (small bounds
 * make watchers fall behind the history window).
 */
export class TappedKvStateMachine extends KvStateMachine {
  readonly #log: AppliedLog;
  readonly #label: string;

  /** A state machine named `label` (for reports) recording into `log`. */
  constructor(label: string, log: AppliedLog, history: KvStoreOptions) {
    super();
    this.#label = label;
    this.#log = log;
    // KvStateMachine takes no store options; a restored snapshot carries its history bounds.
    this.restore(new KvStore(history).snapshot());
  }

  /** Records, then applies. */
  override apply(command: Uint8Array, index: number): CommandResult {
    this.#log.record(this.#label, index, command);
    return super.apply(command, index);
  }
}

/**
 * A factory of tapped state machines for one cluster (the cluster does not
 * say which node a state machine is for, so they are numbered).
 */
export function tappedStateMachines(
  log: AppliedLog,
  history: KvStoreOptions,
): () => StateMachine<KvQuery, CommandResult> {
  let made = 0;
  return () => new TappedKvStateMachine(`state machine #${++made}`, log, history);
}
