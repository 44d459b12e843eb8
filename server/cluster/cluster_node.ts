/**
 * One gateway node of a cluster, in-process: the Raft host, the replicated
 * store over it, the admin API and (when a gateway config is given) the MCP
 * front, all on one HTTP port.
 *
 * @module
 */
import { Hono } from "hono";
import type { NodeId } from "@safla/core";
import { deriveFromSecret, type PeerTls } from "@safla/transports/peer";
import {
  type HostTiming,
  type HostTunables,
  type MemberAddress,
  NodeHost,
} from "@safla/transports/host";
import type { GatewayConfig } from "../config.ts";
import { type GatewayInstance, startGatewayInstance } from "../instance.ts";
import { createAdminApp } from "./admin/admin_api.ts";
import {
  checkKey,
  DEFAULT_PAGE_LIMIT,
  errorReply,
  pageLimit,
  positiveIntParam,
} from "./admin/kv_operations.ts";
import { RaftStore } from "../store/raft/raft_store.ts";
import {
  FORWARDED_CALL_PATH,
  forwardedCallHandler,
  HttpRemoteCaller,
} from "../gateway/remote_calls.ts";
import { metricsAccess, metricsRoute, NodeMetrics } from "../ops/metrics.ts";
import type { Authenticator } from "../auth/authenticator.ts";
import { hostOriginGuard } from "../front/http_edge.ts";
import { localhostAllowedHostnames } from "@modelcontextprotocol/server";
import type { Principal } from "@safla/core/access";
import type { ConnectionInfo } from "./admin/admin_guard.ts";
import { deriveAdminToken, writeAdminTokenFile } from "./admin/admin_token.ts";

/** Options of {@link startClusterNode}. */
export interface ClusterNodeOptions {
  /** This node's id (a key of `members`). */
  nodeId: NodeId;
  /** Cluster identity. */
  clusterId: string;
  /** Cluster secret (peer authentication and request forwarding), at least 16 characters. */
  secret: string;
  /** Data directory of this node. */
  dataDir: string;
  /** Initial members with their peer addresses and HTTP URLs. */
  members: Readonly<Record<NodeId, MemberAddress>>;
  /** Join an existing cluster instead of bootstrapping. */
  join?: boolean;
  /** Quorum recovery: restart from this node's data as the only voter (README, Security). */
  forceNewCluster?: boolean;
  /** Where the Raft listener binds, when not at this node's peer address (behind a relay). */
  peerListen?: string;
  /** The MCP servers to front; without it the node serves only the admin API. */
  gatewayConfig?: GatewayConfig;
  /** Raft clock; defaults to the host's. */
  timing?: Partial<HostTiming>;
  /** Snapshot, WAL and compaction settings; each defaults to the host's. */
  tunables?: Partial<HostTunables>;
  /** Largest Raft peer frame; defaults to the host's. */
  maxPeerFrameBytes?: number;
  /** TLS between nodes; plain TCP without. */
  peerTls?: PeerTls;
  /** How long store requests wait for a leader. */
  requestTimeoutMs?: number;
  /** Diagnostics sink. */
  onLog?: (line: string) => void;
  /**
   * Authenticates admin callers once inbound auth is configured; without it
   * the admin API answers only loopback callers holding the admin token.
   */
  adminAuth?: (request: Request) => Promise<Principal | undefined>;
  /** Exact origins a browser may call the admin API from; none by default. */
  adminAllowedOrigins?: readonly string[];
}

/** A running node. */
export interface RunningClusterNode {
  /** The Raft host. */
  host: NodeHost;
  /** The replicated store. */
  store: RaftStore;
  /** The gateway, when one was configured. */
  gateway: GatewayInstance | undefined;
  /** Base URL of the HTTP API. */
  url: string;
  /** The cluster's admin token (also in `<dataDir>/admin-token`). */
  adminToken: string;
  /** Stops serving and closes everything. */
  close(): Promise<void>;
}

/**
 * Whether a node in `role` that knows `leader` is on the quorum's side. A leader
 * is: CheckQuorum steps a leader down once a majority has gone quiet for an
 * election timeout. A follower is while it knows a leader: it forgets the leader
 * (and starts a pre-vote) once it has not heard from it for an election timeout.
 * Anything else (pre-candidate, candidate, leaderless follower) cannot commit.
 */
export function roleHasQuorum(role: string, leader: NodeId | null): boolean {
  return role === "leader" || (role === "follower" && leader !== null);
}

/** Derives the key that input-round state is sealed with, shared by every node of a cluster. */
export function clusterStateKey(secret: string): Promise<Uint8Array> {
  return deriveFromSecret(secret, "safla-state-key-v1");
}

/**
 * The admin API's view of inbound auth: the caller a request's credentials
 * prove, or none (the admin guard then asks for the admin token instead).
 */
function principalOf(auth: Authenticator): (request: Request) => Promise<Principal | undefined> {
  return async (request) => {
    const outcome = await auth.authenticate(request.headers.get("authorization"));
    return "principal" in outcome ? outcome.principal : undefined;
  };
}

