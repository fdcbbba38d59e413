import { useEffect, useRef, useState, type FormEvent } from "react";
import { Link } from "react-router";
import { useTranslation } from "react-i18next";
import { api, type Schemas } from "../../api/client";
import { useLoaded } from "../../api/useLoaded";
import { useFormat } from "../../i18n/format";
import { REGIONS, errorsByIndex, splitList, useAction, type Region } from "./shared";
import "./people.css";

type Channel = Schemas["ChannelRead"];
type Kind = Channel["kind"];
type ChannelWrite =
  | Schemas["DingTalkChannelWrite"]
  | Schemas["SlackChannelWrite"]
  | Schemas["WebhookChannelWrite"]
  | Schemas["EmailChannelWrite"];
type Delivery = Schemas["DeliveryRead"];
type DeliveryStatus = Delivery["status"];
type DeliveryKind = Delivery["kind"];

const KINDS: Kind[] = ["email", "webhook", "slack", "dingtalk"];
const DELIVERY_STATUSES: DeliveryStatus[] = ["pending", "sent", "failed"];
const DELIVERY_KINDS: DeliveryKind[] = ["websocket", "email", "dingtalk", "slack", "webhook"];
/** What the server returns in place of a stored secret; sent back, it keeps that secret. */
const MASK = "********";
const PAGE_SIZE = 50;

type Draft = {
  key: number;
  id: string | null;
  name: string;
  kind: Kind;
  enabled: boolean;
  region: "" | Region;
  team_id: string;
  events: string;
  url: string;
  recipients: string;
  /** A new secret typed in; never the stored one (the API only returns it masked). */
  secret: string;
  storedSecret: boolean;
  clearSecret: boolean;
};

let nextKey = 1;

function toDraft(channel: Channel): Draft {
  const config = channel.config;
  return {
    key: nextKey++,
    id: channel.id,
    name: channel.name,
    kind: channel.kind,
    enabled: channel.enabled,
    region: channel.region ?? "",
    team_id: channel.team_id ?? "",
    events: channel.events.join(", "),
    url: typeof config.url === "string" ? config.url : "",
    recipients: Array.isArray(config.recipients) ? config.recipients.filter((x) => typeof x === "string").join("\n") : "",
    secret: "",
    storedSecret: typeof config.secret === "string" && config.secret !== "",
    clearSecret: false,
  };
}

function blank(kind: Kind): Draft {
  return {
    key: nextKey++, id: null, name: "", kind, enabled: true, region: "", team_id: "", events: "",
    url: "", recipients: "", secret: "", storedSecret: false, clearSecret: false,
  };
}

/** The secret to send: the one typed in, else the mask (keep the stored one), else none. */
function secretOf(d: Draft): string | null {
  if (d.secret) return d.secret;
  return d.storedSecret && !d.clearSecret ? MASK : null;
}

function toWrite(d: Draft): ChannelWrite {
  const common = {
    ...(d.id ? { id: d.id } : {}),
    name: d.name.trim(),
    region: d.region || null,
    team_id: d.team_id || null,
    events: splitList(d.events),
    enabled: d.enabled,
  };
  switch (d.kind) {
    case "email":
      return { ...common, kind: "email", config: { recipients: splitList(d.recipients) } };
    case "slack":
      return { ...common, kind: "slack", config: { url: d.url.trim() } };
    case "dingtalk":
      return { ...common, kind: "dingtalk", config: { url: d.url.trim(), secret: secretOf(d) } };
    case "webhook":
      return { ...common, kind: "webhook", config: { url: d.url.trim(), secret: secretOf(d) } };
  }
}

/** Admin: notification channels (GET/PUT /api/v1/notification-channels) and the recent deliveries. */
export function ChannelsPage() {
  const { t } = useTranslation();
  return (
    <div className="people">
      <div className="page-head">
        <h1>{t("adminPeople.channels.title")}</h1>
      </div>
      <ChannelsEditor />
      <Deliveries />
    </div>
  );
}

