import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { setLang } from "../../i18n";
import { json, mockFetch, renderWith } from "../../test/helpers";
import { ToolsPage } from "./ToolsPage";
import { McpPage } from "./McpPage";
import { OpenApiPage } from "./OpenApiPage";
import { AssistantsPage } from "./AssistantsPage";

const now = "2025-01-02T03:04:05Z";
const notFound = () => json(404, { error: { code: "not_found", message: "unexpected request" } });

const tool = (name: string, source: string, side_effect: string, extra: object = {}) => ({
  name,
  description: `${name} does things`,
  source,
  source_id: `${source}-1`,
  side_effect,
  parameters: { type: "object", properties: {} },
  available: true,
  unavailable_reason: null,
  approval_mode: side_effect === "read" ? "auto" : "require_approval",
  approval_origin: "tool",
  ...extra,
});
const tools = [
  tool("getOrder", "python", "read"),
  tool("cancelOrder", "openapi", "destructive"),
  tool("search_docs", "mcp", "read", { available: false, unavailable_reason: "server down" }),
];
const defaultPolicy = { id: "p1", tool_name: "cancelOrder", user_id: null, mode: "require_approval", created_at: now, updated_at: now };
const ann = {
  id: "5f1d0e8a-2222-4c3a-9a51-5d0c3b2e7c10",
  user_id: "5f1d0e8a-2222-4c3a-9a51-5d0c3b2e7c10",
  email: "ann@example.com",
  display_name: "Ann",
  username: "ann",
  role: "staff",
  is_active: true,
  last_login_at: null,
  created_at: now,
  updated_at: now,
};

beforeEach(() => setLang("en"));
afterEach(() => vi.unstubAllGlobals());

