import { useId, useState, type FormEvent, type ReactNode } from "react";
import { useTranslation } from "react-i18next";
import { useSearchParams } from "react-router";
import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, Pie, PieChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { api, type Schemas } from "../api/client";
import { useLoaded } from "../api/useLoaded";
import { locale } from "../i18n";
import "./analytics.css";

type SupportAnalytics = Schemas["ConversationAnalyticsRead"];
type FeedbackAnalytics = Schemas["FeedbackAnalyticsRead"];
type Share = Schemas["Share"];
type SupportRange = SupportAnalytics["range"];

/** The ranges GET /api/v1/analytics/feedback accepts; GET /api/v1/analytics only the first two (`SupportRange`). */
const PRESETS = ["7d", "30d", "90d"] as const;
type Preset = (typeof PRESETS)[number];
const SUPPORT_RANGES: readonly SupportRange[] = ["7d", "30d"];
export const REFRESH_MS = 60_000;
const ISO_DAY = /^\d{4}-\d{2}-\d{2}$/;
const COLORS = ["#3b5bdb", "#2b8a3e", "#e67700", "#d6336c", "#7048e8", "#1098ad", "#667085", "#f08c00", "#5c940d", "#ae3ec9"];

type Selection = { kind: "preset"; range: Preset } | { kind: "custom"; from: string; to: string };

/** The range in the URL: `?range=30d`, or `?from=YYYY-MM-DD&to=YYYY-MM-DD`; anything else is the API's default (7d). */
function readSelection(params: URLSearchParams): Selection {
  const from = params.get("from");
  const to = params.get("to");
  if (from && to && ISO_DAY.test(from) && ISO_DAY.test(to)) return { kind: "custom", from, to };
  const range = params.get("range");
  return { kind: "preset", range: PRESETS.find((p) => p === range) ?? "7d" };
}

function selectionKey(s: Selection): string {
  return s.kind === "preset" ? s.range : `${s.from}..${s.to}`;
}

function utcDay(offsetDays = 0): string {
  return new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);
}

const formats = new Map<string, Intl.NumberFormat>();
/** Intl.NumberFormat is costly to build and a dashboard formats hundreds of numbers: one per locale and options. */
function numberFormat(loc: string, options: Intl.NumberFormatOptions): Intl.NumberFormat {
  const key = `${loc} ${JSON.stringify(options)}`;
  let format = formats.get(key);
  if (!format) formats.set(key, (format = new Intl.NumberFormat(loc, options)));
  return format;
}

/** Localised numbers, percentages, durations and money, in the current language. */
function useNumbers() {
  const { t, i18n } = useTranslation();
  const loc = locale(i18n.language);
  const nf = (options: Intl.NumberFormatOptions) => numberFormat(loc, options);
  const unit = (value: number, name: "second" | "minute" | "hour" | "day", digits: number) =>
    nf({ style: "unit", unit: name, unitDisplay: "short", maximumFractionDigits: digits }).format(value);
  const seconds = (value: number | null | undefined): string => {
    if (value == null) return "—";
    if (value < 60) return unit(value, "second", 0);
    if (value < 3600) return unit(value / 60, "minute", 1);
    if (value < 48 * 3600) return unit(value / 3600, "hour", 1);
    return unit(value / 86_400, "day", 1);
  };
  return {
    int: (value: number): string => nf({ maximumFractionDigits: 0 }).format(value),
    percent: (value: number | null | undefined): string => (value == null ? "—" : nf({ style: "percent", maximumFractionDigits: 1 }).format(value)),
    seconds,
    hours: (value: number | null | undefined): string => (value == null ? "—" : seconds(value * 3600)),
    // Cents, or four decimals for amounts under a dollar (a conversation's cost often is).
    usd: (value: number | null | undefined): string =>
      value == null ? "—" : nf({ style: "currency", currency: "USD", minimumFractionDigits: 2, maximumFractionDigits: Math.abs(value) < 1 ? 4 : 2 }).format(value),
    score: (value: number | null | undefined): string => (value == null ? "—" : t("analytics.outOfFive", { value: nf({ maximumFractionDigits: 2 }).format(value) })),
    day: (value: string, short = false): string =>
      new Intl.DateTimeFormat(loc, short ? { month: "short", day: "numeric", timeZone: "UTC" } : { dateStyle: "medium", timeZone: "UTC" }).format(new Date(`${value}T00:00:00Z`)),
    dateTime: (value: string): string => new Intl.DateTimeFormat(loc, { dateStyle: "medium", timeStyle: "short" }).format(new Date(value)),
  };
}

