import { useCallback, useEffect, useRef, useState, type FormEvent, type ReactNode } from "react";
import { Link, useParams } from "react-router";
import { useTranslation } from "react-i18next";
import { api, type Schemas } from "../api/client";
import { errorMessage } from "../api/errors";
import { useLoaded } from "../api/useLoaded";
import { useAuth } from "../auth";
import { JsonView } from "../components/JsonView";
import { locale } from "../i18n";
import { useFormat } from "../i18n/format";
import { LIVE, POLL_MS, shortId, useAction, usePersonLabel, useTitles, useUserNames } from "./ConversationsView";
import "./conversations.css";

type Conversation = Schemas["ConversationRead"];
type Escalation = Schemas["EscalationRead"];
type ReplayEvent = Schemas["ReplayEvent"];

const REPLAY_PAGE = 500;

/** Staff: one conversation's record, its replay timeline (polled), and taking it over from the agents. */
export function ReplayView() {
  const { threadId = "" } = useParams();
  const { t } = useTranslation();
  const header = useLoaded(
    () => api.GET("/api/v1/conversations/{thread_id}", { params: { path: { thread_id: threadId } } }),
    { everyMs: POLL_MS, failedKey: "conversations.replay.loadFailed" },
  );
  const timeline = useReplay(threadId);
  const { reload: reloadHeader } = header;
  const { pull } = timeline;
  const refresh = useCallback(() => {
    void reloadHeader();
    void pull();
  }, [reloadHeader, pull]);

  return (
    <div className="page cv cv-replay">
      <p className="cv-back">
        <Link to="/conversations" data-testid="replay-back">{t("conversations.replay.back")}</Link>
      </p>
      {header.error && <p className="alert alert-error" role="alert">{header.error}</p>}
      {header.data === null && !header.error && <p className="muted" role="status">{t("common.loading")}</p>}
      {header.data && <Header conversation={header.data} />}
      <TakeOver threadId={threadId} escalationId={header.data ? header.data.escalation_id : undefined} onChange={refresh} />
      <Timeline events={timeline.events} error={timeline.error} />
    </div>
  );
}

/**
 * The thread's events, all pages on the first load, then only what came after the last one every 5 s (and on
 * `pull()`): new events are appended, so what is shown (scroll, open details, the kind filter) stays put.
 */
