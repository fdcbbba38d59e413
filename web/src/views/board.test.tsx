import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { Route, Routes, useLocation } from "react-router";
import type { Schemas, Task, TaskEvent } from "../api/client";
import { AuthProvider } from "../auth";
import { setLang } from "../i18n";
import { json, mockFetch, renderWith, type Call } from "../test/helpers";
import { BoardView } from "./BoardView";
import { TaskDetailView } from "./TaskDetailView";
import { TRANSITIONS, nextMoves } from "./workflow";

const ME = "5f1d0e8a-2222-4c3a-9a51-5d0c3b2e7c10";
const ERIN = "6a2e1f9b-3333-4c3a-9a51-5d0c3b2e7c11";
const OMAR = "7b3f2a0c-4444-4c3a-9a51-5d0c3b2e7c12";
const TEAM = "8c4a3b1d-5555-4c3a-9a51-5d0c3b2e7c13";
const now = new Date().toISOString();

const me: Schemas["UserRead"] = {
  id: ME, user_id: ME, email: "sam@example.com", username: "sam", display_name: "Sam Staff", role: "staff",
  is_active: true, created_at: now, updated_at: now, last_login_at: null,
};
const people: Record<string, string> = { [ERIN]: "Erin Engineer", [OMAR]: "Omar Ops" };
const team: Schemas["TeamRead"] = {
  id: TEAM, name: "Payments", description: "", region: null, lead_id: OMAR, created_at: now, updated_at: now,
  members: [ERIN, OMAR].map((user_id) => ({ user_id, skills: [], timezone: "UTC", on_call: [], active: true, on_duty: true })),
};

function task(over: Partial<Task>): Task {
  return {
    id: "0b7f2a52-1111-4c3a-9a51-5d0c3b2e7c10", task_number: "FB-2026-000001", title: "Checkout fails", description: "Paying fails with a gateway timeout",
    issue_type: "bug", severity: "high", category: "payment", language: "en", region: "domestic", region_reason: null,
    priority_score: 80, priority_level: "P1", priority_reason: null, source_channel: "web", reporter_id: "9d5b4c2e-6666-4c3a-9a51-5d0c3b2e7c14",
    affected_modules: ["payment"], log_analysis: null, root_cause_hypothesis: null, resolution_plan: null, person_feedback: null,
    team_id: TEAM, assignee_id: ERIN, workflow_stage: "plan_review", sla_deadline: new Date(Date.now() + 86_400_000).toISOString(),
    resolved_at: null, closed_at: null, duplicate_of: null, reporter_count: 1, csat: null, csat_comment: null, stage_entered_at: now,
    first_response_at: null, reopen_count: 0, escalation_level: 0, archived_at: null, created_at: now, updated_at: now, joined: false,
    ...over,
  };
}

const review = task({});
const working = task({ id: "1c8e3b63-2222-4c3a-9a51-5d0c3b2e7c20", task_number: "FB-2026-000002", title: "Orders page slow", workflow_stage: "in_progress" });

/** A small server: the task list (as it now is), users, teams; `extra` answers the rest (null: 404). */
function server(tasks: Task[] | (() => Task[]), extra: (call: Call) => Response | null = () => null) {
  return mockFetch((call) => {
    const { method, path } = call;
    if (path === "/api/v1/users/me") return json(200, me);
    const user = path.match(/^\/api\/v1\/users\/([0-9a-f-]+)$/);
    if (user && people[user[1]]) return json(200, { ...me, id: user[1], user_id: user[1], display_name: people[user[1]] });
    if (path === "/api/v1/teams") return json(200, [team]);
    const items = typeof tasks === "function" ? tasks() : tasks;
    if (method === "GET" && path.startsWith("/api/v1/tasks?")) return json(200, { items, total: items.length, limit: 200, offset: 0 });
    return extra(call) ?? json(404, { error: { code: "not_found", message: "Not found" } });
  });
}

const column = (stage: string) => screen.getAllByTestId("board-column").find((c) => c.dataset.stage === stage)!;
const card = (title: string) => screen.getAllByTestId("board-card").find((c) => c.textContent?.includes(title))!;
const posts = (calls: Call[]) => calls.filter((c) => c.method === "POST");

