/**
 * A test MCP server of our own: the tools, resources and prompts the
 * conformance suite exercises (text, image, audio, embedded resources, mixed
 * content, logging, progress, errors, sampling and elicitation, completions),
 * plus knobs the gateway tests need (a replica id in every answer, a slow tool
 * that honours cancellation, a counter that shows how often a write ran).
 * Built on `McpServer`, so one definition serves both protocol eras.
 *
 * @module
 */
import {
  acceptedContent,
  completable,
  inputRequired,
  McpServer,
  ResourceTemplate,
} from "@modelcontextprotocol/server";
import * as z from "zod";

/** Options of {@link createTestBackend}. */
export interface TestBackendOptions {
  /** Shown in `echo`/`whoami` answers so tests can tell replicas apart. */
  replicaId: string;
  /** Extra tools named `extra_{i}`, to test catalog changes and naming. */
  extraTools?: number;
  /** Shared across instances of one process, so stateless serving keeps counts. */
  counters?: Map<string, number>;
  /** Registers no tools at all (a broken restart, for supervision tests). */
  noTools?: boolean;
  /** When set, a tool `arm_empty_restart` calls it so the next start serves no tools. */
  armEmptyRestart?: () => Promise<void>;
}

const RED_PIXEL_PNG =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
const SILENT_WAV = "UklGRiQAAABXQVZFZm10IBAAAAABAAEARKwAAIhYAQACABAAZGF0YQAAAAA=";

function text(value: string): { content: [{ type: "text"; text: string }] } {
  return { content: [{ type: "text", text: value }] };
}

/** Sleeps `ms`, rejecting early when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Builds one server instance. Stateless serving calls this once per request;
 * pass the same `counters` map to keep state across instances.
 */
export function createTestBackend(options: TestBackendOptions): McpServer {
  const counters = options.counters ?? new Map<string, number>();
  const server = new McpServer(
    { name: "safla-test-backend", version: "1.0.0" },
    { capabilities: { logging: {}, completions: {} } },
  );

  if (!options.noTools) registerTools(server, options, counters);
  registerResourcesAndPrompts(server);
  return server;
}

