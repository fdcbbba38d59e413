import { useEffect, useRef, useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router";
import { useTranslation } from "react-i18next";
import { api, type Schemas } from "../api/client";
import { errorMessage } from "../api/errors";
import type { operations } from "../api/schema";
import { useLoaded } from "../api/useLoaded";
import { useAuth } from "../auth";
import { useFormat } from "../i18n/format";
import "./conversations.css";

type Conversation = Schemas["ConversationRead"];
type Escalation = Schemas["EscalationRead"];
type ConversationStatus = Conversation["status"];
type Resolution = NonNullable<Conversation["resolution"]>;
type ListQuery = NonNullable<operations["list_conversations_api_v1_conversations_get"]["parameters"]["query"]>;
type InboxQuery = NonNullable<operations["inbox_api_v1_support_inbox_get"]["parameters"]["query"]>;
type InboxStatus = NonNullable<InboxQuery["status"]>[number];

/** An escalation waiting for a person or taken by one (GET /api/v1/support/inbox takes several statuses). */
export const LIVE: InboxStatus[] = ["open", "taken"];

/** How often the lists, the timeline and the take-over state are read again. */
export const POLL_MS = 5000;
const INBOX_LIMIT = 100;
const PAGE_SIZES = [20, 50, 100] as const;
const STATUSES: ConversationStatus[] = ["active", "waiting_approval", "escalated", "human", "closed"];
const RESOLUTIONS: Resolution[] = ["resolved_confirmed", "resolved_assumed", "escalated", "abandoned"];

export const shortId = (id: string): string => id.slice(0, 8);

/**
 * Values looked up once per id (a user's name, a session's title) for ids that come and go with polling;
 * a failed look-up answers null (the caller shows the short id instead).
 */
export function useLookup(ids: readonly (string | null | undefined)[], load: (id: string) => Promise<string | null>): Record<string, string | null> {
  const [found, setFound] = useState<Record<string, string | null>>({});
  const asked = useRef(new Set<string>());
  const loader = useRef(load);
  loader.current = load;
  const key = [...new Set(ids.filter((id): id is string => !!id))].sort().join(",");
  useEffect(() => {
    for (const id of key ? key.split(",") : []) {
      if (asked.current.has(id)) continue;
      asked.current.add(id);
      loader.current(id).then(
        (value) => setFound((all) => ({ ...all, [id]: value })),
        () => setFound((all) => ({ ...all, [id]: null })),
      );
    }
  }, [key]);
  return found;
}

/** People's names (GET /api/v1/users/{id}: staff read anyone). */
export function useUserNames(ids: readonly (string | null | undefined)[]) {
  return useLookup(ids, async (user_id) => {
    const { data } = await api.GET("/api/v1/users/{user_id}", { params: { path: { user_id } } });
    return data ? data.display_name || data.username || data.email : null;
  });
}

/** Conversation titles: a chat session is its thread (same id) and has a title; other threads have none. */
export function useTitles(threadIds: readonly string[]) {
  return useLookup(threadIds, async (session_id) => {
    const { data } = await api.GET("/api/v1/sessions/{session_id}", { params: { path: { session_id } } });
    return data?.title ?? null;
  });
}

/** A person's name for display: "you", their looked-up name, or their short id. */
export function usePersonLabel(names: Record<string, string | null>) {
  const { t } = useTranslation();
  const { user } = useAuth();
  return (id: string | null | undefined): string => {
    if (!id) return "—";
    if (user && id === user.id) return t("conversations.you");
    return names[id] || shortId(id);
  };
}

/** Runs `effect` when `key` changes, not on mount (the first load is useLoaded's). */
function useOnChange(key: string, effect: () => void) {
  const first = useRef(key);
  const latest = useRef(effect);
  latest.current = effect;
  useEffect(() => {
    if (first.current === key) return;
    first.current = key;
    latest.current();
  }, [key]);
}

/** A POST from a button: busy while it runs, the server's message when it fails. */
export function useAction() {
  const { t } = useTranslation();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function run<T>(call: () => Promise<{ data?: T; error?: unknown }>): Promise<T | null> {
    setBusy(true);
    setError(null);
    try {
      const { data, error: failure } = await call();
      if (data === undefined) {
        setError(errorMessage(failure, t("conversations.actionFailed")));
        return null;
      }
      return data;
    } catch {
      setError(t("common.networkError"));
      return null;
    } finally {
      setBusy(false);
    }
  }
  return { busy, error, run, clear: () => setError(null) };
}

/** Staff: the escalations waiting for a person, and every conversation (filtered, paged), both polled every 5 s. */
export function ConversationsView() {
  const { t } = useTranslation();
  return (
    <div className="page page-wide cv">
      <div className="page-head">
        <h1>{t("conversations.title")}</h1>
        <span className="muted small">{t("conversations.live")}</span>
      </div>
      <InboxSection />
      <ConversationList />
    </div>
  );
}

type InboxMode = "live" | Exclude<InboxStatus, "any">;

function InboxSection() {
  const { t } = useTranslation();
  const fmt = useFormat();
  const navigate = useNavigate();
  const { user } = useAuth();
  const [mode, setMode] = useState<InboxMode>("live");
  const [mine, setMine] = useState(false);
  const action = useAction();

  const { data, error, reload } = useLoaded(
    () => {
      const query: InboxQuery = { status: mode === "live" ? LIVE : [mode], limit: INBOX_LIMIT };
      if (mine) query.mine = true;
      return api.GET("/api/v1/support/inbox", { params: { query } });
    },
    { everyMs: POLL_MS, failedKey: "conversations.inbox.loadFailed" },
  );
  useOnChange(`${mode}|${mine}`, () => void reload());

  const items: Escalation[] | null = data ? data.items : null;
  const names = useUserNames(items ? items.flatMap((e) => [e.user_id, e.assigned_to]) : []);
  const person = usePersonLabel(names);
  const now = Date.now();

  async function take(escalation: Escalation) {
    const done = await action.run(() =>
      api.POST("/api/v1/support/escalations/{escalation_id}/take", { params: { path: { escalation_id: escalation.id } } }),
    );
    if (done) navigate(`/conversations/${encodeURIComponent(done.thread_id)}`);
  }

  async function release(escalation: Escalation) {
    const done = await action.run(() =>
      api.POST("/api/v1/support/escalations/{escalation_id}/release", {
        params: { path: { escalation_id: escalation.id } },
        body: { close: false },
      }),
    );
    if (done) void reload();
  }

  return (
    <section className="card cv-section" aria-labelledby="cv-inbox-title">
      <div className="cv-section-head">
        <h2 id="cv-inbox-title">{t("conversations.inbox.title")}</h2>
        {data && (
          <span className="muted small" aria-live="polite" data-testid="inbox-count">
            {t("conversations.inbox.count", { n: fmt.number(data.total) })}
          </span>
        )}
        <label className="cv-inline">
          <span>{t("conversations.inbox.show")}</span>
          <select data-testid="inbox-mode" value={mode} onChange={(e) => setMode(e.target.value as InboxMode)}>
            <option value="live">{t("conversations.inbox.live")}</option>
            <option value="open">{t("conversations.inbox.open")}</option>
            <option value="taken">{t("conversations.inbox.taken")}</option>
            <option value="closed">{t("conversations.inbox.closed")}</option>
          </select>
        </label>
        <label className="cv-inline">
          <input type="checkbox" data-testid="inbox-mine" checked={mine} onChange={(e) => setMine(e.target.checked)} />
          <span>{t("conversations.inbox.mine")}</span>
        </label>
      </div>
      {error && <p className="alert alert-error" role="alert">{error}</p>}
      {action.error && <p className="alert alert-error" role="alert">{action.error}</p>}
      {items === null && !error && <p className="muted" role="status">{t("common.loading")}</p>}
      {items && items.length === 0 && <p className="empty muted" data-testid="inbox-empty">{t("conversations.inbox.none")}</p>}
      {items && items.length > 0 && (
        <div className="cv-table-wrap">
          <table className="cv-table">
            <caption className="visually-hidden">{t("conversations.inbox.title")}</caption>
            <thead>
              <tr>
                <th scope="col">{t("conversations.inbox.reason")}</th>
                <th scope="col">{t("conversations.inbox.customer")}</th>
                <th scope="col">{t("conversations.inbox.age")}</th>
                <th scope="col">{t("conversations.inbox.state")}</th>
                <th scope="col">{t("conversations.inbox.actions")}</th>
              </tr>
            </thead>
            <tbody>
              {items.map((e) => {
                const mayRelease = e.status === "taken" && (e.assigned_to === user?.id || user?.role === "admin");
                return (
                  <tr key={e.id} data-testid="inbox-row" data-escalation-id={e.id}>
                    <td>
                      <span className="cv-reason">{e.reason}</span>{" "}
                      <span className="pill">{t(`conversations.escalationKind.${e.kind}`, { defaultValue: e.kind })}</span>
                    </td>
                    <td>{person(e.user_id)}</td>
                    <td>
                      <time dateTime={e.created_at} title={fmt.dateTime(e.created_at)}>{fmt.relative(e.created_at, now)}</time>
                    </td>
                    <td>
                      <span className={`pill cv-esc-${e.status}`}>{t(`conversations.escalationStatus.${e.status}`)}</span>
                      {e.assigned_to && (
                        <span className="small muted cv-taken"> {t("conversations.inbox.takenBy", { name: person(e.assigned_to) })}</span>
                      )}
                    </td>
                    <td>
                      <div className="cv-actions">
                        <Link className="btn btn-small" to={`/conversations/${encodeURIComponent(e.thread_id)}`}>
                          {t("conversations.inbox.open_")}
                        </Link>
                        {e.status === "open" && (
                          <button type="button" className="btn btn-small btn-primary" data-testid="inbox-take" disabled={action.busy} onClick={() => void take(e)}>
                            {t("conversations.inbox.take")}
                          </button>
                        )}
                        {mayRelease && (
                          <button type="button" className="btn btn-small" data-testid="inbox-release" disabled={action.busy} onClick={() => void release(e)}>
                            {t("conversations.inbox.release")}
                          </button>
                        )}
                      </div>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {data && data.total > data.items.length && (
        <p className="muted small">{t("conversations.inbox.truncated", { shown: fmt.number(data.items.length), total: fmt.number(data.total) })}</p>
      )}
    </section>
  );
}

interface Filters {
  status: ConversationStatus | "";
  resolution: Resolution | "";
  agent: string;
  userId: string;
  since: string;
  until: string;
}

const NO_FILTERS: Filters = { status: "", resolution: "", agent: "", userId: "", since: "", until: "" };

/** The start of a local calendar day (`yyyy-mm-dd`), `days` later, as an ISO instant. */
function dayStart(day: string, days = 0): string {
  const date = new Date(`${day}T00:00:00`);
  date.setDate(date.getDate() + days);
  return date.toISOString();
}

function listQuery(filters: Filters, limit: number, offset: number): ListQuery {
  const query: ListQuery = {};
  if (filters.status) query.status = filters.status;
  if (filters.resolution) query.resolution = filters.resolution;
  if (filters.agent) query.agent = filters.agent;
  if (filters.userId) query.user_id = filters.userId;
  if (filters.since) query.since = dayStart(filters.since);
  if (filters.until) query.until = dayStart(filters.until, 1); // the API's `until` is exclusive: the whole day counts
  query.limit = limit;
  query.offset = offset;
  return query;
}

function ConversationList() {
  const { t } = useTranslation();
  const fmt = useFormat();
  const navigate = useNavigate();
  const action = useAction();
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [agentDraft, setAgentDraft] = useState("");
  const [limit, setLimit] = useState<number>(PAGE_SIZES[0]);
  const [offset, setOffset] = useState(0);

  const { data, error, reload } = useLoaded(
    () => api.GET("/api/v1/conversations", { params: { query: listQuery(filters, limit, offset) } }),
    { everyMs: POLL_MS, failedKey: "conversations.list.loadFailed" },
  );
  useOnChange(JSON.stringify([filters, limit, offset]), () => void reload());

  const rows: Conversation[] | null = data ? data.items : null;
  const names = useUserNames([...(rows ? rows.map((c) => c.user_id) : []), filters.userId || null]);
  const titles = useTitles(rows ? rows.map((c) => c.thread_id) : []);
  const person = usePersonLabel(names);

  function change(next: Partial<Filters>) {
    setFilters((current) => ({ ...current, ...next }));
    setOffset(0);
  }

  function apply(event: FormEvent) {
    event.preventDefault();
    change({ agent: agentDraft.trim() });
  }

  function reset() {
    setAgentDraft("");
    setFilters(NO_FILTERS);
    setOffset(0);
  }

  /** The record names its live escalation: taken over from the list, then opened. */
  async function take(conversation: Conversation) {
    if (!conversation.escalation_id) return;
    const escalation_id = conversation.escalation_id;
    const done = await action.run(() => api.POST("/api/v1/support/escalations/{escalation_id}/take", { params: { path: { escalation_id } } }));
    if (done) navigate(`/conversations/${encodeURIComponent(done.thread_id)}`);
  }

  const total = data ? data.total : 0;
  const first = rows && rows.length > 0 ? offset + 1 : 0;
  const last = rows ? offset + rows.length : 0;

  return (
    <section className="card cv-section" aria-labelledby="cv-list-title">
      <h2 id="cv-list-title">{t("conversations.list.title")}</h2>
      <form className="cv-filters" onSubmit={apply} aria-label={t("conversations.list.filters")}>
        <label className="field">
          <span>{t("conversations.list.status")}</span>
          <select data-testid="conversations-status" value={filters.status} onChange={(e) => change({ status: e.target.value as Filters["status"] })}>
            <option value="">{t("conversations.list.any")}</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>{t(`conversations.status.${s}`)}</option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>{t("conversations.list.resolution")}</span>
          <select data-testid="conversations-resolution" value={filters.resolution} onChange={(e) => change({ resolution: e.target.value as Filters["resolution"] })}>
            <option value="">{t("conversations.list.any")}</option>
            {RESOLUTIONS.map((r) => (
              <option key={r} value={r}>{t(`conversations.resolution.${r}`)}</option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>{t("conversations.list.agent")}</span>
          <input data-testid="conversations-agent" value={agentDraft} maxLength={100} placeholder={t("conversations.list.agentHint")} onChange={(e) => setAgentDraft(e.target.value)} />
        </label>
        <label className="field">
          <span>{t("conversations.list.since")}</span>
          <input type="date" data-testid="conversations-since" value={filters.since} onChange={(e) => change({ since: e.target.value })} />
        </label>
        <label className="field">
          <span>{t("conversations.list.until")}</span>
          <input type="date" data-testid="conversations-until" value={filters.until} onChange={(e) => change({ until: e.target.value })} />
        </label>
        <div className="cv-filter-actions">
          <button type="submit" className="btn btn-primary">{t("conversations.list.apply")}</button>
          <button type="button" className="btn btn-ghost" onClick={reset}>{t("conversations.list.reset")}</button>
        </div>
      </form>
      {filters.userId && (
        <p className="cv-chip">
          <span>{t("conversations.list.customerFilter", { name: person(filters.userId) })}</span>
          <button type="button" className="btn btn-small btn-ghost" data-testid="conversations-clear-customer" onClick={() => change({ userId: "" })}>
            {t("conversations.list.clearCustomer")}
          </button>
        </p>
      )}
      {error && <p className="alert alert-error" role="alert">{error}</p>}
      {action.error && <p className="alert alert-error" role="alert">{action.error}</p>}
      {rows === null && !error && <p className="muted" role="status">{t("common.loading")}</p>}
      {rows && rows.length === 0 && <p className="empty muted" data-testid="conversations-empty">{t("conversations.list.none")}</p>}
      {rows && rows.length > 0 && (
        <div className="cv-table-wrap">
          <table className="cv-table">
            <caption className="visually-hidden">{t("conversations.list.title")}</caption>
            <thead>
              <tr>
                <th scope="col">{t("conversations.list.conversation")}</th>
                <th scope="col">{t("conversations.list.customer")}</th>
                <th scope="col">{t("conversations.list.status")}</th>
                <th scope="col">{t("conversations.list.resolution")}</th>
                <th scope="col" className="num">{t("conversations.list.messages")}</th>
                <th scope="col" className="num">{t("conversations.list.tools")}</th>
                <th scope="col" className="num">{t("conversations.list.csat")}</th>
                <th scope="col">{t("conversations.list.lastActivity")}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((c) => (
                <tr key={c.thread_id} data-testid="conversations-row" data-thread-id={c.thread_id}>
                  <th scope="row">
                    <Link to={`/conversations/${encodeURIComponent(c.thread_id)}`}>
                      {titles[c.thread_id] || t("conversations.untitled", { id: shortId(c.thread_id) })}
                    </Link>
                    {c.intents.length > 0 && <span className="small muted cv-sub">{c.intents.join(", ")}</span>}
                  </th>
                  <td>
                    {c.user_id ? (
                      <button type="button" className="cv-link" title={t("conversations.list.onlyCustomer", { name: person(c.user_id) })} onClick={() => change({ userId: c.user_id ?? "" })}>
                        {person(c.user_id)}
                      </button>
                    ) : (
                      "—"
                    )}
                  </td>
                  <td>
                    <span className={`pill cv-status-${c.status}`}>{t(`conversations.status.${c.status}`)}</span>
                    {c.escalated_at && <span className="small muted cv-sub">{t("conversations.list.escalatedAt", { when: fmt.dateTime(c.escalated_at) })}</span>}
                    {c.escalation_id && c.status === "escalated" && (
                      <button
                        type="button"
                        className="btn btn-small btn-primary cv-sub"
                        data-testid="conversations-take"
                        disabled={action.busy}
                        aria-label={t("conversations.list.takeOf", { name: titles[c.thread_id] || t("conversations.untitled", { id: shortId(c.thread_id) }) })}
                        onClick={() => void take(c)}
                      >
                        {t("conversations.list.take")}
                      </button>
                    )}
                  </td>
                  <td>{c.resolution ? <span className={`pill cv-res-${c.resolution}`}>{t(`conversations.resolution.${c.resolution}`)}</span> : "—"}</td>
                  <td className="num">{fmt.number(c.messages)}</td>
                  <td className="num">
                    {fmt.number(c.tool_calls)}
                    {c.tool_errors > 0 && <span className="small cv-bad cv-sub">{t("conversations.list.toolErrors", { n: fmt.number(c.tool_errors) })}</span>}
                  </td>
                  <td className="num">{c.csat != null ? <span title={c.csat_comment ?? undefined}>{`★ ${fmt.number(c.csat)}`}</span> : "—"}</td>
                  <td>
                    <time dateTime={c.last_activity_at}>{fmt.dateTime(c.last_activity_at)}</time>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {data && (
        <nav className="cv-pager" aria-label={t("conversations.list.pages")}>
          <button type="button" className="btn btn-small" data-testid="conversations-prev" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - limit))}>
            {t("conversations.list.prev")}
          </button>
          <span className="small muted" data-testid="conversations-range">
            {t("conversations.list.range", { from: fmt.number(first), to: fmt.number(last), total: fmt.number(total) })}
          </span>
          <button type="button" className="btn btn-small" data-testid="conversations-next" disabled={last >= total} onClick={() => setOffset(offset + limit)}>
            {t("conversations.list.next")}
          </button>
          <label className="cv-inline">
            <span>{t("conversations.list.pageSize")}</span>
            <select value={limit} onChange={(e) => { setLimit(Number(e.target.value)); setOffset(0); }}>
              {PAGE_SIZES.map((n) => (
                <option key={n} value={n}>{n}</option>
              ))}
            </select>
          </label>
        </nav>
      )}
    </section>
  );
}
