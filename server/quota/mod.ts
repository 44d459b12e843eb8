/**
 * Cluster-wide quotas and per-principal call limits on a node: the gate every
 * tool call passes (call_gate.ts), the slices it takes from the replicated
 * buckets (quota_admission.ts), and the `gateway.quotas` setting.
 *
 * @module
 */
import type { Gateway } from "../gateway/gateway.ts";
import type { GatewaySettings } from "../config.ts";
import type { StateStore } from "../store/types.ts";
import { createCallGate } from "./call_gate.ts";
import { LocalBucketStore } from "./local_bucket_store.ts";
import { QuotaAdmission } from "./quota_admission.ts";

export * from "./call_gate.ts";
export * from "./local_bucket_store.ts";
export * from "./quota_admission.ts";
export * from "./quota_config.ts";

/**
 * Puts the call gate of `settings` in front of `gateway`'s tool calls; the
 * buckets live in `store` (a lone node without one keeps them in memory).
 */
export function installCallGate(
  gateway: Gateway,
  settings: GatewaySettings,
  store: StateStore | undefined,
): QuotaAdmission | undefined {
  const quotas = settings.quotas.length === 0
    ? undefined
    : new QuotaAdmission(store ?? new LocalBucketStore(), settings.quotas);
  gateway.setCallGate(createCallGate({
    maxConcurrentCallsPerPrincipal: settings.maxConcurrentCallsPerPrincipal,
    quotas,
    rules: settings.quotas,
  }));
  return quotas;
}
