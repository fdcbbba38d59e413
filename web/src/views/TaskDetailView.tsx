import { useEffect, useId, useState, type FormEvent, type ReactNode } from "react";
import { Link, useParams } from "react-router";
import { useTranslation } from "react-i18next";
import { api, type Schemas, type Task, type TaskEvent } from "../api/client";
import { errorMessage } from "../api/errors";
import { useLoaded } from "../api/useLoaded";
import { useAuth } from "../auth";
import { useFormat } from "../i18n/format";
import { AssigneeOptions, slaTone } from "./BoardView";
import {
  ASSIGNABLE,
  LEVELS,
  PRIORITY_LOCKED,
  isStaffRole,
  mayReportProgress,
  performMove,
  shortId,
  usePeople,
  useTeams,
} from "./workflow";
import "./board.css";

type Attachment = Schemas["AttachmentRead"];
type RelatedLog = Schemas["RelatedLogRead"];
type TeamRead = Schemas["TeamRead"];
type Level = NonNullable<Task["priority_level"]>;
type Answer = { data?: Task; error?: unknown };

// `log_analysis` and `resolution_plan` are JSON documents (feedback/analysis.py, graph.py `draft_plan`): read them
// defensively, field by field.
type Json = Record<string, unknown>;
const rec = (value: unknown): Json | null => (value && typeof value === "object" && !Array.isArray(value) ? (value as Json) : null);
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const text = (value: unknown): string | null => (typeof value === "string" && value.trim() ? value : null);
const num = (value: unknown): number | null => (typeof value === "number" && Number.isFinite(value) ? value : null);
const texts = (value: unknown): string[] => list(value).map(text).filter((x): x is string => x !== null);

/** One task for staff (`/board/:task`, an id or a task number): its fields, analysis, files and timeline, and the
 * workflow actions its stage allows. A new task (e.g. following a "duplicate of" link) starts afresh. */
export function TaskDetailView() {
  const { task = "" } = useParams();
  return <TaskDetail key={task} taskKey={task} />;
}

function TaskDetail({ taskKey: key }: { taskKey: string }) {
  const { t } = useTranslation();
  const { user } = useAuth();
  const loaded = useLoaded(() => api.GET("/api/v1/tasks/{task}", { params: { path: { task: key } } }), {
    everyMs: 15_000,
    failedKey: "tasks.detail.loadFailed",
  });
  const [task, setTask] = useState<Task | null>(null);
  useEffect(() => {
    if (loaded.data) setTask(loaded.data);
  }, [loaded.data]);
  const timeline = useLoaded(() => api.GET("/api/v1/tasks/{task}/timeline", { params: { path: { task: key } } }), {
    everyMs: 15_000,
    failedKey: "feedback.timelineFailed",
  });
  const files = useLoaded(() => api.GET("/api/v1/tasks/{task}/attachments", { params: { path: { task: key } } }), {
    failedKey: "tasks.attachments.loadFailed",
  });
  const teams = useTeams();
  const events = timeline.data ?? [];
  const names = usePeople([
    task?.reporter_id,
    task?.assignee_id,
    ...(teams ?? []).flatMap((team) => team.members.map((m) => m.user_id)),
    ...events.map((e) => e.actor_id),
    ...events.filter((e) => e.kind === "assignee").flatMap((e) => [e.from_value, e.to_value]),
    ...events.map((e) => text(e.data.reporter_id)),
    ...(files.data ?? []).map((a) => a.uploaded_by),
  ]);

  function changed(next: Task) {
    setTask(next);
    void timeline.reload();
    void files.reload();
  }

  if (!task) {
    return (
      <div className="page page-wide task-detail">
        <p><Link to="/board">{t("tasks.detail.back")}</Link></p>
        {loaded.error ? <p className="alert alert-error" role="alert">{loaded.error}</p> : <p className="muted" role="status">{t("common.loading")}</p>}
      </div>
    );
  }

  const person = (id: string | null | undefined) => (id ? names[id] ?? shortId(id) : "—");
  return (
    <div className="page page-wide task-detail" data-testid="task-detail">
      <p><Link to="/board">{t("tasks.detail.back")}</Link></p>
      <div className="page-head task-detail-head">
        <h1>
          <span className="task-number">{task.task_number}</span> {task.title || t("chat.untitled")}
        </h1>
        <span className={`pill stage-${task.workflow_stage}`} data-testid="task-stage">{t(`stage.${task.workflow_stage}`)}</span>
        {task.priority_level && <span className={`pill prio-${task.priority_level}`}>{task.priority_level}</span>}
      </div>
      {loaded.error && <p className="alert alert-error" role="alert">{loaded.error}</p>}
      <div className="task-detail-grid">
        <div className="task-detail-main">
          {task.description && (
            <section className="card" aria-labelledby="task-description">
              <h2 id="task-description">{t("tasks.detail.description")}</h2>
              <p className="prewrap">{task.description}</p>
            </section>
          )}
          <Plan plan={task.resolution_plan} />
          <Analysis task={task} />
          <Attachments task={task} files={files.data} error={files.error} person={person} />
          <Duplicates task={task} events={events} person={person} />
          <section className="card" aria-labelledby="task-timeline">
            <h2 id="task-timeline">{t("tasks.detail.timeline")}</h2>
            {timeline.error && <p className="alert alert-error" role="alert">{timeline.error}</p>}
            {!timeline.data && !timeline.error && <p className="muted small" role="status">{t("common.loading")}</p>}
            {timeline.data && <Timeline events={timeline.data} person={person} team={(id) => teams?.find((x) => x.id === id)?.name ?? shortId(id)} />}
          </section>
        </div>
        <aside className="task-detail-side">
          <Fields task={task} teams={teams} person={person} />
          <Actions task={task} user={user} teams={teams} names={names} onChanged={changed} />
        </aside>
      </div>
    </div>
  );
}

