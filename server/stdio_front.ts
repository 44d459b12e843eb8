/**
 * The stdio front for desktop apps: the gateway serves one client over this
 * process's stdin/stdout, in whichever era the client opens with.
 *
 * @module
 */
import { serveStdio, type StdioServerHandle } from "@modelcontextprotocol/server/stdio";
import type { Gateway } from "./gateway.ts";
import { createFrontServer, type ResumeCodec } from "./front.ts";

/** Serves `gateway` over stdio until stdin closes. */
export function serveGatewayStdio(gateway: Gateway, codec: ResumeCodec): StdioServerHandle {
  const servers = new Set<ReturnType<typeof createFrontServer>>();
  const unsubscribe = gateway.subscribe({
    listChanged: (kind) => {
      for (const server of servers) {
        const send = kind === "tools"
          ? server.sendToolListChanged()
          : kind === "prompts"
          ? server.sendPromptListChanged()
          : server.sendResourceListChanged();
        void send.catch(() => {});
      }
    },
    resourceUpdated: (uri) => {
      for (const server of servers) void server.sendResourceUpdated({ uri }).catch(() => {});
    },
  });
  const handle = serveStdio(({ era }) => {
    const server = createFrontServer(gateway, codec, era);
    servers.add(server);
    server.onclose = () => servers.delete(server);
    return server;
  }, { onerror: (error) => console.error(`stdio front: ${error.message}`) });
  return {
    close: async () => {
      unsubscribe();
      await handle.close();
    },
  };
}
