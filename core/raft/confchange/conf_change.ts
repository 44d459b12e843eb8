/**
 * Membership-change commands as they travel in the log: their validation,
 * their binary encoding, and the rules (etcd's ConfChangeV2) that decide
 * whether a change goes through a joint configuration.
 *
 * @module
 */
import type { ConfChange, ConfChangeSingle } from "../types.ts";
import { ConfChangeError } from "./errors.ts";

/** Most single changes one ConfChange may carry. */
export const MAX_CONF_CHANGES = 1024;
/** Longest node id, in UTF-8 bytes. */
export const MAX_NODE_ID_BYTES = 1024;
/** Largest application context, in bytes. */
export const MAX_CONF_CHANGE_CONTEXT_BYTES = 1 << 20;

const FORMAT_VERSION = 1;
const TRANSITIONS: readonly ConfChange["transition"][] = ["auto", "implicit", "explicit"];
const CHANGE_TYPES: readonly ConfChangeSingle["type"][] = ["addNode", "addLearner", "removeNode"];
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Throws a {@link ConfChangeError} unless `cc` is well formed: a known
 * transition, at most {@link MAX_CONF_CHANGES} changes, each of a known type
 * naming a non-empty, well-formed node id of at most
 * {@link MAX_NODE_ID_BYTES} bytes, and a context (if any) of bytes.
 *
 * @example
 * ```ts
 * import { validateConfChange } from "@safla/core/raft";
 * validateConfChange({ transition: "auto", changes: [{ type: "addNode", nodeId: "n4" }] });
 * ```
 */
export function validateConfChange(cc: ConfChange): void {
  if (!TRANSITIONS.includes(cc.transition)) {
    throw new ConfChangeError(`unknown transition ${JSON.stringify(cc.transition)}`);
  }
  if (!Array.isArray(cc.changes)) throw new ConfChangeError("changes must be an array");
  if (cc.changes.length > MAX_CONF_CHANGES) {
    throw new ConfChangeError(
      `too many changes: ${cc.changes.length} (at most ${MAX_CONF_CHANGES})`,
    );
  }
  cc.changes.forEach((change, position) => {
    if (!CHANGE_TYPES.includes(change.type)) {
      throw new ConfChangeError(
        `change ${position}: unknown type ${JSON.stringify(change.type)}`,
      );
    }
    const id = change.nodeId;
    if (typeof id !== "string" || id === "") {
      throw new ConfChangeError(
        `change ${position}: nodeId must be a non-empty string, got ${JSON.stringify(id)}`,
      );
    }
    if (!id.isWellFormed()) {
      throw new ConfChangeError(`change ${position}: nodeId is not well-formed Unicode`);
    }
    const sizeBytes = utf8Encoder.encode(id).length;
    if (sizeBytes > MAX_NODE_ID_BYTES) {
      throw new ConfChangeError(
        `change ${position}: nodeId is ${sizeBytes} bytes (at most ${MAX_NODE_ID_BYTES})`,
      );
    }
  });
  if (cc.context !== undefined) {
    if (!(cc.context instanceof Uint8Array)) {
      throw new ConfChangeError("context must be a Uint8Array");
    }
    if (cc.context.length > MAX_CONF_CHANGE_CONTEXT_BYTES) {
      throw new ConfChangeError(
        `context is ${cc.context.length} bytes (at most ${MAX_CONF_CHANGE_CONTEXT_BYTES})`,
      );
    }
  }
}

/**
 * Encodes a validated `cc` for a `confChange` log entry. Layout (big endian):
 * version u8, transition u8, change count u16, then per change type u8,
 * id length u16 and the UTF-8 id, then a context flag u8 and, if set,
 * context length u32 and the context bytes.
 *
 * @example
 * ```ts
 * import { decodeConfChange, encodeConfChange } from "@safla/core/raft";
 * const bytes = encodeConfChange({ transition: "auto", changes: [{ type: "removeNode", nodeId: "n2" }] });
 * console.assert(decodeConfChange(bytes).changes[0].nodeId === "n2");
 * ```
 */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  validateConfChange(cc);
  const ids = cc.changes.map((change) => utf8Encoder.encode(change.nodeId));
  let sizeBytes = 4 + 1;
  for (const id of ids) sizeBytes += 3 + id.length;
  if (cc.context !== undefined) sizeBytes += 4 + cc.context.length;
  const out = new Uint8Array(sizeBytes);
  const view = new DataView(out.buffer);
  let at = 0;
  view.setUint8(at++, FORMAT_VERSION);
  view.setUint8(at++, TRANSITIONS.indexOf(cc.transition));
  view.setUint16(at, cc.changes.length);
  at += 2;
  cc.changes.forEach((change, position) => {
    const id = ids[position];
    view.setUint8(at++, CHANGE_TYPES.indexOf(change.type));
    view.setUint16(at, id.length);
    at += 2;
    out.set(id, at);
    at += id.length;
  });
  if (cc.context === undefined) {
    view.setUint8(at++, 0);
  } else {
    view.setUint8(at++, 1);
    view.setUint32(at, cc.context.length);
    at += 4;
    out.set(cc.context, at);
    at += cc.context.length;
  }
  if (at !== sizeBytes) throw new Error(`encoded ${at} bytes, expected ${sizeBytes}`);
  return out;
}

