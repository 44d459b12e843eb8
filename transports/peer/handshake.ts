/**
 * The peer handshake (version 2): mutual authentication with the cluster
 * secret in which the dialler proves itself first.
 *
 *     client -> server  hello     [version, clusterId, clientId, serverId, clientNonce]
 *     server -> client  challenge [serverId, serverNonce]
 *     client -> server  proof     HMAC(secret, "client" | transcript)
 *     server -> client  accept    HMAC(secret, "server" | transcript | client proof)
 *
 * where transcript = [label, clusterId, clientId, serverId, clientNonce,
 * serverNonce]. Nothing the server sends before the client's proof is
 * derived from the secret, so a stranger who connects learns nothing to test
 * guesses against. Both node ids are in the transcript: a proof is good for
 * one direction between two named nodes over two fresh nonces only. Each side
 * checks the other's id: the client that the node at the address is the one
 * it meant to dial, the server that it is the node the client named.
 *
 * A refusal that gives nothing away (wrong version, cluster or node, bad
 * proof) is sent back as a `refused` frame, so the operator of the dialling
 * node reads the reason in its own log.
 *
 * @module
 */
import type { NodeId } from "@safla/core";
import { nonce, packFields, prove, unpackFields, verify } from "./auth.ts";
import { encodeFrame, FrameKind, type FrameReader } from "./frames.ts";

/** The handshake version this node speaks. */
export const HANDSHAKE_VERSION = 2;

/** Largest frame read before the peer is authenticated. */
export const MAX_HANDSHAKE_FRAME_BYTES = 4096;

const LABEL = "safla-peer-handshake-v2";
const NONCE_BYTES = 32;
const MAX_ID_BYTES = 256;
const decoder = new TextDecoder("utf-8", { fatal: true });

/** The handshake failed; `reason` is one line for the log. */
export class HandshakeError extends Error {
  /** Creates the error with the reason. */
  constructor(readonly reason: string) {
    super(reason);
    this.name = "HandshakeError";
  }
}

/** A connection's frames, as the handshake needs them. */
export interface HandshakeIo {
  /** Reads the peer's frames (limited to {@link MAX_HANDSHAKE_FRAME_BYTES} by the caller). */
  reader: FrameReader;
  /** Writes bytes to the peer. */
  write(bytes: Uint8Array): Promise<void>;
}

/** Who this node is in a handshake. */
export interface HandshakeIdentity {
  /** The cluster's id. */
  clusterId: string;
  /** This node. */
  nodeId: NodeId;
  /** The key made from the cluster secret. */
  key: CryptoKey;
}

/** The fields both proofs cover, in wire order. */
export interface Transcript {
  /** The cluster's id. */
  clusterId: string;
  /** The dialler. */
  clientId: NodeId;
  /** The listener. */
  serverId: NodeId;
  /** The dialler's nonce. */
  clientNonce: Uint8Array;
  /** The listener's nonce. */
  serverNonce: Uint8Array;
}

/** What the dialler's proof is an HMAC of (length-prefixed parts). */
export function clientProofParts(t: Transcript): Array<string | Uint8Array> {
  return ["client", LABEL, t.clusterId, t.clientId, t.serverId, t.clientNonce, t.serverNonce];
}

/** What the listener's proof is an HMAC of: its role, the transcript and the dialler's proof. */
export function serverProofParts(
  t: Transcript,
  clientProof: Uint8Array,
): Array<string | Uint8Array> {
  return [
    "server",
    LABEL,
    t.clusterId,
    t.clientId,
    t.serverId,
    t.clientNonce,
    t.serverNonce,
    clientProof,
  ];
}

function text(bytes: Uint8Array, what: string): string {
  if (bytes.length === 0 || bytes.length > MAX_ID_BYTES) {
    throw new HandshakeError(`${what} of ${bytes.length} bytes`);
  }
  try {
    return decoder.decode(bytes);
  } catch {
    throw new HandshakeError(`${what} is not UTF-8`);
  }
}

function checkNonce(bytes: Uint8Array, whose: string): void {
  if (bytes.length !== NONCE_BYTES) {
    throw new HandshakeError(`${whose} nonce of ${bytes.length} bytes, not ${NONCE_BYTES}`);
  }
}

