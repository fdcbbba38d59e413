import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { act, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { useLocation } from "react-router";
import type { Schemas } from "../api/client";
import { setLang } from "../i18n";
import { json, mockFetch, renderWith, type Call } from "../test/helpers";
import { AnalyticsView, REFRESH_MS } from "./AnalyticsView";

type SupportAnalytics = Schemas["ConversationAnalyticsRead"];
type FeedbackAnalytics = Schemas["FeedbackAnalyticsRead"];

const support: SupportAnalytics = {
  range: "7d",
  since: "2025-03-01T00:00:00Z",
  until: "2025-03-08T00:00:00Z",
  conversations: 12345,
  resolution: { closed: 200, resolved_confirmed: 60, resolved_assumed: 31, escalated: 80, abandoned: 29, rate: 0.4567, confirmed_rate: 0.3 },
  escalation: { escalated: 90, rate: 0.125 },
  approvals: { requested: 40, approved: 20, edited: 5, rejected: 5, expired: 3, withdrawn: 2, rate: null, seconds_to_decide: { median: 95, p90: 600 } },
  agents: [{ agent: "billing", handoffs: 7 }],
  tools: {
    calls: 10, succeeded: 8, failed: 1, not_run: 1, success_rate: 0.8889,
    per_tool: [{ tool: "cancelOrder", calls: 10, succeeded: 8, failed: 1, not_run: 1, success_rate: 0.8889 }],
  },
  cost: { tokens: 1500000, cost: 1234.5, resolved: 91, tokens_per_resolved: 16483.5, cost_per_resolved: 0.01357 },
  intents: [{ intent: "refund", count: 30 }, { intent: "shipping", count: 12 }],
  csat: { average: 4.25, count: 16 },
};

const share = (count: number, total: number) => ({ rate: total ? count / total : null, count, total });

const feedback: FeedbackAnalytics = {
  period: { start: "2025-03-01T00:00:00Z", end: "2025-03-04T00:00:00Z", days: 3 },
  generated_at: "2025-03-04T00:00:00Z",
  tasks_created: 20,
  reports: 24,
  first_response: { count: 18, p50_hours: 3.5, p90_hours: 20, mean_hours: 6 },
  resolution: { count: 9, p50_hours: 50, p90_hours: 120, mean_hours: 60 },
  fix_rate: { ...share(7, 9), closed_by_reporter: 4, closed_by_staff: 3, rejected: 2 },
  sla_attainment: { rate: 0.6667, count: 6, total: 9, breached_open_now: 2 },
  reopen_rate: share(1, 9),
  duplicate_rate: share(4, 24),
  automation: { reached_plan_review: 10, no_human_before_review: share(8, 10), routed_to_person: share(5, 10) },
  csat: { mean: 4.5, count: 4, distribution: { "1": 0, "2": 0, "3": 0, "4": 2, "5": 2 } },
  trend: [
    { day: "2025-03-01", created: 8, resolved: 2 },
    { day: "2025-03-02", created: 7, resolved: 3 },
    { day: "2025-03-03", created: 5, resolved: 4 },
  ],
  by_category: { payments: 12, unknown: 8 },
  by_region: { domestic: 15, international: 5 },
  by_module: { checkout: 9 },
  by_issue_type: { bug: 14, question: 6 },
  by_priority: { P1: 5, P2: 15 },
  backlog: { open: 12, breached: 2, by_stage: { received: 3, in_progress: 8, verification: 1 } },
};

/** Answers both analytics endpoints (with `overrides` by path prefix) and records every request. */
function serve(overrides: Record<string, () => Response> = {}): Call[] {
  return mockFetch(({ path }) => {
    const pathname = path.split("?")[0];
    if (overrides[pathname]) return overrides[pathname]();
    if (pathname === "/api/v1/analytics") return json(200, support);
    if (pathname === "/api/v1/analytics/feedback") return json(200, feedback);
    return json(404, { error: { code: "not_found", message: `unexpected ${path}` } });
  });
}

const requested = (calls: Call[], endpoint: string) => calls.filter((c) => c.method === "GET" && c.path.split("?")[0] === endpoint).map((c) => c.path);
const kpi = (name: string) => screen.getAllByTestId("analytics-kpi").find((el) => el.dataset.kpi === name)!;
const chart = async (name: string) => (await screen.findAllByTestId("analytics-chart")).find((el) => el.dataset.chart === name)!;

function Where() {
  const location = useLocation();
  return <output data-testid="where">{location.search}</output>;
}

describe("AnalyticsView", () => {
  beforeEach(() => setLang("en"));
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it("sends the range kept in the URL to both endpoints and changes it from the picker", async () => {
    const calls = serve();
    renderWith(<><AnalyticsView /><Where /></>, "/analytics?range=30d");
    await screen.findByTestId("analytics-support");
    expect(screen.getByTestId("analytics-range")).toHaveValue("30d");
    await waitFor(() => expect(requested(calls, "/api/v1/analytics")).toEqual(["/api/v1/analytics?range=30d"]));
    expect(requested(calls, "/api/v1/analytics/feedback")).toEqual(["/api/v1/analytics/feedback?range=30d"]);

    fireEvent.change(screen.getByTestId("analytics-range"), { target: { value: "7d" } });
    await waitFor(() => expect(requested(calls, "/api/v1/analytics").at(-1)).toBe("/api/v1/analytics?range=7d"));
    await waitFor(() => expect(requested(calls, "/api/v1/analytics/feedback").at(-1)).toBe("/api/v1/analytics/feedback?range=7d"));
    expect(screen.getByTestId("where")).toHaveTextContent("?range=7d");

    // 90 days and custom dates exist for the feedback analytics only: the support endpoint is not asked.
    const supportCalls = requested(calls, "/api/v1/analytics").length;
    fireEvent.change(screen.getByTestId("analytics-range"), { target: { value: "90d" } });
    await waitFor(() => expect(requested(calls, "/api/v1/analytics/feedback").at(-1)).toBe("/api/v1/analytics/feedback?range=90d"));
    expect(screen.getByTestId("analytics-support-unavailable")).toBeInTheDocument();

    fireEvent.change(screen.getByTestId("analytics-range"), { target: { value: "custom" } });
    fireEvent.change(screen.getByTestId("analytics-from"), { target: { value: "2025-02-01" } });
    fireEvent.change(screen.getByTestId("analytics-to"), { target: { value: "2025-02-28" } });
    fireEvent.click(screen.getByTestId("analytics-apply"));
    await waitFor(() =>
      expect(requested(calls, "/api/v1/analytics/feedback").at(-1)).toBe("/api/v1/analytics/feedback?from=2025-02-01&to=2025-02-28"),
    );
    expect(screen.getByTestId("where")).toHaveTextContent("?from=2025-02-01&to=2025-02-28");
    expect(screen.getByTestId("analytics-range")).toHaveValue("custom");
    expect(requested(calls, "/api/v1/analytics")).toHaveLength(supportCalls);
  });

  it("shows the API's numbers as localised KPIs in English", async () => {
    serve();
    renderWith(<AnalyticsView />, "/analytics");
    await screen.findAllByTestId("analytics-kpi");
    await waitFor(() => expect(kpi("backlog")).toBeDefined());
    expect(kpi("resolution_rate")).toHaveTextContent("45.7%");
    expect(kpi("resolution_rate")).toHaveTextContent("of 200 closed");
    expect(kpi("conversations")).toHaveTextContent("12,345");
    expect(kpi("escalation_rate")).toHaveTextContent("12.5%");
    expect(kpi("approval_rate")).toHaveTextContent("—");
    expect(kpi("decision_time")).toHaveTextContent("1.6 min");
    expect(kpi("cost")).toHaveTextContent("$1,234.50");
    expect(kpi("cost")).toHaveTextContent("1,500,000 tokens");
    expect(kpi("cost_per_resolved")).toHaveTextContent("$0.0136");
    expect(kpi("cost_per_resolved")).toHaveTextContent("16,484 tokens per resolved");
    expect(kpi("csat")).toHaveTextContent("4.25 / 5");
    expect(kpi("first_response")).toHaveTextContent("3.5 hr");
    expect(kpi("time_to_resolve")).toHaveTextContent("2.1 days");
    expect(kpi("sla_attainment")).toHaveTextContent("66.7%");
    expect(kpi("sla_attainment")).toHaveTextContent("6 of 9");
    expect(kpi("backlog")).toHaveTextContent("12");
    expect(kpi("backlog")).toHaveTextContent("2 past their SLA");

    const region = within(await chart("by_region"));
    expect(region.getAllByRole("rowheader").map((th) => th.textContent)).toEqual(["Domestic", "International"]);
    const category = within(await chart("by_category"));
    expect(category.getAllByRole("rowheader").map((th) => th.textContent)).toEqual(["payments", "Not set"]);
  });

  it("formats the KPIs for Chinese", async () => {
    setLang("zh");
    serve();
    renderWith(<AnalyticsView />, "/analytics");
    await screen.findByRole("heading", { name: "数据分析" });
    await waitFor(() => expect(kpi("first_response")).toBeDefined());
    expect(kpi("resolution_rate")).toHaveTextContent("解决率");
    expect(kpi("resolution_rate")).toHaveTextContent("45.7%");
    expect(kpi("first_response")).toHaveTextContent("3.5小时");
    expect(kpi("decision_time")).toHaveTextContent("1.6分钟");
    expect(kpi("cost")).toHaveTextContent("US$1,234.50");
    expect(kpi("backlog")).toHaveTextContent("2 个已超 SLA");
    const backlog = within(await chart("backlog_by_stage"));
    expect(backlog.getAllByRole("rowheader").map((th) => th.textContent)).toEqual(["已接收", "处理中", "验证中"]);
  });

  it("lists the backlog stages of the response, in its order, in the chart's table", async () => {
    serve();
    renderWith(<AnalyticsView />, "/analytics");
    const figure = await chart("backlog_by_stage");
    expect(figure).toHaveAccessibleName("Open backlog by stage (now)");
    expect(within(figure).getByRole("table", { name: "Open backlog by stage (now)" })).toBeInTheDocument();
    const rows = within(figure).getAllByRole("row").slice(1);
    expect(rows.map((row) => [within(row).getByRole("rowheader").textContent, within(row).getByRole("cell").textContent])).toEqual([
      ["Received", "3"],
      ["In progress", "8"],
      ["Verification", "1"],
    ]);
    const toggle = within(figure).getByRole("button", { name: "Show table" });
    expect(toggle).toHaveAttribute("aria-expanded", "false");
    fireEvent.click(toggle);
    expect(within(figure).getByRole("button", { name: "Hide table" })).toHaveAttribute("aria-expanded", "true");
    expect(within(figure).getByRole("table").parentElement).toHaveClass("analytics-table");

    const trend = within(await chart("trend"));
    const first = trend.getAllByRole("row")[1];
    expect(within(first).getByRole("rowheader")).toHaveTextContent("Mar 1, 2025");
    expect(within(first).getAllByRole("cell").map((td) => td.textContent)).toEqual(["8", "2"]);
  });

  it("shows the server's error messages", async () => {
    serve({
      "/api/v1/analytics/feedback": () => json(422, { error: { code: "invalid_period", message: "`to` is before `from`", detail: null } }),
      "/api/v1/analytics": () => json(403, { error: { code: "forbidden", message: "Staff or admin role required", detail: null } }),
    });
    renderWith(<AnalyticsView />, "/analytics?from=2025-03-10&to=2025-03-01");
    expect(await within(screen.getByTestId("analytics-feedback")).findByRole("alert")).toHaveTextContent("`to` is before `from`");
    expect(screen.queryByTestId("analytics-kpi")).not.toBeInTheDocument();

    fireEvent.change(screen.getByTestId("analytics-range"), { target: { value: "30d" } });
    expect(await within(await screen.findByTestId("analytics-support")).findByRole("alert")).toHaveTextContent("Staff or admin role required");
  });

  it("says when a range has no data, keeping the current backlog", async () => {
    serve({
      "/api/v1/analytics": () =>
        json(200, {
          ...support,
          conversations: 0,
          approvals: { ...support.approvals, requested: 0 },
          tools: { ...support.tools, calls: 0, per_tool: [] },
          intents: [],
          agents: [],
        }),
      "/api/v1/analytics/feedback": () =>
        json(200, { ...feedback, tasks_created: 0, trend: feedback.trend.map((d) => ({ ...d, created: 0, resolved: 0 })), backlog: { open: 0, breached: 0, by_stage: {} } }),
    });
    renderWith(<AnalyticsView />, "/analytics");
    const empties = await screen.findAllByTestId("analytics-empty");
    expect(empties.map((e) => e.textContent)).toEqual([
      "No conversations, approvals, tool calls or hand-offs in this range.",
      "No feedback tasks were created in this range.",
    ]);
    expect(screen.getAllByTestId("analytics-kpi").map((el) => el.dataset.kpi)).toEqual(["backlog"]);
    expect(within(await chart("backlog_by_stage")).getByText("No open tasks right now.")).toBeInTheDocument();
    expect(screen.queryByRole("table")).not.toBeInTheDocument();
  });

  it("refreshes both endpoints every 60 s", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const calls = serve();
    renderWith(<AnalyticsView />, "/analytics");
    await waitFor(() => expect(calls).toHaveLength(2));
    act(() => vi.advanceTimersByTime(REFRESH_MS - 1000));
    expect(calls).toHaveLength(2);
    act(() => vi.advanceTimersByTime(1000));
    // (testing-library's waitFor polls with setInterval, faked here; vitest's own keeps real timers)
    await vi.waitFor(() => expect(calls).toHaveLength(4));
    expect(requested(calls, "/api/v1/analytics")).toEqual(["/api/v1/analytics?range=7d", "/api/v1/analytics?range=7d"]);
    expect(requested(calls, "/api/v1/analytics/feedback")).toEqual(["/api/v1/analytics/feedback?range=7d", "/api/v1/analytics/feedback?range=7d"]);
  });
});
