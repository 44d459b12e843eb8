/**
 * The two systems of the scale bench (`scale.ts`), behind one interface:
 * our 3-node Raft cluster (node processes from {@link LocalCluster}, written
 * through the KV session) and a 3-member Debian etcd cluster (from
 * {@link startEtcdCluster}, written over gRPC), each with what the bench does
 * to them: kill -9 and restart a member, add one, read its progress, its RSS
 * and its data directory.
 *
 * @module
 */
import { freeMembers, LocalCluster } from "../cluster/local_cluster.ts";
import { KvSessionClient } from "../cluster/admin/kv_session_client.ts";
import { startEtcdCluster } from "../store/etcd/etcd_process.ts";
import { EtcdStore } from "../store/etcd/etcd_store.ts";
import type { KvWriteTarget } from "./kv_vs_etcd.ts";

/** Where a member stands, as it reports itself. */
export interface MemberProgress {
  /** The leader it knows, if any (in the system's own naming). */
  leader: string | undefined;
  /** Whether it is that leader. */
  isLeader: boolean;
  /** Its term. */
  term: number;
  /** Highest log index it applied. */
  appliedIndex: number;
  /** Highest log index it knows committed. */
  commitIndex: number;
}

/** A cluster under the scale bench. */
export interface ScaleCluster extends KvWriteTarget {
  /** Members, running or not. */
  members(): string[];
  /** Deletes every key under `prefix`; resolves to the number deleted. */
  deletePrefix(prefix: string): Promise<number>;
  /** Whether any key is left under `prefix`. */
  anyUnder(prefix: string): Promise<boolean>;
  /** Runs the system's compaction (etcd: compact + defragment); false if it has none to run. */
  compact(): Promise<boolean>;
  /** A member's progress, or undefined if it does not answer. */
  progress(member: string): Promise<MemberProgress | undefined>;
  /** Process id of a running member. */
  pid(member: string): number | undefined;
  /** A member's data directory. */
  dataDir(member: string): string;
  /** Kills a member with SIGKILL; writes go to the others until it is restarted. */
  kill(member: string): Promise<void>;
  /** Starts a killed member again on its data. */
  restart(member: string): Promise<void>;
  /** Adds a voting member and starts it; resolves to its id. */
  join(): Promise<string>;
}

/** Our cluster: node processes on loopback, each fsyncing its WAL. */
export async function startRaftScale(nodeArgs: readonly string[] = []): Promise<ScaleCluster> {
  const dataDir = await Deno.makeTempDir({ prefix: "safla-scale-raft-" });
  const cluster = await LocalCluster.start({
    nodes: 3,
    basePort: 0,
    dataDir,
    secret: crypto.randomUUID() + crypto.randomUUID(),
    nodeArgs,
  });
  const sessions = new Map<string, KvSessionClient>();
  const close = async (): Promise<void> => {
    for (const session of sessions.values()) session.close();
    await cluster.stop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  };
  try {
    await cluster.waitForLeader(30_000);
    await cluster.waitForReady(30_000);
    for (const id of cluster.ids) {
      sessions.set(id, await KvSessionClient.connect(cluster.url(id), await cluster.adminToken()));
    }
  } catch (error) {
    await close();
    throw error;
  }
  const anySession = (client: number): KvSessionClient => {
    const live = [...sessions.values()];
    if (live.length === 0) throw new Error("no member to write to");
    return live[client % live.length];
  };
  return {
    name: "safla raft x3",
    members: () => cluster.ids,
    put: async (client, key, value) => {
      await anySession(client).put(key, value);
    },
    deletePrefix: async (prefix) => (await anySession(0).delete(prefix, { prefix: true })).deleted,
    anyUnder: async (prefix) => (await anySession(0).range(prefix, { limit: 1 })).kvs.length > 0,
    // The nodes snapshot and compact their logs by themselves (every N entries).
    compact: () => Promise.resolve(false),
    progress: async (id) => {
      const status = await cluster.status(id, 2_000);
      if (!status) return undefined;
      return {
        leader: status.leader ?? undefined,
        isLeader: status.role === "leader",
        term: status.term,
        appliedIndex: status.appliedIndex,
        commitIndex: status.commitIndex,
      };
    },
    pid: (id) => cluster.pid(id),
    dataDir: (id) => `${dataDir}/${id}`,
    kill: async (id) => {
      sessions.get(id)?.close();
      sessions.delete(id);
      await cluster.kill(id, "SIGKILL");
    },
    restart: (id) => Promise.resolve(cluster.startNode(id)),
    join: async () => {
      const id = `n${cluster.ids.length + 1}`;
      const address = freeMembers(1).n1;
      cluster.members[id] = address;
      cluster.startNode(id, ["--join"]);
      const through = [...sessions.keys()][0];
      const response = await cluster.adminFetch(through, "/admin/members", {
        method: "POST",
        body: JSON.stringify({ id, ...address }),
      });
      const body = await response.text();
      if (response.status !== 200) throw new Error(`adding ${id}: HTTP ${response.status} ${body}`);
      return id;
    },
    close,
  };
}

