import { useEffect, useId, useRef, useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { api, type Schemas } from "../../api/client";
import { errorInfo } from "../../api/errors";
import { useLoaded } from "../../api/useLoaded";
import { JsonView, pretty } from "../../components/JsonView";
import { useFormat } from "../../i18n/format";
import { ErrorAlert, describeFailure, useRunner } from "./shared";
import "./tools.css";

type Assistant = Schemas["AssistantRead"];
type AssistantPatch = Schemas["AssistantPatch"];
type AgentSet = Schemas["AgentSetRead"];
type Agent = Schemas["AgentRead"];
type Model = Schemas["ModelRead"];

const ASSISTANTS_PAGE = 50;

/** Assistants (Agent Protocol: POST /assistants/search, PATCH /assistants/{id}), the chat models the operator
 * configured (GET /api/v1/support/models) and the support app's agents with their models (GET/PUT
 * /api/v1/support/agents, POST .../reload). */
export function AssistantsPage() {
  const { t } = useTranslation();
  return (
    <div className="at-page">
      <div className="page-head">
        <h1>{t("adminTools.assistants.title")}</h1>
        <span className="muted small">{t("adminTools.assistants.intro")}</span>
      </div>
      <AssistantList />
      <Models />
      <SupportAgents />
    </div>
  );
}

function AssistantList() {
  const { t } = useTranslation();
  const ids = useId();
  const [name, setName] = useState("");
  const [asked, setAsked] = useState({ name: "", limit: ASSISTANTS_PAGE });
  const [items, setItems] = useState<Assistant[] | null>(null);
  const [more, setMore] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    void (async () => {
      try {
        const { data, error: failure, response } = await api.POST("/assistants/search", {
          body: { limit: asked.limit, offset: 0, sort_by: "name", sort_order: "asc", ...(asked.name ? { name: asked.name } : {}) },
        });
        if (!live) return;
        if (data) {
          // Without `select`, every item is a whole AssistantRead.
          setItems(data as unknown as Assistant[]);
          setMore(response.headers.get("X-Pagination-Next") !== null);
          setError(null);
        } else setError(describeFailure(failure, t("adminTools.assistants.loadFailed")));
      } catch {
        if (live) setError(t("common.networkError"));
      }
    })();
    return () => {
      live = false;
    };
  }, [asked, t]);

  return (
    <section className="card" aria-labelledby={`${ids}-title`}>
      <h2 id={`${ids}-title`}>{t("adminTools.assistants.listTitle")}</h2>
      <form
        className="at-filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setAsked({ name: name.trim(), limit: ASSISTANTS_PAGE });
        }}
      >
        <label className="field at-grow">
          <span>{t("adminTools.assistants.searchName")}</span>
          <input type="search" data-testid="assistants-search" maxLength={200} value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <button type="submit" className="btn">
          {t("adminTools.assistants.search")}
        </button>
      </form>
      <ErrorAlert>{error}</ErrorAlert>
      {items === null && !error && <p className="muted" role="status">{t("common.loading")}</p>}
      {items && items.length === 0 && <p className="empty muted">{t("adminTools.assistants.none")}</p>}
      <ul className="at-cards" aria-live="polite">
        {items?.map((a) => (
          <AssistantItem key={a.assistant_id} assistant={a} onSaved={(saved) => setItems((all) => all?.map((x) => (x.assistant_id === saved.assistant_id ? saved : x)) ?? null)} />
        ))}
      </ul>
      {more && (
        <button type="button" className="btn" data-testid="assistants-more" onClick={() => setAsked((a) => ({ ...a, limit: Math.min(a.limit + ASSISTANTS_PAGE, 1000) }))}>
          {t("adminTools.assistants.more")}
        </button>
      )}
    </section>
  );
}

/** JSON text that must be an object (config, context): the parsed object, or why not. */
function parseObject(text: string): { value: Record<string, unknown> } | { problem: "json" | "object" } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { problem: "json" };
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return { problem: "object" };
  return { value: parsed as Record<string, unknown> };
}

