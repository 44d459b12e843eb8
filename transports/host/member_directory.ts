/**
 * Where each member can be reached: its Raft peer address and its HTTP URL.
 * Kept in a small file beside the WAL so a restarted node still knows the
 * members that joined after it was first started (their conf-change entries
 * may have been compacted into a snapshot since).
 *
 * @module
 */
import type { NodeId } from "@safla/core";
import { syncDir } from "../wal/file_wal.ts";

/** How to reach one member. */
export interface MemberAddress {
  /** Raft peer address, "host:port". */
  peer: string;
  /** Base URL of its HTTP API (admin and MCP), e.g. "http://127.0.0.1:8080". */
  url: string;
}

/** A malformed member address or directory file. */
export class MemberAddressError extends Error {
  /** Names the member (or file) and the problem. */
  constructor(readonly field: string, detail: string) {
    super(`${field}: ${detail}`);
    this.name = "MemberAddressError";
  }
}

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** Checks a member address; throws {@link MemberAddressError} naming `field`. */
export function validateMemberAddress(field: string, raw: unknown): MemberAddress {
  if (typeof raw !== "object" || raw === null) {
    throw new MemberAddressError(field, "expected an object with peer and url");
  }
  const { peer, url } = raw as Record<string, unknown>;
  if (typeof peer !== "string" || !HOST_PORT.test(peer) || Number(peer.split(":").pop()) > 65535) {
    throw new MemberAddressError(
      `${field}.peer`,
      `expected "host:port", got ${JSON.stringify(peer)}`,
    );
  }
  if (typeof url !== "string" || !/^https?:\/\/[^/]+$/.test(url)) {
    throw new MemberAddressError(
      `${field}.url`,
      `expected "http://host:port" without a path, got ${JSON.stringify(url)}`,
    );
  }
  return { peer, url };
}

/** The member directory of one node, persisted in `file`. */
export class MemberDirectory {
  readonly #members = new Map<NodeId, MemberAddress>();

  private constructor(readonly file: string) {}

  /** Loads `file` if it exists and overlays `initial` (the command line wins). */
  static async load(
    file: string,
    initial: Readonly<Record<NodeId, MemberAddress>>,
  ): Promise<MemberDirectory> {
    const directory = new MemberDirectory(file);
    let text: string | undefined;
    try {
      text = await Deno.readTextFile(file);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    if (text !== undefined) {
      const raw = JSON.parse(text) as Record<string, unknown>;
      for (const [id, address] of Object.entries(raw)) {
        directory.#members.set(id, validateMemberAddress(`${file}: ${id}`, address));
      }
    }
    for (const [id, address] of Object.entries(initial)) {
      directory.#members.set(id, validateMemberAddress(id, address));
    }
    return directory;
  }

  /** The address of `id`, if known. */
  get(id: NodeId): MemberAddress | undefined {
    return this.#members.get(id);
  }

  /** Every known member. */
  entries(): Array<[NodeId, MemberAddress]> {
    return [...this.#members.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Records an address; returns whether anything changed. */
  set(id: NodeId, address: MemberAddress): boolean {
    const old = this.#members.get(id);
    if (old && old.peer === address.peer && old.url === address.url) return false;
    this.#members.set(id, address);
    return true;
  }

  /** Forgets a member; returns whether it was known. */
  delete(id: NodeId): boolean {
    return this.#members.delete(id);
  }

  /** Writes the directory durably (temporary file, sync, rename). */
  async save(): Promise<void> {
    const tmp = `${this.file}.tmp`;
    await Deno.writeTextFile(tmp, JSON.stringify(Object.fromEntries(this.#members), null, 2));
    const file = await Deno.open(tmp, { write: true });
    try {
      await file.syncData();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, this.file);
    const dir = this.file.slice(0, Math.max(0, this.file.lastIndexOf("/"))) || ".";
    await syncDir(dir);
  }
}
