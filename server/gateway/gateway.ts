/**
 * The gateway data path: many backend MCP servers behind one aggregated
 * catalog. Services are logical servers; each has replicas (backend
 * connections) that offer the same catalog and share the calls a balancer
 * spreads over them. Names are qualified by `core/registry/naming`, replicas
 * picked by a `core/balancer` strategy, and a call whose outcome is unknown
 * runs twice only when the tool says that is safe.
 *
 * The gateway knows nothing about HTTP or stdio fronts: a front hands every
 * request in with a {@link CallContext} that can notify (and, on 2025
 * sessions, send requests to) the client that made it.
 *
 * @module
 */
import { ProtocolError, type Tool } from "@modelcontextprotocol/server";
import {
  type BackendSpec,
  BackendUnavailableError,
  type EraCache,
  McpBackend,
} from "@safla/transports";
import { StatsTable, type StrategyName } from "@safla/core/balancer";
import {
  DEFAULT_HEALTH_POLICY,
  exposeNames,
  matchUriTemplate,
  type NameCollision,
  type NameTable,
} from "@safla/core/registry";
import { MinorityPartitionError, OutcomeUnknownError, RetryBudget } from "@safla/core/resilience";
import {
  type Attempt,
  type AttemptOutcome,
  CallFailedError,
  CallRouter,
  NoReplicaAvailableError,
} from "@safla/core/routing";
import type { Rng } from "@safla/core";
import type { GatewayConfig, GatewaySettings, ServiceConfig } from "../config.ts";
import { classifyFailure } from "./failover.ts";
import { InputExchange } from "./input_exchange.ts";
import type { CallContext, ResumeStateSealer } from "./call_context.ts";
import { clientCan, monotonicProgress, stripServerInfo, withMeta } from "./wire_meta.ts";
import {
  INVALID_PARAMS,
  METHOD_NOT_FOUND,
  MINORITY_PARTITION,
  OUTCOME_UNKNOWN,
  SERVICE_UNAVAILABLE,
} from "./jsonrpc_codes.ts";

export type { CallContext, ResumeState, ResumeStateSealer } from "./call_context.ts";

/** Methods whose result may be `input_required` on the 2026-07-28 wire. */
const INPUT_METHODS: ReadonlySet<string> = new Set(["tools/call", "prompts/get", "resources/read"]);
/** Most calls parked waiting for client input, per node. */
const MAX_EXCHANGES = 1_000;
/** How long a parked call waits for the client's answers; matches the resume codec's TTL. */
const EXCHANGE_TTL_MS = 600_000;
/** Progress notifications awaited before a result; older ones are already delivered. */
const MAX_PENDING_PROGRESS = 64;

/** Which list changed, for the fronts to tell their clients. */
export type ListKind = "tools" | "prompts" | "resources";

/** Gateway events a front subscribes to. */
export interface GatewayListener {
  listChanged?(kind: ListKind): void;
  resourceUpdated?(uri: string): void;
  /** A log message not tied to one in-flight request. */
  log?(params: Record<string, unknown>): void;
}

/** Injected effects, so tests can control time and randomness. */
export interface GatewayDeps {
  nowMs(): number;
  rng: Rng;
  eraCache?: EraCache;
  /** Signs resume state; without it `input_required` results are refused. */
  sealer?: ResumeStateSealer;
}

/** A gateway tool handled in-process (management tools). */
export interface LocalTool {
  definition: Tool;
  /** Older names it also answers to, unlisted, so clients that still use them do not break. */
  aliases?: readonly string[];
  call(args: Record<string, unknown>, ctx: CallContext): Promise<Record<string, unknown>>;
}

interface Replica {
  id: string;
  service: Service;
  backend: McpBackend;
  /**
   * Calls in flight on this replica, each with {@link McpBackend.requestsSent}
   * read just before it was sent: a server→client request can only belong to a
   * call the backend could have received before sending it.
   */
  inFlight: Map<CallContext, number>;
}

interface Service {
  config: ServiceConfig;
  replicas: Replica[];
  /** Balancing, breakers, health, outliers and the retry rule, shared with the simulator. */
  router: CallRouter;
}

