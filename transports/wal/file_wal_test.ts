import assert from "node:assert/strict";
import type { Entry } from "@safla/core";
import { DEFAULT_SEGMENT_SIZE_BYTES, FileWal, WalOpenError } from "./file_wal.ts";
import { encodeSnapshotFile, SnapshotCorruptionError, SnapshotFiles } from "./snapshot_files.ts";

const ids = { nodeId: "n1", clusterId: "test" };
const entries = (from: number, to: number, term = 1): Entry[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ({
    index: from + i,
    term,
    type: "normal" as const,
    data: new TextEncoder().encode(`value-${from + i}`),
  }));

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "safla-wal-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function segmentFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const item of Deno.readDir(dir)) if (item.name.endsWith(".wal")) names.push(item.name);
  return names.sort();
}

Deno.test("entries and hard state survive a reopen", () =>
  withDir(async (dir) => {
    const first = await FileWal.open(dir, ids);
    assert.equal(first.state.entries.length, 0);
    await first.wal.save({ term: 1, vote: "n1", commit: 0 }, entries(1, 5), true);
    await first.wal.save({ term: 2, vote: "n2", commit: 3 }, entries(4, 6, 2), true);
    first.wal.close();
    const { wal, state } = await FileWal.open(dir, ids);
    wal.close();
    assert.deepEqual(state.hardState, { term: 2, vote: "n2", commit: 3 });
    assert.deepEqual(state.entries.map((e) => `${e.index}@${e.term}`), [
      "1@1",
      "2@1",
      "3@1",
      "4@2",
      "5@2",
      "6@2",
    ]);
    assert.equal(new TextDecoder().decode(state.entries[5].data), "value-6");
  }));

Deno.test("a torn tail is truncated on open and appends continue after it", () =>
  withDir(async (dir) => {
    const first = await FileWal.open(dir, ids);
    await first.wal.save({ term: 1, vote: null, commit: 2 }, entries(1, 3), true);
    first.wal.close();
    const [segment] = await segmentFiles(dir);
    const path = `${dir}/${segment}`;
    const intact = (await Deno.stat(path)).size;
    await Deno.writeFile(path, new Uint8Array([7, 0, 0, 0, 1, 2, 3]), { append: true });
    const second = await FileWal.open(dir, ids);
    assert.equal(second.state.tornTail, true);
    assert.equal((await Deno.stat(path)).size, intact);
    await second.wal.save(undefined, entries(4, 4), true);
    second.wal.close();
    const third = await FileWal.open(dir, ids);
    third.wal.close();
    assert.equal(third.state.tornTail, false);
    assert.deepEqual(third.state.entries.map((e) => e.index), [1, 2, 3, 4]);
  }));

Deno.test("corruption in the middle of the log refuses to open instead of dropping data", () =>
  withDir(async (dir) => {
    const first = await FileWal.open(dir, ids);
    await first.wal.save(undefined, entries(1, 10), true);
    first.wal.close();
    const [segment] = await segmentFiles(dir);
    const bytes = await Deno.readFile(`${dir}/${segment}`);
    bytes[Math.floor(bytes.length / 2)] ^= 0x40;
    await Deno.writeFile(`${dir}/${segment}`, bytes);
    await assert.rejects(() => FileWal.open(dir, ids), WalOpenError);
  }));

Deno.test("a WAL of another node or cluster is refused with both identities named", () =>
  withDir(async (dir) => {
    (await FileWal.open(dir, ids)).wal.close();
    await assert.rejects(
      () => FileWal.open(dir, { nodeId: "n2", clusterId: "test" }),
      /belongs to node "n1" of cluster "test", not node "n2"/,
    );
  }));

Deno.test("an undefined segment size keeps the default (a host passes its option through)", () =>
  withDir(async (dir) => {
    const { wal } = await FileWal.open(`${dir}/wal`, { ...ids, segmentSizeBytes: undefined });
    wal.close();
    assert.equal(wal.segmentSizeBytes, DEFAULT_SEGMENT_SIZE_BYTES);
    await assert.rejects(
      () => FileWal.open(`${dir}/wal`, { ...ids, segmentSizeBytes: 0 }),
      /segmentSizeBytes must be a positive integer, got 0/,
    );
  }));

Deno.test("segments are cut by size and released once a snapshot covers them", () =>
  withDir(async (dir) => {
    const snaps = new SnapshotFiles(`${dir}/snap`);
    const { wal } = await FileWal.open(`${dir}/wal`, { ...ids, segmentSizeBytes: 256 });
    for (let i = 1; i <= 40; i += 4) {
      await wal.save({ term: 1, vote: "n1", commit: i + 3 }, entries(i, i + 3), true);
    }
    const before = wal.segmentCount;
    assert.ok(before > 3, `expected several segments, got ${before}`);
    const snapshot = {
      data: new TextEncoder().encode("state@30"),
      metadata: {
        index: 30,
        term: 1,
        confState: {
          voters: ["n1"],
          votersOutgoing: [],
          learners: [],
          learnersNext: [],
          autoLeave: false,
        },
      },
    };
    await snaps.save(snapshot);
    await wal.saveSnapshotMarker(30, 1);
    assert.equal(wal.snapshotIndex, 30);
    // An older snapshot finishing late must not move the marker back.
    await assert.rejects(() => wal.saveSnapshotMarker(20, 1), /would move back from 30/);
    const released = await wal.releaseToSnapshot();
    assert.ok(released > 0);
    assert.equal(wal.segmentCount, before - released);
    wal.close();
    const { wal: reopened, state } = await FileWal.open(`${dir}/wal`, {
      ...ids,
      segmentSizeBytes: 256,
    });
    reopened.close();
    assert.deepEqual(state.snapshot, { index: 30, term: 1 });
    assert.equal(state.entries[0].index, 31);
    assert.equal(state.entries[state.entries.length - 1].index, 40);
    assert.deepEqual(state.hardState, { term: 1, vote: "n1", commit: 40 });
    const loaded = await snaps.load(30, 1);
    assert.equal(new TextDecoder().decode(loaded?.data), "state@30");
  }));

