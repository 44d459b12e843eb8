/**
 * The JSON-RPC errors a client sees when the router ends a call without an
 * answer from a backend: each names the service and says whether the call
 * may have run, so the client knows whether it is safe to try again.
 *
 * @module
 */
import { ProtocolError } from "@modelcontextprotocol/server";
import { MinorityPartitionError, OutcomeUnknownError } from "@safla/core/resilience";
import type { ForwardFailure } from "./forward.ts";
import { MINORITY_PARTITION, OUTCOME_UNKNOWN, SERVICE_UNAVAILABLE } from "./jsonrpc_codes.ts";

/** Where a call failed, for the error's message and data. */
export interface FailureSite {
  /** The logical service. */
  readonly service: string;
  /** The MCP method forwarded. */
  readonly method: string;
  /** This node's id in minority-partition refusals, when the cluster host set one. */
  readonly nodeId: string | undefined;
  /** Each replica's connection state, for "unavailable" errors. */
  readonly replicaStates: () => Record<string, string>;
}

/** Maps the router's reason to end a call to the error its client gets. */
export function clientError(failure: ForwardFailure, site: FailureSite): ProtocolError {
  const { service, method } = site;
  const error = failure.failure;
  const cause = failure.lastError;
  const why = (e: unknown): string => e instanceof Error ? e.message : String(e);
  // Refused before any attempt was sent, whatever earlier rounds ran into.
  if (error instanceof MinorityPartitionError) {
    const node = site.nodeId ?? error.nodeId;
    const refusal = new MinorityPartitionError(node, error.operation);
    return new ProtocolError(MINORITY_PARTITION, `service "${service}": ${refusal.message}`, {
      service,
      node,
      method,
      partition: "minority",
      executed: false,
    });
  }
  // A read-only call whose reply was lost on the last replica is simply
  // unavailable; "outcome unknown" is reserved for calls unsafe to repeat.
  if (error instanceof OutcomeUnknownError && !error.safeToRetry) {
    return new ProtocolError(OUTCOME_UNKNOWN, `service "${service}": ${error.message}`, {
      service,
      replica: failure.lastReplicaId,
      method,
      outcome: "unknown",
      cause: cause === undefined ? undefined : why(cause),
    });
  }
  const reason = cause !== undefined ? why(cause) : error.message;
  return new ProtocolError(
    SERVICE_UNAVAILABLE,
    `service "${service}" is unavailable: ${reason}`,
    { service, replicas: site.replicaStates() },
  );
}
