/**
 * The cluster's command-line vocabulary: member lists, port layout and the
 * cluster secret, parsed with errors that name the flag.
 *
 * @module
 */
import type { NodeId } from "@safla/core";
import type { MemberAddress } from "@safla/transports/host";

/** A command-line flag has a bad value. */
export class FlagError extends Error {
  /** Names the flag and what is wrong. */
  constructor(readonly flag: string, detail: string) {
    super(`--${flag}: ${detail}`);
    this.name = "FlagError";
  }
}

/** Raft peer port = HTTP port + this, unless a member says otherwise. */
export const PEER_PORT_OFFSET = 1000;
/** Environment variable that carries the cluster secret to node processes. */
export const SECRET_ENV = "SAFLA_CLUSTER_SECRET";
/** Shortest accepted secret. */
export const MIN_SECRET_LENGTH = 16;
/** Most nodes the local launcher starts. */
export const MAX_LOCAL_NODES = 9;

const NODE_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const MEMBER = /^([^=]+)=(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})(?:\/(\d{1,5}))?$/;

function port(flag: string, raw: string): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < 1 || value > 65535) {
    throw new FlagError(flag, `port must be 1-65535, got "${raw}"`);
  }
  return value;
}

/**
 * Parses `id=host:httpPort[/peerPort],...`; the peer port defaults to the
 * HTTP port + {@link PEER_PORT_OFFSET}.
 *
 * @example
 * ```ts
 * import { parsePeers } from "./cluster_args.ts";
 * const members = parsePeers("n1=127.0.0.1:8080,n2=127.0.0.1:8081/9999");
 * console.assert(members.n1.peer === "127.0.0.1:9080" && members.n2.peer === "127.0.0.1:9999");
 * ```
 */
export function parsePeers(list: string, flag = "peers"): Record<NodeId, MemberAddress> {
  const members: Record<NodeId, MemberAddress> = {};
  for (const item of list.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
    const match = MEMBER.exec(item);
    if (!match) {
      throw new FlagError(flag, `expected id=host:httpPort[/peerPort], got "${item}"`);
    }
    const [, id, host, httpRaw, peerRaw] = match;
    if (!NODE_ID.test(id)) throw new FlagError(flag, `bad node id "${id}"`);
    if (members[id]) throw new FlagError(flag, `node "${id}" is listed twice`);
    const httpPort = port(flag, httpRaw);
    const peerPort = peerRaw === undefined ? httpPort + PEER_PORT_OFFSET : port(flag, peerRaw);
    members[id] = { peer: `${host}:${peerPort}`, url: `http://${host}:${httpPort}` };
  }
  if (Object.keys(members).length === 0) throw new FlagError(flag, "lists no node");
  return members;
}

/** Formats members back into the `--peers` syntax. */
export function formatPeers(members: Readonly<Record<NodeId, MemberAddress>>): string {
  return Object.entries(members).map(([id, m]) => {
    const url = new URL(m.url);
    const peerPort = m.peer.slice(m.peer.lastIndexOf(":") + 1);
    return `${id}=${url.hostname}:${url.port}/${peerPort}`;
  }).join(",");
}

/** Members n1..nN on loopback: HTTP on `basePort + i`, Raft on that + {@link PEER_PORT_OFFSET}. */
export function localMembers(count: number, basePort: number): Record<NodeId, MemberAddress> {
  if (!Number.isInteger(count) || count < 1 || count > MAX_LOCAL_NODES) {
    throw new FlagError("nodes", `expected 1-${MAX_LOCAL_NODES}, got ${count}`);
  }
  if (!Number.isInteger(basePort) || basePort < 1 || basePort + count + PEER_PORT_OFFSET > 65535) {
    throw new FlagError("port", `base port ${basePort} leaves no room for ${count} nodes`);
  }
  const members: Record<NodeId, MemberAddress> = {};
  for (let i = 0; i < count; i++) {
    members[`n${i + 1}`] = {
      peer: `127.0.0.1:${basePort + i + PEER_PORT_OFFSET}`,
      url: `http://127.0.0.1:${basePort + i}`,
    };
  }
  return members;
}

/** Checks a cluster secret. */
export function validateSecret(secret: string | undefined, source: string): string {
  if (secret === undefined || secret.length < MIN_SECRET_LENGTH) {
    throw new FlagError(
      "secret",
      `a cluster secret of at least ${MIN_SECRET_LENGTH} characters is required (${source})`,
    );
  }
  return secret;
}

/** A fresh random secret for a local cluster. */
export function generateSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