function Fields({ task, teams, person }: { task: Task; teams: TeamRead[] | null; person: (id: string | null | undefined) => string }) {
  const { t } = useTranslation();
  const fmt = useFormat();
  const tone = slaTone(task);
  const team = task.team_id ? teams?.find((x) => x.id === task.team_id)?.name ?? shortId(task.team_id) : null;
  const rows: [string, ReactNode][] = [
    [t("tasks.field.number"), task.task_number],
    [t("tasks.field.type"), task.issue_type ? t(`tasks.type.${task.issue_type}`) : "—"],
    [t("tasks.field.category"), task.category ?? "—"],
    [t("tasks.field.severity"), task.severity ?? "—"],
    [t("tasks.field.region"), task.region ? t(`region.${task.region}`) : "—"],
    [
      t("tasks.field.priority"),
      task.priority_level ? `${task.priority_level}${task.priority_score != null ? ` (${fmt.number(task.priority_score)})` : ""}` : "—",
    ],
    [
      t("tasks.field.reporter"),
      <>
        {person(task.reporter_id)}
        {task.reporter_count > 1 && <span className="muted small"> {t("tasks.detail.moreReporters", { count: task.reporter_count - 1, n: fmt.number(task.reporter_count - 1) })}</span>}
      </>,
    ],
    [t("tasks.field.team"), team ?? "—"],
    [t("tasks.field.assignee"), person(task.assignee_id)],
    [
      t("tasks.field.sla"),
      task.sla_deadline ? (
        <span className={`sla sla-${tone}`} data-testid="task-sla">
          {fmt.dateTime(task.sla_deadline)} · {tone === "breached" ? t("board.breached") : t("board.due", { when: fmt.relative(task.sla_deadline) })}
        </span>
      ) : (
        "—"
      ),
    ],
    [t("tasks.field.channel"), t(`tasks.channel.${task.source_channel}`)],
    [t("tasks.field.modules"), task.affected_modules.length ? task.affected_modules.join(", ") : "—"],
    [t("tasks.field.created"), fmt.dateTime(task.created_at)],
    [t("tasks.field.stageSince"), fmt.dateTime(task.stage_entered_at)],
    [t("tasks.field.firstResponse"), fmt.dateTime(task.first_response_at)],
  ];
  if (task.resolved_at) rows.push([t("tasks.field.resolved"), fmt.dateTime(task.resolved_at)]);
  if (task.closed_at) rows.push([t("tasks.field.closed"), fmt.dateTime(task.closed_at)]);
  if (task.reopen_count) rows.push([t("tasks.field.reopened"), fmt.number(task.reopen_count)]);
  if (task.escalation_level) rows.push([t("tasks.field.escalation"), t(`tasks.escalation.${Math.min(task.escalation_level, 3)}`)]);
  if (task.csat != null) rows.push([t("tasks.field.csat"), `${task.csat}/5${task.csat_comment ? ` — ${task.csat_comment}` : ""}`]);
  if (task.duplicate_of) rows.push([t("tasks.field.duplicateOf"), <Link to={`/board/${task.duplicate_of}`}>{shortId(task.duplicate_of)}</Link>]);
  if (task.archived_at) rows.push([t("tasks.field.archived"), fmt.dateTime(task.archived_at)]);
  return (
    <section className="card" aria-labelledby="task-fields">
      <h2 id="task-fields">{t("tasks.detail.fields")}</h2>
      <dl className="task-fields">
        {rows.map(([label, value]) => (
          <div key={label}>
            <dt>{label}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}

function Plan({ plan }: { plan: Task["resolution_plan"] }) {
  const { t } = useTranslation();
  if (!plan) return null;
  const steps = texts(plan.steps);
  return (
    <section className="card" aria-labelledby="task-plan">
      <h2 id="task-plan">{t("tasks.detail.plan")}</h2>
      {text(plan.summary) && <p>{text(plan.summary)}</p>}
      {steps.length > 0 && (
        <ol>
          {steps.map((step, i) => <li key={i}>{step}</li>)}
        </ol>
      )}
    </section>
  );
}

function Analysis({ task }: { task: Task }) {
  const { t } = useTranslation();
  const fmt = useFormat();
  const analysis = task.log_analysis;
  if (!analysis && !task.root_cause_hypothesis) return null;
  const a = analysis ?? {};
  const hypothesis = task.root_cause_hypothesis ?? text(a.root_cause_hypothesis);
  const confidence = num(a.confidence_score);
  const modules = texts(a.modules);
  const keywords = texts(a.keywords);
  const window = rec(a.window);
  const samples = list(a.sample_logs).map(rec).filter((x): x is Json => x !== null);
  const patterns = list(a.log_patterns).map(rec).filter((x): x is Json => x !== null);
  const anomalies = list(a.anomaly_patterns).map(rec).filter((x): x is Json => x !== null);
  const related = num(a.related_logs_count);
  return (
    <section className="card" aria-labelledby="task-analysis" data-testid="task-analysis">
      <h2 id="task-analysis">{t("tasks.analysis.title")}</h2>
      {hypothesis && (
        <>
          <h3>{t("tasks.analysis.hypothesis")}</h3>
          <p className="prewrap">{hypothesis}</p>
        </>
      )}
      {text(a.recommendation) && (
        <>
          <h3>{t("tasks.analysis.recommendation")}</h3>
          <p className="prewrap">{text(a.recommendation)}</p>
        </>
      )}
      <dl className="meta">
        {modules.length > 0 && (
          <div>
            <dt>{t("tasks.analysis.components")}</dt>
            <dd data-testid="analysis-components">{modules.join(", ")}</dd>
          </div>
        )}
        {confidence !== null && (
          <div>
            <dt>{t("tasks.analysis.confidence")}</dt>
            <dd>{new Intl.NumberFormat(undefined, { style: "percent" }).format(confidence)}</dd>
          </div>
        )}
        {text(a.method) && (
          <div>
            <dt>{t("tasks.analysis.method")}</dt>
            <dd>{t(`tasks.analysis.by.${text(a.method) === "llm" ? "llm" : "rules"}`)}{text(a.model) ? ` (${text(a.model)})` : ""}</dd>
          </div>
        )}
        {related !== null && (
          <div>
            <dt>{t("tasks.analysis.relatedCount")}</dt>
            <dd>{fmt.number(related)}</dd>
          </div>
        )}
        {window && text(window.start) && text(window.end) && (
          <div>
            <dt>{t("tasks.analysis.window")}</dt>
            <dd>{fmt.dateTime(text(window.start))} – {fmt.dateTime(text(window.end))}</dd>
          </div>
        )}
        {keywords.length > 0 && (
          <div>
            <dt>{t("tasks.analysis.keywords")}</dt>
            <dd>{keywords.join(", ")}</dd>
          </div>
        )}
      </dl>
      {samples.length > 0 && (
        <LogTable caption={t("tasks.analysis.samples")} rows={samples.map((s) => ({ ts: text(s.time), level: text(s.level), module: text(s.module), message: text(s.message) ?? "" }))} />
      )}
      {patterns.length > 0 && (
        <div className="table-wrap">
          <table className="data-table">
            <caption>{t("tasks.analysis.patterns")}</caption>
            <thead>
              <tr>
                <th scope="col">{t("tasks.analysis.template")}</th>
                <th scope="col">{t("tasks.analysis.count")}</th>
                <th scope="col">{t("tasks.analysis.errors")}</th>
                <th scope="col">{t("tasks.analysis.modules")}</th>
              </tr>
            </thead>
            <tbody>
              {patterns.map((p, i) => (
                <tr key={i}>
                  <td><code>{text(p.template)}</code></td>
                  <td>{fmt.number(num(p.count) ?? 0)}</td>
                  <td>{fmt.number(num(p.errors) ?? 0)}</td>
                  <td>{texts(p.modules).join(", ")}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {anomalies.length > 0 && (
        <>
          <h3>{t("tasks.analysis.anomalies")}</h3>
          <ul className="anomalies" data-testid="analysis-anomalies">
            {anomalies.map((x, i) => (
              <li key={i}>
                <span className={`pill severity-${text(x.severity) ?? "low"}`}>{text(x.severity)}</span>{" "}
                <strong>{text(x.module)}</strong> · {text(x.metric)} · {fmt.dateTime(text(x.start))} – {fmt.dateTime(text(x.end))}
                {num(x.value) !== null && (
                  <span className="muted small"> {t("tasks.analysis.value", { value: fmt.number(num(x.value) ?? 0), threshold: num(x.threshold) !== null ? fmt.number(num(x.threshold) ?? 0) : "—" })}</span>
                )}
                {text(x.dominant_error) && (
                  <div className="small">
                    {t("tasks.analysis.dominant", { count: num(x.dominant_error_count) ?? 0 })} <code>{text(x.dominant_error)}</code>
                  </div>
                )}
              </li>
            ))}
          </ul>
        </>
      )}
      {analysis && (keywords.length > 0 || modules.length > 0 || texts(a.trace_ids).length > 0) && <RelatedLogs analysis={analysis} />}
    </section>
  );
}

/** The analysis's own search again (its keywords, modules, trace and window), through GET /api/v1/logs/related. */
function RelatedLogs({ analysis }: { analysis: Json }) {
  const { t } = useTranslation();
  const [logs, setLogs] = useState<RelatedLog[] | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function load() {
    const window = rec(analysis.window);
    const keywords = texts(analysis.keywords).slice(0, 20);
    const modules = texts(analysis.modules).slice(0, 20);
    const trace = texts(analysis.trace_ids)[0];
    setBusy(true);
    setError(null);
    try {
      const { data, error: failure } = await api.GET("/api/v1/logs/related", {
        params: {
          query: {
            ...(keywords.length ? { keywords } : {}),
            ...(modules.length ? { modules } : {}),
            ...(text(window?.start) ? { start: text(window?.start) } : {}),
            ...(text(window?.end) ? { end: text(window?.end) } : {}),
            ...(trace ? { trace_id: trace } : {}),
            limit: 50,
          },
        },
      });
      if (data) setLogs(data);
      else setError(errorMessage(failure, t("tasks.analysis.relatedFailed")));
    } catch {
      setError(t("common.networkError"));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="related-logs" aria-live="polite">
      <button type="button" className="btn btn-small" data-testid="related-logs-load" disabled={busy} onClick={() => void load()}>
        {logs ? t("tasks.analysis.relatedReload") : t("tasks.analysis.relatedLoad")}
      </button>
      {error && <p className="alert alert-error" role="alert">{error}</p>}
      {logs && logs.length === 0 && <p className="muted small">{t("tasks.analysis.relatedNone")}</p>}
      {logs && logs.length > 0 && (
        <LogTable
          caption={t("tasks.analysis.related")}
          testId="related-logs"
          rows={logs.map((l) => ({ ts: l.ts, level: l.level, module: l.module ?? l.service, message: l.message, matched: l.matched_keywords, trace: l.trace_match }))}
        />
      )}
    </div>
  );
}

function LogTable({
  caption,
  rows,
  testId,
}: {
  caption: string;
  rows: { ts: string | null; level: string | null; module: string | null; message: string; matched?: string[]; trace?: boolean }[];
  testId?: string;
}) {
  const { t } = useTranslation();
  const fmt = useFormat();
  return (
    <div className="table-wrap">
      <table className="data-table log-table" data-testid={testId}>
        <caption>{caption}</caption>
        <thead>
          <tr>
            <th scope="col">{t("tasks.analysis.time")}</th>
            <th scope="col">{t("tasks.analysis.level")}</th>
            <th scope="col">{t("tasks.analysis.module")}</th>
            <th scope="col">{t("tasks.analysis.message")}</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row, i) => (
            <tr key={i} className={`level-${row.level ?? ""}`}>
              <td className="nowrap">{fmt.dateTime(row.ts)}</td>
              <td>{row.level}</td>
              <td>{row.module ?? "—"}</td>
              <td>
                <code className="log-message">{row.message}</code>
                {row.trace && <span className="pill"> {t("tasks.analysis.traceMatch")}</span>}
                {row.matched && row.matched.length > 0 && <span className="muted small"> {t("tasks.analysis.matched", { words: row.matched.join(", ") })}</span>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Attachments({
  task,
  files,
  error,
  person,
}: {
  task: Task;
  files: Attachment[] | null;
  error: string | null;
  person: (id: string) => string;
}) {
  const { t } = useTranslation();
  const fmt = useFormat();
  return (
    <section className="card" aria-labelledby="task-files">
      <h2 id="task-files">{t("tasks.attachments.title")}</h2>
      {error && <p className="alert alert-error" role="alert">{error}</p>}
      {files && files.length === 0 && <p className="muted small">{t("tasks.attachments.none")}</p>}
      {files && files.length > 0 && (
        <ul className="attachments" data-testid="task-attachments">
          {files.map((file) => (
            <li key={file.id}>
              <a href={`/api/v1/tasks/${encodeURIComponent(task.id)}/attachments/${encodeURIComponent(file.id)}`} download={file.filename} data-testid="attachment-link">
                {file.filename}
              </a>{" "}
              <span className="muted small">
                {file.content_type} · {fileSize(file.size, fmt.number)} · {person(file.uploaded_by)} · {fmt.dateTime(file.created_at)}
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

export function fileSize(bytes: number, number: (n: number) => string): string {
  if (bytes < 1024) return `${number(bytes)} B`;
  if (bytes < 1024 * 1024) return `${number(Math.round(bytes / 102.4) / 10)} KB`;
  return `${number(Math.round(bytes / (1024 * 102.4)) / 10)} MB`;
}

/** Reports joined to this task (the timeline's `duplicate_linked` entries not since unlinked), and, for a suggestion,
 * the similar open suggestions the analysis found. */
function Duplicates({ task, events, person }: { task: Task; events: TaskEvent[]; person: (id: string) => string }) {
  const { t } = useTranslation();
  const fmt = useFormat();
  const unlinked = new Set(events.filter((e) => e.kind === "duplicate_unlinked").map((e) => text(e.data.reporter_id)));
  const joined = events.filter((e) => e.kind === "duplicate_linked" && !unlinked.has(text(e.data.reporter_id)));
  const similar = list(rec(task.log_analysis?.similar_suggestions)?.tasks).map(rec).filter((x): x is Json => x !== null);
  if (!joined.length && !similar.length) return null;
  return (
    <section className="card" aria-labelledby="task-duplicates" data-testid="task-duplicates">
      <h2 id="task-duplicates">{t("tasks.duplicates.title")}</h2>
      {joined.length > 0 && (
        <ul>
          {joined.map((e) => (
            <li key={e.id}>
              {text(e.data.title) ?? "—"}{" "}
              <span className="muted small">
                {person(text(e.data.reporter_id) ?? "")} · {fmt.dateTime(e.at)}
                {num(e.data.similarity) !== null && ` · ${t("tasks.duplicates.similarity", { value: fmt.number(num(e.data.similarity) ?? 0) })}`}
              </span>
            </li>
          ))}
        </ul>
      )}
      {similar.length > 0 && (
        <>
          <h3>{t("tasks.duplicates.similar")}</h3>
          <ul>
            {similar.map((s, i) => (
              <li key={i}>
                <Link to={`/board/${text(s.task_number) ?? text(s.task_id) ?? ""}`}>{text(s.task_number)}</Link>
                {num(s.score) !== null && <span className="muted small"> · {t("tasks.duplicates.similarity", { value: fmt.number(num(s.score) ?? 0) })}</span>}
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

/** A task's timeline, oldest first, times in the reader's language; ids become names where `person` / `team` know them. */
export function Timeline({
  events,
  person,
  team,
  testId = "task-timeline",
}: {
  events: TaskEvent[];
  person?: (id: string) => string;
  team?: (id: string) => string;
  testId?: string;
}) {
  const { t } = useTranslation();
  const fmt = useFormat();
  const value = (e: TaskEvent, v: string | null, from: boolean) => {
    if (!v) return "";
    if (e.kind === "stage" || e.kind === "created") return t(`stage.${v}`, { defaultValue: v });
    if (e.kind === "assignee" && person) return person(v);
    if (e.kind === "team" && from && team) return team(v); // from: the team's id; to: its name
    return v;
  };
  return (
    <ol className="timeline" data-testid={testId}>
      {events.map((e) => (
        <li key={e.id}>
          <time dateTime={e.at}>{fmt.dateTime(e.at)}</time>
          <span className="kind">{t(`event.${e.kind}`, { defaultValue: t(`tasks.event.${e.kind}`, { defaultValue: e.kind }) })}</span>
          {(e.from_value || e.to_value) && (
            <span className="change">
              {e.from_value ? `${value(e, e.from_value, true)} → ` : ""}
              {value(e, e.to_value, false)}
            </span>
          )}
          {person && <span className="muted small"> · {e.actor_id ? person(e.actor_id) : t("tasks.detail.system")}</span>}
          {e.reason && <span className="muted small"> — {e.reason}</span>}
        </li>
      ))}
    </ol>
  );
}

// -- actions --------------------------------------------------------------------------------------------------

/** Runs one action: busy while it is sent, the server's message when it fails, the new task when it succeeds. */
function useAction(onChanged: (task: Task) => void) {
  const { t } = useTranslation();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function run(call: () => Promise<Answer>): Promise<boolean> {
    setBusy(true);
    setError(null);
    try {
      const { data, error: failure } = await call();
      if (!data) {
        setError(errorMessage(failure, t("tasks.action.failed")));
        return false;
      }
      onChanged(data);
      return true;
    } catch {
      setError(t("common.networkError"));
      return false;
    } finally {
      setBusy(false);
    }
  }
  return { busy, error, setError, run };
}

type ActionProps = { task: Task; teams: TeamRead[] | null; names: Record<string, string>; onChanged: (task: Task) => void };

function Actions({ task, user, ...props }: ActionProps & { user: ReturnType<typeof useAuth>["user"] }) {
  const { t } = useTranslation();
  const staff = isStaffRole(user);
  const stage = task.workflow_stage;
  const panels: ReactNode[] = [];
  const p = { task, ...props };
  if (staff && stage === "plan_review") panels.push(<ReviewAction key="review" {...p} />);
  if (mayReportProgress(task, user) && (stage === "assigned" || stage === "in_progress" || stage === "feedback_pending")) panels.push(<ProgressAction key="progress" {...p} />);
  if (staff && stage === "in_progress") panels.push(<RequestUpdateAction key="update" {...p} />);
  if ((staff || task.reporter_id === user?.id) && (stage === "resolved" || stage === "verification")) panels.push(<VerifyAction key="verify" {...p} />);
  if (staff && (stage === "resolved" || stage === "verification")) panels.push(<CloseAction key="close" {...p} />);
  if ((staff || (stage === "closed" && task.reporter_id === user?.id)) && (stage === "closed" || stage === "rejected")) panels.push(<ReopenAction key="reopen" {...p} />);
  if (staff && ASSIGNABLE.includes(stage)) panels.push(<AssignAction key="assign" {...p} />);
  if (staff && !PRIORITY_LOCKED.includes(stage)) panels.push(<PriorityAction key="priority" {...p} />);
  return (
    <section className="card task-actions" aria-labelledby="task-actions">
      <h2 id="task-actions">{t("tasks.action.title")}</h2>
      {panels.length ? panels : <p className="muted small">{t("tasks.action.none", { stage: t(`stage.${stage}`) })}</p>}
    </section>
  );
}

function Panel({ title, error, children, onSubmit, testId }: { title: string; error: string | null; children: ReactNode; onSubmit?: (e: FormEvent) => void; testId: string }) {
  const id = useId();
  return (
    <form className="action-panel" aria-labelledby={id} onSubmit={onSubmit ?? ((e) => e.preventDefault())} data-testid={testId}>
      <h3 id={id}>{title}</h3>
      {children}
      {error && <p className="alert alert-error" role="alert">{error}</p>}
    </form>
  );
}

function NoteField({ label, value, onChange, required = false, testId }: { label: string; value: string; onChange: (v: string) => void; required?: boolean; testId: string }) {
  const { t } = useTranslation();
  return (
    <label className="field">
      <span>{required ? label : t("tasks.optional", { label })}</span>
      <textarea rows={2} maxLength={required ? 2000 : 5000} required={required} data-testid={testId} value={value} onChange={(e) => onChange(e.target.value)} />
    </label>
  );
}

function ReviewAction({ task, teams, names, onChanged }: ActionProps) {
  const { t } = useTranslation();
  const { busy, error, setError, run } = useAction(onChanged);
  const [comment, setComment] = useState("");
  const [assignee, setAssignee] = useState("");
  const approve = () => {
    if (!task.assignee_id && !assignee) return setError(t("tasks.action.assigneeNeeded"));
    void run(() => performMove(task, "approve", { note: comment, assigneeId: assignee }));
  };
  const reject = () => {
    if (!comment.trim()) return setError(t("tasks.action.reasonNeeded"));
    void run(() => performMove(task, "reject", { note: comment }));
  };
  return (
    <Panel title={t("tasks.action.review")} error={error} testId="action-review">
      <label className="field">
        <span>{t("tasks.field.assignee")}</span>
        <select data-testid="review-assignee" value={assignee} onChange={(e) => setAssignee(e.target.value)}>
          <option value="">{task.assignee_id ? t("tasks.move.keepAssignee", { name: names[task.assignee_id] ?? shortId(task.assignee_id) }) : t("tasks.move.chooseAssignee")}</option>
          <AssigneeOptions teams={teams} names={names} teamId={task.team_id} />
        </select>
      </label>
      <NoteField label={t("tasks.action.reviewComment")} value={comment} onChange={setComment} testId="review-comment" />
      <div className="actions">
        <button type="button" className="btn btn-primary" data-testid="review-approve" disabled={busy} onClick={approve}>{t("approval.approve")}</button>
        <button type="button" className="btn btn-danger" data-testid="review-reject" disabled={busy} onClick={reject}>{t("approval.reject")}</button>
      </div>
    </Panel>
  );
}

function ProgressAction({ task, onChanged }: ActionProps) {
  const { t } = useTranslation();
  const { busy, error, run } = useAction(onChanged);
  const [notes, setNotes] = useState("");
  const [percent, setPercent] = useState("");
  const [done, setDone] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const pct = percent === "" ? {} : { percent: Math.max(0, Math.min(100, Math.round(Number(percent)))) };
    const ok = await run(() =>
      api.POST("/api/v1/tasks/{task}/progress", { params: { path: { task: task.id } }, body: { done, ...(notes.trim() ? { notes: notes.trim() } : {}), ...(done ? {} : pct) } }),
    );
    if (ok) {
      setNotes("");
      setPercent("");
      setDone(false);
    }
  };
  return (
    <Panel title={t("tasks.action.progress")} error={error} onSubmit={(e) => void submit(e)} testId="action-progress">
      <NoteField label={t("tasks.action.progressNote")} value={notes} onChange={setNotes} testId="progress-notes" />
      {!done && (
        <label className="field">
          <span>{t("tasks.optional", { label: t("tasks.action.percent") })}</span>
          <input type="number" min={0} max={100} data-testid="progress-percent" value={percent} onChange={(e) => setPercent(e.target.value)} />
        </label>
      )}
      <label className="check">
        <input type="checkbox" data-testid="progress-done" checked={done} onChange={(e) => setDone(e.target.checked)} /> {t("tasks.action.progressDone")}
      </label>
      <div className="actions">
        <button type="submit" className="btn btn-primary" data-testid="progress-submit" disabled={busy}>{t("tasks.action.progressSend")}</button>
      </div>
    </Panel>
  );
}

function RequestUpdateAction({ task, onChanged }: ActionProps) {
  const { t } = useTranslation();
  const { busy, error, run } = useAction(onChanged);
  const [reason, setReason] = useState("");
  return (
    <Panel
      title={t("tasks.action.requestUpdate")}
      error={error}
      testId="action-request-update"
      onSubmit={(e) => {
        e.preventDefault();
        void run(() => performMove(task, "requestUpdate", { note: reason }));
      }}
    >
      <NoteField label={t("tasks.action.reason")} value={reason} onChange={setReason} testId="request-update-reason" />
      <div className="actions">
        <button type="submit" className="btn" data-testid="request-update-submit" disabled={busy}>{t("tasks.action.requestUpdateSend")}</button>
      </div>
    </Panel>
  );
}

function VerifyAction({ task, onChanged }: ActionProps) {
  const { t } = useTranslation();
  const { busy, error, run } = useAction(onChanged);
  const [notes, setNotes] = useState("");
  const send = (result: "pass" | "fail") =>
    void run(() => performMove(task, result === "pass" ? "close" : "verifyFail", { note: notes, closeMode: "verified" }));
  return (
    <Panel title={t("tasks.action.verify")} error={error} testId="action-verify">
      <NoteField label={t("tasks.action.verifyNote")} value={notes} onChange={setNotes} testId="verify-notes" />
      <div className="actions">
        <button type="button" className="btn btn-primary" data-testid="verify-pass" disabled={busy} onClick={() => send("pass")}>{t("tasks.action.verifyPass")}</button>
        <button type="button" className="btn btn-danger" data-testid="verify-fail" disabled={busy} onClick={() => send("fail")}>{t("tasks.action.verifyFail")}</button>
      </div>
    </Panel>
  );
}

function CloseAction({ task, onChanged }: ActionProps) {
  const { t } = useTranslation();
  const { busy, error, run } = useAction(onChanged);
  const [reason, setReason] = useState("");
  return (
    <Panel
      title={t("tasks.action.close")}
      error={error}
      testId="action-close"
      onSubmit={(e) => {
        e.preventDefault();
        if (reason.trim()) void run(() => performMove(task, "close", { note: reason, closeMode: "unverified" }));
      }}
    >
      <NoteField label={t("tasks.action.closeReason")} value={reason} onChange={setReason} required testId="close-reason" />
      <div className="actions">
        <button type="submit" className="btn" data-testid="close-submit" disabled={busy || !reason.trim()}>{t("tasks.action.closeSend")}</button>
      </div>
    </Panel>
  );
}

function ReopenAction({ task, onChanged }: ActionProps) {
  const { t } = useTranslation();
  const { busy, error, run } = useAction(onChanged);
  const [reason, setReason] = useState("");
  return (
    <Panel
      title={t("tasks.action.reopen")}
      error={error}
      testId="action-reopen"
      onSubmit={(e) => {
        e.preventDefault();
        if (reason.trim()) void run(() => performMove(task, "reopen", { note: reason }));
      }}
    >
      <NoteField label={t("tasks.action.reason")} value={reason} onChange={setReason} required testId="reopen-reason" />
      <div className="actions">
        <button type="submit" className="btn" data-testid="reopen-submit" disabled={busy || !reason.trim()}>{t("tasks.action.reopenSend")}</button>
      </div>
    </Panel>
  );
}

function AssignAction({ task, teams, names, onChanged }: ActionProps) {
  const { t } = useTranslation();
  const { busy, error, run } = useAction(onChanged);
  const [teamId, setTeamId] = useState(task.team_id ?? "");
  const [assignee, setAssignee] = useState("");
  const [reason, setReason] = useState("");
  const team = teams?.find((x) => x.id === teamId) ?? null;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!assignee) return;
    void run(() =>
      api.POST("/api/v1/tasks/{task}/assign", {
        params: { path: { task: task.id } },
        body: { assignee_id: assignee, ...(teamId && teamId !== task.team_id ? { team_id: teamId } : {}), ...(reason.trim() ? { reason: reason.trim() } : {}) },
      }),
    ).then((ok) => ok && setAssignee(""));
  };
  return (
    <Panel title={t("tasks.action.assign")} error={error} onSubmit={submit} testId="action-assign">
      <label className="field">
        <span>{t("tasks.field.team")}</span>
        <select data-testid="assign-team" value={teamId} onChange={(e) => { setTeamId(e.target.value); setAssignee(""); }}>
          {!task.team_id && <option value="">{t("tasks.action.anyTeam")}</option>}
          {(teams ?? []).map((x) => <option key={x.id} value={x.id}>{x.name}</option>)}
        </select>
      </label>
      <label className="field">
        <span>{t("tasks.field.assignee")}</span>
        <select data-testid="assign-assignee" required value={assignee} onChange={(e) => setAssignee(e.target.value)}>
          <option value="">{t("tasks.move.chooseAssignee")}</option>
          {team
            ? team.members.filter((m) => m.active).map((m) => <option key={m.user_id} value={m.user_id}>{names[m.user_id] ?? shortId(m.user_id)}</option>)
            : <AssigneeOptions teams={teams} names={names} teamId={null} />}
        </select>
      </label>
      <NoteField label={t("tasks.action.reason")} value={reason} onChange={setReason} testId="assign-reason" />
      <div className="actions">
        <button type="submit" className="btn" data-testid="assign-submit" disabled={busy || !assignee}>{t("tasks.action.assignSend")}</button>
      </div>
    </Panel>
  );
}

function PriorityAction({ task, onChanged }: ActionProps) {
  const { t } = useTranslation();
  const { busy, error, run } = useAction(onChanged);
  const [level, setLevel] = useState<Level>(task.priority_level ?? "P2");
  const [reason, setReason] = useState("");
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!reason.trim()) return;
    void run(() => api.POST("/api/v1/tasks/{task}/priority", { params: { path: { task: task.id } }, body: { level, reason: reason.trim() } })).then(
      (ok) => ok && setReason(""),
    );
  };
  return (
    <Panel title={t("tasks.action.priority")} error={error} onSubmit={submit} testId="action-priority">
      <label className="field">
        <span>{t("tasks.field.priority")}</span>
        <select data-testid="priority-level" value={level} onChange={(e) => setLevel(e.target.value as Level)}>
          {LEVELS.map((l) => <option key={l} value={l}>{t(`tasks.level.${l}`)}</option>)}
        </select>
      </label>
      <NoteField label={t("tasks.action.reason")} value={reason} onChange={setReason} required testId="priority-reason" />
      <div className="actions">
        <button type="submit" className="btn" data-testid="priority-submit" disabled={busy || !reason.trim() || level === task.priority_level}>{t("tasks.action.prioritySend")}</button>
      </div>
    </Panel>
  );
}
