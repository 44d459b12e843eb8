/**
 * Whether a gateway serves what its config promises, for `/readyz`: a load
 * balancer must not send clients to a node that would answer `Tool … not
 * found` because its backends are still starting. A service is loaded once
 * one of its replicas was ready (its catalog is served) or every replica's
 * first start ended in failure (its error recorded): a backend that is down
 * must not keep the whole endpoint out of rotation. A service marked
 * `required` keeps the node unready, beyond that, while none of its replicas
 * on this node is ready (replicas on other nodes are not counted yet).
 *
 * @module
 */

/** What readiness needs to know of one replica. */
export interface ReplicaStart {
  /** Ready at least once since the gateway started. */
  everReady: boolean;
  /** Its first connect attempt ended (in success or failure). */
  firstAttemptEnded: boolean;
  /** Ready now. */
  ready: boolean;
}

/** What readiness needs to know of one service. */
export interface ServiceStart {
  name: string;
  required: boolean;
  replicas: readonly ReplicaStart[];
}

/** The verdict, with what is missing when not ready. */
export interface GatewayReadiness {
  ready: boolean;
  /** Services still starting, or required and down, by name. */
  waitingFor: string[];
}

/** Judges a gateway's services; pure. */
export function gatewayReadiness(services: Iterable<ServiceStart>): GatewayReadiness {
  const waitingFor: string[] = [];
  for (const { name, required, replicas } of services) {
    const loaded = replicas.some((r) => r.everReady) ||
      replicas.every((r) => r.firstAttemptEnded);
    if (!loaded) waitingFor.push(`${name} (starting)`);
    else if (required && !replicas.some((r) => r.ready)) {
      waitingFor.push(`${name} (required, down)`);
    }
  }
  return { ready: waitingFor.length === 0, waitingFor };
}