function AssistantItem({ assistant, onSaved }: { assistant: Assistant; onSaved: (saved: Assistant) => void }) {
  const { t } = useTranslation();
  const fmt = useFormat();
  const [editing, setEditing] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  return (
    <li className="card at-card" data-testid="assistant-row" data-assistant={assistant.assistant_id}>
      <div className="at-card-head">
        <h3>{assistant.name}</h3>
        <span className="pill">{t("adminTools.assistants.version", { version: assistant.version })}</span>
      </div>
      {assistant.description && <p className="small">{assistant.description}</p>}
      <dl className="meta">
        <div>
          <dt>{t("adminTools.assistants.graph")}</dt>
          <dd>
            <code>{assistant.graph_id}</code>
          </dd>
        </div>
        <div>
          <dt>{t("adminTools.assistants.id")}</dt>
          <dd>
            <code className="at-break">{assistant.assistant_id}</code>
          </dd>
        </div>
        <div>
          <dt>{t("adminTools.updated")}</dt>
          <dd>{fmt.dateTime(assistant.updated_at)}</dd>
        </div>
      </dl>
      {notice && <p className="alert alert-ok" role="status">{notice}</p>}
      {editing ? (
        <AssistantEditor
          assistant={assistant}
          onCancel={() => setEditing(false)}
          onSaved={(saved) => {
            setEditing(false);
            setNotice(saved ? t("adminTools.assistants.saved", { version: saved.version }) : t("adminTools.assistants.unchanged"));
            if (saved) onSaved(saved);
          }}
        />
      ) : (
        <>
          <details>
            <summary>{t("adminTools.assistants.config")}</summary>
            <JsonView value={assistant.config} />
          </details>
          <details>
            <summary>{t("adminTools.assistants.context")}</summary>
            <JsonView value={assistant.context} />
          </details>
          <details>
            <summary>{t("adminTools.assistants.metadata")}</summary>
            <JsonView value={assistant.metadata} />
          </details>
          <div className="actions">
            <button
              type="button"
              className="btn btn-small"
              data-testid="assistant-edit"
              onClick={() => {
                setNotice(null);
                setEditing(true);
              }}
            >
              {t("adminTools.edit")}
            </button>
          </div>
        </>
      )}
    </li>
  );
}

type JsonField = "config" | "context";