/** VmRSS of a process in MB, or NaN when it is gone. */
export async function rssMb(pid: number | undefined): Promise<number> {
  if (pid === undefined) return NaN;
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
    return kb === undefined ? NaN : Number(kb) / 1024;
  } catch {
    return NaN;
  }
}

/** Total size of the files under `path`, in MB. */
export async function dirMb(path: string): Promise<number> {
  let bytes = 0;
  const walk = async (dir: string): Promise<void> => {
    for await (const entry of Deno.readDir(dir)) {
      const full = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(full);
      else bytes += (await Deno.lstat(full).catch(() => ({ size: 0 }))).size;
    }
  };
  await walk(path).catch(() => {});
  return bytes / (1024 * 1024);
}

function uint(raw: unknown): number {
  const value = Number(raw ?? 0);
  return Number.isSafeInteger(value) ? value : NaN;
}

/** etcd 3.4 (Debian's etcd-server), 3 members with default settings (2 GB quota). */
export async function startEtcdScale(): Promise<ScaleCluster> {
  const cluster = await startEtcdCluster({ members: 3 });
  const stores = new Map<number, EtcdStore>();
  for (let i = 0; i < 3; i++) stores.set(i, new EtcdStore({ endpoints: [cluster.endpoints[i]] }));
  const anyStore = (client: number): EtcdStore => {
    const live = [...stores.values()];
    if (live.length === 0) throw new Error("no member to write to");
    return live[client % live.length];
  };
  const index = (member: string): number => Number(member.slice(1));
  const post = async (member: number, path: string, body: unknown): Promise<unknown> => {
    const response = await fetch(`${cluster.clientUrls[member]}${path}`, {
      method: "POST",
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(120_000),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`etcd ${path}: HTTP ${response.status} ${text}`);
    return JSON.parse(text);
  };
  const members = () => cluster.clientUrls.map((_, i) => `m${i}`);
  return {
    name: `etcd x3`,
    members,
    put: async (client, key, value) => {
      await anyStore(client).put(key, value);
    },
    deletePrefix: async (prefix) =>
      (await anyStore(0).delete(prefix, { prefix: true, prevKv: false })).deleted,
    anyUnder: async (prefix) => (await anyStore(0).range(prefix, { limit: 1 })).kvs.length > 0,
    compact: async () => {
      const member = [...stores.keys()][0];
      const status = await post(member, "/v3/kv/range", { key: btoa("\0"), limit: 1 }) as {
        header: { revision: string };
      };
      await post(member, "/v3/kv/compaction", { revision: status.header.revision, physical: true });
      for (const i of stores.keys()) await post(i, "/v3/maintenance/defragment", {});
      return true;
    },
    progress: async (member) => {
      try {
        const s = await post(index(member), "/v3/maintenance/status", {}) as Record<
          string,
          unknown
        >;
        return {
          leader: s.leader === undefined ? undefined : String(s.leader),
          isLeader: s.leader !== undefined &&
            String(s.leader) === String((s.header as Record<string, unknown>)?.member_id),
          term: uint(s.raftTerm),
          appliedIndex: uint(s.raftAppliedIndex),
          commitIndex: uint(s.raftIndex),
        };
      } catch {
        return undefined;
      }
    },
    pid: (member) => cluster.pid(index(member)),
    dataDir: (member) => cluster.dataDir(index(member)),
    kill: async (member) => {
      await stores.get(index(member))?.close();
      stores.delete(index(member));
      await cluster.killMember(index(member));
    },
    restart: (member) => Promise.resolve(cluster.restartMember(index(member))),
    join: async () => `m${await cluster.addMember()}`,
    close: async () => {
      await Promise.all([...stores.values()].map((store) => store.close()));
      await cluster.stop();
    },
  };
}
