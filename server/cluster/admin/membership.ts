/**
 * Safe membership changes on the leader. A new member joins as a learner: it
 * receives the log but does not vote, so a member that never shows up (a
 * typo, a phantom added by an attacker) cannot cost the cluster its quorum.
 * It is promoted to voter only once it has answered the peer handshake (an
 * authenticated link is up) and its log has caught up with the leader's
 * (etcd's rule: its match index is at least 90% of the commit index).
 *
 * @module
 */
import type { NodeId } from "@safla/core";
import type { HostStatus, MemberAddress, NodeHost } from "@safla/transports/host";

/** The new member clashes with an existing one (answered with 409). */
export class MemberConflictError extends Error {
  /** `field`: the clashing field. */
  constructor(readonly field: string, message: string) {
    super(message);
    this.name = "MemberConflictError";
  }
}

/** What adding or promoting a member did. */
export interface MemberChange {
  members: { voters: NodeId[]; learners: NodeId[] };
  /** Whether the member now votes. */
  promoted: boolean;
  /** Why it still does not, when it does not. */
  reason?: string;
}

/** How often the leader looks at a learner's progress while waiting. */
const CATCH_UP_POLL_MS = 50;
/** Longest a caller may ask to wait for a learner to catch up. */
export const MAX_CATCH_UP_TIMEOUT_MS = 120_000;
/** Default wait for a learner to catch up before it is left a learner. */
export const DEFAULT_CATCH_UP_TIMEOUT_MS = 30_000;

/** Refuses an id or an address that an existing member already has. */
export function checkNewMember(status: HostStatus, id: NodeId, address: MemberAddress): void {
  const { voters, learners } = status.members;
  if (voters.includes(id) || learners.includes(id)) {
    throw new MemberConflictError(
      "id",
      `${id} is already a ${voters.includes(id) ? "voter" : "learner"}; ` +
        (voters.includes(id)
          ? "remove it first"
          : `promote it with POST /admin/members/${id}/promote`),
    );
  }
  for (const [other, known] of Object.entries(status.addresses)) {
    if (!voters.includes(other) && !learners.includes(other)) continue;
    if (known.peer === address.peer) {
      throw new MemberConflictError("peer", `peer address ${address.peer} belongs to ${other}`);
    }
    if (known.url === address.url) {
      throw new MemberConflictError("url", `url ${address.url} belongs to ${other}`);
    }
  }
}

/** Why learner `id` may not be promoted yet, or undefined when it may. */
export function promotionBlocker(status: HostStatus, id: NodeId): string | undefined {
  if (status.role !== "leader") return "this node stopped leading";
  const progress = status.progress?.[id];
  if (!progress || !status.members.learners.includes(id)) return `${id} is not a learner`;
  if (!status.peers[id]?.connected) return `${id} has not answered the peer handshake`;
  if (progress.match * 10 < status.commitIndex * 9) {
    return `${id} has ${progress.match} of ${status.commitIndex} committed entries`;
  }
  return undefined;
}

/** Waits up to `timeoutMs` for learner `id` to become promotable; returns the last blocker. */
async function waitPromotable(
  host: NodeHost,
  id: NodeId,
  timeoutMs: number,
): Promise<string | undefined> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const blocker = promotionBlocker(host.status(), id);
    if (blocker === undefined || performance.now() >= deadline) return blocker;
    if (blocker === "this node stopped leading") return blocker;
    await new Promise((resolve) => setTimeout(resolve, CATCH_UP_POLL_MS));
  }
}

/** Promotes learner `id` once it is connected and caught up, waiting up to `timeoutMs`. */
export async function promoteMember(
  host: NodeHost,
  id: NodeId,
  timeoutMs: number,
  requestTimeoutMs: number,
): Promise<MemberChange> {
  const blocker = await waitPromotable(host, id, timeoutMs);
  if (blocker !== undefined) {
    return { members: host.status().members, promoted: false, reason: blocker };
  }
  // Adding a node that is a learner makes it a voter.
  const members = await host.changeMembership(
    { type: "addNode", nodeId: id },
    host.memberAddress(id),
    requestTimeoutMs,
  );
  return { members, promoted: true };
}

/**
 * Adds `id` as a learner and, unless `learnerOnly`, promotes it once it has
 * caught up (within `catchUpTimeoutMs`; else it stays a learner and the
 * reply says why).
 */
export async function addMember(
  host: NodeHost,
  id: NodeId,
  address: MemberAddress,
  options: { learnerOnly: boolean; catchUpTimeoutMs: number; requestTimeoutMs: number },
): Promise<MemberChange> {
  checkNewMember(host.status(), id, address);
  const members = await host.changeMembership(
    { type: "addLearner", nodeId: id },
    address,
    options.requestTimeoutMs,
  );
  if (options.learnerOnly) return { members, promoted: false, reason: "added as a learner" };
  return await promoteMember(host, id, options.catchUpTimeoutMs, options.requestTimeoutMs);
}