function registerTools(
  server: McpServer,
  options: TestBackendOptions,
  counters: Map<string, number>,
): void {
  server.registerTool("echo", {
    description: "Echoes its message, prefixed by the replica id",
    inputSchema: z.object({ message: z.string() }),
    annotations: { readOnlyHint: true },
  }, ({ message }) => text(`${options.replicaId}: ${message}`));

  server.registerTool("add", {
    description: "Adds two numbers",
    inputSchema: z.object({ a: z.number(), b: z.number() }),
    outputSchema: z.object({ sum: z.number() }),
    annotations: { readOnlyHint: true, idempotentHint: true },
  }, ({ a, b }) => ({
    content: [{ type: "text", text: String(a + b) }],
    structuredContent: { sum: a + b },
  }));

  server.registerTool("whoami", {
    description: "Returns the replica id",
    annotations: { readOnlyHint: true },
  }, () => text(options.replicaId));

  server.registerTool("increment", {
    description: "Increments a counter (not idempotent) after an optional delay",
    inputSchema: z.object({ key: z.string(), delayMs: z.number().optional() }),
  }, async ({ key, delayMs }, ctx) => {
    if (delayMs !== undefined) await sleep(delayMs, ctx.mcpReq.signal);
    const next = (counters.get(key) ?? 0) + 1;
    counters.set(key, next);
    return text(String(next));
  });

  server.registerTool("count", {
    description: "Reads a counter",
    inputSchema: z.object({ key: z.string() }),
    annotations: { readOnlyHint: true },
  }, ({ key }) => text(String(counters.get(key) ?? 0)));

  server.registerTool("slow", {
    description: "Sleeps, reporting progress every step; honours cancellation",
    inputSchema: z.object({ steps: z.number().int().min(1).max(100), stepMs: z.number() }),
    annotations: { readOnlyHint: true },
  }, async ({ steps, stepMs }, ctx) => {
    const token = ctx.mcpReq._meta?.progressToken;
    for (let i = 1; i <= steps; i++) {
      try {
        await sleep(stepMs, ctx.mcpReq.signal);
      } catch (error) {
        counters.set("cancelled", (counters.get("cancelled") ?? 0) + 1);
        throw error;
      }
      if (token !== undefined) {
        await ctx.mcpReq.notify({
          method: "notifications/progress",
          params: { progressToken: token, progress: i, total: steps, message: `step ${i}` },
        });
      }
    }
    return text(`${options.replicaId}: done after ${steps} steps`);
  });

  server.registerTool("crash", {
    description: "Exits the process (stdio replicas) to test supervision and failover",
    annotations: { readOnlyHint: true },
  }, () => {
    queueMicrotask(() => Deno.exit(3));
    return text("exiting");
  });

  server.registerTool("test_simple_text", {
    description: "Tests simple text content response",
  }, () => text("This is a simple text response for testing."));

  server.registerTool("test_image_content", {
    description: "Tests image content response",
  }, () => ({ content: [{ type: "image", data: RED_PIXEL_PNG, mimeType: "image/png" }] }));

  server.registerTool("test_audio_content", {
    description: "Tests audio content response",
  }, () => ({ content: [{ type: "audio", data: SILENT_WAV, mimeType: "audio/wav" }] }));

  server.registerTool("test_embedded_resource", {
    description: "Tests embedded resource content response",
  }, () => ({
    content: [{
      type: "resource",
      resource: {
        uri: "test://embedded-resource",
        mimeType: "text/plain",
        text: "This is an embedded resource content.",
      },
    }],
  }));

  server.registerTool("test_multiple_content_types", {
    description: "Tests response with multiple content types",
  }, () => ({
    content: [
      { type: "text", text: "Multiple content types test:" },
      { type: "image", data: RED_PIXEL_PNG, mimeType: "image/png" },
      {
        type: "resource",
        resource: {
          uri: "test://mixed-content-resource",
          mimeType: "application/json",
          text: JSON.stringify({ test: "data", value: 123 }),
        },
      },
    ],
  }));

  server.registerTool("test_tool_with_logging", {
    description: "Tests tool that emits log messages during execution",
  }, async (ctx) => {
    await ctx.mcpReq.log("info", "Tool execution started");
    await ctx.mcpReq.log("info", "Tool processing data");
    await ctx.mcpReq.log("info", "Tool execution completed");
    return text("Tool with logging executed successfully");
  });

  server.registerTool("test_tool_with_progress", {
    description: "Tests tool that reports progress notifications",
  }, async (ctx) => {
    const token = ctx.mcpReq._meta?.progressToken;
    for (const progress of [0, 50, 100]) {
      if (token !== undefined) {
        await ctx.mcpReq.notify({
          method: "notifications/progress",
          params: {
            progressToken: token,
            progress,
            total: 100,
            message: `Completed step ${progress}`,
          },
        });
      }
      await sleep(20, ctx.mcpReq.signal);
    }
    return text(String(token ?? "no-token"));
  });

  server.registerTool("test_error_handling", {
    description: "Tests error response handling",
  }, () => ({
    isError: true,
    content: [{ type: "text", text: "This tool intentionally returns an error for testing" }],
  }));

  server.registerTool("test_sampling", {
    description: "Tests server-initiated sampling (LLM completion request)",
    inputSchema: z.object({ prompt: z.string() }),
  }, ({ prompt }, ctx) => {
    const answer = ctx.mcpReq.inputResponses?.["sample"] as
      | { content?: { type?: string; text?: string } }
      | undefined;
    if (answer?.content === undefined) {
      return inputRequired({
        inputRequests: {
          sample: inputRequired.createMessage({
            messages: [{ role: "user", content: { type: "text", text: prompt } }],
            maxTokens: 100,
          }),
        },
      });
    }
    const reply = answer.content.type === "text" ? answer.content.text : "(non-text)";
    return text(`LLM response: ${reply}`);
  });

  const ConfirmSchema = z.object({ username: z.string() });
  server.registerTool("test_elicitation", {
    description: "Tests server-initiated elicitation (user input request)",
    inputSchema: z.object({ message: z.string() }),
  }, ({ message }, ctx) => {
    const answer = ctx.mcpReq.inputResponses?.["user"] as
      | { action?: string; content?: Record<string, unknown> }
      | undefined;
    if (answer === undefined) {
      return inputRequired({
        inputRequests: {
          user: inputRequired.elicit({ message, requestedSchema: ConfirmSchema }),
        },
      });
    }
    const content = acceptedContent(ctx.mcpReq.inputResponses, "user");
    return text(
      `User response: action=${answer.action}, content=${JSON.stringify(content ?? {})}`,
    );
  });

  const elicitTool = (
    name: string,
    description: string,
    message: string,
    // deno-lint-ignore no-explicit-any
    requestedSchema: any,
  ): void => {
    server.registerTool(name, { description }, (ctx) => {
      const answer = ctx.mcpReq.inputResponses?.["form"] as
        | { action?: string; content?: Record<string, unknown> }
        | undefined;
      if (answer === undefined) {
        return inputRequired({
          inputRequests: { form: inputRequired.elicit({ message, requestedSchema }) },
        });
      }
      return text(
        `Elicitation completed: action=${answer.action}, content=${
          JSON.stringify(answer.content ?? {})
        }`,
      );
    });
  };

  elicitTool(
    "test_elicitation_sep1034_defaults",
    "Requests elicitation with a default for every primitive type",
    "Please review and update the form fields with defaults",
    {
      type: "object",
      properties: {
        name: { type: "string", description: "User name", default: "John Doe" },
        age: { type: "integer", description: "User age", default: 30 },
        score: { type: "number", description: "User score", default: 95.5 },
        status: {
          type: "string",
          description: "User status",
          enum: ["active", "inactive", "pending"],
          default: "active",
        },
        verified: { type: "boolean", description: "Verification status", default: true },
      },
      required: [],
    },
  );

  elicitTool(
    "test_elicitation_sep1330_enums",
    "Requests elicitation with all five enum schema variants",
    "Please select options from the enum fields",
    {
      type: "object",
      properties: {
        untitledSingle: { type: "string", enum: ["option1", "option2", "option3"] },
        titledSingle: {
          type: "string",
          oneOf: [
            { const: "value1", title: "First Option" },
            { const: "value2", title: "Second Option" },
            { const: "value3", title: "Third Option" },
          ],
        },
        legacyEnum: {
          type: "string",
          enum: ["opt1", "opt2", "opt3"],
          enumNames: ["Option One", "Option Two", "Option Three"],
        },
        untitledMulti: {
          type: "array",
          items: { type: "string", enum: ["option1", "option2", "option3"] },
        },
        titledMulti: {
          type: "array",
          items: {
            anyOf: [
              { const: "value1", title: "First Choice" },
              { const: "value2", title: "Second Choice" },
              { const: "value3", title: "Third Choice" },
            ],
          },
        },
      },
      required: [],
    },
  );

  const arm = options.armEmptyRestart;
  if (arm !== undefined) {
    server.registerTool("arm_empty_restart", {
      description: "Makes the next start of this backend serve no tools",
    }, async () => {
      await arm();
      return text("armed");
    });
  }

  for (let i = 0; i < (options.extraTools ?? 0); i++) {
    server.registerTool(`extra_${i}`, {
      description: `Extra tool ${i}`,
      annotations: { readOnlyHint: true },
    }, () => text(`extra ${i} from ${options.replicaId}`));
  }
}