describe("ToolsPage", () => {
  it("lists every tool and filters by source, side effect and text", async () => {
    const calls = mockFetch(({ method, path }) => (method === "GET" && path === "/api/v1/tools" ? json(200, tools) : notFound()));
    renderWith(<ToolsPage />);
    expect(await screen.findAllByTestId("tool-row")).toHaveLength(3);
    expect(calls[0]).toMatchObject({ method: "GET", path: "/api/v1/tools" });
    const down = screen.getAllByTestId("tool-row")[2];
    expect(down).toHaveTextContent("search_docs");
    expect(down).toHaveTextContent("Unavailable: server down");
    expect(screen.getAllByTestId("tool-row")[1]).toHaveTextContent("destructive");
    expect(screen.getAllByTestId("tool-row")[1]).toHaveTextContent("Needs approval");

    fireEvent.change(screen.getByTestId("tools-side-effect"), { target: { value: "read" } });
    expect(screen.getAllByTestId("tool-row").map((r) => r.dataset.tool)).toEqual(["getOrder", "search_docs"]);
    fireEvent.change(screen.getByTestId("tools-source"), { target: { value: "mcp" } });
    expect(screen.getAllByTestId("tool-row").map((r) => r.dataset.tool)).toEqual(["search_docs"]);
    fireEvent.change(screen.getByTestId("tools-source"), { target: { value: "" } });
    fireEvent.change(screen.getByTestId("tools-search"), { target: { value: "GETORDER" } });
    expect(screen.getAllByTestId("tool-row").map((r) => r.dataset.tool)).toEqual(["getOrder"]);
    expect(screen.getByText("1 of 3 tools")).toBeInTheDocument();
  });

  it("sets a user's override with PUT and resets the default with DELETE", async () => {
    let policies: object[] = [defaultPolicy];
    const calls = mockFetch(({ method, path }) => {
      if (method === "GET" && path === "/api/v1/tools") return json(200, tools);
      if (method === "GET" && path === "/api/v1/tools/cancelOrder/approval") return json(200, policies);
      if (method === "GET" && path.startsWith("/api/v1/users")) return json(200, { items: [ann], total: 1, limit: 50, offset: 0 });
      if (method === "PUT" && path === "/api/v1/tools/cancelOrder/approval") {
        const row = { ...defaultPolicy, id: "p2", user_id: ann.id, mode: "deny" };
        policies = [defaultPolicy, row];
        return json(200, row);
      }
      if (method === "DELETE" && path === "/api/v1/tools/cancelOrder/approval") {
        policies = policies.filter((p) => (p as { user_id: string | null }).user_id !== null);
        return new Response(null, { status: 204 });
      }
      return notFound();
    });
    renderWith(<ToolsPage />);
    const row = (await screen.findAllByTestId("tool-row"))[1];
    fireEvent.click(within(row).getByTestId("tool-policy"));
    const editor = await screen.findByTestId("policy-editor");
    expect(await within(editor).findByTestId("policy-default")).toHaveTextContent("Needs approval");

    fireEvent.click(within(editor).getByTestId("policy-scope-user"));
    await waitFor(() => expect(within(editor).getByTestId("policy-user")).toHaveTextContent("Ann <ann@example.com> · Staff"));
    expect(calls.some((c) => c.path === "/api/v1/users?limit=50")).toBe(true);
    fireEvent.change(within(editor).getByTestId("policy-user"), { target: { value: ann.id } });
    fireEvent.change(within(editor).getByTestId("policy-mode"), { target: { value: "deny" } });
    fireEvent.click(within(editor).getByTestId("policy-save"));
    expect(await within(editor).findByText("Policy saved.")).toBeInTheDocument();
    const put = calls.find((c) => c.method === "PUT")!;
    expect(put.path).toBe("/api/v1/tools/cancelOrder/approval");
    expect(JSON.parse(put.body)).toEqual({ mode: "deny", user_id: ann.id });
    expect(await within(editor).findByTestId("policy-override")).toHaveTextContent("Override for Ann <ann@example.com>");

    fireEvent.click(within(editor).getByTestId("policy-reset"));
    expect(await within(editor).findByText(/Policy removed/)).toBeInTheDocument();
    const del = calls.find((c) => c.method === "DELETE")!;
    expect(del.path).toBe("/api/v1/tools/cancelOrder/approval");
    await waitFor(() => expect(within(editor).getByTestId("policy-default")).toHaveTextContent("No policy"));
  });

  it("shows the server's message when a policy cannot be saved", async () => {
    const calls = mockFetch(({ method, path }) => {
      if (method === "GET" && path === "/api/v1/tools") return json(200, tools);
      if (method === "GET" && path.endsWith("/approval")) return json(200, []);
      if (method === "PUT") return json(422, { error: { code: "validation_error", message: "Request is not valid: see detail", detail: [{ loc: ["body", "mode"], msg: "Input should be 'auto'", type: "enum" }] } });
      return notFound();
    });
    renderWith(<ToolsPage />);
    fireEvent.click(within((await screen.findAllByTestId("tool-row"))[0]).getByTestId("tool-policy"));
    const editor = await screen.findByTestId("policy-editor");
    fireEvent.change(within(editor).getByTestId("policy-mode"), { target: { value: "require_approval" } });
    fireEvent.click(within(editor).getByTestId("policy-save"));
    expect(await within(editor).findByRole("alert")).toHaveTextContent("Request is not valid: see detail — mode: Input should be 'auto'");
    expect(JSON.parse(calls.find((c) => c.method === "PUT")!.body)).toEqual({ mode: "require_approval" });
  });
});

const server = {
  name: "docs",
  transport: "stdio",
  config: { name: "docs", transport: "stdio", command: "npx", args: ["docs-mcp"], env: { TOKEN: "***" }, url: null, headers: {} },
  enabled: true,
  status: "unavailable",
  status_detail: "process exited with code 1",
  tools: [],
  created_at: now,
  updated_at: now,
};

