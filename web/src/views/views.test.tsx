import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fireEvent, screen, waitFor } from "@testing-library/react";
import { setLang } from "../i18n";
import { json, mockFetch, renderWith } from "../test/helpers";
import { ApprovalsView } from "./ApprovalsView";
import { LoginView } from "./LoginView";
import { AuthProvider } from "../auth";

const approval = {
  id: "0b7f2a52-1111-4c3a-9a51-5d0c3b2e7c10",
  thread_id: "7a0c6f5e-7d49-4c1e-9d3e-3f0b1f8f0a11",
  run_id: "r1",
  assistant_id: "support",
  requester_id: "5f1d0e8a-2222-4c3a-9a51-5d0c3b2e7c10",
  tool_call_id: "call-1",
  tool_name: "cancelOrder",
  side_effect: "write",
  description: "Cancel order A1002",
  args: { order_id: "A1002" },
  edited_args: null,
  status: "pending",
  decision_message: null,
  decided_by: null,
  decided_via: null,
  decided_at: null,
  created_at: new Date().toISOString(),
  expires_at: new Date(Date.now() + 10 * 60_000).toISOString(),
};

describe("ApprovalsView", () => {
  beforeEach(() => setLang("en"));
  afterEach(() => vi.unstubAllGlobals());

  it("lists pending approvals and approves one through the typed client", async () => {
    let decided = false;
    const calls = mockFetch(({ method, path }) => {
      if (method === "GET" && path.startsWith("/api/v1/approvals")) return json(200, { items: decided ? [] : [approval], total: 1, limit: 100, offset: 0 });
      if (method === "POST" && path === `/api/v1/approvals/${approval.id}/approve`) {
        decided = true;
        return json(200, { ...approval, status: "approved" });
      }
      return json(404, { error: { code: "not_found", message: "nope" } });
    });
    renderWith(<ApprovalsView />);
    const item = await screen.findByTestId("approvals-item");
    expect(item).toHaveTextContent("cancelOrder");
    expect(item).toHaveTextContent("Cancel order A1002");
    expect(item).toHaveTextContent(/\d\d:\d\d left/);
    expect(calls[0].path).toBe("/api/v1/approvals?status=pending&limit=100");

    fireEvent.click(screen.getByTestId("approval-approve"));
    await waitFor(() => expect(screen.queryByTestId("approvals-item")).not.toBeInTheDocument());
    expect(calls.some((c) => c.method === "POST" && c.path.endsWith("/approve"))).toBe(true);
    expect(await screen.findByTestId("approvals-empty")).toBeInTheDocument();
  });

  it("shows the server's error message when a rejection fails", async () => {
    const calls = mockFetch(({ method, path }) => {
      if (method === "GET") return json(200, { items: [approval], total: 1, limit: 100, offset: 0 });
      if (path.endsWith("/reject")) return json(409, { error: { code: "approval_decided", message: "Already decided by someone else", detail: null } });
      return json(500, {});
    });
    renderWith(<ApprovalsView />);
    fireEvent.click(await screen.findByTestId("approval-reject"));
    fireEvent.change(screen.getByLabelText("Reason (optional)"), { target: { value: "not allowed" } });
    fireEvent.click(screen.getByTestId("approval-reject-confirm"));
    expect(await screen.findByRole("alert")).toHaveTextContent("Already decided by someone else");
    const reject = calls.find((c) => c.path.endsWith("/reject"));
    expect(JSON.parse(reject!.body)).toEqual({ message: "not allowed" });
  });
});

describe("LoginView", () => {
  beforeEach(() => setLang("en"));
  afterEach(() => vi.unstubAllGlobals());

  it("sends a username or an e-mail and shows the server's message on failure", async () => {
    const calls = mockFetch(({ path }) => {
      if (path === "/api/v1/users/me") return json(401, { error: { code: "not_authenticated", message: "Not authenticated" } });
      return json(401, { error: { code: "invalid_credentials", message: "Incorrect email or password" } });
    });
    renderWith(<AuthProvider><LoginView /></AuthProvider>);
    fireEvent.change(screen.getByTestId("login-email"), { target: { value: "ann@example.com" } });
    fireEvent.change(screen.getByTestId("login-password"), { target: { value: "secret" } });
    fireEvent.click(screen.getByTestId("login-submit"));
    expect(await screen.findByRole("alert")).toHaveTextContent("Incorrect email or password");
    const login = calls.find((c) => c.path === "/api/v1/auth/login")!;
    expect(JSON.parse(login.body)).toEqual({ email: "ann@example.com", password: "secret" });

    fireEvent.change(screen.getByTestId("login-email"), { target: { value: "ann" } });
    fireEvent.click(screen.getByTestId("login-submit"));
    await waitFor(() => expect(calls.filter((c) => c.path === "/api/v1/auth/login")).toHaveLength(2));
    expect(JSON.parse(calls.filter((c) => c.path === "/api/v1/auth/login")[1].body)).toEqual({ username: "ann", password: "secret" });
  });
});
