import { type Command, encodeCommand } from "./commands.ts";
import { KvStore } from "./kv.ts";

const KEYS = 1000;
const puts: Command[] = Array.from({ length: KEYS }, (_, i) => ({
  op: "put",
  key: `services/s${i}/replica`,
  value: JSON.stringify({ url: `http://10.0.0.${i % 250}:8080/mcp`, weight: i % 7 }),
}));
const entries = puts.map((cmd) => encodeCommand(cmd));

Deno.bench("apply 1000 puts (updates of existing keys)", { group: "put", baseline: true }, (b) => {
  const store = new KvStore();
  puts.forEach((cmd, i) => store.apply(i + 1, cmd));
  let index = store.appliedIndex;
  b.start();
  for (const cmd of puts) store.apply(++index, cmd);
  b.end();
});

Deno.bench("apply 1000 puts (new keys)", { group: "put" }, () => {
  const store = new KvStore();
  puts.forEach((cmd, i) => store.apply(i + 1, cmd));
});

Deno.bench("decode + apply 1000 encoded put entries", { group: "put" }, () => {
  const store = new KvStore();
  entries.forEach((bytes, i) => store.applyEntry(i + 1, bytes));
});

Deno.bench("snapshot + restore of 1000 keys and their history", (b) => {
  const store = new KvStore();
  puts.forEach((cmd, i) => store.apply(i + 1, cmd));
  b.start();
  KvStore.restore(store.snapshot());
  b.end();
});
