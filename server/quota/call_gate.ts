/**
 * What every tool call of a client passes before it reaches a backend: the
 * per-principal bound on concurrent calls on this node, then the cluster-wide
 * quotas (quota_admission.ts). A refusal is a JSON-RPC error the client can
 * act on: {@link RATE_LIMITED} with `data.retryAfterMs`.
 *
 * @module
 */
import { ProtocolError } from "@modelcontextprotocol/server";
import { ANONYMOUS, type Principal, principalKey } from "@safla/core/access";
import type { QuotaRule } from "@safla/core/quota";
import { RATE_LIMITED } from "../gateway/jsonrpc_codes.ts";
import type { QuotaAdmission } from "./quota_admission.ts";

/** Admits one call of `principal` to `tool` of `service`: the release to call when it ends. */
export type CallGate = (
  principal: Principal | undefined,
  service: string,
  tool: string,
) => Promise<() => void>;

/** Retry hint for a caller at its concurrency limit (its calls in flight end soon or never). */
const CONCURRENCY_RETRY_MS = 250;

/** Builds the gate of one node. */
export function createCallGate(options: {
  maxConcurrentCallsPerPrincipal: number;
  quotas?: QuotaAdmission;
  rules?: readonly QuotaRule[];
}): CallGate {
  const inFlight = new Map<string, number>();
  return async (principal = ANONYMOUS, service, tool) => {
    const key = principalKey(principal);
    const running = inFlight.get(key) ?? 0;
    if (running >= options.maxConcurrentCallsPerPrincipal) {
      throw new ProtocolError(
        RATE_LIMITED,
        `too many concurrent calls: ${running} of this caller are in flight on this node ` +
          `(gateway.maxConcurrentCallsPerPrincipal)`,
        { retryAfterMs: CONCURRENCY_RETRY_MS },
      );
    }
    inFlight.set(key, running + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const left = (inFlight.get(key) ?? 1) - 1;
      if (left === 0) inFlight.delete(key);
      else inFlight.set(key, left);
    };
    try {
      const refusal = await options.quotas?.admit(principal, service, tool);
      if (refusal !== undefined) {
        const rule = options.rules?.[refusal.rule];
        const what = rule === undefined
          ? `quota ${refusal.rule}`
          : `quota ${refusal.rule} (${rule.ratePerSec}/s, burst ${rule.burst}) on ${service}` +
            (rule.tool === undefined ? "" : ` (tool ${rule.tool})`);
        throw new ProtocolError(
          RATE_LIMITED,
          `rate limited: ${what} is used up for this caller; retry in ${refusal.retryAfterMs} ms`,
          { retryAfterMs: refusal.retryAfterMs },
        );
      }
    } catch (error) {
      release();
      throw error;
    }
    return release;
  };
}