function registerResourcesAndPrompts(server: McpServer): void {
  server.registerResource("static-text", "test://static-text", {
    title: "Static Text Resource",
    mimeType: "text/plain",
  }, (uri) => ({
    contents: [{
      uri: uri.href,
      mimeType: "text/plain",
      text: "This is the content of the static text resource.",
    }],
  }));

  server.registerResource("static-binary", "test://static-binary", {
    title: "Static Binary Resource",
    mimeType: "image/png",
  }, (uri) => ({ contents: [{ uri: uri.href, mimeType: "image/png", blob: RED_PIXEL_PNG }] }));

  server.registerResource(
    "template",
    new ResourceTemplate("test://template/{id}/data", { list: undefined }),
    { title: "Resource Template", mimeType: "application/json" },
    (uri, variables) => ({
      contents: [{
        uri: uri.href,
        mimeType: "application/json",
        text: JSON.stringify({
          id: variables.id,
          templateTest: true,
          data: `Data for ID: ${variables.id}`,
        }),
      }],
    }),
  );

  server.registerResource("watched", "test://watched-resource", {
    title: "Watched Resource",
    mimeType: "text/plain",
  }, (uri) => ({ contents: [{ uri: uri.href, mimeType: "text/plain", text: "Watched content" }] }));

  server.registerPrompt("test_simple_prompt", {
    description: "A simple prompt without arguments",
  }, () => ({
    messages: [{
      role: "user",
      content: { type: "text", text: "This is a simple prompt for testing." },
    }],
  }));

  server.registerPrompt("test_prompt_with_arguments", {
    description: "A prompt with required arguments",
    argsSchema: z.object({
      arg1: completable(
        z.string(),
        (value) => ["alpha", "beta", "gamma"].filter((v) => v.startsWith(value)),
      ),
      arg2: z.string(),
    }),
  }, ({ arg1, arg2 }) => ({
    messages: [{
      role: "user",
      content: { type: "text", text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` },
    }],
  }));

  server.registerPrompt("test_prompt_with_embedded_resource", {
    description: "A prompt that includes an embedded resource",
    argsSchema: z.object({ resourceUri: z.string() }),
  }, ({ resourceUri }) => ({
    messages: [
      {
        role: "user",
        content: {
          type: "resource",
          resource: {
            uri: resourceUri,
            mimeType: "text/plain",
            text: "Embedded resource content for testing.",
          },
        },
      },
      {
        role: "user",
        content: { type: "text", text: "Please process the embedded resource above." },
      },
    ],
  }));

  server.registerPrompt("test_prompt_with_image", {
    description: "A prompt that includes image content",
  }, () => ({
    messages: [
      { role: "user", content: { type: "image", data: RED_PIXEL_PNG, mimeType: "image/png" } },
      { role: "user", content: { type: "text", text: "Please analyze the image above." } },
    ],
  }));
}