/** Starts a node and listens on the port of its URL in `members`. */
export async function startClusterNode(options: ClusterNodeOptions): Promise<RunningClusterNode> {
  const self = options.members[options.nodeId];
  if (!self) throw new RangeError(`members has no entry for this node "${options.nodeId}"`);
  const url = new URL(self.url);
  const host = await NodeHost.open({
    nodeId: options.nodeId,
    clusterId: options.clusterId,
    secret: options.secret,
    dataDir: options.dataDir,
    members: options.members,
    join: options.join,
    forceNewCluster: options.forceNewCluster,
    peerListen: options.peerListen,
    timing: options.timing,
    ...options.tunables,
    maxPeerFrameBytes: options.maxPeerFrameBytes,
    peerTls: options.peerTls,
    onLog: options.onLog,
  });
  const adminToken = await deriveAdminToken(options.secret);
  const store = new RaftStore({
    host,
    secret: options.secret,
    requestTimeoutMs: options.requestTimeoutMs,
  });
  let gateway: GatewayInstance | undefined;
  const metrics = new NodeMetrics({
    nodeId: host.id,
    raft: host,
    sessions: () => ({
      open: gateway?.http.sessionCount() ?? 0,
      listening: gateway?.http.listeningCount() ?? 0,
    }),
  });
  try {
    await writeAdminTokenFile(options.dataDir, adminToken);
    if (options.gatewayConfig) {
      // No listener of its own: its app is served below on the node's port,
      // behind the admin routes. Through the store, services registered at
      // runtime and 2025 sessions are shared by every node of the cluster.
      gateway = await startGatewayInstance({
        config: options.gatewayConfig,
        stateKey: await clusterStateKey(options.secret),
        store,
        nodeId: options.nodeId,
        metrics,
      });
    }
    // A node cut off from the quorum keeps serving catalogs and repeat-safe calls
    // and refuses the rest; the Raft role tells which side of a partition it is on.
    let stopQuorumWatch = (): void => {};
    if (gateway) {
      const front = gateway.gateway;
      const initial = host.status();
      front.setQuorum(roleHasQuorum(initial.role, initial.leader), host.id);
      stopQuorumWatch = host.listen({
        onRoleChanged: (role, leader) => front.setQuorum(roleHasQuorum(role, leader)),
      });
    }
    const closing = new AbortController();
    const app = new Hono();
    // Raft, KV, and when this node fronts servers, its calls and replicas.
    const local = localhostAllowedHostnames();
    const settings = options.gatewayConfig?.settings;
    const metricsGuard = hostOriginGuard(
      [...local, url.hostname.replace(/^\[|\]$/g, ""), ...settings?.allowedHosts ?? []],
      [...local, ...settings?.allowedOrigins ?? []],
    );
    const authenticator = gateway?.authenticator;
    app.get("/metrics", metricsGuard, metricsAccess(authenticator), metricsRoute(metrics));
    const admin = createAdminApp({
      host,
      store,
      signal: closing.signal,
      gatewayReadiness: gateway && (() => gateway!.gateway.readiness()),
      guard: {
        allowedHosts: [url.hostname],
        allowedOrigins: options.adminAllowedOrigins,
        adminToken,
        adminAuth: options.adminAuth ?? (authenticator && principalOf(authenticator)),
      },
    });
    const front = gateway;
    if (front) {
      // This node's view of the registry: services, replicas and their health, and the tools it
      // serves, a page of names at a time as the KV ranges are (`limit`, `after`, `toolsNext`).
      admin.get("/admin/registry", (c) => {
        let limit: number;
        let after: string | undefined;
        try {
          limit = pageLimit(positiveIntParam("limit", c.req.query("limit"))) ?? DEFAULT_PAGE_LIMIT;
          const rawAfter = c.req.query("after");
          after = rawAfter === undefined ? undefined : checkKey(rawAfter, "after");
        } catch (error) {
          const reply = errorReply(error);
          if (!reply) throw error;
          return c.json(reply.body as Record<string, unknown>, 400);
        }
        const names = front.gateway.listTools().map((tool) => tool.name).sort();
        const start = after === undefined ? 0 : names.findIndex((name) => name > after);
        const tools = start < 0 ? [] : names.slice(start, start + limit);
        const more = start >= 0 && start + limit < names.length;
        return c.json({
          node: host.id,
          healthy: front.gateway.healthy(),
          quorum: front.gateway.hasQuorum,
          status: front.gateway.status(),
          tools,
          ...(more ? { toolsNext: tools[tools.length - 1] } : {}),
        });
      });
      // Calls no local replica can take go to the other nodes, and theirs come here.
      const otherNodes = () =>
        Object.entries(host.status().addresses).filter(([id]) => id !== host.id).map(([, a]) =>
          a.url
        );
      front.gateway.setRemoteCaller(new HttpRemoteCaller(otherNodes, store.authToken()));
      const forwarded = forwardedCallHandler(
        front.gateway,
        store.authToken(),
        front.gateway.settings.requestTimeoutMs,
      );
      admin.post(FORWARDED_CALL_PATH, (c) => forwarded(c.req.raw));
    } else {
      admin.get(
        "/admin/registry",
        (c) => c.json({ error: "this node fronts no MCP servers" }, 404),
      );
    }
    // Hono copies a sub-app's routes when it is mounted: mount it once complete.
    app.route("/", admin);
    if (front) app.all("*", (c) => front.http.fetch(c.req.raw));
    const listening = Promise.withResolvers<void>();
    const server = Deno.serve({
      hostname: url.hostname.replace(/^\[|\]$/g, ""),
      port: Number(url.port),
      onListen: () => listening.resolve(),
    }, (request, info) => app.fetch(request, { remoteAddr: info.remoteAddr } as ConnectionInfo));
    await listening.promise;
    return {
      host,
      store,
      gateway,
      url: self.url,
      adminToken,
      close: async () => {
        closing.abort();
        stopQuorumWatch();
        metrics.close();
        await server.shutdown();
        await gateway?.close();
        await store.close();
        await host.close();
      },
    };
  } catch (error) {
    metrics.close();
    await gateway?.close();
    await store.close();
    await host.close();
    throw error;
  }
}
