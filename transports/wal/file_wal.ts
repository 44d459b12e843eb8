/**
 * The write-ahead log on a real disk: segment files of checksummed records
 * (format and recovery in `core/wal`), appended and fdatasync'ed before
 * anything that depends on them is sent or acknowledged.
 *
 * @module
 */
import { type Entry, type HardState, withDefaults } from "@safla/core";
import { encodeRecords, replayWal, type WalRecord, type WalState } from "@safla/core/wal";

/** Options of {@link FileWal.open}. */
export interface FileWalOptions {
  /** This node's id; a WAL written by another node is refused. */
  nodeId: string;
  /** The cluster's id; a WAL of another cluster is refused. */
  clusterId: string;
  /**
   * A new segment is started once the current one grows past this size.
   * Default {@link DEFAULT_SEGMENT_SIZE_BYTES}.
   */
  segmentSizeBytes?: number;
}

/**
 * Default size at which a segment is cut (etcd's 64 MB). Whole segments are
 * what a snapshot lets the WAL delete, so the disk holds at most about this
 * much beyond the entries after the snapshot.
 */
export const DEFAULT_SEGMENT_SIZE_BYTES = 64 * 1024 * 1024;

/** The WAL's directory belongs to another node or cluster, or cannot be used. */
export class WalOpenError extends Error {
  /** Creates the error naming the directory and the problem. */
  constructor(readonly dir: string, detail: string) {
    super(`cannot open WAL in ${dir}: ${detail}`);
    this.name = "WalOpenError";
  }
}

interface Segment {
  seq: number;
  firstIndex: number;
  path: string;
}

const SEGMENT_NAME = /^(\d{16})-(\d{16})\.wal$/;

function segmentName(seq: number, firstIndex: number): string {
  return `${String(seq).padStart(16, "0")}-${String(firstIndex).padStart(16, "0")}.wal`;
}

async function listSegments(dir: string): Promise<Segment[]> {
  const segments: Segment[] = [];
  for await (const item of Deno.readDir(dir)) {
    const match = SEGMENT_NAME.exec(item.name);
    if (item.isFile && match) {
      segments.push({
        seq: Number(match[1]),
        firstIndex: Number(match[2]),
        path: `${dir}/${item.name}`,
      });
    }
  }
  return segments.sort((a, b) => a.seq - b.seq);
}

/** Removes files a crash left half-written before their rename. */
export async function removeStaleTemporaries(dir: string): Promise<void> {
  for await (const item of Deno.readDir(dir)) {
    if (item.isFile && item.name.endsWith(".tmp")) await Deno.remove(`${dir}/${item.name}`);
  }
}

/** Makes a directory entry (a new or renamed file) durable. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await Deno.open(dir, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}

/**
 * Reads a whole file into one buffer sized from its length. `Deno.readFile`
 * grows its buffer as it reads: for a 64 MB segment that was several times
 * slower, the fresh pages of each larger copy costing more than the reading.
 */
async function readWhole(path: string): Promise<Uint8Array> {
  const file = await Deno.open(path, { read: true });
  try {
    const bytes = new Uint8Array((await file.stat()).size);
    let at = 0;
    while (at < bytes.length) {
      const n = await file.read(bytes.subarray(at));
      if (n === null) break;
      at += n;
    }
    return at === bytes.length ? bytes : bytes.subarray(0, at);
  } finally {
    file.close();
  }
}

/** Writes all of `bytes` to `file` (a write may take only part of them). */
export async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
}

/**
 * A segmented WAL in one directory.
 *
 * @example
 * ```ts
 * const { wal, state } = await FileWal.open("./data/n1/wal", { nodeId: "n1", clusterId: "c" });
 * await wal.save({ term: 1, vote: "n1", commit: 0 }, [], true);
 * wal.close();
 * ```
 */
export class FileWal {
  #dir: string;
  #options: Required<FileWalOptions>;
  #segments: Segment[];
  #file: Deno.FsFile;
  #sizeBytes: number;
  #lastIndex: number;
  #hardState: HardState;
  #snapshot: { index: number; term: number };
  #closed = false;

  private constructor(
    dir: string,
    options: Required<FileWalOptions>,
    segments: Segment[],
    file: Deno.FsFile,
    sizeBytes: number,
    state: WalState,
  ) {
    this.#dir = dir;
    this.#options = options;
    this.#segments = segments;
    this.#file = file;
    this.#sizeBytes = sizeBytes;
    this.#hardState = state.hardState;
    this.#snapshot = state.snapshot;
    this.#lastIndex = state.entries.length > 0
      ? state.entries[state.entries.length - 1].index
      : state.snapshot.index;
  }

