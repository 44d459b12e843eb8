/**
 * Maps errors of the SDK client onto the outcome vocabulary of
 * `core/resilience` (`not-sent`, `failed`, `unknown`), which decides whether a
 * call may run again on another replica. A JSON-RPC error answered by the
 * backend is its verdict and passes to the client unchanged; a cancelled
 * call is never retried.
 *
 * @module
 */
import { ProtocolError, SdkError, SdkErrorCode } from "@modelcontextprotocol/server";
import { BackendUnavailableError } from "@safla/transports";
import type { CallOutcome } from "@safla/core/resilience";

/** A {@link CallOutcome}, or `remote` (a backend JSON-RPC error) or `cancelled` (by the client). */
export type FailureKind = CallOutcome | "remote" | "cancelled";

/** Classifies an error thrown by a backend request. */
export function classifyFailure(error: unknown, signal?: AbortSignal): FailureKind {
  if (signal?.aborted) return "cancelled";
  if (error instanceof BackendUnavailableError) return "not-sent";
  if (error instanceof SdkError) {
    return error.code === SdkErrorCode.NotConnected ? "not-sent" : "unknown";
  }
  if (error instanceof ProtocolError) return "remote";
  return "unknown";
}