function ChannelsEditor() {
  const { t } = useTranslation();
  const channels = useLoaded(() => api.GET("/api/v1/notification-channels"), { failedKey: "adminPeople.channels.loadFailed" });
  const teams = useLoaded(() => api.GET("/api/v1/teams"), { failedKey: "adminPeople.teams.loadFailed" });
  const [drafts, setDrafts] = useState<Draft[] | null>(null);
  const [newKind, setNewKind] = useState<Kind>("email");
  const [rowErrors, setRowErrors] = useState<Map<number, string>>(new Map());
  const [notice, setNotice] = useState<string | null>(null);
  const [dirty, setDirty] = useState(false);
  const action = useAction();
  const focusName = useRef<number | null>(null);

  useEffect(() => {
    if (focusName.current === null) return;
    document.getElementById(`channel-${focusName.current}-name`)?.focus();
    focusName.current = null;
  }, [drafts]);

  useEffect(() => {
    if (channels.data) {
      setDrafts(channels.data.map(toDraft));
      setRowErrors(new Map());
      setDirty(false);
    }
  }, [channels.data]);

  function edit(next: (all: Draft[]) => Draft[]) {
    setDrafts((all) => all && next(all));
    setDirty(true);
    setNotice(null);
  }
  const change = (index: number, patch: Partial<Draft>) => edit((all) => all.map((d, i) => (i === index ? { ...d, ...patch } : d)));

  async function save() {
    if (!drafts) return;
    setNotice(null);
    setRowErrors(new Map());
    const body = drafts.map(toWrite);
    const outcome = await action.run(() => api.PUT("/api/v1/notification-channels", { body }), "adminPeople.channels.saveFailed");
    if (outcome.ok && outcome.data) {
      setDrafts(outcome.data.map(toDraft));
      setDirty(false);
      setNotice(t("adminPeople.channels.saved", { count: outcome.data.length }));
    } else if (!outcome.ok) setRowErrors(errorsByIndex(outcome.info));
  }

  const teamList = teams.data ?? [];
  return (
    <section className="people-section" aria-labelledby="channels-title">
      <div className="page-head">
        <h2 id="channels-title">{t("adminPeople.channels.channels")}</h2>
        {dirty && <span className="pill people-warn">{t("adminPeople.unsaved")}</span>}
      </div>
      <p className="muted small">{t("adminPeople.channels.intro")}</p>
      {channels.error && <p className="alert alert-error" role="alert">{channels.error}</p>}
      {teams.error && <p className="alert alert-error" role="alert">{teams.error}</p>}
      {drafts === null && !channels.error && <p className="muted" role="status">{t("common.loading")}</p>}
      {drafts && drafts.length === 0 && <p className="empty muted">{t("adminPeople.channels.none")}</p>}
      <ul className="people-list">
        {drafts?.map((d, index) => {
          const idBase = `channel-${d.key}`;
          const error = rowErrors.get(index);
          const label = d.name.trim() || t("adminPeople.channels.unnamed");
          return (
            <li key={d.key} className={`card${error ? " people-invalid" : ""}`} data-testid="channel" data-kind={d.kind}>
              <fieldset>
                <legend>
                  {label} <span className="pill">{t(`adminPeople.kind.${d.kind}`)}</span>
                </legend>
                <div className="people-grid">
                  <label className="field">
                    <span>{t("adminPeople.channels.name")}</span>
                    <input id={`${idBase}-name`} required maxLength={100} value={d.name} onChange={(e) => change(index, { name: e.target.value })} />
                  </label>
                  <label className="people-check">
                    <input type="checkbox" checked={d.enabled} onChange={(e) => change(index, { enabled: e.target.checked })} />
                    <span>{t("adminPeople.channels.enabled")}</span>
                  </label>
                  <label className="field">
                    <span>{t("adminPeople.region")}</span>
                    <select value={d.region} onChange={(e) => change(index, { region: e.target.value as Draft["region"] })}>
                      <option value="">{t("adminPeople.anyRegion")}</option>
                      {REGIONS.map((r) => (
                        <option key={r} value={r}>{t(`region.${r}`)}</option>
                      ))}
                    </select>
                  </label>
                  <label className="field">
                    <span>{t("adminPeople.channels.team")}</span>
                    <select value={d.team_id} onChange={(e) => change(index, { team_id: e.target.value })}>
                      <option value="">{t("adminPeople.channels.everyTeam")}</option>
                      {d.team_id && !teamList.some((x) => x.id === d.team_id) && <option value={d.team_id}>{d.team_id.slice(0, 8)}</option>}
                      {teamList.map((x) => (
                        <option key={x.id} value={x.id}>{x.name}</option>
                      ))}
                    </select>
                  </label>
                  <div className="field people-span">
                    <label htmlFor={`${idBase}-events`}>{t("adminPeople.channels.events")}</label>
                    <input
                      id={`${idBase}-events`}
                      aria-describedby={`${idBase}-events-hint`}
                      value={d.events}
                      placeholder={t("adminPeople.channels.allEvents")}
                      onChange={(e) => change(index, { events: e.target.value })}
                    />
                    <span id={`${idBase}-events-hint`} className="muted small">{t("adminPeople.channels.eventsHint")}</span>
                  </div>
                  {d.kind === "email" ? (
                    <div className="field people-span">
                      <label htmlFor={`${idBase}-recipients`}>{t("adminPeople.channels.recipients")}</label>
                      <textarea
                        id={`${idBase}-recipients`}
                        aria-describedby={`${idBase}-recipients-hint`}
                        rows={3}
                        value={d.recipients}
                        onChange={(e) => change(index, { recipients: e.target.value })}
                      />
                      <span id={`${idBase}-recipients-hint`} className="muted small">{t("adminPeople.channels.recipientsHint")}</span>
                    </div>
                  ) : (
                    <div className="field people-span">
                      <label htmlFor={`${idBase}-url`}>{t(`adminPeople.channels.url.${d.kind}`)}</label>
                      <input
                        id={`${idBase}-url`}
                        aria-describedby={`${idBase}-url-hint`}
                        type="url"
                        required
                        maxLength={2000}
                        value={d.url}
                        spellCheck={false}
                        onChange={(e) => change(index, { url: e.target.value })}
                      />
                      <span id={`${idBase}-url-hint`} className="muted small">{t("adminPeople.channels.urlHint")}</span>
                    </div>
                  )}
                  {(d.kind === "webhook" || d.kind === "dingtalk") && (
                    <div className="field people-span">
                      <label className="field people-tight">
                        <span>{t(`adminPeople.channels.secret.${d.kind}`)}</span>
                        <input
                          type="password"
                          autoComplete="new-password"
                          maxLength={500}
                          value={d.secret}
                          placeholder={d.storedSecret && !d.clearSecret ? t("adminPeople.channels.secretKept") : t("adminPeople.channels.secretNone")}
                          onChange={(e) => change(index, { secret: e.target.value, clearSecret: false })}
                        />
                      </label>
                      {d.storedSecret && (
                        <label className="people-check">
                          <input type="checkbox" checked={d.clearSecret} onChange={(e) => change(index, { clearSecret: e.target.checked, secret: "" })} />
                          <span>{t("adminPeople.channels.secretClear")}</span>
                        </label>
                      )}
                    </div>
                  )}
                </div>
              </fieldset>
              {error && <p className="alert alert-error" role="alert" data-testid="channel-error">{error}</p>}
              <div className="actions">
                <button type="button" className="btn btn-small btn-danger" disabled={action.busy} onClick={() => edit((all) => all.filter((_, i) => i !== index))}>
                  {t("adminPeople.channels.remove", { name: label })}
                </button>
              </div>
            </li>
          );
        })}
      </ul>
      {drafts && (
        <>
          <div className="people-inline">
            <label className="field">
              <span>{t("adminPeople.channels.newKind")}</span>
              <select data-testid="channel-kind" value={newKind} onChange={(e) => setNewKind(e.target.value as Kind)}>
                {KINDS.map((k) => (
                  <option key={k} value={k}>{t(`adminPeople.kind.${k}`)}</option>
                ))}
              </select>
            </label>
            <button type="button" className="btn" data-testid="channel-add" disabled={action.busy} onClick={() => {
                const draft = blank(newKind);
                focusName.current = draft.key;
                edit((all) => [...all, draft]);
              }}>
              {t("adminPeople.channels.add")}
            </button>
          </div>
          {action.error && <p className="alert alert-error" role="alert">{action.error}</p>}
          {notice && <p className="alert alert-ok" role="status">{notice}</p>}
          <div className="actions">
            <button type="button" className="btn btn-primary" data-testid="channels-save" disabled={action.busy || !dirty} onClick={() => void save()}>
              {t("adminPeople.channels.save")}
            </button>
            <button type="button" className="btn btn-ghost" disabled={action.busy || !dirty} onClick={() => void channels.reload()}>
              {t("adminPeople.discard")}
            </button>
          </div>
        </>
      )}
    </section>
  );
}

