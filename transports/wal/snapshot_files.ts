/**
 * Raft snapshots on disk, one checksummed file each, written to a temporary
 * name, synced and renamed so a crash never leaves a half snapshot in place.
 *
 * @module
 */
import {
  type ByteSource,
  crc32c,
  crc32cRange,
  type Snapshot,
  type SnapshotMetadata,
} from "@safla/core";
import { removeStaleTemporaries, syncDir, writeAll } from "./file_wal.ts";

const MAGIC = new TextEncoder().encode("SAFLASNP");
const HEADER_BYTES = MAGIC.length + 8;
const SNAPSHOT_NAME = /^(\d{16})-(\d{16})\.snap$/;

/** A snapshot file failed its checksum or is malformed. */
export class SnapshotCorruptionError extends Error {
  /** Creates the error naming the file and what is wrong. */
  constructor(readonly path: string, detail: string) {
    super(`snapshot file ${path} is corrupt: ${detail}`);
    this.name = "SnapshotCorruptionError";
  }
}

function fileName(index: number, term: number): string {
  return `${String(term).padStart(16, "0")}-${String(index).padStart(16, "0")}.snap`;
}

/** Bound on a file's metadata (a membership in JSON), against a damaged length. */
const MAX_METADATA_BYTES = 1024 * 1024;

function parseMetadata(path: string, bytes: Uint8Array): SnapshotMetadata {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new SnapshotCorruptionError(path, `metadata is not JSON: ${error}`);
  }
}

/**
 * Bytes of snapshot data checksummed and written per event-loop turn by
 * {@link SnapshotFiles.save}: a snapshot is megabytes, and copying and
 * checksumming it in one go held up the node's messages for tens of ms.
 */
const SAVE_CHUNK_BYTES = 1 << 20;

/** A file's header (magic, checksum, metadata length) and metadata, the checksum still zero. */
function headerAndMetadata(snapshot: Snapshot): Uint8Array {
  const meta = new TextEncoder().encode(JSON.stringify(snapshot.metadata));
  const out = new Uint8Array(HEADER_BYTES + meta.length);
  out.set(MAGIC, 0);
  new DataView(out.buffer).setUint32(MAGIC.length + 4, meta.length, true);
  out.set(meta, HEADER_BYTES);
  return out;
}

/** Encodes a snapshot as file bytes: magic, checksum, metadata length, metadata, data. */
export function encodeSnapshotFile(snapshot: Snapshot): Uint8Array {
  const head = headerAndMetadata(snapshot);
  const out = new Uint8Array(head.length + snapshot.data.length);
  out.set(head, 0);
  out.set(snapshot.data, head.length);
  new DataView(out.buffer).setUint32(MAGIC.length, crc32c(out.subarray(MAGIC.length + 4)), true);
  return out;
}