function Where() {
  const location = useLocation();
  return <output data-testid="where">{location.search}</output>;
}

describe("workflow table", () => {
  it("offers only steps the server's table allows, by who the caller is", () => {
    for (const stage of Object.keys(TRANSITIONS) as (keyof typeof TRANSITIONS)[]) {
      const moves = nextMoves(task({ workflow_stage: stage }), { id: ME, role: "admin" });
      for (const move of moves) expect(TRANSITIONS[stage]).toContain(move.to);
    }
    expect(nextMoves(task({ workflow_stage: "in_progress" }), { id: ME, role: "staff" })).toEqual([{ to: "feedback_pending", action: "requestUpdate" }]);
    expect(nextMoves(task({ workflow_stage: "in_progress" }), { id: ERIN, role: "staff" }).map((m) => m.to)).toEqual(["feedback_pending", "resolved"]);
    expect(nextMoves(task({ workflow_stage: "closed", assignee_id: null }), me).map((m) => m.to)).toEqual(["plan_review"]);
    expect(nextMoves(task({ workflow_stage: "received" }), me)).toEqual([]);
  });
});

describe("BoardView", () => {
  beforeEach(() => setLang("en"));
  afterEach(() => vi.unstubAllGlobals());

  it("dropping a card on an allowed column sends the plan review and moves the card there", async () => {
    let tasks = [review, working];
    const calls = server(() => tasks, ({ method, path }) => {
      if (method === "POST" && path === `/api/v1/tasks/${review.id}/review`) {
        const moved = { ...review, workflow_stage: "assigned" as const };
        tasks = [moved, working];
        return json(200, moved);
      }
      return null;
    });
    renderWith(<AuthProvider><BoardView /></AuthProvider>, "/board");
    await screen.findByText("Checkout fails");
    await waitFor(() => expect(calls.some((c) => c.path === "/api/v1/users/me")).toBe(true));

    fireEvent.dragStart(card("Checkout fails"));
    await waitFor(() => expect(column("assigned").dataset.drop).toBe("allowed"));
    expect(column("rejected").dataset.drop).toBe("allowed");
    expect(column("closed").dataset.drop).toBe("refused");
    expect(fireEvent.dragOver(column("assigned"))).toBe(false); // default prevented: the drop is accepted
    fireEvent.drop(column("assigned"));

    const dialog = await screen.findByTestId("move-dialog");
    expect(dialog).toHaveTextContent("Move FB-2026-000001 to Assigned");
    fireEvent.change(within(dialog).getByTestId("move-note"), { target: { value: "Plan looks right" } });
    fireEvent.click(within(dialog).getByTestId("move-confirm"));

    await waitFor(() => expect(within(column("assigned")).getByText("Checkout fails")).toBeInTheDocument());
    expect(within(column("plan_review")).queryByText("Checkout fails")).not.toBeInTheDocument();
    expect(screen.queryByTestId("move-dialog")).not.toBeInTheDocument();
    const sent = posts(calls);
    expect(sent).toHaveLength(1);
    expect(sent[0].path).toBe(`/api/v1/tasks/${review.id}/review`);
    expect(JSON.parse(sent[0].body)).toEqual({ action: "approve", reason: "Plan looks right" });
    expect(screen.getByTestId("board-notice")).toHaveTextContent("FB-2026-000001 moved to Assigned.");
  });

  it("a column that is not a next stage refuses the drop: nothing is sent", async () => {
    const calls = server([review, working]);
    renderWith(<AuthProvider><BoardView /></AuthProvider>, "/board");
    await screen.findByText("Checkout fails");
    await waitFor(() => expect(calls.some((c) => c.path === "/api/v1/users/me")).toBe(true));

    fireEvent.dragStart(card("Checkout fails"));
    await waitFor(() => expect(column("closed").dataset.drop).toBe("refused"));
    expect(fireEvent.dragOver(column("closed"))).toBe(true); // not prevented: the browser refuses the drop
    fireEvent.drop(column("closed"));
    fireEvent.dragStart(card("Checkout fails"));
    fireEvent.drop(column("plan_review")); // its own column is no next stage either
    expect(screen.queryByTestId("move-dialog")).not.toBeInTheDocument();
    expect(posts(calls)).toHaveLength(0);
    expect(within(column("plan_review")).getByText("Checkout fails")).toBeInTheDocument();
  });

  it("the Move to… menu lists only allowed stages; a refused move shows the server's message and the card stays", async () => {
    const calls = server([review, working], ({ method, path }) =>
      method === "POST" && path === `/api/v1/tasks/${working.id}/request-update`
        ? json(409, { error: { code: "invalid_transition", message: "The task is not at a stage where this action applies", detail: null } })
        : null,
    );
    renderWith(<AuthProvider><BoardView /></AuthProvider>, "/board");
    await screen.findByText("Orders page slow");
    await waitFor(() => expect(within(card("Checkout fails")).getByTestId("card-move")).toBeInTheDocument());

    const options = (title: string) => within(card(title)).getAllByTestId(/^card-move-/).map((o) => o.getAttribute("data-testid"));
    expect(options("Checkout fails")).toEqual(["card-move-assigned", "card-move-rejected"]);
    // Sam is staff but not the assignee: only the request for an update, not the assignee's progress.
    expect(options("Orders page slow")).toEqual(["card-move-feedback_pending"]);
    expect(within(card("Checkout fails")).getByTestId("board-card-open")).toHaveAttribute("href", "/board/FB-2026-000001");

    fireEvent.change(within(card("Orders page slow")).getByTestId("card-move"), { target: { value: "feedback_pending" } });
    const dialog = await screen.findByTestId("move-dialog");
    fireEvent.click(within(dialog).getByTestId("move-confirm"));
    expect(await within(dialog).findByText("The task is not at a stage where this action applies")).toHaveAttribute("role", "alert");
    const sent = posts(calls);
    expect(sent.map((c) => c.path)).toEqual([`/api/v1/tasks/${working.id}/request-update`]);
    expect(JSON.parse(sent[0].body)).toEqual({});
    expect(within(column("in_progress")).getByText("Orders page slow")).toBeInTheDocument();

    // A rejection needs its reason before anything is sent.
    fireEvent.click(within(dialog).getByTestId("move-cancel"));
    fireEvent.change(within(card("Checkout fails")).getByTestId("card-move"), { target: { value: "rejected" } });
    expect(within(await screen.findByTestId("move-dialog")).getByTestId("move-confirm")).toBeDisabled();
  });

  it("keeps the filters in the URL and sends them as GET /api/v1/tasks query parameters", async () => {
    const calls = server([review]);
    renderWith(<AuthProvider><BoardView /><Where /></AuthProvider>, "/board?region=domestic&priority=P1&bogus=1");
    await screen.findByText("Checkout fails");
    expect(calls.find((c) => c.path.startsWith("/api/v1/tasks?"))!.path).toBe("/api/v1/tasks?limit=200&region=domestic&priority_level=P1");
    expect(screen.getByTestId("filter-region")).toHaveValue("domestic");

    fireEvent.change(screen.getByTestId("filter-type"), { target: { value: "bug" } });
    await waitFor(() => expect(calls.some((c) => c.path === "/api/v1/tasks?limit=200&region=domestic&priority_level=P1&issue_type=bug")).toBe(true));
    fireEvent.change(screen.getByTestId("filter-q"), { target: { value: "gateway" } });
    fireEvent.submit(screen.getByTestId("filter-q").closest("form")!);
    await waitFor(() => expect(calls.some((c) => c.path === "/api/v1/tasks?limit=200&q=gateway&region=domestic&priority_level=P1&issue_type=bug")).toBe(true));
    expect(screen.getByTestId("where").textContent).toBe("?region=domestic&priority=P1&bogus=1&type=bug&q=gateway");

    await waitFor(() => expect(screen.getByTestId("filter-assignee")).toHaveTextContent("Erin Engineer"));
    fireEvent.change(screen.getByTestId("filter-assignee"), { target: { value: ERIN } });
    await waitFor(() => expect(calls.some((c) => c.path.endsWith(`&assignee=${ERIN}`))).toBe(true));
    fireEvent.click(screen.getByTestId("filter-clear"));
    await waitFor(() => expect(calls[calls.length - 1].path).toBe("/api/v1/tasks?limit=200"));
  });

  it("filters by category and team, kept in the URL like the others", async () => {
    const calls = server([review]);
    renderWith(<AuthProvider><BoardView /><Where /></AuthProvider>, "/board?category=payment&team=not-a-team");
    await screen.findByText("Checkout fails");
    // A category the list does not know is kept as given; a team that is not an id is not sent.
    expect(calls.find((c) => c.path.startsWith("/api/v1/tasks?"))!.path).toBe("/api/v1/tasks?limit=200&category=payment");
    expect(screen.getByTestId("filter-category")).toHaveValue("payment");

    await waitFor(() => expect(screen.getByTestId("filter-team")).toHaveTextContent("Payments"));
    fireEvent.change(screen.getByTestId("filter-team"), { target: { value: TEAM } });
    await waitFor(() => expect(calls.some((c) => c.path === `/api/v1/tasks?limit=200&category=payment&team_id=${TEAM}`)).toBe(true));
    expect(screen.getByTestId("where").textContent).toBe(`?category=payment&team=${TEAM}`);

    const billing = within(screen.getByTestId("filter-category")).getByText("Billing") as HTMLOptionElement;
    fireEvent.change(screen.getByTestId("filter-category"), { target: { value: billing.value } });
    await waitFor(() => expect(calls.some((c) => c.path === `/api/v1/tasks?limit=200&category=billing&team_id=${TEAM}`)).toBe(true));
    fireEvent.change(screen.getByTestId("filter-team"), { target: { value: "" } });
    await waitFor(() => expect(calls[calls.length - 1].path).toBe("/api/v1/tasks?limit=200&category=billing"));
    expect(screen.getByTestId("where").textContent).toBe("?category=billing");
  });
});

