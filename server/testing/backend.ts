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
  createRequestStateCodec,
  inputRequired,
  McpServer,
  MissingRequiredClientCapabilityError,
  ResourceTemplate,
  type ServerContext,
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
  /** Added before `whoami` and `increment` answer: a slow replica, for hedging tests. */
  latencyMs?: number;
  /** Registers no tools at all (a broken restart, for supervision tests). */
  noTools?: boolean;
  /** When set, a tool `arm_empty_restart` calls it so the next start serves no tools. */
  armEmptyRestart?: () => Promise<void>;
  /**
   * Shared across instances: `test_trigger_tool_change` bumps it (adding a tool
   * `dynamic_{n}`) and calls `onToolsChanged`.
   */
  dynamicTools?: {
    count: number;
    prompts?: number;
    onToolsChanged?: () => void;
    onPromptsChanged?: () => void;
  };
  /**
   * Declares resource subscriptions and adds a tool `test_touch_resource`
   * that reports an update of its `uri` through this callback (the HTTP
   * backend publishes it to `subscriptions/listen` streams).
   */
  onResourceUpdated?: (uri: string) => void;
}

const RED_PIXEL_PNG =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
const SILENT_WAV = "UklGRiQAAABXQVZFZm10IBAAAAABAAEARKwAAIhYAQACABAAZGF0YQAAAAA=";

/** Test-only HMAC key for this backend's own multi-round state. */
const STATE_CODEC = createRequestStateCodec<{ round: number; name?: string }>({
  key: "safla-test-backend-state-key-0123456789",
});