// -- deliveries -------------------------------------------------------------------------------------------------

type Filters = { status: "" | DeliveryStatus; kind: "" | DeliveryKind; event: string; task_id: string };
const NO_FILTERS: Filters = { status: "", kind: "", event: "", task_id: "" };

function Deliveries() {
  const { t } = useTranslation();
  const [form, setForm] = useState<Filters>(NO_FILTERS);
  const [applied, setApplied] = useState<Filters>(NO_FILTERS);
  const [offset, setOffset] = useState(0);

  function apply(event: FormEvent) {
    event.preventDefault();
    setApplied({ ...form, event: form.event.trim(), task_id: form.task_id.trim() });
    setOffset(0);
  }

  return (
    <section className="people-section" aria-labelledby="deliveries-title">
      <h2 id="deliveries-title">{t("adminPeople.deliveries.title")}</h2>
      <form className="people-filters" onSubmit={apply} aria-label={t("adminPeople.deliveries.filters")}>
        <label className="field">
          <span>{t("adminPeople.deliveries.status")}</span>
          <select data-testid="deliveries-status" value={form.status} onChange={(e) => setForm({ ...form, status: e.target.value as Filters["status"] })}>
            <option value="">{t("adminPeople.any")}</option>
            {DELIVERY_STATUSES.map((s) => (
              <option key={s} value={s}>{t(`adminPeople.deliveryStatus.${s}`)}</option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>{t("adminPeople.deliveries.kind")}</span>
          <select data-testid="deliveries-kind" value={form.kind} onChange={(e) => setForm({ ...form, kind: e.target.value as Filters["kind"] })}>
            <option value="">{t("adminPeople.any")}</option>
            {DELIVERY_KINDS.map((k) => (
              <option key={k} value={k}>{t(`adminPeople.kind.${k}`)}</option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>{t("adminPeople.deliveries.event")}</span>
          <input data-testid="deliveries-event" value={form.event} maxLength={64} placeholder="sla_warning" onChange={(e) => setForm({ ...form, event: e.target.value })} />
        </label>
        <label className="field">
          <span>{t("adminPeople.deliveries.task")}</span>
          <input value={form.task_id} spellCheck={false} onChange={(e) => setForm({ ...form, task_id: e.target.value })} />
        </label>
        <button type="submit" className="btn" data-testid="deliveries-apply">{t("adminPeople.deliveries.apply")}</button>
      </form>
      <DeliveryTable filters={applied} offset={offset} onOffset={setOffset} />
    </section>
  );
}

function DeliveryTable({ filters, offset, onOffset }: { filters: Filters; offset: number; onOffset: (n: number) => void }) {
  const { t } = useTranslation();
  const fmt = useFormat();
  const { data, error, reload } = useLoaded(
    () =>
      api.GET("/api/v1/notifications/deliveries", {
        params: {
          query: {
            limit: PAGE_SIZE,
            offset,
            ...(filters.status ? { status: filters.status } : {}),
            ...(filters.kind ? { kind: filters.kind } : {}),
            ...(filters.event ? { event: filters.event } : {}),
            ...(filters.task_id ? { task_id: filters.task_id } : {}),
          },
        },
      }),
    { everyMs: 15_000, failedKey: "adminPeople.deliveries.loadFailed" },
  );
  // Loaded on mount by useLoaded; again whenever the filters or the page change.
  const query = JSON.stringify([filters, offset]);
  const shown = useRef(query);
  useEffect(() => {
    if (shown.current === query) return;
    shown.current = query;
    void reload();
  }, [query, reload]);
  const items = data?.items ?? null;
  return (
    <div>
      {error && <p className="alert alert-error" role="alert">{error}</p>}
      {items === null && !error && <p className="muted" role="status">{t("common.loading")}</p>}
      {items && items.length === 0 && <p className="empty muted" data-testid="deliveries-empty">{t("adminPeople.deliveries.none")}</p>}
      {items && items.length > 0 && (
        <div className="admin-table-wrap">
          <table className="admin-table">
            <caption className="visually-hidden">{t("adminPeople.deliveries.title")}</caption>
            <thead>
              <tr>
                <th scope="col">{t("adminPeople.deliveries.when")}</th>
                <th scope="col">{t("adminPeople.deliveries.event")}</th>
                <th scope="col">{t("adminPeople.deliveries.kind")}</th>
                <th scope="col">{t("adminPeople.deliveries.recipient")}</th>
                <th scope="col">{t("adminPeople.deliveries.status")}</th>
                <th scope="col">{t("adminPeople.deliveries.attempts")}</th>
                <th scope="col">{t("adminPeople.deliveries.outcome")}</th>
              </tr>
            </thead>
            <tbody>
              {items.map((d) => (
                <tr key={d.id} data-testid="delivery-row">
                  <td>{fmt.dateTime(d.created_at)}</td>
                  <td>
                    <code>{d.event}</code>
                    {d.task_id && (
                      <div className="small">
                        <Link to={`/board/${encodeURIComponent(d.task_id)}`}>{t("adminPeople.deliveries.openTask")}</Link>
                      </div>
                    )}
                  </td>
                  <td>{t(`adminPeople.kind.${d.kind}`)}</td>
                  <td className="people-break">{d.recipient}</td>
                  <td><span className={`pill delivery-${d.status}`}>{t(`adminPeople.deliveryStatus.${d.status}`)}</span></td>
                  <td>{fmt.number(d.attempts)}</td>
                  <td className="people-break small">
                    {d.status === "sent" && t("adminPeople.deliveries.sentAt", { when: fmt.dateTime(d.sent_at) })}
                    {d.status === "pending" && t("adminPeople.deliveries.nextAt", { when: fmt.dateTime(d.next_attempt_at) })}
                    {d.last_error && <div className="people-error-text">{d.last_error}</div>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {data && data.total > 0 && (
        <div className="people-pager">
          <span className="muted small" aria-live="polite">
            {t("adminPeople.range", { from: fmt.number(data.offset + 1), to: fmt.number(data.offset + data.items.length), total: fmt.number(data.total) })}
          </span>
          <button type="button" className="btn btn-small" data-testid="deliveries-prev" disabled={data.offset === 0} onClick={() => onOffset(Math.max(0, data.offset - PAGE_SIZE))}>
            {t("adminPeople.prev")}
          </button>
          <button type="button" className="btn btn-small" data-testid="deliveries-next" disabled={data.offset + data.items.length >= data.total} onClick={() => onOffset(data.offset + PAGE_SIZE)}>
            {t("adminPeople.next")}
          </button>
        </div>
      )}
    </div>
  );
}
