/**
 * One attempt on one replica, and the input rounds of the 2026-07-28 wire: a
 * client that cannot take pushed requests gets a 2025 backend's pushed
 * requests as `input_required` results through an {@link InputExchange} parked
 * here until the client retries with its answers, and a 2026 backend's own
 * `input_required` results are sealed so that the retry returns to the replica
 * that asked.
 *
 * @module
 */
import { ProtocolError } from "@modelcontextprotocol/server";
import type { BackendConnection } from "@safla/transports";
import type { CallContext, ResumeStateSealer } from "./call_context.ts";
import { InputExchange } from "./input_exchange.ts";
import { ANONYMOUS, principalKey } from "@safla/core/access";
import { INVALID_PARAMS, METHOD_NOT_FOUND, SERVICE_UNAVAILABLE } from "./jsonrpc_codes.ts";
import { clientCan, stripServerInfo, withMeta } from "./wire_meta.ts";

/** Methods whose result may be `input_required` on the 2026-07-28 wire. */
const INPUT_METHODS: ReadonlySet<string> = new Set(["tools/call", "prompts/get", "resources/read"]);
/** Most calls parked waiting for client input, per node. */
const MAX_EXCHANGES = 1_000;
/** How long a parked call waits for the client's answers; matches the resume codec's TTL. */
const EXCHANGE_TTL_MS = 600_000;
/** Progress notifications awaited before a result; older ones are already delivered. */
const MAX_PENDING_PROGRESS = 64;

/** A replica as an attempt needs it. */
export interface CallTarget {
  readonly id: string;
  readonly backend: BackendConnection;
  /**
   * Calls in flight on this replica, each with `backend.requestsSent` read just
   * before it was sent (see `BackendEvents.onServerRequest`).
   */
  readonly inFlight: Map<CallContext, number>;
}

/** Sends attempts and keeps the calls parked between input rounds (at most 1,000). */
export class ReplicaCalls {
  readonly #sealer: ResumeStateSealer | undefined;
  readonly #exchanges = new Map<
    string,
    { exchange: InputExchange; expiry: ReturnType<typeof setTimeout> }
  >();

  /** Without a `sealer`, `input_required` results are refused. */
  constructor(sealer: ResumeStateSealer | undefined) {
    this.#sealer = sealer;
  }

  /** Ends every parked call. */
  close(): void {
    for (const { exchange, expiry } of this.#exchanges.values()) {
      clearTimeout(expiry);
      exchange.abort.abort();
    }
    this.#exchanges.clear();
  }

  /**
   * One attempt on one replica. A client that cannot take pushed requests
   * (2026-07-28) gets a 2025 backend's pushed requests as `input_required`
   * rounds through an {@link InputExchange}.
   */
  async call(
    replica: CallTarget,
    method: string,
    params: Record<string, unknown>,
    ctx: CallContext,
  ): Promise<Record<string, unknown>> {
    // Progress must reach the client before the result does, or the client
    // may drop it as belonging to a finished request.
    const progressSent: Promise<void>[] = [];
    let notify = ctx.notify;
    const onprogress = ctx.progressToken === undefined
      ? undefined
      : (p: { progress: number; total?: number; message?: string }) => {
        if (progressSent.length >= MAX_PENDING_PROGRESS) progressSent.shift();
        progressSent.push(
          notify({
            method: "notifications/progress",
            params: { ...p, progressToken: ctx.progressToken! },
          }).catch(() => {}),
        );
      };
    const bridged = ctx.sendRequest === undefined && this.#sealer !== undefined &&
      INPUT_METHODS.has(method) && replica.backend.catalog?.era === "legacy";
    if (!bridged) {
      replica.inFlight.set(ctx, replica.backend.requestsSent);
      try {
        const result = await replica.backend.request(
          method,
          withMeta(params, ctx, replica.backend.catalog?.era),
          {
            signal: ctx.signal,
            onprogress,
          },
        );
        if (progressSent.length > 0) await Promise.all(progressSent);
        const stripped = stripServerInfo(result);
        return stripped.resultType === "input_required"
          ? await this.#sealInputRequired(replica, stripped)
          : stripped;
      } finally {
        replica.inFlight.delete(ctx);
      }
    }
    const exchange = new InputExchange(
      crypto.randomUUID(),
      replica.id,
      ctx.notify,
      principalKey(ctx.principal ?? ANONYMOUS),
    );
    notify = (n) => exchange.notify(n);
    const asker: CallContext = {
      notify,
      clientCapabilities: ctx.clientCapabilities,
      sendRequest: (request) => {
        // Only ask the client what it declared it can answer; a 2025 backend
        // asks for roots unprompted, and the answer for "no roots" is empty.
        if (clientCan(ctx.clientCapabilities, request.method)) return exchange.ask(request);
        if (request.method === "roots/list") return Promise.resolve({ roots: [] });
        return Promise.reject(
          new ProtocolError(
            METHOD_NOT_FOUND,
            `${request.method}: the client of this call does not support it`,
          ),
        );
      },
    };
    replica.inFlight.set(asker, replica.backend.requestsSent);
    const call = replica.backend.request(
      method,
      withMeta(params, ctx, replica.backend.catalog?.era),
      {
        signal: exchange.abort.signal,
        onprogress,
      },
    );
    call.finally(() => replica.inFlight.delete(asker)).catch(() => {});
    exchange.track(call);
    const result = await this.#step(replica, exchange, ctx.signal);
    await Promise.all(progressSent);
    return result;
  }

