/**
 * Credentials the gateway presents to a backend: its own, never its client's
 * (the MCP spec forbids token passthrough; nothing of a client's request
 * headers is ever copied onto a backend request).
 *
 * A config and the replicated registry hold references, not secrets:
 * `${env:NAME}` and `${file:PATH}` inside a header value or a stdio `env`
 * value are resolved on the node that connects, at each connect (so a
 * rotated secret file is read again), and the resolved value lives only in
 * that connection. Errors name the reference, never a value.
 *
 * @module
 */

/** `${env:NAME}` or `${file:PATH}`. */
const REFERENCE = /\$\{(env|file):([^}]+)\}/g;
/** Largest secret file read. */
const MAX_SECRET_FILE_BYTES = 64 * 1024;

/** A reference could not be resolved; the message names it and where it is used. */
export class CredentialError extends Error {
  /** `where` names the header or variable that uses the reference. */
  constructor(where: string, problem: string) {
    super(`${where}: ${problem}`);
    this.name = "CredentialError";
  }
}

/**
 * `values` with each reference replaced by what it names. `where` prefixes
 * errors (e.g. `svc#0 header`).
 */
export function resolveSecretRefs(
  values: Readonly<Record<string, string>> | undefined,
  where: string,
): Record<string, string> | undefined {
  if (values === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) {
    out[key] = value.replace(REFERENCE, (_, kind: string, name: string) => {
      const at = `${where} ${key}`;
      return kind === "env" ? fromEnv(at, name) : fromFile(at, name);
    });
  }
  return out;
}

function fromEnv(at: string, name: string): string {
  const value = Deno.env.get(name);
  if (value === undefined) {
    throw new CredentialError(at, `environment variable ${name} (\${env:${name}}) is not set`);
  }
  return value;
}

function fromFile(at: string, path: string): string {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound ? "not found" : (error as Error).name;
    throw new CredentialError(at, `cannot read secret file ${path} (\${file:${path}}): ${why}`);
  }
  if (bytes.byteLength > MAX_SECRET_FILE_BYTES) {
    throw new CredentialError(at, `secret file ${path} exceeds ${MAX_SECRET_FILE_BYTES} bytes`);
  }
  // Files written by editors and `echo` end in a newline that is not part of the secret.
  return new TextDecoder().decode(bytes).replace(/\r?\n$/, "");
}