function AssistantEditor({ assistant, onCancel, onSaved }: { assistant: Assistant; onCancel: () => void; onSaved: (saved: Assistant | null) => void }) {
  const { t } = useTranslation();
  const ids = useId();
  const { busy, error, run } = useRunner();
  const [name, setName] = useState(assistant.name);
  const [description, setDescription] = useState(assistant.description ?? "");
  const [texts, setTexts] = useState<Record<JsonField, string>>({ config: pretty(assistant.config), context: pretty(assistant.context) });
  const [problems, setProblems] = useState<Partial<Record<JsonField, string>>>({});

  async function save(event: FormEvent) {
    event.preventDefault();
    const found: Partial<Record<JsonField, string>> = {};
    const parsed: Partial<Record<JsonField, Record<string, unknown>>> = {};
    for (const field of ["config", "context"] as const) {
      const result = parseObject(texts[field]);
      if ("problem" in result) found[field] = t(`adminTools.assistants.${result.problem === "json" ? "badJson" : "notObject"}`);
      else parsed[field] = result.value;
    }
    setProblems(found);
    if (Object.keys(found).length) return;
    const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
    const body: AssistantPatch = {
      ...(name.trim() !== assistant.name ? { name: name.trim() } : {}),
      ...(description !== (assistant.description ?? "") ? { description } : {}),
      ...(parsed.config && !same(parsed.config, assistant.config) ? { config: parsed.config } : {}),
      ...(parsed.context && !same(parsed.context, assistant.context) ? { context: parsed.context } : {}),
    };
    if (Object.keys(body).length === 0) {
      onSaved(null);
      return;
    }
    const done = await run(
      () => api.PATCH("/assistants/{assistant_id}", { params: { path: { assistant_id: assistant.assistant_id } }, body }),
      "adminTools.assistants.saveFailed",
    );
    if (done?.data) onSaved(done.data);
  }

  const jsonField = (field: JsonField, label: string) => (
    <label className="field">
      <span>{label}</span>
      <textarea
        className="mono"
        rows={8}
        data-testid={`assistant-${field}`}
        spellCheck={false}
        value={texts[field]}
        aria-invalid={problems[field] ? true : undefined}
        aria-describedby={problems[field] ? `${ids}-${field}-problem` : undefined}
        onChange={(e) => setTexts((all) => ({ ...all, [field]: e.target.value }))}
      />
      {problems[field] && (
        <small id={`${ids}-${field}-problem`} className="at-bad" role="alert">
          {problems[field]}
        </small>
      )}
    </label>
  );

  return (
    <form className="at-form" onSubmit={(e) => void save(e)} aria-label={t("adminTools.assistants.editTitle", { name: assistant.name })}>
      <label className="field">
        <span>{t("adminTools.assistants.name")}</span>
        <input data-testid="assistant-name" required maxLength={200} value={name} onChange={(e) => setName(e.target.value)} />
      </label>
      <label className="field">
        <span>{t("adminTools.assistants.description")}</span>
        <textarea data-testid="assistant-description" rows={2} maxLength={10000} value={description} onChange={(e) => setDescription(e.target.value)} />
      </label>
      {jsonField("config", t("adminTools.assistants.config"))}
      {jsonField("context", t("adminTools.assistants.context"))}
      <p className="muted small">{t("adminTools.assistants.versionNote")}</p>
      <ErrorAlert>{error}</ErrorAlert>
      <div className="actions">
        <button type="submit" className="btn btn-primary" data-testid="assistant-save" disabled={busy || !name.trim()}>
          {t("adminTools.save")}
        </button>
        <button type="button" className="btn btn-ghost" onClick={onCancel}>
          {t("common.cancel")}
        </button>
      </div>
    </form>
  );
}

// ---------------------------------------------------------------------------------------------------------------

