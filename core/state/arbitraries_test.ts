// Shared fast-check generators for this folder's tests (no tests of its own).
// Keys come from a tiny alphabet so that generated commands collide on keys,
// prefixes and leases often enough to exercise versions, CAS and lease deletion.
import fc from "fast-check";
import type { Command, Compare, DeleteCommand, TxnOp } from "./commands.ts";

/** Short keys over "ab/": "a", "a/b", "b/a/a", ... */
export const arbKey = (): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom("a", "b", "/"), minLength: 1, maxLength: 4 });

const arbValue = (): fc.Arbitrary<string> => fc.string({ maxLength: 6 });
const arbLeaseId = (): fc.Arbitrary<number> => fc.integer({ min: 1, max: 3 });

const arbPut = () =>
  fc.record({
    op: fc.constant("put" as const),
    key: arbKey(),
    value: arbValue(),
    leaseId: fc.oneof(
      { arbitrary: fc.constant(undefined), weight: 4 },
      { arbitrary: arbLeaseId(), weight: 1 },
    ),
    prevKv: fc.option(fc.constant(true), { nil: undefined }),
  }, { requiredKeys: ["op", "key", "value"] });

const arbDelete = (): fc.Arbitrary<DeleteCommand> =>
  fc.oneof<fc.Arbitrary<DeleteCommand>[]>(
    fc.record({ op: fc.constant("delete" as const), key: arbKey() }),
    fc.record({
      op: fc.constant("delete" as const),
      key: fc.string({ unit: fc.constantFrom("a", "b", "/"), maxLength: 2 }),
      prefix: fc.constant(true),
      prevKv: fc.constant(true),
    }),
  );

const arbGet = () => fc.record({ op: fc.constant("get" as const), key: arbKey() });

const arbCompare = (): fc.Arbitrary<Compare> =>
  fc.oneof(
    fc.record({
      key: arbKey(),
      target: fc.constantFrom(
        "version" as const,
        "createRevision" as const,
        "modRevision" as const,
      ),
      result: fc.constantFrom(
        "equal" as const,
        "notEqual" as const,
        "less" as const,
        "greater" as const,
      ),
      value: fc.integer({ min: 0, max: 8 }),
    }),
    fc.record({
      key: arbKey(),
      target: fc.constant("value" as const),
      result: fc.constantFrom(
        "equal" as const,
        "notEqual" as const,
        "less" as const,
        "greater" as const,
      ),
      value: arbValue(),
    }),
  );

/** A branch without two writes to one key (validation refuses those). */
const arbBranch = (): fc.Arbitrary<TxnOp[]> =>
  fc.array(fc.oneof(arbPut(), arbDelete(), arbGet()), { maxLength: 3 }).map((ops) => {
    const written: string[] = [];
    return ops.filter((op) => {
      if (op.op === "get") return true;
      const clashes = op.op === "put"
        ? written.some((w) =>
          w === op.key || (w.endsWith("*") && op.key.startsWith(w.slice(0, -1)))
        )
        : written.some((w) =>
          !w.endsWith("*") && (op.prefix ? w.startsWith(op.key) : w === op.key)
        );
      if (clashes) return false;
      written.push(op.op === "put" ? op.key : op.prefix ? `${op.key}*` : op.key);
      return true;
    });
  });

/** Command sequences of up to `maxLength`, biased towards long ones. */
export const arbCommands = (maxLength: number): fc.Arbitrary<Command[]> =>
  fc.array(arbCommand(), { maxLength, size: "max" });

/** Any command, weighted towards writes. */
export const arbCommand = (): fc.Arbitrary<Command> =>
  fc.oneof(
    { arbitrary: arbPut(), weight: 6 },
    { arbitrary: arbDelete(), weight: 2 },
    { arbitrary: arbGet(), weight: 1 },
    {
      arbitrary: fc.record({
        op: fc.constant("range" as const),
        prefix: fc.string({ unit: fc.constantFrom("a", "b", "/"), maxLength: 2 }),
        limit: fc.integer({ min: 1, max: 5 }),
      }),
      weight: 1,
    },
    {
      arbitrary: fc.record({
        op: fc.constant("txn" as const),
        compare: fc.array(arbCompare(), { maxLength: 2 }),
        success: arbBranch(),
        failure: arbBranch(),
      }),
      weight: 3,
    },
    {
      arbitrary: fc.record({
        op: fc.constant("leaseGrant" as const),
        leaseId: arbLeaseId(),
        ttlMs: fc.integer({ min: 1, max: 10_000 }),
        nowMs: fc.nat({ max: 1_000_000 }),
      }),
      weight: 2,
    },
    {
      arbitrary: fc.record({ op: fc.constant("leaseRevoke" as const), leaseId: arbLeaseId() }),
      weight: 1,
    },
    {
      arbitrary: fc.record({
        op: fc.constant("leaseKeepAlive" as const),
        leaseId: arbLeaseId(),
        nowMs: fc.nat({ max: 1_000_000 }),
      }),
      weight: 1,
    },
    {
      arbitrary: fc.record({
        op: fc.constant("leaseExpire" as const),
        leaseId: arbLeaseId(),
        term: fc.integer({ min: 1, max: 3 }),
        renewIndex: fc.integer({ min: 1, max: 20 }),
      }),
      weight: 1,
    },
  );

/**
 * Command sequences that also compact the watch history (which the naive
 * models of the KV and watch properties do not cover).
 */
export const arbCommandsWithCompactions = (maxLength: number): fc.Arbitrary<Command[]> =>
  fc.array(
    fc.oneof(
      { arbitrary: arbCommand(), weight: 10 },
      {
        arbitrary: fc.record({
          op: fc.constant("compact" as const),
          revision: fc.integer({ min: 1, max: 60 }),
        }),
        weight: 1,
      },
    ),
    { maxLength, size: "max" },
  );