/**
 * Decodes what {@link encodeConfChange} produced. Throws a
 * {@link ConfChangeError} that says where and why on truncated, oversized,
 * trailing or otherwise malformed input, and validates the result.
 *
 * @example
 * ```ts
 * import { decodeConfChange } from "@safla/core/raft";
 * try {
 *   decodeConfChange(new Uint8Array([9]));
 * } catch (e) {
 *   console.assert((e as Error).name === "ConfChangeError");
 * }
 * ```
 */
export function decodeConfChange(bytes: Uint8Array): ConfChange {
  const reader = new Reader(bytes);
  const version = reader.u8("format version");
  if (version !== FORMAT_VERSION) {
    throw new ConfChangeError(`unsupported conf change format version ${version}`);
  }
  const transitionCode = reader.u8("transition");
  const transition = TRANSITIONS[transitionCode];
  if (transition === undefined) {
    throw new ConfChangeError(`unknown transition code ${transitionCode} at byte 1`);
  }
  const count = reader.u16("change count");
  if (count > MAX_CONF_CHANGES) {
    throw new ConfChangeError(`too many changes: ${count} (at most ${MAX_CONF_CHANGES})`);
  }
  const changes: ConfChangeSingle[] = [];
  for (let position = 0; position < count; position++) {
    const typeAt = reader.offset;
    const typeCode = reader.u8(`change ${position} type`);
    const type = CHANGE_TYPES[typeCode];
    if (type === undefined) {
      throw new ConfChangeError(
        `change ${position}: unknown type code ${typeCode} at byte ${typeAt}`,
      );
    }
    const idLength = reader.u16(`change ${position} id length`);
    if (idLength > MAX_NODE_ID_BYTES) {
      throw new ConfChangeError(
        `change ${position}: nodeId is ${idLength} bytes (at most ${MAX_NODE_ID_BYTES})`,
      );
    }
    const idAt = reader.offset;
    const idBytes = reader.bytes(idLength, `change ${position} id`);
    let nodeId: string;
    try {
      nodeId = utf8Decoder.decode(idBytes);
    } catch {
      throw new ConfChangeError(`change ${position}: nodeId at byte ${idAt} is not valid UTF-8`);
    }
    changes.push({ type, nodeId });
  }
  const flagAt = reader.offset;
  const hasContext = reader.u8("context flag");
  const cc: ConfChange = { transition, changes };
  if (hasContext === 1) {
    const length = reader.u32("context length");
    if (length > MAX_CONF_CHANGE_CONTEXT_BYTES) {
      throw new ConfChangeError(
        `context is ${length} bytes (at most ${MAX_CONF_CHANGE_CONTEXT_BYTES})`,
      );
    }
    cc.context = reader.bytes(length, "context").slice();
  } else if (hasContext !== 0) {
    throw new ConfChangeError(`context flag at byte ${flagAt} must be 0 or 1, got ${hasContext}`);
  }
  if (reader.offset !== bytes.length) {
    throw new ConfChangeError(
      `${
        bytes.length - reader.offset
      } trailing bytes after the conf change at byte ${reader.offset}`,
    );
  }
  validateConfChange(cc);
  return cc;
}

/**
 * Whether `cc` must go through a joint configuration, and if so whether the
 * core leaves it on its own. Per etcd's ConfChangeV2 rules: an `auto` change
 * of at most one step is applied directly (`null`); several steps, or an
 * `implicit` transition, enter a joint config left automatically; an
 * `explicit` transition enters one left only by an empty ConfChange.
 *
 * @example
 * ```ts
 * import { enterJoint } from "@safla/core/raft";
 * const cc = { transition: "auto" as const, changes: [
 *   { type: "addNode" as const, nodeId: "n4" }, { type: "removeNode" as const, nodeId: "n1" },
 * ] };
 * console.assert(enterJoint(cc)?.autoLeave === true);
 * ```
 */