  /** Runs an exchange to its next stop: the result, an error, or questions for the client. */
  async #step(
    replica: CallTarget,
    exchange: InputExchange,
    signal: AbortSignal | undefined,
  ): Promise<Record<string, unknown>> {
    const step = await exchange.next(signal);
    if (step.kind !== "input") {
      this.#dropExchange(exchange.id);
      if (step.kind === "error") throw step.error;
      return await this.#sealInputRequired(replica, stripServerInfo(step.result));
    }
    const parked = this.#exchanges.get(exchange.id);
    if (parked === undefined && this.#exchanges.size >= MAX_EXCHANGES) {
      exchange.abort.abort();
      throw new ProtocolError(
        SERVICE_UNAVAILABLE,
        `too many calls are waiting for client input on this gateway (${MAX_EXCHANGES})`,
      );
    }
    if (parked !== undefined) clearTimeout(parked.expiry);
    this.#exchanges.set(exchange.id, {
      exchange,
      expiry: setTimeout(() => {
        exchange.abort.abort(new Error("the client did not answer in time"));
        this.#exchanges.delete(exchange.id);
      }, EXCHANGE_TTL_MS),
    });
    return {
      resultType: "input_required",
      inputRequests: Object.fromEntries(step.inputs.map((i) => [i.key, i.request])),
      requestState: await this.#sealer!.mint({ replica: replica.id, exchange: exchange.id }),
    };
  }

  #dropExchange(id: string): void {
    const parked = this.#exchanges.get(id);
    if (parked === undefined) return;
    clearTimeout(parked.expiry);
    this.#exchanges.delete(id);
  }

  /** Sends the retry of an input round to the replica that asked for the input. */
  async resume(
    replica: CallTarget | undefined,
    serviceName: string,
    method: string,
    params: Record<string, unknown>,
    ctx: CallContext,
    resume: NonNullable<CallContext["resume"]>,
  ): Promise<Record<string, unknown>> {
    if (replica === undefined || replica.backend.state !== "ready") {
      throw new ProtocolError(
        SERVICE_UNAVAILABLE,
        `replica ${resume.state.replica} of service "${serviceName}" that asked for ` +
          `input is no longer available; start the request again`,
        { service: serviceName, replica: resume.state.replica },
      );
    }
    if (resume.state.exchange !== undefined) {
      const parked = this.#exchanges.get(resume.state.exchange);
      // Another caller replaying a requestState learns no more than for a finished call.
      if (
        parked === undefined ||
        parked.exchange.owner !== principalKey(ctx.principal ?? ANONYMOUS)
      ) {
        throw new ProtocolError(
          INVALID_PARAMS,
          `the call waiting for this input on replica ${replica.id} is gone (finished, ` +
            `cancelled or expired); start the request again`,
        );
      }
      clearTimeout(parked.expiry);
      parked.exchange.attach(ctx.notify);
      parked.exchange.answer(resume.inputResponses);
      return await this.#step(replica, parked.exchange, ctx.signal);
    }
    replica.inFlight.set(ctx, replica.backend.requestsSent);
    try {
      const result = await replica.backend.request(method, {
        ...withMeta(params, ctx, replica.backend.catalog?.era),
        ...(resume.inputResponses === undefined ? {} : { inputResponses: resume.inputResponses }),
        ...(resume.state.state === undefined ? {} : { requestState: resume.state.state }),
      }, { signal: ctx.signal });
      return await this.#sealInputRequired(replica, stripServerInfo(result));
    } finally {
      replica.inFlight.delete(ctx);
    }
  }

  async #sealInputRequired(
    replica: CallTarget,
    result: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    if (result.resultType !== "input_required") return result;
    const sealer = this.#sealer;
    if (sealer === undefined) {
      throw new ProtocolError(
        SERVICE_UNAVAILABLE,
        `${replica.id} asked for client input, but this gateway cannot carry input rounds`,
      );
    }
    const state = typeof result.requestState === "string" ? result.requestState : undefined;
    return { ...result, requestState: await sealer.mint({ replica: replica.id, state }) };
  }
}
