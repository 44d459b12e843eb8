/**
 * The safe default: a node without authentication serves only its own
 * machine. Listening on any other address needs `auth` in the config, or
 * the operator's explicit `--insecure-no-auth`, which is logged loudly.
 *
 * @module
 */

/** The flag that lets a node listen beyond loopback without authentication. */
export const INSECURE_NO_AUTH_FLAG = "insecure-no-auth";

/** Whether `hostname` (as given to `Deno.serve` or in a URL) is a loopback address. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return host === "localhost" || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host);
}

/** Refusal to listen: what the operator must do. */
export class ExposureError extends Error {
  override name = "ExposureError";
}

/**
 * Checks that a node may listen on `hostname`; returns the warning to log
 * when it may only because of `--insecure-no-auth`.
 */
export function checkExposure(
  hostname: string,
  authOn: boolean,
  insecureNoAuth: boolean,
): string | undefined {
  if (authOn || isLoopbackHost(hostname)) return undefined;
  if (!insecureNoAuth) {
    throw new ExposureError(
      `refusing to serve MCP on ${hostname} without authentication: add "auth" to the ` +
        `config (README, Authentication) or pass --${INSECURE_NO_AUTH_FLAG}`,
    );
  }
  return `WARNING: --${INSECURE_NO_AUTH_FLAG}: anyone who can reach ${hostname} may call ` +
    `every tool of this gateway without credentials`;
}