/** Decodes file bytes written by {@link encodeSnapshotFile}, verifying the checksum. */
export function decodeSnapshotFile(
  path: string,
  bytes: Uint8Array,
  options: { checksumVerified?: boolean } = {},
): Snapshot {
  if (bytes.length < HEADER_BYTES || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new SnapshotCorruptionError(path, "not a snapshot file (bad magic or too short)");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (
    !options.checksumVerified &&
    crc32c(bytes.subarray(MAGIC.length + 4)) !== view.getUint32(MAGIC.length, true)
  ) {
    throw new SnapshotCorruptionError(path, "checksum mismatch");
  }
  const metaLength = view.getUint32(MAGIC.length + 4, true);
  if (HEADER_BYTES + metaLength > bytes.length) {
    throw new SnapshotCorruptionError(path, "metadata runs past the end of the file");
  }
  const metadata = parseMetadata(path, bytes.subarray(HEADER_BYTES, HEADER_BYTES + metaLength));
  // A view, not a copy: the file's bytes are as large as the store.
  return { metadata, data: bytes.subarray(HEADER_BYTES + metaLength) };
}

/**
 * The snapshot directory of one node.
 *
 * @example
 * ```ts
 * const store = new SnapshotFiles("./data/n1/snap");
 * const latest = await store.load(0, 0);
 * ```
 */
export class SnapshotFiles {
  /** Creates a store over `dir` (created on first save). */
  constructor(readonly dir: string) {}

  /** Writes a snapshot durably; returns its path. */
  async save(snapshot: Snapshot): Promise<string> {
    await Deno.mkdir(this.dir, { recursive: true });
    const path = `${this.dir}/${fileName(snapshot.metadata.index, snapshot.metadata.term)}`;
    const tmp = `${path}.tmp`;
    const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      // The bytes of encodeSnapshotFile, written a chunk at a time with the
      // checksum carried along, then the header with the final checksum.
      const head = headerAndMetadata(snapshot);
      let crc = crc32cRange(head, MAGIC.length + 4, head.length);
      await writeAll(file, head);
      const data = snapshot.data;
      for (let at = 0; at < data.length; at += SAVE_CHUNK_BYTES) {
        const end = Math.min(data.length, at + SAVE_CHUNK_BYTES);
        crc = crc32cRange(data, at, end, crc);
        await writeAll(file, data.subarray(at, end));
      }
      new DataView(head.buffer).setUint32(MAGIC.length, crc, true);
      await file.seek(0, Deno.SeekMode.Start);
      await writeAll(file, head.subarray(0, HEADER_BYTES));
      await file.syncData();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
    await syncDir(this.dir);
    return path;
  }

  /**
   * Loads the snapshot the WAL's marker points at (`index`, `term`); index 0
   * means "no snapshot"; a missing or corrupt file throws. Off the event
   * loop's critical path: the file is read asynchronously and its checksum computed
   * `chunkBytes` at a time with a turn of the event loop between chunks, so
   * reading back a snapshot of hundreds of MB for a follower never holds the
   * leader's heartbeats back.
   */
  async load(
    index: number,
    term: number,
    chunkBytes = 4 * 1024 * 1024,
  ): Promise<Snapshot | undefined> {
    if (index === 0) return undefined;
    const path = `${this.dir}/${fileName(index, term)}`;
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (error) {
      throw missingAsCorrupt(path, error);
    }
    if (bytes.length < HEADER_BYTES || MAGIC.some((b, i) => bytes[i] !== b)) {
      throw new SnapshotCorruptionError(path, "not a snapshot file (bad magic or too short)");
    }
    let crc = 0;
    for (let start = MAGIC.length + 4; start < bytes.length; start += chunkBytes) {
      crc = crc32cRange(bytes, start, Math.min(bytes.length, start + chunkBytes), crc);
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (crc !== view.getUint32(MAGIC.length, true)) {
      throw new SnapshotCorruptionError(path, "checksum mismatch");
    }
    return checkedSnapshot(path, bytes, index, term, { checksumVerified: true });
  }

  /**
   * Hands the data of the snapshot the WAL's marker points at to `consume`
   * as a stream (see {@link ByteSource}), so that it is never in memory
   * whole, and checks the file's checksum once `consume` has read it all;
   * returns what `consume` returned, undefined for index 0. Throws
   * {@link SnapshotCorruptionError} if the file is missing, damaged or not
   * read to its end.
   */
  stream<T>(
    index: number,
    term: number,
    consume: (metadata: SnapshotMetadata, data: ByteSource) => T,
  ): T | undefined {
    if (index === 0) return undefined;
    const path = `${this.dir}/${fileName(index, term)}`;
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(path, { read: true });
    } catch (error) {
      throw missingAsCorrupt(path, error);
    }
    try {
      const readFully = (into: Uint8Array): number => {
        let at = 0;
        while (at < into.length) {
          const n = file.readSync(into.subarray(at));
          if (n === null) break;
          at += n;
        }
        return at;
      };
      const head = new Uint8Array(HEADER_BYTES);
      if (readFully(head) < HEADER_BYTES || MAGIC.some((b, i) => head[i] !== b)) {
        throw new SnapshotCorruptionError(path, "not a snapshot file (bad magic or too short)");
      }
      const view = new DataView(head.buffer);
      const stored = view.getUint32(MAGIC.length, true);
      const metaLength = view.getUint32(MAGIC.length + 4, true);
      if (metaLength > MAX_METADATA_BYTES) {
        throw new SnapshotCorruptionError(path, `metadata length ${metaLength} is implausible`);
      }
      const meta = new Uint8Array(metaLength);
      if (readFully(meta) < metaLength) {
        throw new SnapshotCorruptionError(path, "metadata runs past the end of the file");
      }
      let crc = crc32cRange(head, MAGIC.length + 4, HEADER_BYTES);
      crc = crc32c(meta, crc);
      const metadata = parseMetadata(path, meta);
      if (metadata.index !== index || metadata.term !== term) {
        throw new SnapshotCorruptionError(path, "its metadata does not match its name");
      }
      let ended = false;
      const result = consume(metadata, (into) => {
        const n = readFully(into);
        if (n < into.length) ended = true;
        crc = crc32cRange(into, 0, n, crc);
        return n;
      });
      if (!ended && readFully(new Uint8Array(1)) > 0) {
        throw new SnapshotCorruptionError(path, "bytes left after the snapshot data");
      }
      if (crc !== stored) throw new SnapshotCorruptionError(path, "checksum mismatch");
      return result;
    } finally {
      file.close();
    }
  }

  /** Deletes all snapshots but the newest `keep` (and any stale temporaries). */
  async purge(keep: number): Promise<number> {
    await Deno.mkdir(this.dir, { recursive: true });
    await removeStaleTemporaries(this.dir);
    const names: string[] = [];
    for await (const item of Deno.readDir(this.dir)) {
      if (item.isFile && SNAPSHOT_NAME.test(item.name)) names.push(item.name);
    }
    names.sort();
    const doomed = names.slice(0, Math.max(0, names.length - keep));
    for (const name of doomed) await Deno.remove(`${this.dir}/${name}`);
    return doomed.length;
  }
}

function missingAsCorrupt(path: string, error: unknown): unknown {
  return error instanceof Deno.errors.NotFound
    ? new SnapshotCorruptionError(path, "the WAL names this snapshot but the file is missing")
    : error;
}

function checkedSnapshot(
  path: string,
  bytes: Uint8Array,
  index: number,
  term: number,
  options: { checksumVerified?: boolean } = {},
): Snapshot {
  const snapshot = decodeSnapshotFile(path, bytes, options);
  if (snapshot.metadata.index !== index || snapshot.metadata.term !== term) {
    throw new SnapshotCorruptionError(path, "its metadata does not match its name");
  }
  return snapshot;
}