/** Staff dashboards: support conversations (GET /api/v1/analytics) and the feedback loop (GET /api/v1/analytics/feedback). */
export function AnalyticsView() {
  const { t } = useTranslation();
  const [params, setParams] = useSearchParams();
  const selection = readSelection(params);
  const key = selectionKey(selection);
  const supportRange = selection.kind === "preset" ? SUPPORT_RANGES.find((r) => r === selection.range) : undefined;
  const feedbackQuery = selection.kind === "preset" ? { range: selection.range } : { from: selection.from, to: selection.to };

  function choose(next: Selection) {
    setParams(next.kind === "preset" ? { range: next.range } : { from: next.from, to: next.to });
  }

  return (
    <div className="page page-wide analytics">
      <div className="page-head analytics-head">
        <h1>{t("analytics.title")}</h1>
        <RangePicker key={`picker-${key}`} selection={selection} onChoose={choose} />
      </div>
      {supportRange ? (
        <SupportSection key={`support-${supportRange}`} range={supportRange} />
      ) : (
        <section className="analytics-section" aria-labelledby="analytics-support-title">
          <h2 id="analytics-support-title">{t("analytics.support.title")}</h2>
          <p className="muted" data-testid="analytics-support-unavailable">{t("analytics.range.supportOnly")}</p>
        </section>
      )}
      <FeedbackSection key={`feedback-${key}`} query={feedbackQuery} />
    </div>
  );
}

function RangePicker({ selection, onChoose }: { selection: Selection; onChoose: (next: Selection) => void }) {
  const { t } = useTranslation();
  const [custom, setCustom] = useState(selection.kind === "custom");
  const [from, setFrom] = useState(selection.kind === "custom" ? selection.from : utcDay(-6));
  const [to, setTo] = useState(selection.kind === "custom" ? selection.to : utcDay());
  const value = custom ? "custom" : selection.kind === "preset" ? selection.range : "custom";

  function apply(event: FormEvent) {
    event.preventDefault();
    if (from && to) onChoose({ kind: "custom", from, to });
  }

  return (
    <form className="analytics-range" onSubmit={apply}>
      <label>
        <span>{t("analytics.range.label")}</span>
        <select
          data-testid="analytics-range"
          value={value}
          onChange={(e) => {
            const next = PRESETS.find((p) => p === e.target.value);
            setCustom(!next);
            if (next) onChoose({ kind: "preset", range: next });
          }}
        >
          {PRESETS.map((p) => (
            <option key={p} value={p}>{t(`analytics.range.${p}`)}</option>
          ))}
          <option value="custom">{t("analytics.range.custom")}</option>
        </select>
      </label>
      {value === "custom" && (
        <>
          <label>
            <span>{t("analytics.range.from")}</span>
            <input type="date" data-testid="analytics-from" required value={from} max={to || undefined} onChange={(e) => setFrom(e.target.value)} />
          </label>
          <label>
            <span>{t("analytics.range.to")}</span>
            <input type="date" data-testid="analytics-to" required value={to} min={from || undefined} onChange={(e) => setTo(e.target.value)} />
          </label>
          <button type="submit" className="btn btn-primary" data-testid="analytics-apply" disabled={!from || !to}>
            {t("analytics.range.apply")}
          </button>
        </>
      )}
    </form>
  );
}