const NAME_SCHEMA = {
  type: "object" as const,
  properties: { name: { type: "string" as const } },
  required: ["name"],
};

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
    {
      capabilities: {
        logging: {},
        completions: {},
        ...(options.onResourceUpdated === undefined ? {} : { resources: { subscribe: true } }),
      },
      requestState: { verify: (state, ctx) => STATE_CODEC.verify(state, ctx) },
    },
  );

  const onResourceUpdated = options.onResourceUpdated;
  if (!options.noTools && onResourceUpdated !== undefined) {
    server.registerTool("test_touch_resource", {
      description: "Reports an update of a resource to its subscribers",
      inputSchema: z.object({ uri: z.string() }),
    }, ({ uri }) => {
      onResourceUpdated(uri);
      return text(`updated ${uri}`);
    });
  }
  if (!options.noTools) {
    registerTools(server, options, counters);
    registerInputRequiredTools(server);
  }
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
  }, async (ctx) => {
    if (options.latencyMs) await sleep(options.latencyMs, ctx.mcpReq.signal);
    return text(options.replicaId);
  });

  server.registerTool("increment", {
    description: "Increments a counter (not idempotent) after an optional delay",
    inputSchema: z.object({ key: z.string(), delayMs: z.number().optional() }),
  }, async ({ key, delayMs }, ctx) => {
    const waitMs = (delayMs ?? 0) + (options.latencyMs ?? 0);
    if (waitMs > 0) await sleep(waitMs, ctx.mcpReq.signal);
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

  const dynamic = options.dynamicTools;
  if (dynamic !== undefined) {
    for (let i = 0; i < dynamic.count; i++) {
      server.registerTool(`dynamic_${i}`, {
        description: `Added by test_trigger_tool_change (${i})`,
        annotations: { readOnlyHint: true },
      }, () => text(`dynamic ${i}`));
    }
    server.registerTool("test_trigger_tool_change", {
      description: "Adds a tool, so the tool list changes",
    }, () => {
      const i = dynamic.count++;
      // A long-lived instance (stdio) gets the tool now, which also announces the
      // change; per-request instances (HTTP) are built with it from the count.
      server.registerTool(`dynamic_${i}`, {
        description: `Added by test_trigger_tool_change (${i})`,
        annotations: { readOnlyHint: true },
      }, () => text(`dynamic ${i}`));
      dynamic.onToolsChanged?.();
      return text(`tools changed: ${dynamic.count} dynamic tool(s)`);
    });
  }

  if (dynamic !== undefined) {
    const addPrompt = (i: number): void => {
      server.registerPrompt(`dynamic_prompt_${i}`, {
        description: `Added by test_trigger_prompt_change (${i})`,
      }, () => ({
        messages: [{ role: "user", content: { type: "text", text: `dynamic prompt ${i}` } }],
      }));
    };
    for (let i = 0; i < (dynamic.prompts ?? 0); i++) addPrompt(i);
    server.registerTool("test_trigger_prompt_change", {
      description: "Adds a prompt, so the prompt list changes",
    }, () => {
      const i = dynamic.prompts ?? 0;
      dynamic.prompts = i + 1;
      addPrompt(i);
      dynamic.onPromptsChanged?.();
      return text(`prompts changed: ${dynamic.prompts} dynamic prompt(s)`);
    });
  }

  server.registerTool("test_missing_capability", {
    description: "Needs the client's sampling capability",
  }, (ctx) => {
    const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
    const caps = envelope?.["io.modelcontextprotocol/clientCapabilities"] as
      | Record<string, unknown>
      | undefined;
    if (caps?.sampling === undefined) {
      throw new MissingRequiredClientCapabilityError({ requiredCapabilities: { sampling: {} } });
    }
    return text("client declared sampling");
  });

  server.registerTool("test_streaming_elicitation", {
    description: "Asks for input by result, never by a pushed request",
  }, (ctx) => {
    if (ctx.mcpReq.inputResponses?.["user_name"] !== undefined) return text("thanks");
    return inputRequired({
      inputRequests: {
        user_name: inputRequired.elicit({
          message: "What is your name?",
          requestedSchema: NAME_SCHEMA,
        }),
      },
    });
  });

  server.registerTool("test_flood_logs", {
    description: "Answers at once, then sends `count` log lines of `bytes` bytes tied to no call",
    inputSchema: z.object({
      count: z.number().int().max(100_000),
      bytes: z.number().int().max(1e6),
    }),
  }, ({ count, bytes }) => {
    setTimeout(async () => {
      const data = "x".repeat(bytes);
      for (let i = 0; i < count; i++) {
        await server.server.sendLoggingMessage({ level: "info", data: `${i} ${data}` })
          .catch(() => {});
      }
    }, 50);
    return text(`flooding ${count} log lines`);
  });

  server.registerTool("test_logging_tool", {
    description: "Logs at info level; only clients that asked for logs see it",
  }, async (ctx) => {
    await ctx.mcpReq.log("info", "test_logging_tool ran");
    return text("logged");
  });

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

type Answers = Record<
  string,
  { action?: string; content?: Record<string, unknown> } & Record<string, unknown>
>;

function answers(ctx: ServerContext): Answers | undefined {
  return ctx.mcpReq.inputResponses as Answers | undefined;
}

/** The multi-round-trip (`input_required`) tools of the 2026-07-28 conformance suite. */
function registerInputRequiredTools(server: McpServer): void {
  const elicitName = inputRequired.elicit({
    message: "What is your name?",
    requestedSchema: NAME_SCHEMA,
  });

  server.registerTool("test_input_required_result_elicitation", {
    description: "Asks the client for a name, then greets",
  }, (ctx) => {
    const name = answers(ctx)?.["user_name"]?.content?.name;
    if (name === undefined) return inputRequired({ inputRequests: { user_name: elicitName } });
    return text(`Hello, ${name}!`);
  });

  server.registerTool("test_input_required_result_sampling", {
    description: "Asks the client's model a question",
  }, (ctx) => {
    const answer = answers(ctx)?.["capital_question"] as
      | { content?: { text?: string } }
      | undefined;
    if (answer === undefined) {
      return inputRequired({
        inputRequests: {
          capital_question: inputRequired.createMessage({
            messages: [{
              role: "user",
              content: { type: "text", text: "What is the capital of France?" },
            }],
            maxTokens: 100,
          }),
        },
      });
    }
    return text(`Sampling response: ${answer.content?.text ?? ""}`);
  });

  server.registerTool("test_input_required_result_list_roots", {
    description: "Asks the client for its roots",
  }, (ctx) => {
    const answer = answers(ctx)?.["client_roots"] as { roots?: { uri: string }[] } | undefined;
    if (answer === undefined) {
      return inputRequired({ inputRequests: { client_roots: inputRequired.listRoots() } });
    }
    return text(`Roots: ${(answer.roots ?? []).map((r) => r.uri).join(", ")}`);
  });

  server.registerTool("test_input_required_result_request_state", {
    description: "Asks for confirmation and keeps signed state across the round",
  }, async (ctx) => {
    const state = ctx.mcpReq.requestState<{ round: number }>();
    const confirm = answers(ctx)?.["confirm"];
    if (confirm === undefined || state?.round !== 1) {
      return inputRequired({
        inputRequests: {
          confirm: inputRequired.elicit({
            message: "Please confirm",
            requestedSchema: {
              type: "object",
              properties: { ok: { type: "boolean" } },
              required: ["ok"],
            },
          }),
        },
        requestState: await STATE_CODEC.mint({ round: 1 }),
      });
    }
    return text(`state-ok: confirmed=${JSON.stringify(confirm.content ?? {})}`);
  });

  server.registerTool("test_input_required_result_multiple_inputs", {
    description: "Asks for elicitation, sampling and roots at once",
  }, async (ctx) => {
    const got = answers(ctx);
    const state = ctx.mcpReq.requestState<{ round: number }>();
    const keys = ["user_name", "greeting", "client_roots"];
    if (state?.round !== 1 || !keys.every((k) => got?.[k] !== undefined)) {
      return inputRequired({
        inputRequests: {
          user_name: elicitName,
          greeting: inputRequired.createMessage({
            messages: [{ role: "user", content: { type: "text", text: "Generate a greeting" } }],
            maxTokens: 50,
          }),
          client_roots: inputRequired.listRoots(),
        },
        requestState: await STATE_CODEC.mint({ round: 1 }),
      });
    }
    return text(`All inputs received: ${keys.join(", ")}`);
  });

  server.registerTool("test_input_required_result_multi_round", {
    description: "Two rounds of elicitation with evolving state",
  }, async (ctx) => {
    const state = ctx.mcpReq.requestState<{ round: number; name?: string }>();
    const got = answers(ctx);
    if (state?.round === 1 && typeof got?.["step1"]?.content?.name === "string") {
      return inputRequired({
        inputRequests: {
          step2: inputRequired.elicit({
            message: "Step 2: What is your favorite color?",
            requestedSchema: {
              type: "object",
              properties: { color: { type: "string" } },
              required: ["color"],
            },
          }),
        },
        requestState: await STATE_CODEC.mint({
          round: 2,
          name: got["step1"].content.name as string,
        }),
      });
    }
    if (state?.round === 2 && typeof got?.["step2"]?.content?.color === "string") {
      return text(`Hello ${state.name}, your favorite color is ${got["step2"].content.color}`);
    }
    return inputRequired({
      inputRequests: {
        step1: inputRequired.elicit({
          message: "Step 1: What is your name?",
          requestedSchema: NAME_SCHEMA,
        }),
      },
      requestState: await STATE_CODEC.mint({ round: 1 }),
    });
  });

  server.registerTool("test_input_required_result_tampered_state", {
    description: "Signs its state; a tampered state is rejected",
  }, async (ctx) => {
    const state = ctx.mcpReq.requestState<{ round: number }>();
    if (state?.round === 1) return text("state verified");
    return inputRequired({
      inputRequests: { user_name: elicitName },
      requestState: await STATE_CODEC.mint({ round: 1 }),
    });
  });

  server.registerTool("test_input_required_result_capabilities", {
    description: "Only asks for input the client declared it can give",
  }, (ctx) => {
    const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
    const caps = (envelope?.["io.modelcontextprotocol/clientCapabilities"] ?? {}) as Record<
      string,
      unknown
    >;
    if (answers(ctx) !== undefined) return text("inputs received");
    const requests: Record<string, ReturnType<typeof inputRequired.listRoots>> = {};
    if (caps.elicitation !== undefined) requests.user_name = elicitName;
    if (caps.sampling !== undefined) {
      requests.greeting = inputRequired.createMessage({
        messages: [{ role: "user", content: { type: "text", text: "Say hello" } }],
        maxTokens: 20,
      });
    }
    if (caps.roots !== undefined) requests.client_roots = inputRequired.listRoots();
    if (Object.keys(requests).length === 0) return text("client declared no input capabilities");
    return inputRequired({ inputRequests: requests });
  });

  server.registerPrompt("test_input_required_result_prompt", {
    description: "A prompt that needs context from the user first",
  }, (ctx) => {
    const context = answers(ctx)?.["user_context"]?.content?.context;
    if (context === undefined) {
      return inputRequired({
        inputRequests: {
          user_context: inputRequired.elicit({
            message: "What context should the prompt use?",
            requestedSchema: {
              type: "object",
              properties: { context: { type: "string" } },
              required: ["context"],
            },
          }),
        },
      });
    }
    return {
      messages: [{ role: "user", content: { type: "text", text: `Context: ${String(context)}` } }],
    };
  });
}