export function enterJoint(cc: ConfChange): { autoLeave: boolean } | null {
  // More changes could be safe without joint consensus, but that depends on
  // the configuration they apply to; using joint consensus liberally keeps
  // the rule independent of it.
  if (cc.transition === "auto" && cc.changes.length <= 1) return null;
  switch (cc.transition) {
    case "auto":
    case "implicit":
      return { autoLeave: true };
    case "explicit":
      return { autoLeave: false };
    default:
      throw new ConfChangeError(`unknown transition ${JSON.stringify(cc.transition)}`);
  }
}

/**
 * Whether `cc` is the (empty, `auto`) change that leaves a joint
 * configuration. Its context does not matter.
 *
 * @example
 * ```ts
 * import { leaveJoint } from "@safla/core/raft";
 * console.assert(leaveJoint({ transition: "auto", changes: [] }));
 * ```
 */
export function leaveJoint(cc: ConfChange): boolean {
  return cc.transition === "auto" && cc.changes.length === 0;
}

const TOKEN_PREFIXES: Readonly<Record<ConfChangeSingle["type"], string>> = {
  addNode: "v",
  addLearner: "l",
  removeNode: "r",
};

/**
 * Writes changes in the compact notation of scenario files and logs:
 * `v<id>` adds a voter, `l<id>` a learner, `r<id>` removes, separated by
 * spaces. Ids must not contain whitespace.
 *
 * @example
 * ```ts
 * import { confChangesToString } from "@safla/core/raft";
 * const text = confChangesToString([
 *   { type: "addNode", nodeId: "n4" }, { type: "removeNode", nodeId: "n1" },
 * ]);
 * console.assert(text === "vn4 rn1");
 * ```
 */
export function confChangesToString(changes: readonly ConfChangeSingle[]): string {
  return changes.map((change) => {
    if (/\s/.test(change.nodeId) || change.nodeId === "") {
      throw new ConfChangeError(
        `node id ${JSON.stringify(change.nodeId)} cannot be written in change notation`,
      );
    }
    return `${TOKEN_PREFIXES[change.type]}${change.nodeId}`;
  }).join(" ");
}

/**
 * Parses the notation of {@link confChangesToString}; throws a
 * {@link ConfChangeError} naming the first bad token.
 *
 * @example
 * ```ts
 * import { confChangesFromString } from "@safla/core/raft";
 * const changes = confChangesFromString("v1 l2 r3");
 * console.assert(changes[1].type === "addLearner" && changes[1].nodeId === "2");
 * ```
 */
export function confChangesFromString(text: string): ConfChangeSingle[] {
  const tokens = text.split(/\s+/).filter((token) => token !== "");
  if (tokens.length > MAX_CONF_CHANGES) {
    throw new ConfChangeError(`too many changes: ${tokens.length} (at most ${MAX_CONF_CHANGES})`);
  }
  return tokens.map((token): ConfChangeSingle => {
    const nodeId = token.slice(1);
    const type = CHANGE_TYPES.find((candidate) => TOKEN_PREFIXES[candidate] === token[0]);
    if (type === undefined || nodeId === "") {
      throw new ConfChangeError(
        `bad change ${JSON.stringify(token)}: expected v<id>, l<id> or r<id>`,
      );
    }
    return { type, nodeId };
  });
}

class Reader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  offset = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  u8(what: string): number {
    this.#need(1, what);
    return this.#view.getUint8(this.offset++);
  }

  u16(what: string): number {
    this.#need(2, what);
    const value = this.#view.getUint16(this.offset);
    this.offset += 2;
    return value;
  }

  u32(what: string): number {
    this.#need(4, what);
    const value = this.#view.getUint32(this.offset);
    this.offset += 4;
    return value;
  }

  bytes(length: number, what: string): Uint8Array {
    this.#need(length, what);
    const out = this.#bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  #need(length: number, what: string): void {
    if (this.offset + length > this.#bytes.length) {
      throw new ConfChangeError(
        `truncated conf change: ${what} needs ${length} bytes at byte ${this.offset}, ` +
          `only ${this.#bytes.length - this.offset} left`,
      );
    }
  }
}