describe("McpPage", () => {
  it("lists servers, refreshes one and deletes one after confirmation", async () => {
    let listed = [server];
    const calls = mockFetch(({ method, path }) => {
      if (method === "GET" && path === "/api/v1/mcp-servers") return json(200, listed);
      if (method === "POST" && path === "/api/v1/mcp-servers/docs/refresh") return json(200, { ...server, status: "ok", status_detail: null, tools: ["search_docs", "read_doc"] });
      if (method === "DELETE" && path === "/api/v1/mcp-servers/docs") {
        listed = [];
        return new Response(null, { status: 204 });
      }
      return notFound();
    });
    renderWith(<McpPage />);
    const row = await screen.findByTestId("mcp-row");
    expect(within(row).getByTestId("mcp-status")).toHaveTextContent("Unavailable");
    expect(within(row).getByTestId("mcp-tool-count")).toHaveTextContent("0");
    expect(within(row).getByTestId("mcp-last-error")).toHaveTextContent("process exited with code 1");
    expect(row).toHaveTextContent("npx docs-mcp");

    fireEvent.click(within(row).getByTestId("mcp-refresh"));
    await waitFor(() => expect(within(row).getByTestId("mcp-status")).toHaveTextContent("OK"));
    expect(within(row).getByTestId("mcp-tool-count")).toHaveTextContent("2");
    expect(within(row).queryByTestId("mcp-last-error")).not.toBeInTheDocument();
    expect(row).toHaveTextContent("search_docs");

    fireEvent.click(within(row).getByTestId("mcp-delete"));
    expect(calls.some((c) => c.method === "DELETE")).toBe(false);
    fireEvent.click(within(row).getByTestId("mcp-delete-confirm"));
    await waitFor(() => expect(screen.queryByTestId("mcp-row")).not.toBeInTheDocument());
    expect(calls.find((c) => c.method === "DELETE")!.path).toBe("/api/v1/mcp-servers/docs");
  });

  it("registers a stdio server with the typed body and shows the server's validation message", async () => {
    let refuse = true;
    const calls = mockFetch(({ method, path }) => {
      if (method === "GET" && path === "/api/v1/mcp-servers") return json(200, []);
      if (method === "POST" && path === "/api/v1/mcp-servers") {
        if (refuse) return json(422, { error: { code: "invalid_mcp_server", message: "The MCP server configuration is not valid", detail: [{ loc: ["env"], msg: "Value error, invalid environment variable name(s): 1BAD" }] } });
        return json(201, server);
      }
      return notFound();
    });
    renderWith(<McpPage />);
    fireEvent.click(await screen.findByTestId("mcp-add"));
    fireEvent.change(screen.getByTestId("mcp-name"), { target: { value: "docs" } });
    fireEvent.change(screen.getByTestId("mcp-command"), { target: { value: "npx" } });
    fireEvent.change(screen.getByTestId("mcp-args"), { target: { value: "-y\ndocs-mcp\n" } });
    fireEvent.click(screen.getByTestId("mcp-env-add"));
    fireEvent.change(screen.getByTestId("mcp-env-key"), { target: { value: "1BAD" } });
    expect(screen.getByTestId("mcp-env-value")).toHaveAttribute("type", "password");
    fireEvent.change(screen.getByTestId("mcp-env-value"), { target: { value: "s3cret" } });
    fireEvent.click(screen.getByTestId("mcp-submit"));
    expect(await screen.findByRole("alert")).toHaveTextContent("The MCP server configuration is not valid — env: Value error, invalid environment variable name(s): 1BAD");
    const post = calls.find((c) => c.method === "POST")!;
    expect(JSON.parse(post.body)).toEqual({
      name: "docs",
      transport: "stdio",
      timeout_seconds: 30,
      call_timeout_seconds: 60,
      command: "npx",
      args: ["-y", "docs-mcp"],
      env: { "1BAD": "s3cret" },
    });

    refuse = false;
    fireEvent.click(screen.getByTestId("mcp-transport-http"));
    fireEvent.change(screen.getByTestId("mcp-url"), { target: { value: "https://mcp.example.com/mcp" } });
    fireEvent.click(screen.getByTestId("mcp-header-add"));
    fireEvent.change(screen.getByTestId("mcp-header-key"), { target: { value: "Authorization" } });
    fireEvent.change(screen.getByTestId("mcp-header-value"), { target: { value: "Bearer t0ken" } });
    fireEvent.click(screen.getByTestId("mcp-submit"));
    await waitFor(() => expect(screen.queryByTestId("mcp-form")).not.toBeInTheDocument());
    const second = calls.filter((c) => c.method === "POST")[1];
    expect(JSON.parse(second.body)).toEqual({
      name: "docs",
      transport: "http",
      timeout_seconds: 30,
      call_timeout_seconds: 60,
      url: "https://mcp.example.com/mcp",
      headers: { Authorization: "Bearer t0ken" },
    });
    expect(calls.filter((c) => c.method === "GET")).toHaveLength(2);
  });
});

