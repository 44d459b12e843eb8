/**
 * The flags of TLS between nodes: `--peer-tls-cert`, `--peer-tls-key`,
 * `--peer-tls-ca` (all three or none) and `--peer-mtls`.
 *
 * @module
 */
import { loadPeerTls, type PeerTls, PeerTlsError } from "@safla/transports/peer";
import { FlagError } from "./cluster_args.ts";

/** The TLS flags, as `parseArgs` wants them. */
export const PEER_TLS_FLAGS = {
  "peer-tls-cert": { type: "string" },
  "peer-tls-key": { type: "string" },
  "peer-tls-ca": { type: "string" },
  "peer-mtls": { type: "boolean", default: false },
} as const;

type Values = {
  "peer-tls-cert"?: string;
  "peer-tls-key"?: string;
  "peer-tls-ca"?: string;
  "peer-mtls"?: boolean;
};

/**
 * Loads the certificates the flags name; undefined when none is given
 * (peers then talk plain TCP). Throws a {@link FlagError} naming the flag.
 *
 * @example
 * ```ts
 * import { parsePeerTlsFlags } from "./peer_tls_flags.ts";
 * console.assert((await parsePeerTlsFlags({})) === undefined);
 * ```
 */
export async function parsePeerTlsFlags(values: Values): Promise<PeerTls | undefined> {
  const files = {
    "peer-tls-cert": values["peer-tls-cert"],
    "peer-tls-key": values["peer-tls-key"],
    "peer-tls-ca": values["peer-tls-ca"],
  };
  const missing = Object.entries(files).filter(([, path]) => path === undefined).map(([f]) => f);
  if (missing.length === 3) {
    if (values["peer-mtls"]) {
      throw new FlagError("peer-mtls", "needs --peer-tls-cert, --peer-tls-key and --peer-tls-ca");
    }
    return undefined;
  }
  if (missing.length > 0) {
    throw new FlagError(missing[0], "the three --peer-tls-* flags go together");
  }
  try {
    return await loadPeerTls({
      certFile: files["peer-tls-cert"]!,
      keyFile: files["peer-tls-key"]!,
      caFile: files["peer-tls-ca"]!,
      mutual: values["peer-mtls"] ?? false,
    });
  } catch (error) {
    if (error instanceof PeerTlsError) throw new FlagError("peer-tls-cert", error.message);
    throw error;
  }
}