function useReplay(threadId: string) {
  const { t } = useTranslation();
  const tr = useRef(t);
  tr.current = t;
  const [events, setEvents] = useState<ReplayEvent[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  // One state per thread shown: a pull of an earlier one (or of a remount) that answers late changes nothing.
  const state = useRef({ thread: threadId, last: null as number | null, running: false, again: false });

  const pull = useCallback(async () => {
    const current = state.current;
    if (current.running) {
      current.again = true;
      return;
    }
    current.running = true;
    try {
      do {
        current.again = false;
        let cursor = current.last;
        for (;;) {
          const { data, error: failure } = await api.GET("/api/v1/replay/{thread_id}", {
            params: { path: { thread_id: current.thread }, query: cursor === null ? { limit: REPLAY_PAGE } : { limit: REPLAY_PAGE, cursor } },
          });
          if (state.current !== current) return;
          if (!data) {
            setError(errorMessage(failure, tr.current("conversations.replay.timelineFailed")));
            return;
          }
          setError(null);
          const fresh = data.items.filter((e) => current.last === null || e.id > current.last);
          if (fresh.length) current.last = fresh[fresh.length - 1].id;
          setEvents((shown) => [...(shown ?? []), ...fresh]);
          if (data.next_cursor === null) break;
          cursor = Number(data.next_cursor);
        }
      } while (current.again);
    } catch {
      if (state.current === current) setError(tr.current("common.networkError"));
    } finally {
      current.running = false;
    }
  }, []);

  useEffect(() => {
    state.current = { thread: threadId, last: null, running: false, again: false };
    setEvents(null);
    setError(null);
    void pull();
    const timer = setInterval(() => {
      if (document.visibilityState !== "hidden") void pull();
    }, POLL_MS);
    return () => clearInterval(timer);
  }, [threadId, pull]);

  return { events, error, pull };
}

function money(value: number, lang: string): string {
  return new Intl.NumberFormat(locale(lang), { style: "currency", currency: "USD", maximumFractionDigits: 4 }).format(value);
}

function Header({ conversation: c }: { conversation: Conversation }) {
  const { t, i18n } = useTranslation();
  const fmt = useFormat();
  const titles = useTitles([c.thread_id]);
  const names = useUserNames([c.user_id, c.taken_by]);
  const person = usePersonLabel(names);
  const items: [string, ReactNode][] = [
    [t("conversations.replay.customer"), person(c.user_id)],
    [t("conversations.replay.started"), <time dateTime={c.started_at}>{fmt.dateTime(c.started_at)}</time>],
    [t("conversations.replay.lastActivity"), <time dateTime={c.last_activity_at}>{fmt.dateTime(c.last_activity_at)}</time>],
    [t("conversations.replay.messages"), fmt.number(c.messages)],
    [t("conversations.replay.toolCalls"), `${fmt.number(c.tool_calls)} (${fmt.number(c.tool_errors)})`],
    [t("conversations.replay.tokens"), fmt.number(c.tokens)],
    [t("conversations.replay.cost"), money(c.cost, i18n.language)],
  ];
  if (c.agents_used.length) items.push([t("conversations.replay.agents"), c.agents_used.join(", ")]);
  if (c.intents.length) items.push([t("conversations.replay.intents"), c.intents.join(", ")]);
  if (c.csat != null) items.push([t("conversations.replay.csat"), `★ ${fmt.number(c.csat)}${c.csat_comment ? ` — ${c.csat_comment}` : ""}`]);
  if (c.escalated_at) items.push([t("conversations.replay.escalatedAt"), <time dateTime={c.escalated_at}>{fmt.dateTime(c.escalated_at)}</time>]);
  if (c.resolved_at) items.push([t("conversations.replay.resolvedAt"), <time dateTime={c.resolved_at}>{fmt.dateTime(c.resolved_at)}</time>]);

  return (
    <section className="card" aria-labelledby="cv-replay-title" data-testid="replay-header">
      <div className="page-head">
        <h1 id="cv-replay-title">{titles[c.thread_id] || t("conversations.untitled", { id: shortId(c.thread_id) })}</h1>
        <span className={`pill cv-status-${c.status}`} data-testid="replay-status">{t(`conversations.status.${c.status}`)}</span>
        {c.resolution && <span className={`pill cv-res-${c.resolution}`}>{t(`conversations.resolution.${c.resolution}`)}</span>}
      </div>
      <dl className="meta">
        {items.map(([label, value]) => (
          <div key={label}>
            <dt>{label}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}

/**
 * The thread's live escalation (open or taken), read from the inbox by thread. Then: take it over, reply as a
 * person, hand it back; with none, escalate it to people. When the record's `escalation_id` (polled with the header)
 * moves, someone escalated or closed it meanwhile: read it again at once.
 */
function TakeOver({ threadId, escalationId, onChange }: { threadId: string; escalationId: string | null | undefined; onChange: () => void }) {
  const { t } = useTranslation();
  const fmt = useFormat();
  const { user } = useAuth();
  const action = useAction();
  const [text, setText] = useState("");
  const [reason, setReason] = useState("");
  const [notice, setNotice] = useState<string | null>(null);

  const live = useLoaded(
    async () => {
      const { data, error } = await api.GET("/api/v1/support/inbox", { params: { query: { thread_id: threadId, status: LIVE, limit: 1 } } });
      return data ? { data: { escalation: data.items[0] ?? null } } : { error };
    },
    { everyMs: POLL_MS, failedKey: "conversations.inbox.loadFailed" },
  );
  const escalation: Escalation | null = live.data ? live.data.escalation : null;
  const { reload: reloadLive } = live;
  const seen = useRef(escalationId);
  useEffect(() => {
    const before = seen.current;
    seen.current = escalationId;
    if (before !== undefined && before !== escalationId) void reloadLive(); // not on the header's first answer
  }, [escalationId, reloadLive]);
  const names = useUserNames([escalation?.assigned_to]);
  const person = usePersonLabel(names);
  const mayAct = !!escalation && escalation.status === "taken" && (escalation.assigned_to === user?.id || user?.role === "admin");

  async function after(done: unknown, message: string | null = null) {
    if (done === null) return;
    setNotice(message);
    await live.reload();
    onChange();
  }

  const take = async (e: Escalation) =>
    after(await action.run(() => api.POST("/api/v1/support/escalations/{escalation_id}/take", { params: { path: { escalation_id: e.id } } })));

  const release = async (e: Escalation, close: boolean) =>
    after(await action.run(() => api.POST("/api/v1/support/escalations/{escalation_id}/release", { params: { path: { escalation_id: e.id } }, body: { close } })));

  async function escalate(event: FormEvent) {
    event.preventDefault();
    const why = reason.trim();
    const done = await action.run(() =>
      api.POST("/api/v1/support/conversations/{thread_id}/escalate", { params: { path: { thread_id: threadId } }, ...(why ? { body: { reason: why } } : {}) }),
    );
    if (done) setReason("");
    await after(done);
  }

  async function reply(event: FormEvent) {
    event.preventDefault();
    const body = text.trim();
    if (!body) return;
    const done = await action.run(() => api.POST("/api/v1/support/conversations/{thread_id}/reply", { params: { path: { thread_id: threadId } }, body: { text: body } }));
    if (done) setText("");
    await after(done, done ? t("conversations.takeover.sent") : null);
  }

  return (
    <section className="card cv-takeover" aria-labelledby="cv-takeover-title" data-testid="takeover">
      <h2 id="cv-takeover-title">{t("conversations.takeover.title")}</h2>
      <div aria-live="polite">
        {live.error && <p className="alert alert-error" role="alert">{live.error}</p>}
        {action.error && <p className="alert alert-error" role="alert" data-testid="takeover-error">{action.error}</p>}
        {notice && <p className="alert alert-ok" role="status">{notice}</p>}
        {live.data === null && !live.error && <p className="muted" role="status">{t("common.loading")}</p>}
        {escalation && (
          <p className="cv-escalation" data-testid="takeover-state" data-status={escalation.status}>
            <span className={`pill cv-esc-${escalation.status}`}>{t(`conversations.escalationStatus.${escalation.status}`)}</span>{" "}
            <span className="pill">{t(`conversations.escalationKind.${escalation.kind}`, { defaultValue: escalation.kind })}</span>{" "}
            <span>{escalation.reason}</span>{" "}
            <span className="muted small">
              {escalation.status === "open"
                ? t("conversations.takeover.waiting", { when: fmt.dateTime(escalation.created_at) })
                : escalation.assigned_to === user?.id
                  ? t("conversations.takeover.mine")
                  : t("conversations.takeover.other", { name: person(escalation.assigned_to) })}
            </span>
          </p>
        )}
        {live.data && !escalation && <p className="muted small">{t("conversations.takeover.none")}</p>}
      </div>

      {escalation?.status === "open" && (
        <div className="actions">
          <button type="button" className="btn btn-primary" data-testid="takeover-take" disabled={action.busy} onClick={() => void take(escalation)}>
            {t("conversations.takeover.take")}
          </button>
        </div>
      )}

      {escalation && mayAct && (
        <>
          <form className="cv-reply" onSubmit={reply}>
            <label className="field">
              <span>{t("conversations.takeover.reply")}</span>
              <textarea data-testid="takeover-reply-input" rows={3} maxLength={10000} value={text} onChange={(e) => setText(e.target.value)} />
            </label>
            <div className="actions">
              <button type="submit" className="btn btn-primary" data-testid="takeover-send" disabled={action.busy || !text.trim()}>
                {t("conversations.takeover.send")}
              </button>
              <button type="button" className="btn" data-testid="takeover-release" disabled={action.busy} onClick={() => void release(escalation, false)}>
                {t("conversations.takeover.release")}
              </button>
              <button type="button" className="btn btn-ghost" data-testid="takeover-release-close" disabled={action.busy} onClick={() => void release(escalation, true)}>
                {t("conversations.takeover.releaseClose")}
              </button>
            </div>
          </form>
        </>
      )}

      {live.data && !escalation && (
        <form className="cv-escalate" onSubmit={escalate}>
          <label className="field">
            <span>{t("conversations.takeover.reason")}</span>
            <input data-testid="takeover-escalate-reason" maxLength={2000} value={reason} onChange={(e) => setReason(e.target.value)} />
          </label>
          <button type="submit" className="btn" data-testid="takeover-escalate" disabled={action.busy}>
            {t("conversations.takeover.escalate")}
          </button>
        </form>
      )}
    </section>
  );
}

function Timeline({ events, error }: { events: ReplayEvent[] | null; error: string | null }) {
  const { t } = useTranslation();
  const fmt = useFormat();
  const [hidden, setHidden] = useState<ReadonlySet<string>>(() => new Set());
  const kinds = events ? [...new Set(events.map((e) => e.kind))] : [];
  const counts = new Map<string, number>();
  events?.forEach((e) => counts.set(e.kind, (counts.get(e.kind) ?? 0) + 1));
  const shown = events ? events.filter((e) => !hidden.has(e.kind)) : [];

  function toggle(kind: string, show: boolean) {
    setHidden((current) => {
      const next = new Set(current);
      if (show) next.delete(kind);
      else next.add(kind);
      return next;
    });
  }

  return (
    <section className="card" aria-labelledby="cv-timeline-title">
      <div className="cv-section-head">
        <h2 id="cv-timeline-title">{t("conversations.replay.timeline")}</h2>
        {events && (
          <span className="muted small" aria-live="polite" data-testid="replay-count">
            {t("conversations.replay.count", { shown: fmt.number(shown.length), total: fmt.number(events.length) })}
          </span>
        )}
      </div>
      {error && <p className="alert alert-error" role="alert">{error}</p>}
      {events === null && !error && <p className="muted" role="status">{t("common.loading")}</p>}
      {kinds.length > 0 && (
        <fieldset className="cv-kinds" data-testid="replay-filter">
          <legend className="small muted">{t("conversations.replay.filter")}</legend>
          {kinds.map((kind) => (
            <label key={kind} className="cv-kind">
              <input type="checkbox" checked={!hidden.has(kind)} onChange={(e) => toggle(kind, e.target.checked)} />
              <span>
                {t(`conversations.kind.${kind}`, { defaultValue: kind })} <span className="muted">({fmt.number(counts.get(kind) ?? 0)})</span>
              </span>
            </label>
          ))}
          {hidden.size > 0 && (
            <button type="button" className="btn btn-small btn-ghost" onClick={() => setHidden(new Set())}>
              {t("conversations.replay.showAll")}
            </button>
          )}
        </fieldset>
      )}
      {events && events.length === 0 && <p className="empty muted">{t("conversations.replay.empty")}</p>}
      {events && events.length > 0 && shown.length === 0 && <p className="empty muted">{t("conversations.replay.noneShown")}</p>}
      <ol className="cv-timeline">
        {shown.map((e) => (
          <EventItem key={e.id} event={e} />
        ))}
      </ol>
    </section>
  );
}

const text = (value: unknown): string | null => (typeof value === "string" && value ? value : typeof value === "number" ? String(value) : null);

function Collapsible({ label, value }: { label: string; value: unknown }) {
  if (value === undefined || value === null) return null;
  return (
    <details className="cv-json">
      <summary>{label}</summary>
      <JsonView value={value} />
    </details>
  );
}

function EventItem({ event: e }: { event: ReplayEvent }) {
  const { t, i18n } = useTranslation();
  const fmt = useFormat();
  const d = e.data;
  const role = text(d.role);
  const tone = e.kind === "message" && role ? `cv-ev-${e.kind} cv-role-${role}` : `cv-ev-${e.kind}`;
  const who = e.actor?.display_name || (e.actor ? shortId(e.actor.id) : null);
  const label = (key: string, value: string | null) => (value ? t(`conversations.${key}.${value}`, { defaultValue: value }) : null);

  let body: ReactNode = null;
  switch (e.kind) {
    case "message":
      body = (
        <>
          <span className="cv-ev-who">
            {label("role", role)}
            {role === "staff" && text(d.staff_name) ? ` · ${text(d.staff_name)}` : ""}
          </span>
          <p className="cv-ev-text">{text(d.text)}</p>
        </>
      );
      break;
    case "intent": {
      const steps = Array.isArray(d.steps) ? d.steps.map((s) => text((s as Record<string, unknown> | null)?.intent)).filter(Boolean) : [];
      body = (
        <>
          {text(d.kind) && <span className="pill">{text(d.kind)}</span>}
          {steps.length > 0 && <span className="small"> {t("conversations.replay.steps", { list: steps.join(", ") })}</span>}
          <Collapsible label={t("conversations.replay.details")} value={d} />
        </>
      );
      break;
    }
    case "handoff":
      body = (
        <>
          {e.agent && <span>{t("conversations.replay.to", { agent: e.agent })}</span>}
          {text(d.request) && <p className="cv-ev-text">{text(d.request)}</p>}
        </>
      );
      break;
    case "clarification":
      body = <p className="cv-ev-text">{text(d.text)}</p>;
      break;
    case "refusal":
      body = (
        <>
          {text(d.reason) && <span className="pill">{text(d.reason)}</span>}
          {text(d.text) && <p className="cv-ev-text">{text(d.text)}</p>}
          <Collapsible label={t("conversations.replay.args")} value={d.args} />
        </>
      );
      break;
    case "tool_call":
      body = (
        <>
          {text(d.status) && <span className={`pill cv-tool-${text(d.status)}`}>{label("toolStatus", text(d.status))}</span>}
          <Collapsible label={t("conversations.replay.args")} value={d.args} />
          <Collapsible label={t("conversations.replay.result")} value={d.result} />
        </>
      );
      break;
    case "approval_requested":
      body = (
        <>
          {text(d.expires_at) && <span className="small muted">{t("conversations.replay.expires", { when: fmt.dateTime(text(d.expires_at)) })}</span>}
          <Collapsible label={t("conversations.replay.args")} value={d.args} />
        </>
      );
      break;
    case "approval_decided":
      body = (
        <>
          {text(d.decision) && <span className={`pill cv-decision-${text(d.decision)}`}>{label("decision", text(d.decision))}</span>}
          {text(d.via) && <span className="small muted"> {t("conversations.replay.via", { via: text(d.via) })}</span>}
          {typeof d.seconds_to_decide === "number" && (
            <span className="small muted"> · {t("conversations.replay.decidedIn", { seconds: fmt.number(d.seconds_to_decide) })}</span>
          )}
          <Collapsible label={t("conversations.replay.editedArgs")} value={d.edited_args} />
        </>
      );
      break;
    case "escalated":
      body = (
        <>
          {text(d.kind) && <span className="pill">{label("escalationKind", text(d.kind))}</span>}
          {text(d.reason) && <p className="cv-ev-text">{text(d.reason)}</p>}
        </>
      );
      break;
    case "takeover":
      break;
    case "released":
      body = <span className="small">{d.closed === true ? t("conversations.replay.closedToo") : t("conversations.replay.handedBack")}</span>;
      break;
    case "resolved":
      body = (
        <>
          {text(d.resolution) && <span className={`pill cv-res-${text(d.resolution)}`}>{label("resolution", text(d.resolution))}</span>}
          {text(d.by) && <span className="small muted"> {label("resolvedBy", text(d.by))}</span>}
          {typeof d.quiet_minutes === "number" && <span className="small muted"> · {t("conversations.replay.quiet", { minutes: fmt.number(d.quiet_minutes) })}</span>}
          {text(d.left_open) && <span className="small muted"> · {t("conversations.replay.leftOpen", { what: label("leftOpen", text(d.left_open)) })}</span>}
        </>
      );
      break;
    case "csat":
      body = (
        <>
          {typeof d.score === "number" && <span>{`★ ${fmt.number(d.score)}`}</span>}
          {text(d.comment) && <p className="cv-ev-text">{text(d.comment)}</p>}
        </>
      );
      break;
    case "usage":
      break;
    default:
      body = <Collapsible label={t("conversations.replay.details")} value={d} />;
  }

  return (
    <li className={`cv-event ${tone}`} data-testid="replay-event" data-kind={e.kind} data-event-id={e.id}>
      <div className="cv-ev-head">
        <time dateTime={e.at}>{fmt.dateTime(e.at)}</time>
        <span className="cv-ev-kind">{t(`conversations.kind.${e.kind}`, { defaultValue: e.kind })}</span>
        {e.tool && <code className="action">{e.tool}</code>}
        {e.agent && e.kind !== "handoff" && <span className="pill">{e.agent}</span>}
        {e.intent && <span className="pill">{e.intent}</span>}
        {who && <span className="small muted">{t("conversations.replay.by", { name: who })}</span>}
        {(e.tokens > 0 || e.cost > 0) && (
          <span className="small muted cv-ev-cost">
            {t("conversations.replay.usage", { tokens: fmt.number(e.tokens), cost: money(e.cost, i18n.language) })}
          </span>
        )}
      </div>
      {body && <div className="cv-ev-body">{body}</div>}
    </li>
  );
}