Deno.test("a damaged snapshot file is reported, not loaded", () =>
  withDir(async (dir) => {
    const snaps = new SnapshotFiles(dir);
    const path = await snaps.save({
      data: new Uint8Array([1, 2, 3]),
      metadata: {
        index: 5,
        term: 2,
        confState: {
          voters: ["n1"],
          votersOutgoing: [],
          learners: [],
          learnersNext: [],
          autoLeave: false,
        },
      },
    });
    const bytes = await Deno.readFile(path);
    bytes[bytes.length - 1] ^= 1;
    await Deno.writeFile(path, bytes);
    await assert.rejects(() => snaps.load(5, 2), SnapshotCorruptionError);
    await assert.rejects(() => snaps.load(6, 2), /missing/);
    assert.equal(await snaps.load(0, 0), undefined);
  }));

Deno.test("a snapshot of several chunks is saved as encodeSnapshotFile's bytes and loads back", () =>
  withDir(async (dir) => {
    const snaps = new SnapshotFiles(dir);
    // Two and a half chunks of bytes that differ from chunk to chunk.
    const data = Uint8Array.from(
      { length: (5 << 20) / 2 + 3 },
      (_, i) => (i * 31 + (i >> 20)) & 0xff,
    );
    const snapshot = {
      data,
      metadata: {
        index: 7,
        term: 3,
        confState: {
          voters: ["n1", "n2"],
          votersOutgoing: [],
          learners: [],
          learnersNext: [],
          autoLeave: false,
        },
      },
    };
    const path = await snaps.save(snapshot);
    assert.deepEqual(await Deno.readFile(path), encodeSnapshotFile(snapshot));
    assert.deepEqual(await snaps.load(7, 3), snapshot);
    // The checksum carried over 100 KiB chunks (a turn of the event loop between them).
    assert.deepEqual(await snaps.load(7, 3, 100 * 1024), snapshot);
  }));

Deno.test("purge keeps only the newest snapshots", () =>
  withDir(async (dir) => {
    const snaps = new SnapshotFiles(dir);
    const confState = {
      voters: ["n1"],
      votersOutgoing: [],
      learners: [],
      learnersNext: [],
      autoLeave: false,
    };
    for (const index of [3, 9, 6]) {
      await snaps.save({ data: new Uint8Array([index]), metadata: { index, term: 1, confState } });
    }
    assert.equal(await snaps.purge(1), 2);
    assert.equal((await snaps.load(9, 1))?.data[0], 9);
    await assert.rejects(() => snaps.load(3, 1), /missing/);
  }));

Deno.test("a snapshot file streams its data and is checked once it is read to its end", () =>
  withDir(async (dir) => {
    const snaps = new SnapshotFiles(dir);
    const data = new Uint8Array(3 * 1024 * 1024 + 5).map((_, i) => i % 251);
    const metadata = {
      index: 9,
      term: 3,
      confState: {
        voters: ["n1"],
        votersOutgoing: [],
        learners: [],
        learnersNext: [],
        autoLeave: false,
      },
    };
    const path = await snaps.save({ data, metadata });
    /** Reads the stream in pieces of `pieceBytes`, at most `limitPieces` of them. */
    const readAll = (pieceBytes: number, limitPieces = Infinity) =>
      snaps.stream(9, 3, (m, source) => {
        const out = new Uint8Array(data.length + pieceBytes);
        let at = 0;
        for (let pieces = 0; pieces < limitPieces; pieces++) {
          const n = source(out.subarray(at, at + pieceBytes));
          if (n === 0) break;
          at += n;
        }
        return { m, bytes: out.slice(0, at) };
      });
    const read = readAll(1 << 20)!;
    assert.deepEqual(read.m, metadata);
    assert.deepEqual(read.bytes, data);
    assert.throws(() => readAll(1000, 10), /bytes left after the snapshot data/);
    assert.equal(snaps.stream(0, 0, () => 1), undefined);
    assert.throws(() => snaps.stream(10, 3, () => 1), /missing/);
    const bytes = await Deno.readFile(path);
    bytes[bytes.length - 100] ^= 1;
    await Deno.writeFile(path, bytes);
    assert.throws(() => readAll(1 << 20), /checksum mismatch/);
    assert.equal(await snaps.load(0, 0), undefined);
    await assert.rejects(() => snaps.load(9, 3), /checksum mismatch/);
    await assert.rejects(() => snaps.load(9, 3, 64 * 1024), /checksum mismatch/);
  }));