const jobId = "0b7f2a52-1111-4c3a-9a51-5d0c3b2e7c10";
const job = {
  id: jobId,
  name: "shop",
  status: "review",
  source_url: "https://shop.example.com/openapi.json",
  base_url: "https://shop.example.com",
  error: null,
  title: "Shop API",
  version: "1.2",
  spec_version: "3.1.0",
  warnings: [],
  operations: 2,
  enabled: 2,
  has_credentials: false,
  assistant_ids: [],
  created_at: now,
  updated_at: now,
  approved_at: null,
};
const ops = [
  { index: 0, method: "get", path: "/orders/{id}", operation_id: "getOrder", tool_name: "getOrder", description: "Get an order", side_effect: "read", side_effect_reason: "GET reads", enabled: true, args_schema: {} },
  { index: 1, method: "post", path: "/orders/{id}/cancel", operation_id: "cancelOrder", tool_name: "cancelOrder", description: "Cancel an order", side_effect: "destructive", side_effect_reason: "POST named like a destructive action (cancel)", enabled: true, args_schema: {} },
];
const assistant = {
  assistant_id: "7a0c6f5e-7d49-4c1e-9d3e-3f0b1f8f0a11",
  graph_id: "support",
  name: "Support desk",
  description: null,
  config: { configurable: { tools: ["getOrder"] } },
  context: {},
  metadata: { created_by: "system" },
  version: 3,
  created_at: now,
  updated_at: now,
};

