/**
 * Client subscriptions to resource updates, shared across every session of
 * one node: backends are shared, so a backend is subscribed for the first
 * client of a URI and unsubscribed after the last one leaves. A 2025 backend
 * is asked per URI; a 2026 one gets its service's whole list on a listen
 * stream, which every replica keeps for when it (re)connects.
 *
 * @module
 */
import type { BackendConnection } from "@safla/transports";

/** Subscription counts per resource URI, and the backend calls at each edge. */
export class ResourceSubscriptions {
  readonly #subscribers = new Map<string, number>();

  /** Client subscriptions per resource URI. */
  counts(): Record<string, number> {
    return Object.fromEntries(this.#subscribers);
  }

  /**
   * Counts one client (un)subscribing `uri` of the service whose replicas are
   * `backends`; `ownedBySameService` tells which other subscribed URIs that
   * service also serves. On failure the count is as before.
   */
  async change(
    method: "resources/subscribe" | "resources/unsubscribe",
    uri: string,
    backends: readonly BackendConnection[],
    ownedBySameService: (uri: string) => boolean,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const count = this.#subscribers.get(uri) ?? 0;
    const next = method === "resources/subscribe" ? count + 1 : Math.max(0, count - 1);
    this.#set(uri, next);
    const edge = method === "resources/subscribe" ? count === 0 : count === 1;
    if (!edge) return;
    const watched = [...this.#subscribers.keys()].filter(ownedBySameService);
    const ready = backends.filter((b) =>
      b.state === "ready" && b.catalog?.capabilities.resources?.subscribe
    );
    try {
      await Promise.all([
        ...ready
          .filter((b) => b.catalog?.era === "legacy")
          .map((b) => b.request(method, { uri }, { signal })),
        ...backends.map((b) => b.watchResources(watched)),
      ]);
    } catch (error) {
      this.#set(uri, count);
      throw error;
    }
  }

  #set(uri: string, count: number): void {
    if (count === 0) this.#subscribers.delete(uri);
    else this.#subscribers.set(uri, count);
  }
}