describe("TaskDetailView", () => {
  beforeEach(() => setLang("en"));
  afterEach(() => vi.unstubAllGlobals());

  const analysed = task({
    root_cause_hypothesis: "The payment gateway times out under load",
    resolution_plan: { summary: "Raise the gateway timeout", steps: ["Reproduce the problem in payment", "Fix it"] },
    log_analysis: {
      modules: ["payment.gateway"], keywords: ["gateway", "timeout"], trace_ids: [], confidence_score: 0.72, method: "rules",
      recommendation: "Check the gateway pool", related_logs_count: 12,
      window: { start: "2026-03-01T08:00:00+00:00", end: "2026-03-02T09:00:00+00:00" },
      sample_logs: [{ time: "2026-03-02T08:10:00+00:00", level: "error", module: "payment.gateway", message: "upstream timeout after 30s", trace_id: null }],
      log_patterns: [], anomaly_patterns: [],
    },
  });
  const events: TaskEvent[] = [
    { id: 1, task_id: analysed.id, at: "2026-03-02T08:20:00Z", actor_id: null, kind: "created", from_value: null, to_value: "received", reason: null, data: {} },
    { id: 2, task_id: analysed.id, at: "2026-03-02T08:21:00Z", actor_id: null, kind: "stage", from_value: "routed", to_value: "plan_review", reason: "a plan was drafted", data: {} },
  ];
  const file: Schemas["AttachmentRead"] = {
    id: "2d9f4c74-3333-4c3a-9a51-5d0c3b2e7c30", filename: "screen.png", content_type: "image/png", size: 2048, sha256: "ab", uploaded_by: analysed.reporter_id!, created_at: now,
  };

  function detailServer(onReview: (body: unknown) => Response) {
    return server([], (call) => {
      const base = `/api/v1/tasks/${analysed.task_number}`;
      if (call.path === base) return json(200, analysed);
      if (call.path === `${base}/timeline`) return json(200, events);
      if (call.path === `${base}/attachments`) return json(200, [file]);
      if (call.path.startsWith("/api/v1/logs/related?")) return json(200, []);
      if (call.method === "POST" && call.path === `/api/v1/tasks/${analysed.id}/review`) return onReview(JSON.parse(call.body));
      return null;
    });
  }
  const renderDetail = () =>
    renderWith(
      <AuthProvider>
        <Routes><Route path="/board/:task" element={<TaskDetailView />} /></Routes>
      </AuthProvider>,
      `/board/${analysed.task_number}`,
    );

  it("shows the task, its analysis, files and timeline, and approves the plan with the exact body", async () => {
    const calls = detailServer(() => json(200, { ...analysed, workflow_stage: "assigned", assignee_id: OMAR }));
    renderDetail();
    const detail = await screen.findByTestId("task-detail");
    expect(detail).toHaveTextContent("Checkout fails");
    expect(screen.getByTestId("task-stage")).toHaveTextContent("Plan review");
    expect(screen.getByTestId("analysis-components")).toHaveTextContent("payment.gateway");
    expect(screen.getByTestId("task-analysis")).toHaveTextContent("The payment gateway times out under load");
    expect(screen.getByTestId("task-analysis")).toHaveTextContent("upstream timeout after 30s");
    const timeline = await screen.findByTestId("task-timeline");
    expect(timeline).toHaveTextContent("Stage changed");
    expect(timeline).toHaveTextContent("Routed → Plan review");
    expect(timeline).toHaveTextContent(/Mar 2, 2026/);
    expect(await screen.findByTestId("attachment-link")).toHaveAttribute("href", `/api/v1/tasks/${analysed.id}/attachments/${file.id}`);
    expect(screen.queryByTestId("action-progress")).not.toBeInTheDocument(); // not at a stage for it, nor Sam's task

    fireEvent.click(screen.getByTestId("related-logs-load"));
    await waitFor(() => expect(calls.some((c) => c.path.startsWith("/api/v1/logs/related?"))).toBe(true));
    expect(calls.find((c) => c.path.startsWith("/api/v1/logs/related?"))!.path).toBe(
      "/api/v1/logs/related?keywords=gateway&keywords=timeout&modules=payment.gateway&start=2026-03-01T08%3A00%3A00%2B00%3A00&end=2026-03-02T09%3A00%3A00%2B00%3A00&limit=50",
    );

    await waitFor(() => expect(screen.getByTestId("review-assignee")).toHaveTextContent("Omar Ops"));
    fireEvent.change(screen.getByTestId("review-assignee"), { target: { value: OMAR } });
    fireEvent.change(screen.getByTestId("review-comment"), { target: { value: "Omar knows the gateway" } });
    fireEvent.click(screen.getByTestId("review-approve"));
    await waitFor(() => expect(screen.getByTestId("task-stage")).toHaveTextContent("Assigned"));
    const sent = posts(calls);
    expect(sent.map((c) => c.path)).toEqual([`/api/v1/tasks/${analysed.id}/review`]);
    expect(JSON.parse(sent[0].body)).toEqual({ action: "approve", assignee_id: OMAR, reason: "Omar knows the gateway" });
    expect(screen.queryByTestId("review-approve")).not.toBeInTheDocument();
  });

  it("a rejection needs a reason, then shows the server's refusal", async () => {
    const calls = detailServer(() => json(403, { error: { code: "action_not_allowed", message: "You may not take this action on this task" } }));
    renderDetail();
    fireEvent.click(await screen.findByTestId("review-reject"));
    expect(await screen.findByText("Give a reason to reject the plan.")).toHaveAttribute("role", "alert");
    expect(posts(calls)).toHaveLength(0);

    fireEvent.change(screen.getByTestId("review-comment"), { target: { value: "Not a bug" } });
    fireEvent.click(screen.getByTestId("review-reject"));
    expect(await screen.findByText("You may not take this action on this task")).toBeInTheDocument();
    expect(JSON.parse(posts(calls)[0].body)).toEqual({ action: "reject", reason: "Not a bug" });
    expect(screen.getByTestId("task-stage")).toHaveTextContent("Plan review");
  });
});
