/**
 * Checks a runtime-registered service (its replicas, and the OAuth issuer and
 * client secret of its credentials) against this node's rules, resolving
 * what the pure decisions of `registration_policy.ts` need: the real path of
 * a command, and the addresses a host name resolves to. Called where a record
 * is written (to tell the caller) and on every node where it is about to be
 * used, whoever wrote it.
 *
 * The HTTP client resolves the name again when it connects; a name that
 * changes its answer in between (DNS rebinding) is not caught here. Name
 * the hosts you allow, and keep link-local and private ranges off.
 *
 * @module
 */
import type { BackendSpec } from "@safla/transports";
import type { ServiceConfig } from "../config.ts";
import type { RegistrationRules } from "./management_config.ts";
import {
  addressAllowed,
  argsAllowed,
  checkReplicaStatic,
  checkSecretReferences,
  classifyAddress,
  hostAllowed,
  hostNamedExactly,
  isMetadataName,
  RegistrationRefusedError,
} from "./registration_policy.ts";

/** Longest a registration's host name may take to resolve. */
const DNS_TIMEOUT_MS = 5_000;

/** How names are resolved; tests give their own. */
export interface RegistrationResolver {
  /** The path with every symlink resolved; throws if it does not exist. */
  realPath(path: string): Promise<string>;
  /** Where `command` (no slash) is found on PATH, or undefined. */
  lookPath(command: string): Promise<string | undefined>;
  /** Every address `host` resolves to (empty if none). */
  resolveHost(host: string): Promise<string[]>;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/** The resolver of this machine: the filesystem, PATH and DNS. */
export const SYSTEM_RESOLVER: RegistrationResolver = {
  realPath: (path) => Deno.realPath(path),
  lookPath: async (command) => {
    for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
      if (dir !== "" && await isFile(`${dir}/${command}`)) return `${dir}/${command}`;
    }
    return undefined;
  },
  resolveHost: async (host) => {
    // Deno.resolveDns asks DNS servers, not /etc/hosts: localhost is loopback by definition.
    if (host === "localhost" || host.endsWith(".localhost")) return ["127.0.0.1", "::1"];
    // Bounded: records apply one at a time, and a name that never answers must not stall them.
    const signal = AbortSignal.timeout(DNS_TIMEOUT_MS);
    const answers = await Promise.allSettled([
      Deno.resolveDns(host, "A", { signal }),
      Deno.resolveDns(host, "AAAA", { signal }),
    ]);
    return answers.flatMap((a) => a.status === "fulfilled" ? a.value : []);
  },
};

async function realPathOrUndefined(
  resolver: RegistrationResolver,
  path: string,
): Promise<string | undefined> {
  try {
    return await resolver.realPath(path);
  } catch {
    return undefined;
  }
}

async function checkStdio(
  spec: Extract<BackendSpec, { kind: "stdio" }>,
  field: string,
  rules: RegistrationRules,
  resolver: RegistrationResolver,
): Promise<void> {
  const refuse = (why: string): never => {
    throw new RegistrationRefusedError(
      `${field}.command`,
      `${why}; runtime registrations may run only the commands in ` +
        "management.registration.commands of this node's config",
    );
  };
  if (rules.commands.length === 0) refuse("no command is allowed");
  let path: string | undefined = spec.command;
  if (!spec.command.startsWith("/")) {
    if (spec.command.includes("/")) refuse(`"${spec.command}" is a relative path`);
    path = await resolver.lookPath(spec.command);
    if (path === undefined) refuse(`"${spec.command}" is not on PATH`);
  }
  const real = await realPathOrUndefined(resolver, path!);
  if (real === undefined) refuse(`"${spec.command}" does not exist`);
  for (const rule of rules.commands) {
    if (await realPathOrUndefined(resolver, rule.command) !== real) continue;
    if (argsAllowed(rule, spec.args)) return;
  }
  refuse(`"${spec.command}" with arguments ${JSON.stringify(spec.args)} is not allowed`);
}

/** Checks a URL the gateway would send requests to (a backend, an OAuth issuer). */
async function checkUrl(
  target: string,
  field: string,
  rules: RegistrationRules,
  resolver: RegistrationResolver,
): Promise<void> {
  const url = new URL(target);
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, "");
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  const refuse = (why: string): never => {
    throw new RegistrationRefusedError(field, why);
  };
  if (!hostAllowed(host, port, rules.httpHosts)) {
    refuse(
      `host ${host}:${port} is not in management.registration.httpHosts of this node's config`,
    );
  }
  if (isMetadataName(host) && !hostNamedExactly(host, rules.httpHosts)) {
    refuse(`${host} is a cloud metadata address`);
  }
  const literal = classifyAddress(host);
  const addresses = literal === undefined ? await resolver.resolveHost(host) : [host];
  if (addresses.length === 0) refuse(`${host} does not resolve`);
  for (const address of addresses) {
    const cls = classifyAddress(address) ?? "unspecified";
    if (!addressAllowed(cls, host, rules)) {
      refuse(
        `${host} resolves to ${address}, a ${cls} address; allow it with ` +
          (cls === "linkLocal" || cls === "unspecified"
            ? `"${host}" named in management.registration.httpHosts`
            : "management.registration.allowPrivateNetworks or by naming the host exactly"),
      );
    }
  }
}

/**
 * Throws {@link RegistrationRefusedError} unless every replica of `service`
 * may run or be reached under `rules`.
 *
 * @example
 * ```ts ignore
 * await checkRuntimeService(config.services[0], management.registration);
 * ```
 */
export async function checkRuntimeService(
  service: ServiceConfig,
  rules: RegistrationRules,
  resolver: RegistrationResolver = SYSTEM_RESOLVER,
): Promise<void> {
  for (const [i, spec] of service.replicas.entries()) {
    const field = service.replicas.length === 1 ? service.name : `${service.name}.replicas[${i}]`;
    checkReplicaStatic(spec, field, rules);
    if (spec.kind === "stdio") await checkStdio(spec, field, rules, resolver);
    else await checkUrl(spec.url, `${field}.url`, rules, resolver);
  }
  // Client credentials towards the backend: the secret is a reference like
  // any other, and the issuer is a host the gateway will send requests to.
  if (service.oauth !== undefined) {
    const field = `${service.name}.oauth`;
    checkSecretReferences({ clientSecret: service.oauth.clientSecret }, field, rules.secrets);
    await checkUrl(service.oauth.issuer, `${field}.issuer`, rules, resolver);
  }
}
