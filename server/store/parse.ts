/**
 * Parses the `--store` option: which engine holds the replicated state.
 *
 * - absent or `raft`: the embedded Raft cluster of the gateway nodes;
 * - `etcd://host:port,host:port,...`: an existing etcd v3 cluster, reached
 *   at these client endpoints (IPv6 hosts in brackets: `etcd://[::1]:2379`).
 *
 * @module
 */

/** Where the state lives. */
export type StoreSpec =
  | {
    /** The embedded Raft store. */
    engine: "raft";
  }
  | {
    /** An external etcd cluster. */
    engine: "etcd";
    /** Client endpoints as `host:port`, in the order given, without duplicates. */
    endpoints: string[];
  };

/** The `--store` value is malformed; the message names the problem and shows the expected form. */
export class StoreOptionError extends Error {
  /** The value as given. */
  readonly value: string;

  /** Creates the error. */
  constructor(value: string, problem: string) {
    super(
      `invalid --store "${value}": ${problem} (expected "raft" or etcd://host:port[,host:port...])`,
    );
    this.name = "StoreOptionError";
    this.value = value;
  }
}

const ETCD_SCHEME = "etcd://";
const MAX_ENDPOINTS = 64;
const HOSTNAME =
  /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV6 = /^[0-9A-Fa-f:.]+$/;

function parseEndpoint(value: string, endpoint: string, position: number): string {
  const where = `endpoint ${position} ("${endpoint}")`;
  if (endpoint === "") throw new StoreOptionError(value, `endpoint ${position} is empty`);
  if (endpoint.includes("@")) {
    throw new StoreOptionError(value, `${where}: credentials in the URL are not supported`);
  }
  if (/[/?#]/.test(endpoint)) {
    throw new StoreOptionError(value, `${where}: a path, query or fragment is not allowed`);
  }
  let host: string;
  let portText: string;
  if (endpoint.startsWith("[")) {
    const close = endpoint.indexOf("]");
    if (close < 0) throw new StoreOptionError(value, `${where}: "[" without a closing "]"`);
    host = endpoint.slice(1, close);
    if (!IPV6.test(host) || !host.includes(":")) {
      throw new StoreOptionError(value, `${where}: "${host}" is not an IPv6 address`);
    }
    if (endpoint[close + 1] !== ":") {
      throw new StoreOptionError(value, `${where}: missing ":port" after the IPv6 address`);
    }
    portText = endpoint.slice(close + 2);
  } else {
    const colon = endpoint.lastIndexOf(":");
    if (colon < 0) throw new StoreOptionError(value, `${where}: missing ":port"`);
    host = endpoint.slice(0, colon);
    portText = endpoint.slice(colon + 1);
    if (host.includes(":")) {
      throw new StoreOptionError(
        value,
        `${where}: put an IPv6 address in brackets, e.g. [::1]:2379`,
      );
    }
    if (host === "") throw new StoreOptionError(value, `${where}: missing host before ":"`);
    if (!HOSTNAME.test(host)) {
      throw new StoreOptionError(value, `${where}: "${host}" is not a valid host name or address`);
    }
  }
  if (!/^[0-9]{1,5}$/.test(portText)) {
    throw new StoreOptionError(value, `${where}: port "${portText}" is not a number`);
  }
  const port = Number(portText);
  if (port < 1 || port > 65_535) {
    throw new StoreOptionError(value, `${where}: port ${port} is outside 1..65535`);
  }
  return endpoint.startsWith("[") ? `[${host.toLowerCase()}]:${port}` : `${host}:${port}`;
}

/**
 * Parses a `--store` value; `undefined` (option absent) means the embedded store.
 *
 * @throws {StoreOptionError} naming the problem.
 * @example
 * ```ts
 * import { parseStoreOption } from "./parse.ts";
 * const spec = parseStoreOption("etcd://10.0.0.1:2379,10.0.0.2:2379");
 * console.assert(spec.engine === "etcd" && spec.endpoints.length === 2);
 * ```
 */
export function parseStoreOption(value: string | undefined): StoreSpec {
  if (value === undefined || value === "raft") return { engine: "raft" };
  const trimmed = value.trim();
  if (trimmed === "") throw new StoreOptionError(value, "the value is empty");
  if (!trimmed.toLowerCase().startsWith(ETCD_SCHEME)) {
    const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(trimmed)?.[1];
    throw new StoreOptionError(
      value,
      scheme === undefined
        ? "missing the etcd:// scheme"
        : `unsupported scheme "${scheme}://" (only etcd:// is supported)`,
    );
  }
  const list = trimmed.slice(ETCD_SCHEME.length);
  if (list === "") throw new StoreOptionError(value, "no endpoints after etcd://");
  const parts = list.split(",");
  if (parts.length > MAX_ENDPOINTS) {
    throw new StoreOptionError(value, `${parts.length} endpoints; at most ${MAX_ENDPOINTS}`);
  }
  const endpoints: string[] = [];
  parts.forEach((part, i) => {
    const endpoint = parseEndpoint(value, part.trim(), i + 1);
    if (endpoints.includes(endpoint)) {
      throw new StoreOptionError(value, `endpoint ${i + 1} ("${endpoint}") is listed twice`);
    }
    endpoints.push(endpoint);
  });
  return { engine: "etcd", endpoints };
}
