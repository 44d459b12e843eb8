/**
 * Test seam: a 2025 session opened by a given principal (as the
 * authenticating front opens it), with an SDK client connected in memory.
 *
 * @module
 */
import { Client, InMemoryTransport } from "@modelcontextprotocol/client";
import type { Principal } from "@safla/core/access";
import type { Gateway } from "../../gateway/gateway.ts";
import { createResumeCodec } from "../../front/front.ts";
import { Session } from "../../front/session.ts";

/** A connected client of a {@link PrincipalSession}, and the list_changed kinds it heard. */
export interface PrincipalClient {
  client: Client;
  session: Session;
  changed: string[];
  close(): Promise<void>;
}

/** Opens a 2025 session for `who` on `gateway` and connects an SDK client to it. */
export async function principalClient(gateway: Gateway, who: Principal): Promise<PrincipalClient> {
  const session = new Session(gateway, createResumeCodec("k".repeat(32)), {
    id: `s-${who.subject}`,
    principal: who,
  });
  const [ours, theirs] = InMemoryTransport.createLinkedPair();
  await session.server.connect(ours);
  const client = new Client({ name: who.subject, version: "1" }, {
    versionNegotiation: { mode: "legacy" },
  });
  const changed: string[] = [];
  for (const kind of ["tools", "prompts", "resources"]) {
    client.setNotificationHandler(
      `notifications/${kind}/list_changed` as "notifications/tools/list_changed",
      () => void changed.push(kind),
    );
  }
  await client.connect(theirs);
  return {
    client,
    session,
    changed,
    close: async () => {
      await client.close();
      await session.close();
    },
  };
}