/** Quotes a peer-supplied string for a log line (no newlines, bounded). */
export function quote(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}...` : value);
}

/**
 * The dialler's side: authenticates the node at the other end as `serverId`
 * and proves this node to it. Throws {@link HandshakeError} on any failure.
 *
 * @example
 * ```ts ignore
 * const reader = new FrameReader(conn.readable, MAX_HANDSHAKE_FRAME_BYTES);
 * await dialHandshake({ reader, write: (b) => conn.write(b) }, { clusterId, nodeId: "n1", key }, "n2");
 * ```
 */
export async function dialHandshake(
  io: HandshakeIo,
  me: HandshakeIdentity,
  serverId: NodeId,
): Promise<void> {
  const clientNonce = nonce();
  const hello = packFields([
    String(HANDSHAKE_VERSION),
    me.clusterId,
    me.nodeId,
    serverId,
    clientNonce,
  ]);
  await io.write(encodeFrame(FrameKind.hello, hello));
  const challenge = await io.reader.next();
  if (challenge === undefined) {
    throw new HandshakeError(
      `the peer closed the connection without answering our hello (handshake v${HANDSHAKE_VERSION}): ` +
        "it runs an older release (handshake v1), expects TLS, or this is not its peer port",
    );
  }
  refusedCheck(challenge);
  if (challenge.kind !== FrameKind.challenge) {
    throw new HandshakeError(`expected a challenge, got frame kind ${challenge.kind}`);
  }
  const [idBytes, serverNonce] = unpackFields(challenge.payload, 2);
  const answeredId = text(idBytes, "server node id");
  if (answeredId !== serverId) {
    throw new HandshakeError(
      `the node at this address is ${quote(answeredId)}, not ${quote(serverId)}`,
    );
  }
  checkNonce(serverNonce, "server");
  const t = { clusterId: me.clusterId, clientId: me.nodeId, serverId, clientNonce, serverNonce };
  const clientProof = await prove(me.key, clientProofParts(t));
  await io.write(encodeFrame(FrameKind.proof, clientProof));
  const accept = await io.reader.next();
  if (accept === undefined) {
    throw new HandshakeError("the peer closed the connection after our proof");
  }
  refusedCheck(accept);
  if (accept.kind !== FrameKind.accept) {
    throw new HandshakeError(`expected an accept, got frame kind ${accept.kind}`);
  }
  if (!(await verify(me.key, serverProofParts(t, clientProof), accept.payload))) {
    throw new HandshakeError(
      `peer ${quote(serverId)} failed authentication (wrong cluster secret)`,
    );
  }
}

function refusedCheck(frame: { kind: number; payload: Uint8Array }): void {
  if (frame.kind !== FrameKind.refused) return;
  let reason: string;
  try {
    reason = decoder.decode(frame.payload);
  } catch {
    reason = "(unreadable reason)";
  }
  // The peer's words, kept to one bounded line.
  throw new HandshakeError(
    `refused by the peer: ${
      [...reason].map((c) => (c < " " || c === "\x7f" ? "?" : c)).join("").slice(0, 200)
    }`,
  );
}

/** What the server learned in a handshake, for its log. */
export interface Claimed {
  /** The node id the dialler claims, once read ("?" before). */
  nodeId: string;
}

/**
 * The listener's side: authenticates the dialler and returns its node id.
 * `claimed.nodeId` is set as soon as the hello is read, for the log of a
 * failure. On a refusal that gives nothing away the reason is sent to the
 * dialler before {@link HandshakeError} is thrown.
 *
 * @example
 * ```ts ignore
 * const claimed = { nodeId: "?" };
 * const peer = await answerHandshake({ reader, write: (b) => conn.write(b) }, me, claimed);
 * ```
 */
export async function answerHandshake(
  io: HandshakeIo,
  me: HandshakeIdentity,
  claimed: Claimed,
): Promise<NodeId> {
  const refuse = async (reason: string): Promise<never> => {
    await io.write(encodeFrame(FrameKind.refused, new TextEncoder().encode(reason)));
    throw new HandshakeError(reason);
  };
  const hello = await io.reader.next();
  if (hello === undefined) throw new HandshakeError("closed before its hello");
  if (hello.kind === FrameKind.legacyHello) {
    return await refuse(
      `the dialler speaks peer handshake v1, this node v${HANDSHAKE_VERSION}: run one release on every node`,
    );
  }
  if (hello.kind !== FrameKind.hello) {
    return await refuse(`expected a hello, got frame kind ${hello.kind}`);
  }
  const [versionBytes] = unpackFields(hello.payload, 1, false);
  const version = text(versionBytes, "version");
  if (version !== String(HANDSHAKE_VERSION)) {
    return await refuse(
      `the dialler speaks peer handshake v${
        quote(version)
      }, this node v${HANDSHAKE_VERSION}: run one release on every node`,
    );
  }
  const [, clusterBytes, clientBytes, serverBytes, clientNonce] = unpackFields(hello.payload, 5);
  claimed.nodeId = text(clientBytes, "client node id");
  const clusterId = text(clusterBytes, "cluster id");
  if (clusterId !== me.clusterId) return await refuse(`wrong cluster ${quote(clusterId)}`);
  const serverId = text(serverBytes, "server node id");
  if (serverId !== me.nodeId) {
    return await refuse(`dialled node ${quote(serverId)}, but this is ${quote(me.nodeId)}`);
  }
  checkNonce(clientNonce, "client");
  const serverNonce = nonce();
  await io.write(encodeFrame(FrameKind.challenge, packFields([me.nodeId, serverNonce])));
  const proof = await io.reader.next();
  if (proof === undefined) throw new HandshakeError("closed before its proof");
  if (proof.kind !== FrameKind.proof) {
    return await refuse(`expected a proof, got frame kind ${proof.kind}`);
  }
  const t = { clusterId, clientId: claimed.nodeId, serverId: me.nodeId, clientNonce, serverNonce };
  if (!(await verify(me.key, clientProofParts(t), proof.payload))) {
    return await refuse("bad cluster secret");
  }
  const serverProof = await prove(me.key, serverProofParts(t, proof.payload));
  await io.write(encodeFrame(FrameKind.accept, serverProof));
  return claimed.nodeId;
}

/**
 * The node id a hello frame's dialler claims, unverified (for relays that
 * route by it, e.g. the test partition relay).
 */
export function helloSender(payload: Uint8Array): NodeId {
  return text(unpackFields(payload, 5)[2], "client node id");
}