// -- support conversations ------------------------------------------------------------------------

function SupportSection({ range }: { range: SupportRange }) {
  const { t } = useTranslation();
  const n = useNumbers();
  const { data, error } = useLoaded(() => api.GET("/api/v1/analytics", { params: { query: { range } } }), {
    everyMs: REFRESH_MS,
    failedKey: "analytics.loadFailed",
  });
  const empty =
    data !== null &&
    data.conversations === 0 &&
    data.approvals.requested === 0 &&
    data.tools.calls === 0 &&
    data.intents.length === 0 &&
    data.agents.length === 0;

  return (
    <section className="analytics-section" aria-labelledby="analytics-support-title" data-testid="analytics-support">
      <div className="analytics-section-head">
        <h2 id="analytics-support-title">{t("analytics.support.title")}</h2>
        {data && (
          <span className="muted small" aria-live="polite">
            {t("analytics.period", { start: n.dateTime(data.since), end: n.dateTime(data.until) })}
          </span>
        )}
      </div>
      <p className="muted small">{t("analytics.support.intro")}</p>
      {error && <p className="alert alert-error" role="alert">{error}</p>}
      {data === null && !error && <p className="muted" role="status">{t("common.loading")}</p>}
      {empty && <p className="card empty muted" data-testid="analytics-empty">{t("analytics.emptySupport")}</p>}
      {data && !empty && <SupportFigures data={data} />}
    </section>
  );
}

function SupportFigures({ data }: { data: SupportAnalytics }) {
  const { t } = useTranslation();
  const n = useNumbers();
  const { resolution, escalation, approvals, tools, cost, csat } = data;
  const count: Series[] = [{ key: "count", label: t("analytics.chart.count") }];
  return (
    <>
      <dl className="analytics-kpis">
        <Kpi name="conversations" label={t("analytics.kpi.conversations")} value={n.int(data.conversations)} />
        <Kpi
          name="resolution_rate"
          label={t("analytics.kpi.resolutionRate")}
          value={n.percent(resolution.rate)}
          detail={t("analytics.kpi.ofClosed", { n: n.int(resolution.closed) })}
        />
        <Kpi name="confirmed_rate" label={t("analytics.kpi.confirmedRate")} value={n.percent(resolution.confirmed_rate)} />
        <Kpi
          name="escalation_rate"
          label={t("analytics.kpi.escalationRate")}
          value={n.percent(escalation.rate)}
          detail={t("analytics.kpi.escalated", { n: n.int(escalation.escalated) })}
        />
        <Kpi
          name="approval_rate"
          label={t("analytics.kpi.approvalRate")}
          value={n.percent(approvals.rate)}
          detail={t("analytics.kpi.requested", { n: n.int(approvals.requested) })}
        />
        <Kpi
          name="decision_time"
          label={t("analytics.kpi.decisionTime")}
          value={n.seconds(approvals.seconds_to_decide.median)}
          detail={approvals.seconds_to_decide.p90 == null ? undefined : t("analytics.kpi.p90", { value: n.seconds(approvals.seconds_to_decide.p90) })}
        />
        <Kpi
          name="tool_success_rate"
          label={t("analytics.kpi.toolSuccess")}
          value={n.percent(tools.success_rate)}
          detail={t("analytics.kpi.calls", { n: n.int(tools.calls) })}
        />
        <Kpi name="csat" label={t("analytics.kpi.csat")} value={n.score(csat.average)} detail={t("analytics.kpi.ratings", { n: n.int(csat.count) })} />
        <Kpi name="cost" label={t("analytics.kpi.cost")} value={n.usd(cost.cost)} detail={t("analytics.kpi.tokens", { n: n.int(cost.tokens) })} />
        <Kpi
          name="cost_per_resolved"
          label={t("analytics.kpi.costPerResolved")}
          value={n.usd(cost.cost_per_resolved)}
          detail={cost.tokens_per_resolved == null ? undefined : t("analytics.kpi.tokensPerResolved", { n: n.int(cost.tokens_per_resolved) })}
        />
      </dl>
      <div className="analytics-charts">
        <Chart
          name="outcomes"
          title={t("analytics.chart.outcomes")}
          kind="bar"
          category={t("analytics.chart.outcome")}
          series={count}
          rows={(["resolved_confirmed", "resolved_assumed", "escalated", "abandoned"] as const).map((k) => ({
            key: k,
            label: t(`analytics.outcome.${k}`),
            values: { count: resolution[k] },
          }))}
        />
        <Chart
          name="approvals"
          title={t("analytics.chart.approvals")}
          kind="bar"
          category={t("analytics.chart.decision")}
          series={count}
          rows={(["approved", "edited", "rejected", "expired", "withdrawn"] as const).map((k) => ({
            key: k,
            label: t(`analytics.decision.${k}`),
            values: { count: approvals[k] },
          }))}
        />
        <Chart
          name="tools"
          title={t("analytics.chart.tools")}
          kind="stacked"
          category={t("analytics.chart.tool")}
          series={(["succeeded", "failed", "not_run"] as const).map((k) => ({ key: k, label: t(`analytics.toolStatus.${k}`) }))}
          rows={tools.per_tool.map((x) => ({ key: x.tool, label: x.tool, values: { succeeded: x.succeeded, failed: x.failed, not_run: x.not_run } }))}
        />
        <Chart
          name="intents"
          title={t("analytics.chart.intents")}
          kind="hbar"
          category={t("analytics.chart.intent")}
          series={count}
          rows={data.intents.map((x) => ({ key: x.intent, label: x.intent, values: { count: x.count } }))}
        />
        <Chart
          name="agents"
          title={t("analytics.chart.agents")}
          kind="hbar"
          category={t("analytics.chart.agent")}
          series={count}
          rows={data.agents.map((x) => ({ key: x.agent, label: x.agent, values: { count: x.handoffs } }))}
        />
      </div>
    </>
  );
}

