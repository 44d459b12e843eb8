/**
 * A backend connection without a backend: it is "ready" as soon as it starts and
 * answers each request with a function the test gives, so gateway tests can time
 * replies exactly (a slow replica, a lost reply) without child processes.
 *
 * @module
 */
import {
  type BackendConnection,
  type BackendFactory,
  type BackendOptions,
  type BackendRequestOptions,
  type BackendState,
  BackendUnavailableError,
  type Catalog,
} from "@safla/transports";

/** Answers one request sent to a stand-in replica. */
export type StandInHandler = (
  method: string,
  params: Record<string, unknown> | undefined,
  options: BackendRequestOptions,
) => Promise<Record<string, unknown>>;

/** A request a stand-in replica received, with the signal it was sent with. */
export interface ReceivedRequest {
  readonly method: string;
  readonly params: Record<string, unknown> | undefined;
  readonly signal: AbortSignal | undefined;
}

/** A replica that is always ready and answers through its handler. */
export class StandInBackend implements BackendConnection {
  readonly label: string;
  readonly restarts = 0;
  readonly lastError: Error | undefined = undefined;
  readonly pid: number | undefined = undefined;
  readonly listenStreamsReopened = 0;
  /** Every request received, oldest first. */
  readonly received: ReceivedRequest[] = [];
  readonly #options: BackendOptions;
  readonly #catalog: Catalog;
  readonly #handle: StandInHandler;
  #state: BackendState = "connecting";

  /** Creates the replica; {@link start} makes it ready. */
  constructor(options: BackendOptions, catalog: Catalog, handle: StandInHandler) {
    this.label = options.label;
    this.#options = options;
    this.#catalog = catalog;
    this.#handle = handle;
  }

  get state(): BackendState {
    return this.#state;
  }

  get catalog(): Catalog | undefined {
    return this.#state === "ready" ? this.#catalog : undefined;
  }

  get requestsSent(): number {
    return this.received.length;
  }

  start(): Promise<void> {
    this.#setState("ready");
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.#setState("closed");
    return Promise.resolve();
  }

  request(
    method: string,
    params: Record<string, unknown> | undefined,
    options: BackendRequestOptions = {},
  ): Promise<Record<string, unknown>> {
    if (this.#state !== "ready") {
      return Promise.reject(new BackendUnavailableError(this.label, this.#state));
    }
    this.received.push({ method, params, signal: options.signal });
    return this.#handle(method, params, options);
  }

  watchResources(_uris: readonly string[]): Promise<void> {
    return Promise.resolve();
  }

  #setState(state: BackendState): void {
    this.#state = state;
    this.#options.hooks?.onStateChange?.(this, state);
  }
}

/**
 * A factory whose replicas all offer `catalog` and answer with `handlers[label]`
 * (labels are `service#index`); the replicas it made are kept in `made`.
 */
export function standInFactory(
  catalog: Catalog,
  handlers: Record<string, StandInHandler>,
): { factory: BackendFactory; made: Map<string, StandInBackend> } {
  const made = new Map<string, StandInBackend>();
  const factory: BackendFactory = (options) => {
    const handle = handlers[options.label];
    if (handle === undefined) throw new Error(`no stand-in handler for ${options.label}`);
    const backend = new StandInBackend(options, catalog, handle);
    made.set(options.label, backend);
    return backend;
  };
  return { factory, made };
}

/** A handler that answers only when the request's signal aborts, with its reason. */
export function never(
  _method: string,
  _params: Record<string, unknown> | undefined,
  options: BackendRequestOptions,
): Promise<Record<string, unknown>> {
  return new Promise((_, reject) => {
    options.signal?.addEventListener("abort", () => reject(options.signal!.reason), {
      once: true,
    });
  });
}
