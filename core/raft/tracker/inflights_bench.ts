import { Inflights } from "./inflights.ts";

// A leader in replicate state adds one entry per append it sends and frees on
// every acknowledgement; this is that steady state with a window of 256.
Deno.bench("Inflights add + freeLE, steady state, capacity 256", () => {
  const window = new Inflights(256, 0);
  for (let index = 1; index <= 1024; index++) {
    if (window.full()) window.freeLE(index - 128);
    window.add(index, 100);
  }
});