/** What an assistant's or an agent's `model` may name: the default model and the named ones, never their keys. */
function Models() {
  const { t } = useTranslation();
  const ids = useId();
  const { data, error } = useLoaded(() => api.GET("/api/v1/support/models"), { failedKey: "adminTools.models.loadFailed" });
  const rows: Model[] = data ? [data.default, ...data.named] : [];
  const key = (m: Model) =>
    m.api_key_configured === null ? t("adminTools.models.keyNotUsed") : m.api_key_configured ? t("adminTools.models.keySet") : t("adminTools.models.keyMissing");

  return (
    <section className="card" aria-labelledby={`${ids}-title`} data-testid="models">
      <h2 id={`${ids}-title`}>{t("adminTools.models.title")}</h2>
      <p className="muted small">{t("adminTools.models.intro")}</p>
      <ErrorAlert>{error}</ErrorAlert>
      {data === null && !error && <p className="muted" role="status">{t("common.loading")}</p>}
      {data && (
        <div className="admin-table-wrap">
          <table className="admin-table">
            <caption className="visually-hidden">{t("adminTools.models.title")}</caption>
            <thead>
              <tr>
                <th scope="col">{t("adminTools.models.name")}</th>
                <th scope="col">{t("adminTools.models.provider")}</th>
                <th scope="col">{t("adminTools.models.model")}</th>
                <th scope="col">{t("adminTools.models.endpoint")}</th>
                <th scope="col">{t("adminTools.models.key")}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((m) => (
                <tr key={m.name ?? ""} data-testid="model-row" data-model={m.name ?? ""}>
                  <th scope="row">{m.name ? <code>{m.name}</code> : <span className="muted">{t("adminTools.models.default")}</span>}</th>
                  <td>{m.provider}</td>
                  <td>{m.model ? <code>{m.model}</code> : "—"}</td>
                  <td>{m.endpoint ? <code>{m.endpoint}</code> : "—"}</td>
                  <td>
                    <span className={m.api_key_configured === false ? "at-bad" : undefined}>{key(m)}</span>
                    {m.problem && (
                      <p className="small at-bad" data-testid="model-problem">
                        {t("adminTools.models.problem", { problem: m.problem })}
                      </p>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {data && data.named.length === 0 && <p className="muted small" data-testid="models-none">{t("adminTools.models.none")}</p>}
    </section>
  );
}

function SupportAgents() {
  const { t } = useTranslation();
  const fmt = useFormat();
  const ids = useId();
  const { data, error: loadError } = useLoaded(() => api.GET("/api/v1/support/agents"), { failedKey: "adminTools.agents.loadFailed" });
  const [saved, setSaved] = useState<AgentSet | null>(null);
  const shown = saved ?? data;
  const [editing, setEditing] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const { busy, error, run } = useRunner();

  async function reloadFile() {
    setNotice(null);
    const done = await run(() => api.POST("/api/v1/support/agents/reload"), "adminTools.agents.reloadFailed");
    if (done?.data) {
      setSaved(done.data);
      setEditing(false);
      setNotice(t("adminTools.agents.reloaded"));
    }
  }

  return (
    <section className="card" aria-labelledby={`${ids}-title`} data-testid="support-agents">
      <h2 id={`${ids}-title`}>{t("adminTools.agents.title")}</h2>
      <p className="muted small">{t("adminTools.agents.intro")}</p>
      <ErrorAlert>{loadError}</ErrorAlert>
      {shown === null && !loadError && <p className="muted" role="status">{t("common.loading")}</p>}
      {shown && (
        <>
          <dl className="meta" aria-live="polite">
            <div>
              <dt>{t("adminTools.agents.source")}</dt>
              <dd data-testid="agents-source">{shown.id === null ? t("adminTools.agents.builtIn") : shown.source}</dd>
            </div>
            {shown.id !== null && (
              <div>
                <dt>{t("adminTools.agents.stored")}</dt>
                <dd>{t("adminTools.agents.storedVersion", { id: shown.id, at: fmt.dateTime(shown.created_at) })}</dd>
              </div>
            )}
            <div>
              <dt>{t("adminTools.agents.supervisorModel")}</dt>
              <dd>{shown.supervisor_model ? <code>{shown.supervisor_model}</code> : <span className="muted">{t("adminTools.agents.supervisorNone")}</span>}</dd>
            </div>
            <div>
              <dt>{t("adminTools.agents.intentsModel")}</dt>
              <dd>{shown.intents_model ? <code>{shown.intents_model}</code> : <span className="muted">—</span>}</dd>
            </div>
            <div>
              <dt>{t("adminTools.agents.escalate")}</dt>
              <dd>{shown.escalate_intents.length ? shown.escalate_intents.join(", ") : "—"}</dd>
            </div>
          </dl>
          <AgentTable agents={shown.agents} />
          {notice && <p className="alert alert-ok" role="status">{notice}</p>}
          <ErrorAlert>{!editing && error}</ErrorAlert>
          {editing ? (
            <AgentsEditor
              document={shown.document}
              onCancel={() => setEditing(false)}
              onSaved={(set) => {
                setSaved(set);
                setEditing(false);
                setNotice(t("adminTools.agents.saved"));
              }}
            />
          ) : (
            <div className="actions">
              <button
                type="button"
                className="btn"
                data-testid="agents-edit"
                onClick={() => {
                  setNotice(null);
                  setEditing(true);
                }}
              >
                {t("adminTools.agents.edit")}
              </button>
              <button type="button" className="btn" data-testid="agents-reload" disabled={busy} onClick={() => void reloadFile()}>
                {t("adminTools.agents.reload")}
              </button>
            </div>
          )}
        </>
      )}
    </section>
  );
}

function AgentTable({ agents }: { agents: Agent[] }) {
  const { t } = useTranslation();
  if (agents.length === 0) return <p className="muted">{t("adminTools.agents.none")}</p>;
  return (
    <div className="admin-table-wrap">
      <table className="admin-table">
        <thead>
          <tr>
            <th scope="col">{t("adminTools.agents.name")}</th>
            <th scope="col">{t("adminTools.agents.permission")}</th>
            <th scope="col">{t("adminTools.agents.model")}</th>
            <th scope="col">{t("adminTools.agents.intents")}</th>
            <th scope="col">{t("adminTools.agents.tools")}</th>
          </tr>
        </thead>
        <tbody>
          {agents.map((agent) => (
            <tr key={agent.name} data-testid="agent-row">
              <th scope="row">
                <code>{agent.name}</code>
                <div className="muted small at-desc">{agent.description}</div>
              </th>
              <td>
                <span className={`pill${agent.permission === "write" ? " pill-write" : ""}`}>{t(`adminTools.agents.perm.${agent.permission}`)}</span>
              </td>
              <td>{agent.model ? <code>{agent.model}</code> : <span className="muted">{t("adminTools.agents.defaultModel")}</span>}</td>
              <td className="small">{agent.intents.length ? agent.intents.join(", ") : "—"}</td>
              <td className="small">
                <div>
                  {t("adminTools.agents.declared")}: {agent.tools.length ? agent.tools.map((x) => <code key={x} className="at-tag">{x}</code>) : "—"}
                </div>
                <div>
                  {t("adminTools.agents.bound", { count: agent.bound_tools.length })}: {agent.bound_tools.map((x) => <code key={x} className="at-tag">{x}</code>)}
                </div>
                {Object.keys(agent.limits).length > 0 && (
                  <details>
                    <summary>{t("adminTools.agents.limits")}</summary>
                    <JsonView value={agent.limits} />
                  </details>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The agents YAML (AgentSetWrite.document): PUT, the server checks it and names the line of a problem. */
function AgentsEditor({ document, onCancel, onSaved }: { document: string; onCancel: () => void; onSaved: (set: AgentSet) => void }) {
  const { t } = useTranslation();
  const ids = useId();
  const [text, setText] = useState(document);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const area = useRef<HTMLTextAreaElement>(null);

  /** Puts the caret at the start of the (1-based) line the server named. */
  function goToLine(line: number) {
    const element = area.current;
    if (!element) return;
    const lines = text.split("\n");
    const offset = lines.slice(0, Math.max(0, line - 1)).reduce((sum, l) => sum + l.length + 1, 0);
    element.focus();
    element.setSelectionRange(offset, offset + (lines[line - 1]?.length ?? 0));
  }

  async function save(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { data, error: failure } = await api.PUT("/api/v1/support/agents", { body: { document: text } });
      if (data) {
        onSaved(data);
        return;
      }
      setError(describeFailure(failure, t("adminTools.agents.saveFailed")));
      const detail = errorInfo(failure)?.detail as { line?: unknown } | null | undefined;
      if (detail && typeof detail === "object" && typeof detail.line === "number") goToLine(detail.line);
    } catch {
      setError(t("common.networkError"));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="at-form" onSubmit={(e) => void save(e)} aria-labelledby={`${ids}-title`}>
      <h3 id={`${ids}-title`}>{t("adminTools.agents.editTitle")}</h3>
      <label className="field">
        <span>{t("adminTools.agents.document")}</span>
        <textarea
          ref={area}
          className="mono at-yaml"
          rows={18}
          data-testid="agents-document"
          spellCheck={false}
          maxLength={200000}
          required
          value={text}
          aria-invalid={error ? true : undefined}
          aria-describedby={`${ids}-help`}
          onChange={(e) => setText(e.target.value)}
        />
        <small id={`${ids}-help`} className="muted">
          {t("adminTools.agents.documentHelp")}
        </small>
      </label>
      <ErrorAlert>{error}</ErrorAlert>
      <div className="actions">
        <button type="submit" className="btn btn-primary" data-testid="agents-save" disabled={busy || !text.trim()}>
          {t("adminTools.save")}
        </button>
        <button type="button" className="btn btn-ghost" onClick={onCancel}>
          {t("common.cancel")}
        </button>
      </div>
    </form>
  );
}