/** The aggregated, balanced view of all services. */
export class Gateway {
  readonly settings: GatewaySettings;
  #services = new Map<string, Service>();
  #deps: GatewayDeps;
  #stats = new StatsTable();
  #retryBudget = new RetryBudget();
  #tick?: ReturnType<typeof setInterval>;
  #exchanges = new Map<
    string,
    { exchange: InputExchange; expiry: ReturnType<typeof setTimeout> }
  >();
  #eraCache: EraCache;
  #listeners = new Set<GatewayListener>();
  #toolNames: NameTable = exposeNames([]);
  #promptNames: NameTable = exposeNames([]);
  #local = new Map<string, LocalTool>();
  #localAliases = new Map<string, LocalTool>();
  #lastHashes = new Map<ListKind, string>();
  /** The client-facing lists, rebuilt on every catalog or state change, served as is. */
  #views: {
    tools: Tool[];
    prompts: Record<string, unknown>[];
    resources: Record<string, unknown>[];
    resourceTemplates: Record<string, unknown>[];
  } = { tools: [], prompts: [], resources: [], resourceTemplates: [] };
  #calls = 0;
  #failovers = 0;
  #errors = 0;
  #logsDropped = 0;
  /** `roots/list` requests the gateway answered itself (no roots), see #onServerRequest. */
  #rootsAnswered = 0;
  #hedges = 0;
  /** Client subscriptions per resource URI, across all sessions of this node. */
  #subscribers = new Map<string, number>();
  /** Whether this node reaches a Raft quorum; a standalone gateway always does. */
  #hasQuorum = true;
  /** This node's id in refusals; set by the cluster host through {@link setQuorum}. */
  #nodeId: string | undefined;

  /** Builds services and replicas from `config`; {@link start} connects them. */
  constructor(config: GatewayConfig, deps: GatewayDeps) {
    this.settings = config.settings;
    this.#deps = deps;
    this.#eraCache = deps.eraCache ?? new Map();
    for (const service of config.services) this.#addService(service);
  }

  #addService(config: ServiceConfig): Service {
    if (this.#services.has(config.name)) {
      throw new Error(`service ${config.name} is already registered`);
    }
    const service: Service = {
      config,
      replicas: [],
      router: new CallRouter({
        serviceId: config.name,
        rng: this.#deps.rng,
        strategy: config.strategy,
        stats: this.#stats,
        retryBudget: this.#retryBudget,
        maxAttempts: this.settings.maxAttempts,
        hedgeDelayMs: this.settings.hedgeDelayMs,
        breaker: {
          consecutiveFailures: this.settings.breakerConsecutiveFailures,
          openDurationMs: this.settings.breakerOpenDurationMs,
        },
        // Connection events are exact here (we hold the connection), so one
        // good probe makes a replica routable and there is no dwell to wait out.
        health: { ...DEFAULT_HEALTH_POLICY, healthyAfterSuccesses: 1, minDwellMs: 0 },
        nowMs: this.#deps.nowMs(),
      }),
    };
    service.router.setQuorum(this.#hasQuorum);
    config.replicas.forEach((spec, i) =>
      service.replicas.push(this.#makeReplica(service, spec, i))
    );
    this.#syncRouter(service);
    this.#services.set(config.name, service);
    return service;
  }

  #makeReplica(service: Service, spec: BackendSpec, index: number): Replica {
    const id = `${service.config.name}#${index}`;
    const replica: Replica = { id, service, inFlight: new Map(), backend: undefined! };
    replica.backend = new McpBackend({
      label: id,
      spec,
      requestTimeoutMs: service.config.requestTimeoutMs,
      connectTimeoutMs: this.settings.connectTimeoutMs,
      initialBackoffMs: this.settings.initialBackoffMs,
      maxBackoffMs: this.settings.maxBackoffMs,
      eraCache: this.#eraCache,
      hooks: {
        onStateChange: (_backend, state) => this.#onReplicaState(replica, state),
        onNotification: (_backend, n) => this.#onBackendNotification(replica, n),
        onServerRequest: (_backend, request, signal, arrival) =>
          this.#onServerRequest(replica, request, signal, arrival.requestsSentBefore),
      },
    });
    return replica;
  }

  /** Connects every replica; resolves when each made its first attempt. */
  async start(): Promise<void> {
    this.#tick ??= setInterval(() => {
      const nowMs = this.#deps.nowMs();
      for (const s of this.#services.values()) s.router.tick(nowMs);
    }, ROUTER_TICK_MS);
    await Promise.all(this.#allReplicas().map((r) => r.backend.start()));
    this.#rebuild();
  }

  /** Feeds a backend's connection state to its service's router, then rebuilds the views. */
  #onReplicaState(replica: Replica, state: string): void {
    const router = replica.service.router;
    const atMs = this.#deps.nowMs();
    this.#syncRouter(replica.service);
    if (state === "ready" || state === "unhealthy") {
      router.observe(replica.id, { kind: "connected", atMs });
      router.observe(replica.id, {
        kind: "probe",
        atMs,
        ok: true,
        toolCount: replica.backend.catalog?.tools.length ?? 0,
      });
    } else if (state === "backoff" || state === "closed") {
      router.observe(replica.id, {
        kind: "disconnected",
        atMs,
        reason: replica.backend.lastError?.message,
      });
    }
    this.#rebuild();
  }

  /** Tells the router which replicas exist and which tools each one offers. */
  #syncRouter(service: Service): void {
    service.router.setReplicas(
      service.replicas.map((r) => ({
        id: r.id,
        tools: r.backend.catalog?.tools.map((t) => t.name) ?? [],
      })),
      this.#deps.nowMs(),
    );
  }

  /** Closes every backend (ending stdio children). */
  async close(): Promise<void> {
    clearInterval(this.#tick);
    this.#tick = undefined;
    for (const { exchange, expiry } of this.#exchanges.values()) {
      clearTimeout(expiry);
      exchange.abort.abort();
    }
    this.#exchanges.clear();
    await Promise.all(this.#allReplicas().map((r) => r.backend.close()));
  }

  /** Subscribes to list changes and broadcast notifications. */
  subscribe(listener: GatewayListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Registers a tool the gateway answers itself (e.g. management). */
  addLocalTool(tool: LocalTool): void {
    this.#local.set(tool.definition.name, tool);
    for (const alias of tool.aliases ?? []) this.#localAliases.set(alias, tool);
    this.#rebuild();
  }

  /** Adds a service at runtime and connects its replicas. */
  async registerService(config: ServiceConfig): Promise<void> {
    const service = this.#addService(config);
    await Promise.all(service.replicas.map((r) => r.backend.start()));
    this.#rebuild();
  }

  /** Removes a service and closes its replicas. */
  async unregisterService(name: string): Promise<boolean> {
    const service = this.#services.get(name);
    if (service === undefined) return false;
    this.#services.delete(name);
    await Promise.all(service.replicas.map((r) => r.backend.close()));
    for (const r of service.replicas) this.#stats.remove(r.id);
    this.#rebuild();
    return true;
  }

  /**
   * Records whether this node reaches its cluster's quorum. Without one it is in a
   * minority partition: catalogs are still served from what the node holds, and
   * read-only or idempotent calls still go to backends, but every other call is
   * refused before it is sent (JSON-RPC {@link MINORITY_PARTITION}). Applies to
   * every service, including those registered later. `nodeId` names this node in
   * the refusal.
   */
  setQuorum(hasQuorum: boolean, nodeId?: string): void {
    this.#hasQuorum = hasQuorum;
    if (nodeId !== undefined) this.#nodeId = nodeId;
    for (const service of this.#services.values()) service.router.setQuorum(hasQuorum);
  }

  /** Whether this node reaches its cluster's quorum (see {@link setQuorum}). */
  get hasQuorum(): boolean {
    return this.#hasQuorum;
  }

  /** Sets the balancing strategy of one service or, without `service`, of all. */
  setStrategy(strategy: StrategyName, service?: string): void {
    const targets = service === undefined
      ? [...this.#services.values()]
      : [this.#requireService(service)];
    for (const s of targets) {
      s.router.setStrategy(strategy);
      s.config = { ...s.config, strategy };
    }
  }

  #requireService(name: string): Service {
    const service = this.#services.get(name);
    if (service === undefined) {
      throw new ProtocolError(INVALID_PARAMS, `unknown service "${name}"`);
    }
    return service;
  }

  #allReplicas(): Replica[] {
    return [...this.#services.values()].flatMap((s) => s.replicas);
  }

  /** The catalog of a service: the first replica that has one. */
  #serviceCatalog(service: Service) {
    for (const r of service.replicas) {
      if (r.backend.state === "ready" && r.backend.catalog) return r.backend.catalog;
    }
    for (const r of service.replicas) if (r.backend.catalog) return r.backend.catalog;
    return undefined;
  }

  #rebuild(): void {
    const tools: { service: string; name: string }[] = [];
    const prompts: { service: string; name: string }[] = [];
    const toolDefs = new Map<string, Tool>();
    const promptDefs = new Map<string, Record<string, unknown>>();
    const resources: Record<string, unknown>[] = [];
    const templates: Record<string, unknown>[] = [];
    const seenUris = new Set<string>();
    for (const service of this.#services.values()) {
      const catalog = this.#serviceCatalog(service);
      if (catalog === undefined) continue;
      const name = service.config.name;
      for (const t of catalog.tools) {
        tools.push({ service: name, name: t.name });
        toolDefs.set(`${name}\u0000${t.name}`, t);
      }
      for (const p of catalog.prompts) {
        prompts.push({ service: name, name: p.name });
        promptDefs.set(`${name}\u0000${p.name}`, p);
      }
      for (const r of catalog.resources) {
        if (seenUris.has(r.uri)) continue;
        seenUris.add(r.uri);
        resources.push(r);
      }
      templates.push(...catalog.resourceTemplates);
    }
    const naming = {
      separator: this.settings.separator,
      mode: this.settings.naming,
      maxLength: this.settings.maxToolNameLength,
    };
    this.#toolNames = exposeNames(tools, naming);
    this.#promptNames = exposeNames(prompts, naming);
    this.#views = {
      tools: [
        ...this.#toolNames.names.map((n) => ({
          ...toolDefs.get(`${n.service}\u0000${n.name}`)!,
          name: n.exposed,
        })),
        ...[...this.#local.values()].map((t) => t.definition),
      ],
      prompts: this.#promptNames.names.map((n) => ({
        ...promptDefs.get(`${n.service}\u0000${n.name}`)!,
        name: n.exposed,
      })),
      resources,
      resourceTemplates: templates,
    };
    this.#announce("tools", JSON.stringify(this.#views.tools));
    this.#announce("prompts", JSON.stringify(this.#views.prompts));
    this.#announce("resources", JSON.stringify([resources, templates]));
  }

  #announce(kind: ListKind, fingerprint: string): void {
    const before = this.#lastHashes.get(kind);
    this.#lastHashes.set(kind, fingerprint);
    if (before === undefined || before === fingerprint) return;
    for (const l of this.#listeners) l.listChanged?.(kind);
  }

  /** Name clashes resolved by disambiguation, for status reports. */
  get collisions(): { tools: NameCollision[]; prompts: NameCollision[] } {
    return { tools: this.#toolNames.collisions, prompts: this.#promptNames.collisions };
  }

  /** The aggregated tools, under their exposed names, then the local tools. */
  listTools(): Tool[] {
    return this.#views.tools;
  }

  /** The aggregated prompts under their exposed names. */
  listPrompts(): Record<string, unknown>[] {
    return this.#views.prompts;
  }

  /** Resources of all services, by URI; the first service listing a URI owns it. */
  listResources(): Record<string, unknown>[] {
    return this.#views.resources;
  }

  /** Resource templates of all services. */
  listResourceTemplates(): Record<string, unknown>[] {
    return this.#views.resourceTemplates;
  }

  /** The service that owns `uri`: a listed resource first, then a matching template. */
  #serviceForUri(uri: string): Service | undefined {
    for (const service of this.#services.values()) {
      if (this.#serviceCatalog(service)?.resources.some((r) => r.uri === uri)) return service;
    }
    for (const service of this.#services.values()) {
      for (const t of this.#serviceCatalog(service)?.resourceTemplates ?? []) {
        if (templateMatches(t.uriTemplate, uri)) return service;
      }
    }
    return undefined;
  }

  /** True when `name` is a backend tool this gateway forwards (not a local one, not unknown). */
  forwardsTool(name: string): boolean {
    return !this.#local.has(name) && !this.#localAliases.has(name) &&
      this.#toolNames.resolve(name) !== undefined;
  }

  /**
   * The protocol era of the replicas that serve tool `name`: "legacy" or
   * "modern" when all that have connected agree, "mixed" when they do not,
   * undefined for a tool the gateway does not forward or no replica yet.
   */
  toolEra(name: string): "legacy" | "modern" | "mixed" | undefined {
    const target = this.#toolNames.resolve(name);
    const service = target === undefined ? undefined : this.#services.get(target.service);
    if (service === undefined) return undefined;
    let era: "legacy" | "modern" | undefined;
    for (const r of service.replicas) {
      const e = r.backend.catalog?.era;
      if (e === undefined) continue;
      if (era !== undefined && era !== e) return "mixed";
      era = e;
    }
    return era;
  }

  /** Handles `tools/call`. */
  async callTool(
    params: { name: string; arguments?: Record<string, unknown> } & Record<string, unknown>,
    ctx: CallContext,
  ): Promise<Record<string, unknown>> {
    const local = this.#local.get(params.name) ?? this.#localAliases.get(params.name);
    if (local !== undefined) return await local.call(params.arguments ?? {}, ctx);
    const target = this.#toolNames.resolve(params.name);
    if (target === undefined) {
      throw new ProtocolError(INVALID_PARAMS, `Tool ${params.name} not found`);
    }
    const service = this.#requireService(target.service);
    const tool = this.#serviceCatalog(service)?.tools.find((t) => t.name === target.name);
    return await this.#forward(service, "tools/call", { ...params, name: target.name }, ctx, {
      toolName: target.name,
      annotations: tool?.annotations ?? {},
    });
  }

  /** Handles `prompts/get`. */
  async getPrompt(
    params: { name: string } & Record<string, unknown>,
    ctx: CallContext,
  ): Promise<Record<string, unknown>> {
    const target = this.#promptNames.resolve(params.name);
    if (target === undefined) {
      throw new ProtocolError(INVALID_PARAMS, `Prompt ${params.name} not found`);
    }
    const service = this.#requireService(target.service);
    return await this.#forward(service, "prompts/get", { ...params, name: target.name }, ctx, {
      annotations: READ_ONLY,
    });
  }

  /** Handles `resources/read`. */
  async readResource(
    params: { uri: string } & Record<string, unknown>,
    ctx: CallContext,
  ): Promise<Record<string, unknown>> {
    const service = this.#serviceForUri(params.uri);
    if (service === undefined) {
      throw new ProtocolError(INVALID_PARAMS, `Resource not found: ${params.uri}`, {
        uri: params.uri,
      });
    }
    return await this.#forward(service, "resources/read", params, ctx, { annotations: READ_ONLY });
  }

  /** Handles `resources/subscribe` and `resources/unsubscribe` (all replicas). */
  async subscribeResource(
    method: "resources/subscribe" | "resources/unsubscribe",
    uri: string,
    ctx: CallContext,
  ): Promise<Record<string, unknown>> {
    const service = this.#serviceForUri(uri);
    if (service === undefined) {
      throw new ProtocolError(INVALID_PARAMS, `Resource not found: ${uri}`, { uri });
    }
    // Backends are shared: subscribe them for the first client, unsubscribe
    // them after the last one leaves.
    const count = this.#subscribers.get(uri) ?? 0;
    const next = method === "resources/subscribe" ? count + 1 : Math.max(0, count - 1);
    if (next === 0) this.#subscribers.delete(uri);
    else this.#subscribers.set(uri, next);
    const edge = method === "resources/subscribe" ? count === 0 : count === 1;
    if (!edge) return {};
    // A 2025 backend is asked per URI; a 2026 one gets the service's whole list
    // on a listen stream. Every replica keeps the list for when it (re)connects.
    const watched = [...this.#subscribers.keys()].filter((u) => this.#serviceForUri(u) === service);
    const ready = service.replicas.filter((r) =>
      r.backend.state === "ready" && r.backend.catalog?.capabilities.resources?.subscribe
    );
    try {
      await Promise.all([
        ...ready
          .filter((r) => r.backend.catalog?.era === "legacy")
          .map((r) => r.backend.request(method, { uri }, { signal: ctx.signal })),
        ...service.replicas.map((r) => r.backend.watchResources(watched)),
      ]);
    } catch (error) {
      if (count === 0) this.#subscribers.delete(uri);
      else this.#subscribers.set(uri, count);
      throw error;
    }
    return {};
  }

  /** Handles `completion/complete`, by the prompt name or resource template it refers to. */
  async complete(
    params: { ref: { type: string; name?: string; uri?: string } } & Record<string, unknown>,
    ctx: CallContext,
  ): Promise<Record<string, unknown>> {
    const { ref } = params;
    if (ref.type === "ref/prompt" && ref.name !== undefined) {
      const target = this.#promptNames.resolve(ref.name);
      if (target === undefined) {
        throw new ProtocolError(INVALID_PARAMS, `Prompt ${ref.name} not found`);
      }
      const service = this.#requireService(target.service);
      return await this.#forward(
        service,
        "completion/complete",
        {
          ...params,
          ref: { ...ref, name: target.name },
        },
        ctx,
        { annotations: READ_ONLY },
      );
    }
    if (ref.type === "ref/resource" && ref.uri !== undefined) {
      const service = [...this.#services.values()].find((s) =>
        this.#serviceCatalog(s)?.resourceTemplates.some((t) =>
          t.uriTemplate === ref.uri
        )
      ) ?? this.#serviceForUri(ref.uri);
      if (service === undefined) {
        throw new ProtocolError(INVALID_PARAMS, `Resource template ${ref.uri} not found`);
      }
      return await this.#forward(service, "completion/complete", params, ctx, {
        annotations: READ_ONLY,
      });
    }
    throw new ProtocolError(INVALID_PARAMS, `unsupported completion reference ${ref.type}`);
  }

  /** Forwards `logging/setLevel` to every ready replica. */
  async setLogLevel(level: string): Promise<void> {
    await Promise.all(
      this.#allReplicas().map(async (r) => {
        if (r.backend.state !== "ready" || !r.backend.catalog?.capabilities.logging) return;
        if (r.backend.catalog.era !== "legacy") return;
        await r.backend.request("logging/setLevel", { level }).catch(() => {});
      }),
    );
  }

  async #forward(
    service: Service,
    method: string,
    params: Record<string, unknown>,
    ctx: CallContext,
    options: { toolName?: string; annotations: ToolHints },
  ): Promise<Record<string, unknown>> {
    this.#calls++;
    if (ctx.resume !== undefined) {
      return await this.#resume(service, method, params, ctx, ctx.resume);
    }
    const router = service.router;
    const call = router.open({
      toolName: options.toolName,
      annotations: options.annotations,
      affinityKey: ctx.affinityKey,
    }, this.#deps.nowMs());
    let lastError: unknown;
    // A hedge runs the same call on a second replica while the first is slow;
    // only safe for repeat-safe calls (the router decides), and not while a
    // 2025 backend could ask this client for input through an exchange.
    const mayHedge = ctx.sendRequest !== undefined ||
      service.replicas.every((r) => r.backend.catalog?.era !== "legacy");
    // Without a progress token no attempt reports progress, so there is nothing to order.
    const attemptCtx = ctx.progressToken === undefined ? ctx : monotonicProgress(ctx);
    // Bounded by the router's attempt limit; the extra round only reads its verdict.
    for (let round = 0; round <= this.settings.maxAttempts; round++) {
      const begun = router.begin(call, this.#deps.nowMs());
      if (!begun.ok) throw this.#routingError(service, method, begun.error, lastError);
      const running = new Map<Attempt, RunningAttempt>();
      let hedgeAtMs = mayHedge ? begun.attempt.hedgeAtMs : undefined;
      // Without a hedge the round runs one attempt, which ends with the client's
      // signal; parallel attempts each need an end of their own.
      const parallel = hedgeAtMs !== undefined;
      const start = (attempt: Attempt): void => {
        const replica = service.replicas.find((r) => r.id === attempt.replicaId);
        if (replica === undefined) {
          throw new Error(`routing invariant: unknown replica ${attempt.replicaId}`);
        }
        if (!parallel) {
          running.set(attempt, {
            done: settle(attempt, this.#call(replica, method, params, attemptCtx)),
          });
          return;
        }
        // The attempt ends when the client cancels or the call no longer needs it.
        const abort = new AbortController();
        const unlink = follow(abort, ctx.signal);
        const done = settle(
          attempt,
          this.#call(replica, method, params, { ...attemptCtx, signal: abort.signal }),
        );
        void done.then(unlink);
        running.set(attempt, { done, abort });
      };
      start(begun.attempt);
      // Settles this round: a result, a thrown error, or `retry` for the next round.
      // Bounded: each turn either completes one attempt or starts the one hedge.
      let next: "retry" | undefined;
      for (let turn = 0; turn < 2 * this.settings.maxAttempts && next === undefined; turn++) {
        const waits: Promise<Settled | "hedge">[] = [...running.values()].map((r) => r.done);
        let timer: ReturnType<typeof setTimeout> | undefined;
        if (hedgeAtMs !== undefined) {
          const delayMs = Math.max(0, hedgeAtMs - this.#deps.nowMs());
          waits.push(new Promise((resolve) => timer = setTimeout(() => resolve("hedge"), delayMs)));
        }
        const settled = waits.length === 1 ? await waits[0] : await Promise.race(waits);
        clearTimeout(timer);
        if (settled === "hedge") {
          hedgeAtMs = undefined;
          const hedge = router.hedge(call, this.#deps.nowMs());
          if (hedge !== undefined) {
            this.#hedges++;
            start(hedge);
          }
          continue;
        }
        running.delete(settled.attempt);
        const nowMs = this.#deps.nowMs();
        if ("result" in settled) {
          router.complete(settled.attempt, "ok", nowMs);
          this.#abandon(router, running);
          return settled.result;
        }
        const error = settled.error;
        const failure = classifyFailure(error, ctx.signal);
        const outcome: AttemptOutcome = failure === "remote" ? "remote-error" : failure;
        const verdict = router.complete(settled.attempt, outcome, nowMs);
        // A backend's JSON-RPC error is its verdict, code and all; a cancelled call is over.
        if (failure === "remote" || failure === "cancelled") {
          this.#abandon(router, running);
          throw error;
        }
        lastError = error;
        if (verdict.kind === "pending") continue;
        if (verdict.kind === "retry") {
          this.#failovers++;
          next = "retry";
        } else if (verdict.kind === "fail") {
          throw this.#routingError(
            service,
            method,
            verdict.error,
            error,
            settled.attempt.replicaId,
          );
        } else {
          throw error;
        }
      }
      if (next === undefined) throw new Error("routing invariant: a round ended undecided");
    }
    throw this.#routingError(service, method, undefined, lastError);
  }

  /** Cancels the attempts still running after the call was decided, and reports them. */
  #abandon(router: CallRouter, running: Map<Attempt, RunningAttempt>): void {
    for (const [attempt, { done, abort }] of running) {
      if (abort === undefined) {
        throw new Error("routing invariant: a lone attempt outlived its call");
      }
      abort.abort(new Error("another attempt answered first"));
      void done.then(() => router.complete(attempt, "cancelled", this.#deps.nowMs()));
    }
    running.clear();
  }

  /** Maps a routing failure to the JSON-RPC error the client sees, naming the service. */
  #routingError(
    service: Service,
    method: string,
    error: unknown,
    cause: unknown,
    replicaId?: string,
  ): ProtocolError {
    this.#errors++;
    const name = service.config.name;
    const why = (e: unknown): string => e instanceof Error ? e.message : String(e);
    // Refused before any attempt was sent, whatever earlier rounds ran into.
    if (error instanceof MinorityPartitionError) {
      const node = this.#nodeId ?? error.nodeId;
      const refusal = new MinorityPartitionError(node, error.operation);
      return new ProtocolError(MINORITY_PARTITION, `service "${name}": ${refusal.message}`, {
        service: name,
        node,
        method,
        partition: "minority",
        executed: false,
      });
    }
    // A read-only call whose reply was lost on the last replica is simply
    // unavailable; "outcome unknown" is reserved for calls unsafe to repeat.
    if (error instanceof OutcomeUnknownError && !error.safeToRetry) {
      return new ProtocolError(OUTCOME_UNKNOWN, `service "${name}": ${error.message}`, {
        service: name,
        replica: replicaId,
        method,
        outcome: "unknown",
        cause: cause === undefined ? undefined : why(cause),
      });
    }
    const reason = cause !== undefined
      ? why(cause)
      : error instanceof NoReplicaAvailableError || error instanceof CallFailedError ||
          error instanceof OutcomeUnknownError
      ? error.message
      : "no healthy replica";
    return new ProtocolError(SERVICE_UNAVAILABLE, `service "${name}" is unavailable: ${reason}`, {
      service: name,
      replicas: this.#replicaStates(service),
    });
  }

  /**
   * One attempt on one replica. A client that cannot take pushed requests
   * (2026-07-28) gets a 2025 backend's pushed requests as `input_required`
   * rounds through an {@link InputExchange}.
   */
  async #call(
    replica: Replica,
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
    const bridged = ctx.sendRequest === undefined && this.#deps.sealer !== undefined &&
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
    const exchange = new InputExchange(crypto.randomUUID(), replica.id, ctx.notify);
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
    replica: Replica,
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
      requestState: await this.#deps.sealer!.mint({ replica: replica.id, exchange: exchange.id }),
    };
  }

  #dropExchange(id: string): void {
    const parked = this.#exchanges.get(id);
    if (parked === undefined) return;
    clearTimeout(parked.expiry);
    this.#exchanges.delete(id);
  }

  /** Sends the retry of an input round to the replica that asked for the input. */
  async #resume(
    service: Service,
    method: string,
    params: Record<string, unknown>,
    ctx: CallContext,
    resume: NonNullable<CallContext["resume"]>,
  ): Promise<Record<string, unknown>> {
    const replica = service.replicas.find((r) => r.id === resume.state.replica);
    if (replica === undefined || replica.backend.state !== "ready") {
      throw new ProtocolError(
        SERVICE_UNAVAILABLE,
        `replica ${resume.state.replica} of service "${service.config.name}" that asked for ` +
          `input is no longer available; start the request again`,
        { service: service.config.name, replica: resume.state.replica },
      );
    }
    if (resume.state.exchange !== undefined) {
      const parked = this.#exchanges.get(resume.state.exchange);
      if (parked === undefined) {
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
    replica: Replica,
    result: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    if (result.resultType !== "input_required") return result;
    const sealer = this.#deps.sealer;
    if (sealer === undefined) {
      throw new ProtocolError(
        SERVICE_UNAVAILABLE,
        `${replica.id} asked for client input, but this gateway cannot carry input rounds`,
      );
    }
    const state = typeof result.requestState === "string" ? result.requestState : undefined;
    return { ...result, requestState: await sealer.mint({ replica: replica.id, state }) };
  }

  #replicaStates(service: Service): Record<string, string> {
    return Object.fromEntries(service.replicas.map((r) => [r.id, r.backend.state]));
  }

  #onBackendNotification(
    replica: Replica,
    n: { method: string; params?: Record<string, unknown> },
  ): void {
    if (n.method === "notifications/resources/updated") {
      const uri = n.params?.uri;
      if (typeof uri === "string") { for (const l of this.#listeners) l.resourceUpdated?.(uri); }
      return;
    }
    if (n.method === "notifications/message") {
      const params = { ...n.params, logger: n.params?.logger ?? replica.service.config.name };
      // The wire does not say which call a log line belongs to. With the calls
      // in flight all of one client it is that client's; with none it is the
      // server's own and goes to every session; with calls of several clients
      // it could be any of theirs, and is dropped rather than shown to clients
      // it may not belong to.
      const owners = onePerClient(replica.inFlight.keys());
      if (owners.length === 1) {
        void owners[0].notify({ method: n.method, params }).catch(() => {});
      } else if (owners.length === 0) {
        for (const l of this.#listeners) l.log?.(params);
      } else {
        this.#logsDropped++;
      }
    }
    // list_changed: the backend refreshes its catalog and reports a state change,
    // which rebuilds the views and notifies clients once if anything changed.
  }

  /**
   * Routes a 2025 backend's server→client request to the one client whose call
   * caused it. The 2025 wire does not say which call that is, so a request can
   * only belong to a call in flight that was sent before the request arrived;
   * anything else (e.g. the `roots/list` a server sends on connect) was caused
   * by no call and is never handed to a later one. Calls in flight of one
   * client count as one owner; calls of several clients make it ambiguous,
   * and the request is refused rather than sent to a client that may not
   * have caused it.
   *
   * `roots/list` asked outside exactly one such call, or by a call whose client
   * declared no roots, is answered by the gateway with no roots: a backend
   * connection is shared by every client of the gateway and 2025 servers cache
   * the roots of their session, so one client's roots must not become the
   * roots every other client's calls run under.
   */
  async #onServerRequest(
    replica: Replica,
    request: { method: string; params?: Record<string, unknown> },
    signal: AbortSignal,
    requestsSentBefore: number,
  ): Promise<Record<string, unknown>> {
    const candidates: CallContext[] = [];
    for (const [ctx, sentBefore] of replica.inFlight) {
      if (ctx.sendRequest !== undefined && sentBefore < requestsSentBefore) candidates.push(ctx);
    }
    // Several calls of one client: whichever asks, the same client answers.
    const owners = onePerClient(candidates);
    if (
      request.method === "roots/list" &&
      (owners.length !== 1 || !clientCan(owners[0].clientCapabilities, request.method))
    ) {
      this.#rootsAnswered++;
      return { roots: [] };
    }
    if (owners.length === 0) {
      throw new ProtocolError(
        METHOD_NOT_FOUND,
        `${request.method} from ${replica.id}: no call in flight can answer it`,
      );
    }
    if (owners.length > 1) {
      throw new ProtocolError(
        INVALID_PARAMS,
        `${request.method} from ${replica.id}: ${owners.length} clients have calls in flight; ` +
          `cannot tell which one asked`,
      );
    }
    return await owners[0].sendRequest!(request, signal);
  }

  /** A status report: services, replicas, their state and metrics. */
  status(): Record<string, unknown> {
    return {
      calls: this.#calls,
      failovers: this.#failovers,
      errors: this.#errors,
      logsDropped: this.#logsDropped,
      rootsAnswered: this.#rootsAnswered,
      hedges: this.#hedges,
      collisions: this.collisions,
      /** Client sessions subscribed to each resource URI on this node. */
      subscriptions: Object.fromEntries(this.#subscribers),
      services: [...this.#services.values()].map((s) => ({
        name: s.config.name,
        strategy: s.router.strategy.name,
        routing: s.router.metrics(),
        replicas: s.replicas.map((r) => {
          const stats = this.#stats.get(r.id);
          return {
            id: r.id,
            state: r.backend.state,
            era: r.backend.catalog?.era,
            protocolVersion: r.backend.catalog?.protocolVersion,
            tools: r.backend.catalog?.tools.length ?? 0,
            restarts: r.backend.restarts,
            listenStreamsReopened: r.backend.listenStreamsReopened,
            routing: routingState(s.router, r.id, this.#deps.nowMs()),
            pid: r.backend.pid,
            lastError: r.backend.lastError?.message,
            stats,
          };
        }),
      })),
    };
  }

  /** Service names, for management tools. */
  serviceNames(): string[] {
    return [...this.#services.keys()];
  }

  /** True when every service has at least one ready replica. */
  healthy(): boolean {
    return [...this.#services.values()].every((s) =>
      s.replicas.some((r) => r.backend.state === "ready")
    );
  }
}

/** How often routers advance time-based state (breakers, outlier ejections). */
const ROUTER_TICK_MS = 1_000;

function routingState(router: CallRouter, replicaId: string, nowMs: number): unknown {
  return router.replicaStates(nowMs).find((r) => r.replicaId === replicaId);
}

/** How one attempt ended. */
type Settled =
  | { attempt: Attempt; result: Record<string, unknown> }
  | { attempt: Attempt; error: unknown };

/** An attempt in flight; `abort` ends it alone (only attempts that run in parallel have one). */
interface RunningAttempt {
  done: Promise<Settled>;
  abort?: AbortController;
}

function settle(attempt: Attempt, result: Promise<Record<string, unknown>>): Promise<Settled> {
  return result.then(
    (value): Settled => ({ attempt, result: value }),
    (error): Settled => ({ attempt, error }),
  );
}

type ToolHints = { readOnlyHint?: boolean; idempotentHint?: boolean };
/** Reads (prompts, resources, completions) change nothing, so they may run twice. */
const READ_ONLY: ToolHints = Object.freeze({ readOnlyHint: true });

/**
 * Aborts `child` when `parent` aborts, until the returned function unlinks
 * them (a listener left on a long-lived client signal would pin every attempt).
 */
function follow(child: AbortController, parent: AbortSignal | undefined): () => void {
  if (parent === undefined) return () => {};
  if (parent.aborted) {
    child.abort(parent.reason);
    return () => {};
  }
  const onAbort = () => child.abort(parent.reason);
  parent.addEventListener("abort", onAbort, { once: true });
  return () => parent.removeEventListener("abort", onAbort);
}

/** One call per client: calls of one client connection count once. */
function onePerClient(calls: Iterable<CallContext>): CallContext[] {
  const owners: CallContext[] = [];
  for (const ctx of calls) {
    if (ctx.client !== undefined && owners.some((o) => o.client === ctx.client)) continue;
    owners.push(ctx);
  }
  return owners;
}

function templateMatches(template: string, uri: string): boolean {
  try {
    return matchUriTemplate(template, uri) !== null;
  } catch {
    // A template this gateway cannot parse matches nothing; the backend still lists it.
    return false;
  }
}

export { BackendUnavailableError };
