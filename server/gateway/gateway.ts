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
  type BackendConnection,
  type BackendFactory,
  type BackendSpec,
  BackendUnavailableError,
  type EraCache,
  McpBackend,
} from "@safla/transports";
import { StatsTable, type StrategyName } from "@safla/core/balancer";
import { DEFAULT_HEALTH_POLICY, type NameCollision } from "@safla/core/registry";
import { MinorityPartitionError, OutcomeUnknownError, RetryBudget } from "@safla/core/resilience";
import { type Attempt, CallRouter, NoReplicaAvailableError } from "@safla/core/routing";
import type { Rng } from "@safla/core";
import type { GatewayConfig, GatewaySettings, ServiceConfig } from "../config.ts";
import type { CallContext, ResumeStateSealer } from "./call_context.ts";
import type { CallEnd, CallObserver } from "./call_observer.ts";
import { clientError } from "./client_errors.ts";
import { BackendEvents, type GatewayListener } from "./backend_events.ts";
import { CatalogView } from "./catalog_view.ts";
import { classifyFailure } from "./failover.ts";
import { forwardCall, ForwardFailure } from "./forward.ts";
import { INVALID_PARAMS } from "./jsonrpc_codes.ts";
import { type GatewayReadiness, gatewayReadiness } from "./readiness.ts";
import { ReplicaCalls } from "./replica_calls.ts";
import type { CallGate } from "../quota/call_gate.ts";
import { NotServedHere, type RemoteCaller } from "./remote_calls.ts";
import { ResourceSubscriptions } from "./resource_subscriptions.ts";
import { monotonicProgress } from "./wire_meta.ts";
import { AccessControl } from "../access/access_control.ts";

export type { CallContext, ResumeState, ResumeStateSealer } from "./call_context.ts";
export type { GatewayListener } from "./backend_events.ts";
export type { ListKind } from "./catalog_view.ts";

/** Injected effects, so tests can control time and randomness. */
export interface GatewayDeps {
  nowMs(): number;
  rng: Rng;
  eraCache?: EraCache;
  /** Signs resume state; without it `input_required` results are refused. */
  sealer?: ResumeStateSealer;
  /** Builds each replica's backend connection. Default: a real {@link McpBackend}. */
  backendFactory?: BackendFactory;
  /** Hears how every forwarded call and attempt ends (metrics). */
  observer?: CallObserver;
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
  backend: BackendConnection;
  /**
   * Calls in flight on this replica, each with `backend.requestsSent` read just
   * before it was sent: a server→client request can only belong to a call the
   * backend could have received before sending it.
   */
  inFlight: Map<CallContext, number>;
  /** Ready at least once, and whether its first connect attempt ended (see readiness.ts). */
  everReady: boolean;
  firstAttemptEnded: boolean;
}

interface Service {
  config: ServiceConfig;
  replicas: Replica[];
  /** The replicas by id, for the attempts the router names. */
  byId: Map<string, Replica>;
  /** Balancing, breakers, health, outliers and the retry rule, shared with the simulator. */
  router: CallRouter;
}

/** The aggregated, balanced view of all services. */
export class Gateway {
  readonly settings: GatewaySettings;
  /** Who may use what: the policies in force and the audit of denials (server/access). */
  readonly access: AccessControl;
  #services = new Map<string, Service>();
  #deps: GatewayDeps;
  #stats = new StatsTable();
  #retryBudget = new RetryBudget();
  #tick?: ReturnType<typeof setInterval>;
  #eraCache: EraCache;
  #backendFactory: BackendFactory;
  #listeners = new Set<GatewayListener>();
  /** Admits tool calls (quotas, concurrent-call limits; server/quota/call_gate.ts). */
  #callGate?: CallGate;
  #events = new BackendEvents(this.#listeners);
  #replicaCalls: ReplicaCalls;
  #local = new Map<string, LocalTool>();
  #localAliases = new Map<string, LocalTool>();
  /** The client-facing lists, rebuilt on every catalog or state change, served as is. */
  #view = new CatalogView();
  readonly #nowMs = (): number => this.#deps.nowMs();
  #calls = 0;
  #failovers = 0;
  #errors = 0;
  #hedges = 0;
  /** Client subscriptions per resource URI, across all sessions of this node. */
  #subscriptions = new ResourceSubscriptions();
  /** Whether this node reaches a Raft quorum; a standalone gateway always does. */
  #hasQuorum = true;
  /** This node's id in refusals; set by the cluster host through {@link setQuorum}. */
  #nodeId: string | undefined;
  /** Other nodes that take calls no local replica can (see remote_calls.ts). */
  #remote?: RemoteCaller;