// -- feedback loop ----------------------------------------------------------------------------------

function FeedbackSection({ query }: { query: { range: Preset } | { from: string; to: string } }) {
  const { t } = useTranslation();
  const n = useNumbers();
  const { data, error } = useLoaded(() => api.GET("/api/v1/analytics/feedback", { params: { query } }), {
    everyMs: REFRESH_MS,
    failedKey: "analytics.loadFailed",
  });
  const empty = data !== null && data.tasks_created === 0 && data.trend.every((d) => d.resolved === 0);

  return (
    <section className="analytics-section" aria-labelledby="analytics-feedback-title" data-testid="analytics-feedback">
      <div className="analytics-section-head">
        <h2 id="analytics-feedback-title">{t("analytics.feedback.title")}</h2>
        {data && (
          <span className="muted small" aria-live="polite">
            {t("analytics.period", { start: n.dateTime(data.period.start), end: n.dateTime(data.period.end) })}
            {" · "}
            {t("analytics.updated", { when: n.dateTime(data.generated_at) })}
          </span>
        )}
      </div>
      <p className="muted small">{t("analytics.feedback.intro")}</p>
      {error && <p className="alert alert-error" role="alert">{error}</p>}
      {data === null && !error && <p className="muted" role="status">{t("common.loading")}</p>}
      {data && <FeedbackFigures data={data} empty={empty} />}
    </section>
  );
}

