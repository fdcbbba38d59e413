import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { act, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { Route, Routes, useParams } from "react-router";
import { AuthProvider } from "../auth";
import { setLang } from "../i18n";
import { json, mockFetch, renderWith, type Call } from "../test/helpers";
import { ConversationsView } from "./ConversationsView";
import { ReplayView } from "./ReplayView";

const STAFF = "5f1d0e8a-2222-4c3a-9a51-5d0c3b2e7c10";
const OTHER = "6a2e1f9b-3333-4c3a-9a51-5d0c3b2e7c10";
const CUSTOMER = "7b3f2a0c-4444-4c3a-9a51-5d0c3b2e7c10";
const T1 = "7a0c6f5e-7d49-4c1e-9d3e-3f0b1f8f0a11";
const T2 = "8b1d7a6f-8e50-4d2f-8e4f-4a1c2a9a1b22";
const ESC = "0b7f2a52-1111-4c3a-9a51-5d0c3b2e7c10";
const ESC2 = "1c8a3b63-2222-4d4b-8b62-6e1d4c3f8d21";

const ago = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();
const user = (id: string, display_name: string, role = "staff") => ({
  id, user_id: id, email: `${display_name.split(" ")[0].toLowerCase()}@example.com`, username: null, display_name, role,
  is_active: true, created_at: ago(1000), updated_at: ago(1000), last_login_at: null,
});
const people: Record<string, ReturnType<typeof user>> = {
  [STAFF]: user(STAFF, "Sam Staff"),
  [OTHER]: user(OTHER, "Bob Staff"),
  [CUSTOMER]: user(CUSTOMER, "Ann Customer", "customer"),
};

const escalation = (over: Record<string, unknown> = {}) => ({
  id: ESC, thread_id: T1, user_id: CUSTOMER, reason: "asked for a person (refund)", kind: "requested", status: "open",
  assigned_to: null, task_id: null, created_at: ago(12), taken_at: null, closed_at: null, ...over,
});

const LAST_ACTIVITY = "2026-03-04T09:30:00Z";
const conversation = (over: Record<string, unknown> = {}) => ({
  thread_id: T1, user_id: CUSTOMER, assistant_id: null, status: "escalated", resolution: "escalated",
  agents_used: ["orders"], intents: ["refund"], messages: 4, tool_calls: 2, tool_errors: 1, tokens: 1200, cost: 0.0123,
  csat: null, csat_comment: null, taken_by: null, escalation_id: ESC, started_at: ago(60), last_activity_at: LAST_ACTIVITY,
  last_customer_at: ago(15), escalated_at: ago(12), resolved_at: null, ...over,
});

const event = (id: number, kind: string, over: Record<string, unknown> = {}) => ({
  id, at: ago(30 - id), kind, agent: null, tool: null, intent: null, actor: null, data: {}, tokens: 0, cost: 0, ...over,
});

const page = <T,>(items: T[], limit = 20) => ({ items, total: items.length, limit, offset: 0 });
/** The one call the replay's take-over makes: the thread's live escalation. */
const LIVE_OF_T1 = `/api/v1/support/inbox?thread_id=${T1}&status=open&status=taken&limit=1`;
const notFound = () => json(404, { error: { code: "not_found", message: "Not found", detail: null } });

/** Answers the look-ups every view makes (who am I, people's names, session titles); null: not one of them. */
function lookups({ method, path }: Call): Response | null {
  if (method !== "GET") return null;
  if (path === "/api/v1/users/me") return json(200, people[STAFF]);
  const person = /^\/api\/v1\/users\/([\w-]+)$/.exec(path);
  if (person) return people[person[1]] ? json(200, people[person[1]]) : notFound();
  if (path === `/api/v1/sessions/${T1}`) return json(200, { session_id: T1, thread_id: T1, title: "Refund for order A1002" });
  if (path.startsWith("/api/v1/sessions/")) return notFound();
  return null;
}

function Probe() {
  const { threadId } = useParams();
  return <p data-testid="probe">replay of {threadId}</p>;
}

const renderList = () =>
  renderWith(
    <AuthProvider>
      <Routes>
        <Route path="/conversations" element={<ConversationsView />} />
        <Route path="/conversations/:threadId" element={<Probe />} />
      </Routes>
    </AuthProvider>,
    "/conversations",
  );

const renderReplay = () =>
  renderWith(
    <AuthProvider>
      <Routes>
        <Route path="/conversations/:threadId" element={<ReplayView />} />
      </Routes>
    </AuthProvider>,
    `/conversations/${T1}`,
  );

const posts = (calls: Call[]) => calls.filter((c) => c.method === "POST");

describe("ConversationsView", () => {
  beforeEach(() => setLang("en"));
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it("lists the inbox and the conversations, filters them, and Take posts to the escalation then opens it", async () => {
    const calls = mockFetch((call) => {
      const known = lookups(call);
      if (known) return known;
      const { method, path } = call;
      if (method === "GET" && path === "/api/v1/support/inbox?status=open&status=taken&limit=100")
        return json(200, page([escalation(), escalation({ id: ESC2, thread_id: T2, status: "taken", assigned_to: OTHER, taken_at: ago(5) })], 100));
      if (method === "GET" && path === "/api/v1/support/inbox?status=closed&limit=100") return json(200, page([], 100));
      if (method === "GET" && path.startsWith("/api/v1/conversations?"))
        return json(200, page(path.includes("status=human") ? [] : [conversation(), conversation({ thread_id: T2, status: "human", csat: 4, escalation_id: ESC2 })]));
      if (method === "POST" && path === `/api/v1/support/escalations/${ESC}/take`) return json(200, escalation({ status: "taken", assigned_to: STAFF }));
      return json(500, { error: { code: "unexpected", message: `unexpected ${method} ${path}` } });
    });
    renderList();

    const inbox = await screen.findAllByTestId("inbox-row");
    expect(inbox).toHaveLength(2);
    await waitFor(() => expect(inbox[0]).toHaveTextContent("Ann Customer"));
    expect(inbox[0]).toHaveTextContent("asked for a person (refund)");
    expect(inbox[0]).toHaveTextContent("Asked for a person");
    expect(inbox[0]).toHaveTextContent("12 minutes ago");
    await waitFor(() => expect(inbox[1]).toHaveTextContent("Taken by Bob Staff"));
    expect(within(inbox[1]).queryByTestId("inbox-take")).not.toBeInTheDocument();
    // Waiting and taken in one call: no second request, no merging of two pages.
    expect(calls.filter((c) => c.path.startsWith("/api/v1/support/inbox")).map((c) => c.path)).toEqual([
      "/api/v1/support/inbox?status=open&status=taken&limit=100",
    ]);
    expect(screen.getByTestId("inbox-count")).toHaveTextContent("2 in this list");
    fireEvent.change(screen.getByTestId("inbox-mode"), { target: { value: "closed" } });
    expect(await screen.findByTestId("inbox-empty")).toBeInTheDocument();
    fireEvent.change(screen.getByTestId("inbox-mode"), { target: { value: "live" } });
    expect(await screen.findAllByTestId("inbox-row")).toHaveLength(2);

    const rows = await screen.findAllByTestId("conversations-row");
    expect(rows).toHaveLength(2);
    expect(calls.find((c) => c.path.startsWith("/api/v1/conversations?"))!.path).toBe("/api/v1/conversations?limit=20&offset=0");
    const link = await within(rows[0]).findByText("Refund for order A1002");
    expect(link.closest("a")).toHaveAttribute("href", `/conversations/${T1}`);
    expect(rows[1].querySelector("a")).toHaveAttribute("href", `/conversations/${T2}`);
    expect(rows[1]).toHaveTextContent(`Conversation ${T2.slice(0, 8)}`);
    expect(rows[0]).toHaveTextContent("Escalated");
    expect(rows[0]).toHaveTextContent("1 failed");
    expect(rows[1]).toHaveTextContent("With a person");
    expect(rows[1]).toHaveTextContent("★ 4");
    const when = new Intl.DateTimeFormat("en", { dateStyle: "medium", timeStyle: "short" }).format(new Date(LAST_ACTIVITY));
    expect(rows[0]).toHaveTextContent(when);

    fireEvent.change(screen.getByTestId("conversations-status"), { target: { value: "human" } });
    expect(await screen.findByTestId("conversations-empty")).toBeInTheDocument();
    expect(calls.some((c) => c.path === "/api/v1/conversations?status=human&limit=20&offset=0")).toBe(true);

    fireEvent.click(within((await screen.findAllByTestId("inbox-row"))[0]).getByTestId("inbox-take"));
    expect(await screen.findByTestId("probe")).toHaveTextContent(`replay of ${T1}`);
    expect(posts(calls)).toEqual([{ method: "POST", path: `/api/v1/support/escalations/${ESC}/take`, body: "" }]);
  });

  it("takes a waiting conversation over from the list by the escalation its record names", async () => {
    const calls = mockFetch((call) => {
      const known = lookups(call);
      if (known) return known;
      const { method, path } = call;
      if (path.startsWith("/api/v1/support/inbox?")) return json(200, page([], 100));
      if (method === "GET" && path.startsWith("/api/v1/conversations?"))
        return json(200, page([
          conversation(),
          conversation({ thread_id: T2, status: "human", taken_by: OTHER, escalation_id: ESC2 }),
          conversation({ thread_id: "9c2e8b74-3333-4e5c-9c73-7f2e5d4a9e32", status: "active", resolution: null, escalation_id: null }),
        ]));
      if (method === "POST" && path === `/api/v1/support/escalations/${ESC}/take`) return json(200, escalation({ status: "taken", assigned_to: STAFF }));
      return json(500, { error: { code: "unexpected", message: `unexpected ${method} ${path}` } });
    });
    renderList();

    const rows = await screen.findAllByTestId("conversations-row");
    expect(rows).toHaveLength(3);
    // Only a waiting escalation is taken from here: one with a person already, or none, offers nothing.
    expect(within(rows[1]).queryByTestId("conversations-take")).not.toBeInTheDocument();
    expect(within(rows[2]).queryByTestId("conversations-take")).not.toBeInTheDocument();
    const take = within(rows[0]).getByTestId("conversations-take");
    await waitFor(() => expect(take).toHaveAccessibleName("Take over Refund for order A1002"));
    fireEvent.click(take);
    expect(await screen.findByTestId("probe")).toHaveTextContent(`replay of ${T1}`);
    expect(posts(calls)).toEqual([{ method: "POST", path: `/api/v1/support/escalations/${ESC}/take`, body: "" }]);
  });

  it("shows why a take from the list failed and stays on the list", async () => {
    mockFetch((call) => {
      const known = lookups(call);
      if (known) return known;
      if (call.path.startsWith("/api/v1/support/inbox?")) return json(200, page([], 100));
      if (call.path.startsWith("/api/v1/conversations?")) return json(200, page([conversation()]));
      if (call.path.endsWith("/take"))
        return json(409, { error: { code: "escalation_closed", message: "This escalation is closed", detail: null } });
      return notFound();
    });
    renderList();
    fireEvent.click(await screen.findByTestId("conversations-take"));
    expect(await screen.findByText("This escalation is closed")).toHaveAttribute("role", "alert");
    expect(screen.queryByTestId("probe")).not.toBeInTheDocument();
  });

  it("shows the server's message when the list cannot be read or a take fails", async () => {
    mockFetch((call) => {
      const known = lookups(call);
      if (known) return known;
      if (call.path.startsWith("/api/v1/support/inbox?status=open")) return json(200, page([escalation()], 100));
      if (call.path.startsWith("/api/v1/support/inbox")) return json(200, page([], 100));
      if (call.path.startsWith("/api/v1/conversations?"))
        return json(422, { error: { code: "validation_error", message: "limit: must be at most 200", detail: null } });
      if (call.path.endsWith("/take"))
        return json(409, { error: { code: "already_taken", message: "Another staff member has taken this conversation", detail: null } });
      return notFound();
    });
    renderList();
    expect(await screen.findByText("limit: must be at most 200")).toHaveAttribute("role", "alert");
    fireEvent.click(await screen.findByTestId("inbox-take"));
    expect(await screen.findByText("Another staff member has taken this conversation")).toHaveAttribute("role", "alert");
    expect(screen.queryByTestId("probe")).not.toBeInTheDocument();
  });
});

describe("ReplayView", () => {
  beforeEach(() => setLang("en"));
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it("pages through the replay, shows events by kind, the filter hides others and survives new events", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const first = [
      event(1, "message", { actor: { id: CUSTOMER, display_name: "Ann Customer" }, data: { role: "user", text: "Where is my refund?" } }),
      event(2, "handoff", { agent: "orders", intent: "refund", data: { request: "refund status" } }),
      event(3, "tool_call", { tool: "getRefund", data: { args: { order_id: "A1002" }, status: "failed", error: true, result: { message: "backend down" } } }),
    ];
    const second = [
      event(4, "escalated", { data: { reason: "asked for a person (refund)", kind: "requested", escalation_id: ESC } }),
      event(5, "usage", { agent: "orders", tokens: 900, cost: 0.01 }),
    ];
    let later: ReturnType<typeof event>[] = [];
    const calls = mockFetch((call) => {
      const known = lookups(call);
      if (known) return known;
      const { path } = call;
      if (path === `/api/v1/conversations/${T1}`) return json(200, conversation());
      if (path === `/api/v1/replay/${T1}?limit=500`) return json(200, { thread_id: T1, items: first, next_cursor: "3" });
      if (path === `/api/v1/replay/${T1}?limit=500&cursor=3`) return json(200, { thread_id: T1, items: second, next_cursor: null });
      if (path === `/api/v1/replay/${T1}?limit=500&cursor=5`) return json(200, { thread_id: T1, items: later, next_cursor: null });
      if (path.startsWith("/api/v1/support/inbox")) return json(200, page([], 200));
      return json(500, { error: { code: "unexpected", message: `unexpected ${call.method} ${path}` } });
    });
    renderReplay();

    await waitFor(() => expect(screen.getAllByTestId("replay-event")).toHaveLength(5));
    const kinds = () => screen.getAllByTestId("replay-event").map((e) => e.getAttribute("data-kind"));
    expect(kinds()).toEqual(["message", "handoff", "tool_call", "escalated", "usage"]);
    const tool = screen.getAllByTestId("replay-event")[2];
    expect(tool).toHaveTextContent("getRefund");
    expect(tool).toHaveTextContent("failed");
    expect(within(tool).getByText("Arguments").closest("details")).toHaveTextContent('"order_id": "A1002"');
    expect(screen.getAllByTestId("replay-event")[0]).toHaveTextContent("Where is my refund?");
    expect(await screen.findByTestId("replay-header")).toHaveTextContent("Escalated");
    expect((await screen.findByText("Refund for order A1002")).tagName).toBe("H1");
    expect(screen.getByTestId("replay-back")).toHaveAttribute("href", "/conversations");

    fireEvent.click(within(screen.getByTestId("replay-filter")).getByLabelText(/Tool call/));
    expect(kinds()).toEqual(["message", "handoff", "escalated", "usage"]);
    fireEvent.click(within(screen.getByTestId("replay-filter")).getByLabelText(/Model usage/));
    expect(kinds()).toEqual(["message", "handoff", "escalated"]);

    later = [
      event(6, "tool_call", { tool: "getRefund", data: { args: { order_id: "A1002" }, status: "succeeded", result: {} } }),
      event(7, "message", { agent: "orders", data: { role: "assistant", text: "A person will help you shortly." } }),
    ];
    await act(async () => {
      vi.advanceTimersByTime(5000);
    });
    await waitFor(() => expect(kinds()).toEqual(["message", "handoff", "escalated", "message"]));
    expect(screen.getByText("A person will help you shortly.")).toBeInTheDocument();
    expect(within(screen.getByTestId("replay-filter")).getByLabelText(/Tool call/)).not.toBeChecked();
    expect(calls.filter((c) => c.path === `/api/v1/replay/${T1}?limit=500`)).toHaveLength(1);
  });

  it("takes over, replies with the typed text, shows the reply, and releases", async () => {
    let state: "open" | "taken" | "closed" = "open";
    const events = [event(1, "escalated", { data: { reason: "asked for a person (refund)", kind: "requested" } })];
    const calls = mockFetch((call) => {
      const known = lookups(call);
      if (known) return known;
      const { method, path, body } = call;
      if (path === `/api/v1/conversations/${T1}`)
        return json(200, conversation(state === "taken" ? { status: "human", taken_by: STAFF } : state === "closed" ? { status: "active", escalation_id: null } : {}));
      if (path.startsWith(`/api/v1/replay/${T1}`)) {
        const after = Number(new URL(path, "http://x").searchParams.get("cursor") ?? 0);
        return json(200, { thread_id: T1, items: events.filter((e) => e.id > after), next_cursor: null });
      }
      if (path === LIVE_OF_T1) {
        const live = { open: [escalation()], taken: [escalation({ status: "taken", assigned_to: STAFF })], closed: [] }[state];
        return json(200, page(live, 1));
      }
      if (method === "POST" && path === `/api/v1/support/escalations/${ESC}/take`) {
        state = "taken";
        events.push(event(2, "takeover", { actor: { id: STAFF, display_name: "Sam Staff" }, data: { escalation_id: ESC, staff: "Sam Staff" } }));
        return json(200, escalation({ status: "taken", assigned_to: STAFF }));
      }
      if (method === "POST" && path === `/api/v1/support/conversations/${T1}/reply`) {
        const text = (JSON.parse(body) as { text: string }).text;
        events.push(event(3, "message", { actor: { id: STAFF, display_name: "Sam Staff" }, data: { role: "staff", text, staff_name: "Sam Staff" } }));
        return json(200, { event_id: 3, run_id: "9c9d0e1f-5555-4c3a-9a51-5d0c3b2e7c10" });
      }
      if (method === "POST" && path === `/api/v1/support/escalations/${ESC}/release`) {
        state = "closed";
        return json(200, escalation({ status: "closed", assigned_to: STAFF }));
      }
      return json(500, { error: { code: "unexpected", message: `unexpected ${method} ${path}` } });
    });
    renderReplay();

    expect(await screen.findByTestId("takeover-state")).toHaveTextContent("asked for a person (refund)");
    expect(screen.queryByTestId("takeover-reply-input")).not.toBeInTheDocument();
    fireEvent.click(screen.getByTestId("takeover-take"));

    const input = await screen.findByLabelText("Reply to the customer");
    expect(input).toBe(screen.getByTestId("takeover-reply-input"));
    expect(screen.getByTestId("takeover-state")).toHaveTextContent("You have this conversation");
    fireEvent.change(input, { target: { value: "  Hello Ann, I am looking at your refund now.  " } });
    fireEvent.click(screen.getByTestId("takeover-send"));

    expect(await screen.findByText("Reply sent.")).toBeInTheDocument();
    const reply = await screen.findByText("Hello Ann, I am looking at your refund now.");
    expect(reply.closest("[data-testid=replay-event]")).toHaveAttribute("data-kind", "message");
    expect(reply.closest("[data-testid=replay-event]")).toHaveTextContent("Staff · Sam Staff");
    expect(screen.getByTestId("takeover-reply-input")).toHaveValue("");
    expect(calls.filter((c) => c.path.startsWith("/api/v1/support/inbox")).every((c) => c.path === LIVE_OF_T1)).toBe(true);
    expect(posts(calls).map((c) => [c.path, c.body])).toEqual([
      [`/api/v1/support/escalations/${ESC}/take`, ""],
      [`/api/v1/support/conversations/${T1}/reply`, JSON.stringify({ text: "Hello Ann, I am looking at your refund now." })],
    ]);

    fireEvent.click(screen.getByTestId("takeover-release"));
    expect(await screen.findByTestId("takeover-escalate")).toBeInTheDocument();
    expect(posts(calls)[2]).toEqual({ method: "POST", path: `/api/v1/support/escalations/${ESC}/release`, body: JSON.stringify({ close: false }) });
    expect(screen.queryByTestId("takeover-reply-input")).not.toBeInTheDocument();
  });

  it("reads the take-over again at once when the record names another escalation", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    let live: string | null = null; // the record's escalation_id, and what the inbox answers for the thread
    const calls = mockFetch((call) => {
      const known = lookups(call);
      if (known) return known;
      if (call.path === `/api/v1/conversations/${T1}`)
        return json(200, conversation({ status: live ? "escalated" : "active", resolution: null, escalation_id: live }));
      if (call.path.startsWith(`/api/v1/replay/${T1}`)) return json(200, { thread_id: T1, items: [], next_cursor: null });
      if (call.path === LIVE_OF_T1) return json(200, page(live ? [escalation()] : [], 1));
      return notFound();
    });
    const asked = () => calls.filter((c) => c.path === LIVE_OF_T1).length;
    renderReplay();
    expect(await screen.findByTestId("takeover-escalate")).toBeInTheDocument();
    await act(async () => {
      vi.advanceTimersByTime(5000);
    });
    await waitFor(() => expect(calls.filter((c) => c.path === `/api/v1/conversations/${T1}`)).toHaveLength(2));
    expect(asked()).toBe(2); // the first load and one poll: the header's first answer asks for nothing more

    live = ESC; // someone escalated meanwhile
    await act(async () => {
      vi.advanceTimersByTime(5000);
    });
    expect(await screen.findByTestId("takeover-state")).toHaveTextContent("asked for a person (refund)");
    await waitFor(() => expect(asked()).toBe(4)); // its poll, and once more when the header named the escalation
  });

  it("escalates a conversation with the typed reason and shows the server's message when it fails", async () => {
    const calls = mockFetch((call) => {
      const known = lookups(call);
      if (known) return known;
      if (call.path === `/api/v1/conversations/${T1}`) return json(200, conversation({ status: "active", resolution: null, escalated_at: null }));
      if (call.path.startsWith(`/api/v1/replay/${T1}`)) return json(200, { thread_id: T1, items: [], next_cursor: null });
      if (call.path.startsWith("/api/v1/support/inbox")) return json(200, page([], 200));
      if (call.path.endsWith("/escalate"))
        return json(404, { error: { code: "conversation_not_found", message: "Conversation not found", detail: { thread_id: T1 } } });
      return notFound();
    });
    renderReplay();
    expect(await screen.findByText("Nothing has happened in this conversation yet.")).toBeInTheDocument();
    fireEvent.change(await screen.findByLabelText("Reason (optional)"), { target: { value: "customer is upset" } });
    fireEvent.click(screen.getByTestId("takeover-escalate"));
    expect(await screen.findByTestId("takeover-error")).toHaveTextContent("Conversation not found");
    expect(posts(calls)).toEqual([
      { method: "POST", path: `/api/v1/support/conversations/${T1}/escalate`, body: JSON.stringify({ reason: "customer is upset" }) },
    ]);
  });
});