  /**
   * Opens (or creates) the WAL in `dir` and recovers its state. A torn tail
   * left by a crash is truncated; corruption elsewhere throws.
   */
  static async open(
    dir: string,
    options: FileWalOptions,
  ): Promise<{ wal: FileWal; state: WalState }> {
    const resolved = withDefaults({ segmentSizeBytes: DEFAULT_SEGMENT_SIZE_BYTES }, options);
    if (!Number.isSafeInteger(resolved.segmentSizeBytes) || resolved.segmentSizeBytes < 1) {
      throw new RangeError(
        `FileWal: segmentSizeBytes must be a positive integer, got ${resolved.segmentSizeBytes}`,
      );
    }
    await Deno.mkdir(dir, { recursive: true });
    await removeStaleTemporaries(dir);
    let segments = await listSegments(dir);
    if (segments.length === 0) {
      const first: Segment = { seq: 0, firstIndex: 1, path: `${dir}/${segmentName(0, 1)}` };
      const tmp = `${first.path}.tmp`;
      await Deno.writeFile(
        tmp,
        encodeRecords([{
          kind: "metadata",
          nodeId: options.nodeId,
          clusterId: options.clusterId,
        }]),
      );
      const handle = await Deno.open(tmp, { write: true });
      await handle.syncData();
      handle.close();
      await Deno.rename(tmp, first.path);
      await syncDir(dir);
      segments = [first];
    }
    const contents = await Promise.all(segments.map((s) => readWhole(s.path)));
    let state: WalState;
    try {
      state = replayWal(contents);
    } catch (error) {
      throw new WalOpenError(dir, error instanceof Error ? error.message : String(error));
    }
    if (
      state.metadata?.nodeId !== options.nodeId || state.metadata?.clusterId !== options.clusterId
    ) {
      throw new WalOpenError(
        dir,
        `it belongs to node "${state.metadata?.nodeId}" of cluster "${state.metadata?.clusterId}", ` +
          `not node "${options.nodeId}" of cluster "${options.clusterId}"`,
      );
    }
    const last = segments[segments.length - 1];
    const file = await Deno.open(last.path, { read: true, write: true });
    if (state.tornTail) {
      await file.truncate(state.validBytesInLastSegment);
      await file.syncData();
    }
    await file.seek(state.validBytesInLastSegment, Deno.SeekMode.Start);
    const wal = new FileWal(dir, resolved, segments, file, state.validBytesInLastSegment, state);
    return { wal, state };
  }

  /** Index of the latest snapshot marker (0: none). */
  get snapshotIndex(): number {
    return this.#snapshot.index;
  }

  /** Index of the last entry written. */
  get lastIndex(): number {
    return this.#lastIndex;
  }

  /**
   * Appends a hard state and entries; with `sync`, returns only once they are
   * on stable storage (fdatasync).
   */
  async save(
    hardState: HardState | undefined,
    entries: readonly Entry[],
    sync: boolean,
  ): Promise<void> {
    this.#assertOpen();
    if (entries.length > 0 && entries[0].index > this.#lastIndex + 1) {
      throw new RangeError(
        `WAL append: entry ${entries[0].index} leaves a gap after ${this.#lastIndex}`,
      );
    }
    const records: WalRecord[] = entries.map((entry) => ({ kind: "entry", entry }));
    if (hardState) records.push({ kind: "hardState", hardState });
    if (records.length === 0) return;
    const bytes = encodeRecords(records);
    await writeAll(this.#file, bytes);
    this.#sizeBytes += bytes.length;
    if (entries.length > 0) this.#lastIndex = entries[entries.length - 1].index;
    if (hardState) this.#hardState = hardState;
    if (sync) await this.#file.syncData();
    if (this.#sizeBytes >= this.#options.segmentSizeBytes) await this.#cut();
  }

  /**
   * Records that a snapshot up to `index` is durable in the snapshot store, so
   * entries up to it need not be replayed. Call after the snapshot file is synced.
   */
  async saveSnapshotMarker(index: number, term: number): Promise<void> {
    this.#assertOpen();
    if (index < this.#snapshot.index) {
      // Replay would start before entries the newer snapshot let the log drop.
      throw new RangeError(
        `WAL snapshot marker ${index} would move back from ${this.#snapshot.index}`,
      );
    }
    await writeAll(this.#file, encodeRecords([{ kind: "snapshot", index, term }]));
    await this.#file.syncData();
    this.#snapshot = { index, term };
    if (index > this.#lastIndex) this.#lastIndex = index;
  }

  /** Deletes segments whose entries all lie at or below the durable snapshot marker. */
  async releaseToSnapshot(): Promise<number> {
    this.#assertOpen();
    let released = 0;
    while (this.#segments.length > 1 && this.#segments[1].firstIndex - 1 <= this.#snapshot.index) {
      const [old] = this.#segments.splice(0, 1);
      await Deno.remove(old.path);
      released++;
    }
    if (released > 0) await syncDir(this.#dir);
    return released;
  }

  /** Size at which the current segment is cut. */
  get segmentSizeBytes(): number {
    return this.#options.segmentSizeBytes;
  }

  /** Number of segment files. */
  get segmentCount(): number {
    return this.#segments.length;
  }

  /** Closes the current segment. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#file.close();
  }

  async #cut(): Promise<void> {
    await this.#file.syncData();
    const seq = this.#segments[this.#segments.length - 1].seq + 1;
    const segment: Segment = {
      seq,
      firstIndex: this.#lastIndex + 1,
      path: `${this.#dir}/${segmentName(seq, this.#lastIndex + 1)}`,
    };
    const head = encodeRecords([
      { kind: "metadata", nodeId: this.#options.nodeId, clusterId: this.#options.clusterId },
      { kind: "snapshot", ...this.#snapshot },
      { kind: "hardState", hardState: this.#hardState },
    ]);
    const tmp = `${segment.path}.tmp`;
    await Deno.writeFile(tmp, head);
    const handle = await Deno.open(tmp, { write: true });
    await handle.syncData();
    handle.close();
    await Deno.rename(tmp, segment.path);
    await syncDir(this.#dir);
    this.#file.close();
    this.#file = await Deno.open(segment.path, { read: true, write: true });
    await this.#file.seek(0, Deno.SeekMode.End);
    this.#segments.push(segment);
    this.#sizeBytes = head.length;
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error("WAL is closed");
  }
}