function FeedbackFigures({ data, empty }: { data: FeedbackAnalytics; empty: boolean }) {
  const { t } = useTranslation();
  const n = useNumbers();
  const count: Series[] = [{ key: "count", label: t("analytics.chart.count") }];
  const share = (s: Share) => t("analytics.kpi.share", { n: n.int(s.count), total: n.int(s.total) });
  const named = (label: (key: string) => string) => (counts: Record<string, number>): Row[] =>
    Object.entries(counts).map(([key, value]) => ({ key, label: key === "unknown" ? t("analytics.unknown") : label(key), values: { count: value } }));
  const raw = named((key) => key);
  const { backlog, sla_attainment: sla } = data;

  const backlogTile = (
    <Kpi
      name="backlog"
      label={t("analytics.kpi.backlog")}
      value={n.int(backlog.open)}
      detail={t("analytics.kpi.breached", { n: n.int(backlog.breached) })}
      tone={backlog.breached > 0 ? "warn" : undefined}
    />
  );
  const backlogChart = (
    <Chart
      name="backlog_by_stage"
      title={t("analytics.chart.backlog")}
      kind="bar"
      category={t("analytics.chart.stage")}
      series={count}
      emptyText={t("analytics.chart.backlogEmpty")}
      rows={Object.entries(backlog.by_stage).map(([stage, value]) => ({
        key: stage,
        label: t(`stage.${stage}`, { defaultValue: stage }),
        values: { count: value },
      }))}
    />
  );

  if (empty) {
    return (
      <>
        <p className="card empty muted" data-testid="analytics-empty">{t("analytics.emptyFeedback")}</p>
        <dl className="analytics-kpis">{backlogTile}</dl>
        <div className="analytics-charts">{backlogChart}</div>
      </>
    );
  }

  return (
    <>
      <dl className="analytics-kpis">
        <Kpi
          name="tasks_created"
          label={t("analytics.kpi.tasksCreated")}
          value={n.int(data.tasks_created)}
          detail={t("analytics.kpi.reports", { n: n.int(data.reports) })}
        />
        <Kpi
          name="first_response"
          label={t("analytics.kpi.firstResponse")}
          value={n.hours(data.first_response.p50_hours)}
          detail={t("analytics.kpi.measured", { value: n.hours(data.first_response.p90_hours), n: n.int(data.first_response.count) })}
        />
        <Kpi
          name="time_to_resolve"
          label={t("analytics.kpi.timeToResolve")}
          value={n.hours(data.resolution.p50_hours)}
          detail={t("analytics.kpi.measured", { value: n.hours(data.resolution.p90_hours), n: n.int(data.resolution.count) })}
        />
        <Kpi name="fix_rate" label={t("analytics.kpi.fixRate")} value={n.percent(data.fix_rate.rate)} detail={share(data.fix_rate)} />
        <Kpi name="sla_attainment" label={t("analytics.kpi.slaAttainment")} value={n.percent(sla.rate)} detail={share(sla)} />
        <Kpi name="reopen_rate" label={t("analytics.kpi.reopenRate")} value={n.percent(data.reopen_rate.rate)} detail={share(data.reopen_rate)} />
        <Kpi name="duplicate_rate" label={t("analytics.kpi.duplicateRate")} value={n.percent(data.duplicate_rate.rate)} detail={share(data.duplicate_rate)} />
        <Kpi
          name="automation"
          label={t("analytics.kpi.automation")}
          value={n.percent(data.automation.no_human_before_review.rate)}
          detail={share(data.automation.no_human_before_review)}
        />
        <Kpi name="csat" label={t("analytics.kpi.csat")} value={n.score(data.csat.mean)} detail={t("analytics.kpi.ratings", { n: n.int(data.csat.count) })} />
        {backlogTile}
      </dl>
      <div className="analytics-charts">
        <Chart
          name="trend"
          title={t("analytics.chart.trend")}
          kind="line"
          wide
          category={t("analytics.chart.day")}
          series={[
            { key: "created", label: t("analytics.chart.created") },
            { key: "resolved", label: t("analytics.chart.resolved") },
          ]}
          rows={data.trend.map((d) => ({ key: d.day, label: n.day(d.day), axis: n.day(d.day, true), values: { created: d.created, resolved: d.resolved } }))}
        />
        {backlogChart}
        <Chart
          name="sla"
          title={t("analytics.chart.sla")}
          kind="pie"
          category={t("analytics.chart.slaOutcome")}
          series={count}
          rows={[
            { key: "met", label: t("analytics.chart.slaMet"), values: { count: sla.count } },
            { key: "missed", label: t("analytics.chart.slaMissed"), values: { count: sla.total - sla.count } },
          ]}
        />
        <Chart name="by_category" title={t("analytics.chart.category")} kind="hbar" category={t("analytics.chart.categoryName")} series={count} rows={raw(data.by_category)} />
        <Chart
          name="by_region"
          title={t("analytics.chart.region")}
          kind="pie"
          category={t("analytics.chart.regionName")}
          series={count}
          rows={named((key) => t(`region.${key}`, { defaultValue: key }))(data.by_region)}
        />
        <Chart name="by_priority" title={t("analytics.chart.priority")} kind="bar" category={t("analytics.chart.priorityName")} series={count} rows={raw(data.by_priority)} />
        <Chart
          name="by_issue_type"
          title={t("analytics.chart.issueType")}
          kind="bar"
          category={t("analytics.chart.issueTypeName")}
          series={count}
          rows={named((key) => t(`analytics.issueType.${key}`, { defaultValue: key }))(data.by_issue_type)}
        />
        <Chart
          name="csat"
          title={t("analytics.chart.csat")}
          kind="bar"
          category={t("analytics.chart.rating")}
          series={count}
          rows={Object.entries(data.csat.distribution).map(([score, value]) => ({ key: score, label: score, values: { count: value } }))}
        />
        <Chart name="by_module" title={t("analytics.chart.module")} kind="hbar" category={t("analytics.chart.moduleName")} series={count} rows={raw(data.by_module)} />
      </div>
    </>
  );
}