  /** Builds services and replicas from `config`; {@link start} connects them. */
  constructor(config: GatewayConfig, deps: GatewayDeps) {
    this.settings = config.settings;
    this.#deps = deps;
    this.#eraCache = deps.eraCache ?? new Map();
    this.#backendFactory = deps.backendFactory ?? ((options) => new McpBackend(options));
    this.#replicaCalls = new ReplicaCalls(deps.sealer);
    this.access = new AccessControl(config.policies ?? []);
    for (const service of config.services) this.#addService(service);
  }

  #addService(config: ServiceConfig): Service {
    if (this.#services.has(config.name)) {
      throw new Error(`service ${config.name} is already registered`);
    }
    const service: Service = {
      config,
      replicas: [],
      byId: new Map(),
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
    config.replicas.forEach((spec, i) => {
      const replica = this.#makeReplica(service, spec, i);
      service.replicas.push(replica);
      service.byId.set(replica.id, replica);
    });
    this.#syncRouter(service);
    this.#services.set(config.name, service);
    return service;
  }

  #makeReplica(service: Service, spec: BackendSpec, index: number): Replica {
    const id = `${service.config.name}#${index}`;
    const replica: Replica = {
      id,
      service,
      inFlight: new Map(),
      backend: undefined!,
      everReady: false,
      firstAttemptEnded: false,
    };
    replica.backend = this.#backendFactory({
      label: id,
      spec,
      requestTimeoutMs: service.config.requestTimeoutMs,
      connectTimeoutMs: this.settings.connectTimeoutMs,
      startTimeoutMs: service.config.startTimeoutMs ?? this.settings.startTimeoutMs,
      oauth: service.config.oauth,
      protocolEra: service.config.protocolEra,
      initialBackoffMs: this.settings.initialBackoffMs,
      maxBackoffMs: this.settings.maxBackoffMs,
      eraCache: this.#eraCache,
      hooks: {
        onStateChange: (_backend, state) => this.#onReplicaState(replica, state),
        onNotification: (_backend, n) =>
          this.#events.onNotification(service.config.name, replica.inFlight, n),
        onServerRequest: (_backend, request, signal, arrival) =>
          this.#events.onServerRequest(
            replica.id,
            replica.inFlight,
            request,
            signal,
            arrival.requestsSentBefore,
          ),
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
    await this.#startReplicas(this.#allReplicas());
    this.#rebuild();
  }

  /**
   * Starts `replicas` and waits for their first attempts, but no longer than
   * one connect timeout: a backend in its first start (a cold `npx` install)
   * may take minutes, and meanwhile the node serves the others and says in
   * {@link readiness} what it still waits for.
   */
  async #startReplicas(replicas: Replica[]): Promise<void> {
    const attempts = Promise.all(replicas.map(async (r) => {
      await r.backend.start();
      r.firstAttemptEnded = true;
    }));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.settings.connectTimeoutMs);
    });
    try {
      await Promise.race([attempts, waited]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Whether every configured service is loaded, and which ones are still starting. */
  readiness(): GatewayReadiness {
    return gatewayReadiness([...this.#services].map(([name, s]) => ({
      name,
      required: s.config.required === true,
      replicas: s.replicas.map((r) => ({
        everReady: r.everReady,
        firstAttemptEnded: r.firstAttemptEnded,
        ready: r.backend.state === "ready",
      })),
    })));
  }

  /** Feeds a backend's connection state to its service's router, then rebuilds the views. */
  #onReplicaState(replica: Replica, state: string): void {
    this.#deps.observer?.replicaStateChanged(replica.service.config.name, replica.id, state);
    const router = replica.service.router;
    const atMs = this.#deps.nowMs();
    this.#syncRouter(replica.service);
    if (state === "ready") replica.everReady = true;
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
    this.#replicaCalls.close();
    await Promise.all(this.#allReplicas().map((r) => r.backend.close()));
  }

  /** Sets what every call to a backend tool must pass first. */
  setCallGate(gate: CallGate): void {
    this.#callGate = gate;
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
    await this.#startReplicas(service.replicas);
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
   * refused before it is sent (JSON-RPC `MINORITY_PARTITION`). Applies to
   * every service, including those registered later. `nodeId` names this node in
   * the refusal.
   */
  setQuorum(hasQuorum: boolean, nodeId?: string): void {
    this.#hasQuorum = hasQuorum;
    if (nodeId !== undefined) this.#nodeId = nodeId;
    for (const service of this.#services.values()) service.router.setQuorum(hasQuorum);
  }

  /** Sends calls that no local replica can take to other nodes (a cluster host sets it). */
  setRemoteCaller(remote: RemoteCaller | undefined): void {
    this.#remote = remote;
  }

  /**
   * Runs a call another node forwarded (the service's own method and names),
   * on local replicas only, so a call crosses nodes at most once. Rejects
   * with {@link NotServedHere} when no local replica took it.
   */
  async callForwarded(
    serviceName: string,
    method: string,
    params: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<Record<string, unknown>> {
    const service = this.#requireService(serviceName);
    const toolName = method === "tools/call" ? String(params.name) : undefined;
    const annotations = toolName === undefined
      ? READ_ONLY
      : this.#view.tool(serviceName, toolName)?.annotations ?? {};
    const ctx: CallContext = { notify: () => Promise.resolve(), signal };
    return await this.#forward(service, method, params, ctx, { toolName, annotations }, false);
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
    const changed = this.#view.rebuild(
      [...this.#services.values()].map((s) => ({
        service: s.config.name,
        catalog: this.#serviceCatalog(s),
      })),
      [...this.#local.values()].map((t) => t.definition),
      {
        separator: this.settings.separator,
        mode: this.settings.naming,
        maxLength: this.settings.maxToolNameLength,
      },
    );
    for (const kind of changed) for (const l of this.#listeners) l.listChanged?.(kind);
  }

  /** Name clashes resolved by disambiguation, for status reports. */
  get collisions(): { tools: NameCollision[]; prompts: NameCollision[] } {
    return this.#view.collisions;
  }

  /** The aggregated tools, under their exposed names, then the local tools. */
  listTools(): Tool[] {
    return this.#view.tools;
  }

  /** The aggregated prompts under their exposed names. */
  listPrompts(): Record<string, unknown>[] {
    return this.#view.prompts;
  }

  /** Resources of all services, by URI; the first service listing a URI owns it. */
  listResources(): Record<string, unknown>[] {
    return this.#view.resources;
  }

  /** Resource templates of all services. */
  listResourceTemplates(): Record<string, unknown>[] {
    return this.#view.resourceTemplates;
  }

  /** The service that owns `uri`: a listed resource first, then a matching template. */
  #serviceForUri(uri: string): Service | undefined {
    const name = this.#view.serviceForUri(uri);
    return name === undefined ? undefined : this.#services.get(name);
  }

  /** Whether `name` (or an alias) is a tool the gateway answers itself: a management tool. */
  isLocalTool(name: string): boolean {
    return this.#local.has(name) || this.#localAliases.has(name);
  }

  /** The service and backend name behind an exposed tool name (access decisions). */
  resolveTool(exposed: string): { service: string; name: string } | undefined {
    return this.#view.resolveTool(exposed);
  }

  /** The service and backend name behind an exposed prompt name (access decisions). */
  resolvePrompt(exposed: string): { service: string; name: string } | undefined {
    return this.#view.resolvePrompt(exposed);
  }

  /** The service that owns `uri` (a listed resource, then a template) or declares template `uriTemplate`. */
  serviceOfResource(uri: string, template = false): string | undefined {
    return template ? this.#view.serviceForTemplate(uri) : this.#view.serviceForUri(uri);
  }

  /** True when `name` is a backend tool this gateway forwards (not a local one, not unknown). */
  forwardsTool(name: string): boolean {
    return !this.#local.has(name) && !this.#localAliases.has(name) &&
      this.#view.resolveTool(name) !== undefined;
  }

  /**
   * The protocol era of the replicas that serve tool `name`: "legacy" or
   * "modern" when all that have connected agree, "mixed" when they do not,
   * undefined for a tool the gateway does not forward or no replica yet.
   */
  toolEra(name: string): "legacy" | "modern" | "mixed" | undefined {
    const target = this.#view.resolveTool(name);
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
    const target = this.#view.resolveTool(params.name);
    if (target === undefined) {
      throw new ProtocolError(INVALID_PARAMS, `Tool ${params.name} not found`);
    }
    const service = this.#requireService(target.service);
    const tool = this.#view.tool(service.config.name, target.name);
    const release = await this.#callGate?.(ctx.principal, service.config.name, target.name);
    try {
      return await this.#forward(service, "tools/call", { ...params, name: target.name }, ctx, {
        toolName: target.name,
        annotations: tool?.annotations ?? {},
      });
    } finally {
      release?.();
    }
  }

  /** Handles `prompts/get`. */
  async getPrompt(
    params: { name: string } & Record<string, unknown>,
    ctx: CallContext,
  ): Promise<Record<string, unknown>> {
    const target = this.#view.resolvePrompt(params.name);
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
    await this.#subscriptions.change(
      method,
      uri,
      service.replicas.map((r) => r.backend),
      (u) => this.#serviceForUri(u) === service,
      ctx.signal,
    );
    return {};
  }

  /** Handles `completion/complete`, by the prompt name or resource template it refers to. */
  async complete(
    params: { ref: { type: string; name?: string; uri?: string } } & Record<string, unknown>,
    ctx: CallContext,
  ): Promise<Record<string, unknown>> {
    const { ref } = params;
    if (ref.type === "ref/prompt" && ref.name !== undefined) {
      const target = this.#view.resolvePrompt(ref.name);
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
      const owner = this.#view.serviceForTemplate(ref.uri);
      const service = (owner === undefined ? undefined : this.#services.get(owner)) ??
        this.#serviceForUri(ref.uri);
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
    mayCrossNodes = true,
  ): Promise<Record<string, unknown>> {
    this.#calls++;
    if (ctx.resume !== undefined) {
      const replica = service.byId.get(ctx.resume.state.replica);
      return await this.#replicaCalls.resume(
        replica,
        service.config.name,
        method,
        params,
        ctx,
        ctx.resume,
      );
    }
    // A hedge runs the same call on a second replica while the first is slow;
    // only safe for repeat-safe calls (the router decides), and not while a
    // 2025 backend could ask this client for input through an exchange.
    const hedging = ctx.sendRequest !== undefined ||
      service.replicas.every((r) => r.backend.catalog?.era !== "legacy");
    // Without a progress token no attempt reports progress, so there is nothing to order.
    const attemptCtx = ctx.progressToken === undefined ? ctx : monotonicProgress(ctx);
    const observer = this.#deps.observer;
    const serviceName = service.config.name;
    const startedMs = this.#nowMs();
    let end: CallEnd = "internal";
    try {
      const result = await forwardCall(service.router, {
        request: {
          toolName: options.toolName,
          annotations: options.annotations,
          affinityKey: ctx.affinityKey,
        },
        hedging,
        signal: ctx.signal,
        nowMs: this.#nowMs,
        send: (attempt, signal) => {
          if (attempt.hedge) this.#hedges++;
          else if (attempt.attempt > 1) this.#failovers++;
          const replica = service.byId.get(attempt.replicaId);
          if (replica === undefined) {
            throw new Error(`routing invariant: unknown replica ${attempt.replicaId}`);
          }
          const sendCtx = signal === ctx.signal ? attemptCtx : { ...attemptCtx, signal };
          const sent = this.#replicaCalls.call(replica, method, params, sendCtx);
          if (observer !== undefined) observeAttempt(observer, serviceName, attempt, sent, signal);
          return sent;
        },
      });
      end = result.isError === true ? "tool_error" : "ok";
      return result;
    } catch (error) {
      end = callEndOf(error, ctx.signal);
      if (!(error instanceof ForwardFailure)) throw error;
      const failure = error.failure;
      const neverSent = failure instanceof NoReplicaAvailableError &&
        (failure.lastOutcome === undefined || failure.lastOutcome === "not-sent");
      if (neverSent && mayCrossNodes && this.#remote !== undefined && ctx.resume === undefined) {
        const answer = await this.#remote.call({
          service: service.config.name,
          method,
          params,
          repeatSafe: options.annotations.readOnlyHint === true ||
            options.annotations.idempotentHint === true,
          timeoutMs: service.config.requestTimeoutMs,
          signal: ctx.signal,
        });
        if (answer !== undefined) {
          end = answer.isError === true ? "tool_error" : "ok";
          return answer;
        }
      }
      this.#errors++;
      const refusal = clientError(error, {
        service: service.config.name,
        method,
        nodeId: this.#nodeId,
        replicaStates: () => this.#replicaStates(service),
      });
      throw neverSent && !mayCrossNodes ? new NotServedHere(refusal) : refusal;
    } finally {
      observer?.callEnded(
        serviceName,
        options.toolName ?? method,
        end,
        this.#nowMs() - startedMs,
      );
    }
  }

  #replicaStates(service: Service): Record<string, string> {
    return Object.fromEntries(service.replicas.map((r) => [r.id, r.backend.state]));
  }

  /** A status report: services, replicas, their state and metrics. */
  status(): Record<string, unknown> {
    return {
      calls: this.#calls,
      failovers: this.#failovers,
      errors: this.#errors,
      logsDropped: this.#events.logsDropped,
      rootsAnswered: this.#events.rootsAnswered,
      hedges: this.#hedges,
      collisions: this.collisions,
      /** Client sessions subscribed to each resource URI on this node. */
      subscriptions: this.#subscriptions.counts(),
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
            deviations: r.backend.deviations,
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

/** Tells `observer` about one attempt: when it was sent and how it ended. */
function observeAttempt(
  observer: CallObserver,
  service: string,
  attempt: Attempt,
  sent: Promise<unknown>,
  signal: AbortSignal | undefined,
): void {
  const kind = attempt.hedge ? "hedge" : attempt.attempt > 1 ? "retry" : "first";
  observer.attemptStarted(service, attempt.replicaId, kind);
  const startedMs = performance.now();
  sent.then(
    () => observer.attemptEnded(service, attempt.replicaId, "ok", performance.now() - startedMs),
    (error) => {
      const failure = classifyFailure(error, signal);
      const outcome = failure === "remote" ? "remote-error" : failure;
      observer.attemptEnded(service, attempt.replicaId, outcome, performance.now() - startedMs);
    },
  );
}

/** How a call that threw ended, for its observer. */
function callEndOf(error: unknown, signal: AbortSignal | undefined): CallEnd {
  if (signal?.aborted) return "cancelled";
  if (error instanceof ForwardFailure) {
    const failure = error.failure;
    if (failure instanceof NoReplicaAvailableError) return "no_replica";
    if (failure instanceof MinorityPartitionError) return "minority";
    if (failure instanceof OutcomeUnknownError) return "outcome_unknown";
    return "failed";
  }
  return error instanceof ProtocolError ? "remote_error" : "internal";
}

/** How often routers advance time-based state (breakers, outlier ejections). */
const ROUTER_TICK_MS = 1_000;

function routingState(router: CallRouter, replicaId: string, nowMs: number): unknown {
  return router.replicaStates(nowMs).find((r) => r.replicaId === replicaId);
}

type ToolHints = { readOnlyHint?: boolean; idempotentHint?: boolean };
/** Reads (prompts, resources, completions) change nothing, so they may run twice. */
const READ_ONLY: ToolHints = Object.freeze({ readOnlyHint: true });

export { BackendUnavailableError };