describe("OpenApiPage", () => {
  it("opens a job's review table, edits an operation with PATCH and shows a refusal", async () => {
    let conflict = true;
    const calls = mockFetch(({ method, path }) => {
      if (method === "GET" && path === "/api/v1/openapi/jobs") return json(200, [job]);
      if (method === "GET" && path === `/api/v1/openapi/jobs/${jobId}/classifications`) return json(200, ops);
      if (method === "POST" && path === "/assistants/search") return json(200, [assistant]);
      if (method === "PATCH" && path === `/api/v1/openapi/jobs/${jobId}/classifications/1`) {
        if (conflict) return json(409, { error: { code: "conflict", message: "Another operation of this import has that tool name", detail: { tool_name: "getOrder" } } });
        return json(200, { ...ops[1], side_effect: "write", side_effect_reason: "set by a reviewer", enabled: false });
      }
      if (method === "POST" && path === `/api/v1/openapi/jobs/${jobId}/approve`) return json(200, { ...job, status: "approved" });
      return notFound();
    });
    renderWith(<OpenApiPage />);
    const jobRow = await screen.findByTestId("openapi-job");
    expect(jobRow).toHaveTextContent("shop");
    expect(jobRow).toHaveTextContent("In review");
    expect(jobRow).toHaveTextContent("2 of 2 exposed");
    fireEvent.click(within(jobRow).getByTestId("openapi-open"));
    const rows = await screen.findAllByTestId("openapi-row");
    expect(rows).toHaveLength(2);
    expect(rows[1]).toHaveTextContent("POST");
    expect(rows[1]).toHaveTextContent("/orders/{id}/cancel");
    expect(rows[1]).toHaveTextContent("cancelOrder");
    expect(rows[1]).toHaveTextContent("POST named like a destructive action (cancel)");

    fireEvent.click(within(rows[1]).getByTestId("openapi-edit"));
    fireEvent.change(within(rows[1]).getByTestId("openapi-edit-tool-name"), { target: { value: "getOrder" } });
    fireEvent.click(within(rows[1]).getByTestId("openapi-edit-save"));
    expect(await screen.findByRole("alert")).toHaveTextContent("Another operation of this import has that tool name");
    expect(JSON.parse(calls.find((c) => c.method === "PATCH")!.body)).toEqual({ tool_name: "getOrder" });

    conflict = false;
    fireEvent.change(within(rows[1]).getByTestId("openapi-edit-tool-name"), { target: { value: "cancelOrder" } });
    fireEvent.change(within(rows[1]).getByTestId("openapi-edit-side-effect"), { target: { value: "write" } });
    fireEvent.click(within(rows[1]).getByTestId("openapi-edit-enabled"));
    fireEvent.click(within(rows[1]).getByTestId("openapi-edit-save"));
    await waitFor(() => expect(screen.getAllByTestId("openapi-row")[1]).toHaveTextContent("set by a reviewer"));
    const patch = calls.filter((c) => c.method === "PATCH")[1];
    expect(patch.path).toBe(`/api/v1/openapi/jobs/${jobId}/classifications/1`);
    expect(JSON.parse(patch.body)).toEqual({ side_effect: "write", enabled: false });

    fireEvent.click(await screen.findByTestId("openapi-assistant"));
    fireEvent.click(screen.getByTestId("openapi-approve"));
    await waitFor(() => expect(calls.some((c) => c.path.endsWith("/approve"))).toBe(true));
    expect(JSON.parse(calls.find((c) => c.path.endsWith("/approve"))!.body)).toEqual({ assistant_ids: [assistant.assistant_id] });
  });

  it("imports by URL with the typed body, uploads a file as multipart, and shows a refusal", async () => {
    const queued = { ...job, status: "queued", source_url: null, operations: 0, enabled: 0 };
    let jobs: object[] = [];
    let refused = false;
    const calls = mockFetch(({ method, path }) => {
      if (method === "GET" && path === "/api/v1/openapi/jobs") return json(200, jobs);
      if (method === "GET" && path === `/api/v1/openapi/jobs/${jobId}/classifications`) return json(200, []);
      if (method === "POST" && path === "/api/v1/openapi/import") return json(409, { error: { code: "conflict", message: "An import with this name exists", detail: { name: "shop" } } });
      if (method === "POST" && path === "/api/v1/openapi/import/upload") {
        if (!refused) {
          refused = true;
          return json(400, { error: { code: "bad_request", message: "invalid import fields", detail: [{ loc: ["credentials", "value"], msg: "String should have at most 10000 characters" }] } });
        }
        jobs = [queued];
        return json(202, queued);
      }
      return notFound();
    });
    renderWith(<OpenApiPage />);
    expect(await screen.findByText("No imports yet.")).toBeInTheDocument();
    fireEvent.change(screen.getByTestId("openapi-url"), { target: { value: "https://shop.example.com/openapi.json" } });
    fireEvent.change(screen.getByTestId("openapi-name"), { target: { value: "shop" } });
    fireEvent.change(screen.getByTestId("openapi-cred-kind"), { target: { value: "bearer" } });
    fireEvent.change(screen.getByTestId("openapi-cred-value"), { target: { value: "tok" } });
    fireEvent.click(screen.getByTestId("openapi-import"));
    expect(await screen.findByRole("alert")).toHaveTextContent("An import with this name exists");
    expect(JSON.parse(calls.find((c) => c.path === "/api/v1/openapi/import")!.body)).toEqual({
      url: "https://shop.example.com/openapi.json",
      name: "shop",
      credentials: { kind: "bearer", name: "Authorization", value: "tok" },
    });

    fireEvent.click(screen.getByTestId("openapi-from-file"));
    fireEvent.change(screen.getByTestId("openapi-file"), { target: { files: [new File(["openapi: 3.1.0"], "shop.yaml", { type: "application/yaml" })] } });
    fireEvent.click(screen.getByTestId("openapi-import"));
    await waitFor(() => expect(screen.getByRole("alert")).toHaveTextContent("invalid import fields — credentials.value: String should have at most 10000 characters"));
    fireEvent.click(screen.getByTestId("openapi-import"));
    expect(await screen.findByTestId("openapi-job-panel")).toHaveTextContent("The document is being read");
    expect(screen.getByTestId("openapi-job")).toHaveTextContent("Uploaded document");
    const upload = calls.filter((c) => c.path === "/api/v1/openapi/import/upload")[1];
    // A multipart form: the file part and the plain fields the endpoint reads with Form().
    expect(upload.body).toContain('Content-Disposition: form-data; name="file"');
    expect(upload.body).toMatch(/name="name"\r\n\r\nshop\r\n/);
    expect(upload.body).toMatch(/name="credentials_kind"\r\n\r\nbearer\r\n/);
    expect(upload.body).toMatch(/name="credentials_value"\r\n\r\ntok\r\n/);
  });
});

const agentSet = {
  id: 4,
  source: "api",
  created_at: now,
  document: "agents:\n  - name: orders\n",
  intents_model: "ecommerce",
  supervisor_model: null,
  escalate_intents: ["human_agent"],
  agents: [
    { name: "orders", description: "Looks orders up.", permission: "read", intents: ["order_status"], tools: ["getOrder"], bound_tools: ["getOrder"], model: "fast", limits: {} },
    { name: "refunds", description: "Refunds orders.", permission: "write", intents: ["refund"], tools: ["createRefund"], bound_tools: [], model: null, limits: { createRefund: { amount: { max: 200, min: null } } } },
  ],
};