// -- building blocks --------------------------------------------------------------------------------

function Kpi({ name, label, value, detail, tone }: { name: string; label: string; value: string; detail?: string; tone?: "warn" }) {
  const { t } = useTranslation();
  return (
    <div className={`analytics-kpi${tone ? ` analytics-kpi-${tone}` : ""}`} data-testid="analytics-kpi" data-kpi={name}>
      <dt>{label}</dt>
      <dd className="analytics-kpi-value" title={value === "—" ? t("analytics.notApplicable") : undefined}>{value}</dd>
      {detail && <dd className="muted small">{detail}</dd>}
    </div>
  );
}

type Series = { key: string; label: string };
type Row = { key: string; label: string; axis?: string; values: Record<string, number> };
type ChartProps = {
  name: string;
  title: string;
  kind: "bar" | "hbar" | "stacked" | "line" | "pie";
  category: string;
  series: Series[];
  rows: Row[];
  wide?: boolean;
  emptyText?: string;
};

/** A chart with its caption and a table of the same numbers (visually hidden unless shown; jsdom and screen readers read it). */
function Chart({ name, title, kind, category, series, rows, wide, emptyText }: ChartProps) {
  const { t } = useTranslation();
  const n = useNumbers();
  const [showTable, setShowTable] = useState(false);
  const id = useId();
  const empty = rows.length === 0 || rows.every((r) => series.every((s) => !r.values[s.key]));
  return (
    <figure className={`card analytics-chart${wide ? " analytics-chart-wide" : ""}`} data-testid="analytics-chart" data-chart={name} aria-labelledby={`${id}-caption`}>
      <figcaption>
        <span id={`${id}-caption`}>{title}</span>
        {!empty && (
          <button type="button" className="btn btn-ghost btn-small" aria-expanded={showTable} aria-controls={`${id}-table`} onClick={() => setShowTable(!showTable)}>
            {showTable ? t("analytics.hideTable") : t("analytics.showTable")}
          </button>
        )}
      </figcaption>
      {empty ? (
        <p className="muted analytics-none">{emptyText ?? t("analytics.noData")}</p>
      ) : (
        <>
          <div className="analytics-plot" aria-hidden="true">
            <Plot kind={kind} series={series} rows={rows} />
          </div>
          <div id={`${id}-table`} className={showTable ? "analytics-table" : "visually-hidden"}>
            <table>
              <caption className="visually-hidden">{title}</caption>
              <thead>
                <tr>
                  <th scope="col">{category}</th>
                  {series.map((s) => (
                    <th scope="col" key={s.key}>{s.label}</th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => (
                  <tr key={r.key}>
                    <th scope="row">{r.label}</th>
                    {series.map((s) => (
                      <td key={s.key}>{n.int(r.values[s.key] ?? 0)}</td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </figure>
  );
}

function Plot({ kind, series, rows }: Pick<ChartProps, "kind" | "series" | "rows">): ReactNode {
  const n = useNumbers();
  // Per-entry colours only for pie slices; bars and lines take one colour per series.
  const data = rows.map((r, i) => ({ axis: r.axis ?? r.label, label: r.label, ...(kind === "pie" ? { fill: COLORS[i % COLORS.length] } : {}), ...r.values }));
  const tooltip = <Tooltip formatter={(value) => n.int(Number(value))} labelFormatter={(_, payload) => String(payload?.[0]?.payload?.label ?? "")} />;
  const tick = (value: number) => n.int(value);
  const legend = series.length > 1 ? <Legend /> : null;

  if (kind === "pie") {
    return (
      <ResponsiveContainer width="100%" height={260}>
        <PieChart>
          <Pie data={data} dataKey={series[0].key} nameKey="axis" outerRadius={90} isAnimationActive={false} />
          {tooltip}
          <Legend />
        </PieChart>
      </ResponsiveContainer>
    );
  }
  if (kind === "line") {
    return (
      <ResponsiveContainer width="100%" height={280}>
        <LineChart data={data} margin={{ top: 8, right: 16, bottom: 8, left: 0 }}>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis dataKey="axis" minTickGap={16} />
          <YAxis allowDecimals={false} tickFormatter={tick} width={48} />
          {tooltip}
          {legend}
          {series.map((s, i) => (
            <Line key={s.key} type="monotone" dataKey={s.key} name={s.label} stroke={COLORS[i % COLORS.length]} strokeWidth={2} dot={false} isAnimationActive={false} />
          ))}
        </LineChart>
      </ResponsiveContainer>
    );
  }
  if (kind === "hbar" || kind === "stacked") {
    return (
      <ResponsiveContainer width="100%" height={Math.max(200, rows.length * 30 + 60)}>
        <BarChart data={data} layout="vertical" margin={{ top: 8, right: 16, bottom: 8, left: 0 }}>
          <CartesianGrid strokeDasharray="3 3" horizontal={false} />
          <XAxis type="number" allowDecimals={false} tickFormatter={tick} />
          <YAxis type="category" dataKey="axis" width={120} />
          {tooltip}
          {legend}
          {series.map((s, i) => (
            <Bar key={s.key} dataKey={s.key} name={s.label} fill={COLORS[i % COLORS.length]} stackId={kind === "stacked" ? "all" : undefined} isAnimationActive={false} />
          ))}
        </BarChart>
      </ResponsiveContainer>
    );
  }
  return (
    <ResponsiveContainer width="100%" height={260}>
      <BarChart data={data} margin={{ top: 8, right: 16, bottom: 8, left: 0 }}>
        <CartesianGrid strokeDasharray="3 3" vertical={false} />
        <XAxis dataKey="axis" interval={0} tick={{ fontSize: 12 }} />
        <YAxis allowDecimals={false} tickFormatter={tick} width={48} />
        {tooltip}
        {legend}
        {series.map((s, i) => (
          <Bar key={s.key} dataKey={s.key} name={s.label} fill={COLORS[i % COLORS.length]} isAnimationActive={false} />
        ))}
      </BarChart>
    </ResponsiveContainer>
  );
}
