import { SeededRng } from "@safla/core";
import { checkKvHistory, type KvInput, type KvOperation, type KvOutput } from "./kv_model.ts";

const CLIENTS = 5;
const OPERATIONS = 1_000;

/**
 * A history as five closed-loop clients record it against a correct store
 * (the simulator's workload mix: unique values, reads with versions,
 * compare-and-swap on versions, a few deletes). Every operation takes effect
 * at a random instant inside its interval; `timeoutShare` of the writes
 * time out, and half of those never take effect.
 */
function closedLoopHistory(seed: number, keys: number, timeoutShare: number): KvOperation[] {
  const rng = new SeededRng(seed);
  const freeAt = new Array<number>(CLIENTS).fill(0);
  const store = new Map<string, { value: string; version: number }>();
  const events: Array<{ atTime: number; op: KvOperation; apply: () => void }> = [];
  for (let k = 0; k < OPERATIONS; k++) {
    const clientId = k % CLIENTS;
    const key = `k${rng.int(keys)}`;
    const invokeTime = freeAt[clientId] + rng.int(20);
    const durationTime = 5 + rng.int(60);
    const r = rng.next();
    const input: KvInput = r < 0.4
      ? { op: "get" }
      : r < 0.55
      ? { op: "cas", expect: { version: rng.int(4) }, value: `c${clientId}.${k}` }
      : r < 0.6
      ? { op: "delete" }
      : { op: "put", value: `c${clientId}.${k}` };
    const timedOut = input.op !== "get" && rng.next() < timeoutShare;
    const lost = timedOut && rng.int(2) === 0;
    freeAt[clientId] = invokeTime + durationTime;
    const op: KvOperation = {
      clientId,
      key,
      input,
      output: undefined,
      invokeTime,
      completeTime: timedOut ? undefined : invokeTime + durationTime,
    };
    const atTime = invokeTime + rng.next() * (timedOut ? 10 * durationTime : durationTime);
    events.push({
      atTime,
      op,
      apply: () => {
        if (lost) return;
        const output = applyTo(store, key, input);
        if (!timedOut) op.output = output;
      },
    });
  }
  events.sort((a, b) => a.atTime - b.atTime);
  for (const e of events) e.apply();
  return events.map((e) => e.op).sort((a, b) => a.invokeTime - b.invokeTime);
}

function applyTo(
  store: Map<string, { value: string; version: number }>,
  key: string,
  input: KvInput,
): KvOutput {
  const cur = store.get(key);
  const write = (value: string) => store.set(key, { value, version: (cur?.version ?? 0) + 1 });
  switch (input.op) {
    case "get":
      return { value: cur?.value ?? null, version: cur?.version ?? 0 };
    case "put":
    case "append":
      write(input.value);
      return {};
    case "delete":
      return { deleted: store.delete(key) };
    case "cas": {
      const e = input.expect;
      const holds = "version" in e ? (cur?.version ?? 0) === e.version : cur?.value === e.value;
      if (holds) write(input.value);
      return { succeeded: holds };
    }
  }
}

/** The same history with one late read turned stale (it returns an old, overwritten value). */
function withStaleRead(history: KvOperation[]): KvOperation[] {
  const out = history.slice();
  const reads = out.map((op, i) => ({ op, i })).filter(({ op }) =>
    op.input.op === "get" && typeof op.output?.value === "string"
  );
  const late = reads[Math.floor(reads.length * 0.8)];
  const old = out.find((op) =>
    op.key === late.op.key && op.input.op === "put" && op.completeTime !== undefined &&
    op.completeTime < late.op.invokeTime - 2_000
  );
  if (old === undefined || old.input.op !== "put") throw new Error("no old write to read");
  out[late.i] = { ...late.op, output: { value: old.input.value } };
  return out;
}

const cases: Array<[string, KvOperation[], string]> = [
  ["1,000 ops, 5 clients, 1 key", closedLoopHistory(1, 1, 0), "linearizable"],
  [
    "1,000 ops, 5 clients, 1 key, 5% writes timed out",
    closedLoopHistory(2, 1, 0.05),
    "linearizable",
  ],
  ["1,000 ops, 5 clients, 10 keys, 5% timed out", closedLoopHistory(3, 10, 0.05), "linearizable"],
  [
    "1,000 ops, 5 clients, 1 key, 5% timed out, one stale read",
    withStaleRead(closedLoopHistory(2, 1, 0.05)),
    "notLinearizable",
  ],
];

for (const [name, history, expected] of cases) {
  const status = checkKvHistory(history).status;
  if (status !== expected) throw new Error(`${name}: expected ${expected}, got ${status}`);
  Deno.bench(name, () => {
    checkKvHistory(history);
  });
}