const models = {
  default: { name: null, provider: "offline", model: "offline", endpoint: null, api_key_configured: null, problem: null },
  named: [
    { name: "fast", provider: "openai", model: "gpt-4o-mini", endpoint: null, api_key_configured: true, problem: null },
    { name: "local", provider: "vllm", model: "qwen2.5", endpoint: "http://10.0.0.7:8001", api_key_configured: false, problem: null },
    { name: "odd", provider: "nonsense", model: "x", endpoint: null, api_key_configured: null, problem: "unknown model provider 'nonsense'" },
  ],
};

describe("AssistantsPage", () => {
  it("lists the configured models: the default first, where each is called, whether its key is set, what is wrong", async () => {
    const calls = mockFetch(({ method, path }) => {
      if (method === "POST" && path === "/assistants/search") return json(200, []);
      if (method === "GET" && path === "/api/v1/support/agents") return json(200, agentSet);
      if (method === "GET" && path === "/api/v1/support/models") return json(200, models);
      return notFound();
    });
    renderWith(<AssistantsPage />);
    const rows = await screen.findAllByTestId("model-row");
    expect(rows.map((r) => r.dataset.model)).toEqual(["", "fast", "local", "odd"]);
    expect(rows[0]).toHaveTextContent("default model");
    expect(rows[0]).toHaveTextContent("not needed");
    expect(rows[1]).toHaveTextContent("gpt-4o-mini");
    expect(rows[1]).toHaveTextContent("set");
    expect(rows[2]).toHaveTextContent("http://10.0.0.7:8001");
    expect(rows[2]).toHaveTextContent("missing");
    expect(within(rows[3]).getByTestId("model-problem")).toHaveTextContent("Cannot work as configured: unknown model provider 'nonsense'");
    expect(screen.queryByTestId("models-none")).not.toBeInTheDocument();
    expect(calls.filter((c) => c.path === "/api/v1/support/models")).toHaveLength(1);
  });

  it("says when no model is named, and shows the server's message when the models cannot be read", async () => {
    let refuse = false;
    mockFetch(({ method, path }) => {
      if (method === "POST" && path === "/assistants/search") return json(200, []);
      if (method === "GET" && path === "/api/v1/support/agents") return json(200, agentSet);
      if (method === "GET" && path === "/api/v1/support/models")
        return refuse ? json(403, { error: { code: "forbidden", message: "Staff or admin role required", detail: null } }) : json(200, { ...models, named: [] });
      return notFound();
    });
    const first = renderWith(<AssistantsPage />);
    expect(await screen.findByTestId("models-none")).toHaveTextContent("LOOPDESK_LLM_MODELS");
    expect(screen.getAllByTestId("model-row")).toHaveLength(1);
    first.unmount();
    refuse = true;
    renderWith(<AssistantsPage />);
    expect(await within(screen.getByTestId("models")).findByRole("alert")).toHaveTextContent("Staff or admin role required");
    expect(screen.queryByTestId("model-row")).not.toBeInTheDocument();
  });

  it("lists assistants, validates JSON locally and PATCHes only what changed", async () => {
    let refuse = true;
    const calls = mockFetch(({ method, path }) => {
      if (method === "POST" && path === "/assistants/search") return json(200, [assistant]);
      if (method === "GET" && path === "/api/v1/support/agents") return json(200, agentSet);
      if (method === "GET" && path === "/api/v1/support/models") return json(200, models);
      if (method === "PATCH" && path === `/assistants/${assistant.assistant_id}`) {
        if (refuse) return json(403, { error: { code: "forbidden", message: "Default assistants can only be changed by an admin", detail: null }, detail: "Default assistants can only be changed by an admin" });
        return json(200, { ...assistant, name: "Desk", config: { configurable: { tools: ["getOrder", "cancelOrder"] } }, version: 4 });
      }
      return notFound();
    });
    renderWith(<AssistantsPage />);
    const row = await screen.findByTestId("assistant-row");
    expect(row).toHaveTextContent("Support desk");
    expect(row).toHaveTextContent("support");
    expect(row).toHaveTextContent("version 3");
    expect(JSON.parse(calls.find((c) => c.path === "/assistants/search")!.body)).toEqual({ limit: 50, offset: 0, sort_by: "name", sort_order: "asc" });

    fireEvent.click(within(row).getByTestId("assistant-edit"));
    fireEvent.change(within(row).getByTestId("assistant-config"), { target: { value: "[1, 2]" } });
    fireEvent.click(within(row).getByTestId("assistant-save"));
    expect(await within(row).findByRole("alert")).toHaveTextContent("This must be a JSON object");
    expect(within(row).getByTestId("assistant-config")).toHaveAttribute("aria-invalid", "true");
    expect(calls.some((c) => c.method === "PATCH")).toBe(false);

    fireEvent.change(within(row).getByTestId("assistant-name"), { target: { value: "Desk" } });
    fireEvent.change(within(row).getByTestId("assistant-config"), { target: { value: '{"configurable": {"tools": ["getOrder", "cancelOrder"]}}' } });
    fireEvent.click(within(row).getByTestId("assistant-save"));
    expect(await within(row).findByRole("alert")).toHaveTextContent("Default assistants can only be changed by an admin");
    const patch = calls.find((c) => c.method === "PATCH")!;
    expect(patch.path).toBe(`/assistants/${assistant.assistant_id}`);
    expect(JSON.parse(patch.body)).toEqual({ name: "Desk", config: { configurable: { tools: ["getOrder", "cancelOrder"] } } });

    refuse = false;
    fireEvent.click(within(row).getByTestId("assistant-save"));
    expect(await within(row).findByText("Saved as version 4.")).toBeInTheDocument();
    expect(within(row).getByText("Desk", { selector: "h3" })).toBeInTheDocument();
  });

  it("shows the support agents and their models, saves the YAML and shows the server's line", async () => {
    let invalid = true;
    const calls = mockFetch(({ method, path }) => {
      if (method === "POST" && path === "/assistants/search") return json(200, []);
      if (method === "GET" && path === "/api/v1/support/agents") return json(200, agentSet);
      if (method === "GET" && path === "/api/v1/support/models") return json(200, models);
      if (method === "PUT" && path === "/api/v1/support/agents") {
        if (invalid) return json(422, { error: { code: "invalid_agents", message: "api line 2: unknown named model 'huge'", detail: { line: 2, problem: "unknown named model 'huge'" } } });
        return json(200, { ...agentSet, id: 5, agents: [{ ...agentSet.agents[0], model: "huge" }] });
      }
      if (method === "POST" && path === "/api/v1/support/agents/reload") return json(409, { error: { code: "no_agents_file", message: "No agents file is configured (LOOPDESK_SUPPORT_AGENTS_FILE)" } });
      return notFound();
    });
    renderWith(<AssistantsPage />);
    const agents = await screen.findAllByTestId("agent-row");
    expect(agents).toHaveLength(2);
    expect(agents[0]).toHaveTextContent("orders");
    expect(agents[0]).toHaveTextContent("fast");
    expect(agents[1]).toHaveTextContent("default model");
    expect(agents[1]).toHaveTextContent("read & write");
    expect(screen.getByTestId("support-agents")).toHaveTextContent("ecommerce");

    fireEvent.click(screen.getByTestId("agents-reload"));
    expect(await screen.findByRole("alert")).toHaveTextContent("No agents file is configured");
    expect(calls.find((c) => c.path === "/api/v1/support/agents/reload")!.method).toBe("POST");

    fireEvent.click(screen.getByTestId("agents-edit"));
    const doc = "agents:\n  - name: orders\n    model: huge\n";
    fireEvent.change(screen.getByTestId("agents-document"), { target: { value: doc } });
    fireEvent.click(screen.getByTestId("agents-save"));
    expect(await screen.findByRole("alert")).toHaveTextContent("api line 2: unknown named model 'huge'");
    expect(JSON.parse(calls.find((c) => c.method === "PUT")!.body)).toEqual({ document: doc });

    invalid = false;
    fireEvent.click(screen.getByTestId("agents-save"));
    expect(await screen.findByText(/Agents saved/)).toBeInTheDocument();
    expect(screen.getAllByTestId("agent-row")).toHaveLength(1);
    expect(screen.getByTestId("agent-row")).toHaveTextContent("huge");
  });
});
