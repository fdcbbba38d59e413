import { useEffect, useId, useMemo, useRef, useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { api, type Schemas } from "../../api/client";
import { useLoaded } from "../../api/useLoaded";
import { JsonView } from "../../components/JsonView";
import { useFormat } from "../../i18n/format";
import { ErrorAlert, SIDE_EFFECTS, describeFailure, useRunner, type Exhaustive } from "./shared";
import "./tools.css";

type Tool = Schemas["ToolRead"];
type Policy = Schemas["PolicyRead"];
type PolicySet = Schemas["PolicySet"];
type Mode = PolicySet["mode"];
type UserRead = Schemas["UserRead"];

/** The values of `PolicySet.mode` (the compiler checks that none is missing). */
const MODES = ["auto", "require_approval", "deny"] as const satisfies readonly Mode[];
const modesComplete: Exhaustive<Mode, (typeof MODES)[number]> = true;
void modesComplete;

/** Every tool of every source (GET /api/v1/tools), filtered here; a tool's approval policy is edited in place. */
export function ToolsPage() {
  const { t } = useTranslation();
  const { data, error, reload } = useLoaded(() => api.GET("/api/v1/tools"), { failedKey: "adminTools.tools.loadFailed" });
  const [source, setSource] = useState("");
  const [sideEffect, setSideEffect] = useState("");
  const [query, setQuery] = useState("");
  const [open, setOpen] = useState<string | null>(null);

  const sources = useMemo(() => [...new Set((data ?? []).map((tool) => tool.source))].sort(), [data]);
  const shown = useMemo(() => {
    const needle = query.trim().toLowerCase();
    return (data ?? []).filter(
      (tool) =>
        (!source || tool.source === source) &&
        (!sideEffect || tool.side_effect === sideEffect) &&
        (!needle || [tool.name, tool.description, tool.source_id].some((text) => text.toLowerCase().includes(needle))),
    );
  }, [data, source, sideEffect, query]);

  return (
    <div className="at-page">
      <div className="page-head">
        <h1>{t("adminTools.tools.title")}</h1>
        <span className="muted small">{t("adminTools.tools.intro")}</span>
      </div>
      <div className="at-filters" role="search">
        <label className="field">
          <span>{t("adminTools.tools.source")}</span>
          <select data-testid="tools-source" value={source} onChange={(e) => setSource(e.target.value)}>
            <option value="">{t("adminTools.tools.all")}</option>
            {sources.map((s) => (
              <option key={s} value={s}>
                {t(`adminTools.source.${s}`, { defaultValue: s })}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>{t("adminTools.tools.sideEffect")}</span>
          <select data-testid="tools-side-effect" value={sideEffect} onChange={(e) => setSideEffect(e.target.value)}>
            <option value="">{t("adminTools.tools.all")}</option>
            {SIDE_EFFECTS.map((s) => (
              <option key={s} value={s}>
                {t(`adminTools.sideEffect.${s}`)}
              </option>
            ))}
          </select>
        </label>
        <label className="field at-grow">
          <span>{t("adminTools.tools.search")}</span>
          <input type="search" data-testid="tools-search" value={query} onChange={(e) => setQuery(e.target.value)} />
        </label>
      </div>
      <ErrorAlert>{error}</ErrorAlert>
      {data === null && !error && <p className="muted" role="status">{t("common.loading")}</p>}
      {data && (
        <p className="muted small" aria-live="polite">
          {t("adminTools.tools.count", { shown: shown.length, total: data.length })}
        </p>
      )}
      {data && shown.length === 0 && <p className="empty muted">{t("adminTools.tools.none")}</p>}
      {shown.length > 0 && (
        <div className="admin-table-wrap">
          <table className="admin-table">
            <thead>
              <tr>
                <th scope="col">{t("adminTools.tools.name")}</th>
                <th scope="col">{t("adminTools.tools.source")}</th>
                <th scope="col">{t("adminTools.tools.sideEffect")}</th>
                <th scope="col">{t("adminTools.tools.yourMode")}</th>
                <th scope="col">
                  <span className="visually-hidden">{t("adminTools.actions")}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {shown.map((tool) => (
                <ToolRow
                  key={tool.name}
                  tool={tool}
                  open={open === tool.name}
                  onToggle={() => setOpen(open === tool.name ? null : tool.name)}
                  onChanged={() => void reload()}
                />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function ToolRow({ tool, open, onToggle, onChanged }: { tool: Tool; open: boolean; onToggle: () => void; onChanged: () => void }) {
  const { t } = useTranslation();
  const panelId = useId();
  return (
    <>
      <tr data-testid="tool-row" data-tool={tool.name}>
        <th scope="row">
          <code>{tool.name}</code>
          <div className="muted small at-desc">{tool.description}</div>
          {!tool.available && (
            <div className="small at-bad">
              {t("adminTools.tools.unavailable")}
              {tool.unavailable_reason ? `: ${tool.unavailable_reason}` : ""}
            </div>
          )}
        </th>
        <td>
          <span className="pill">{t(`adminTools.source.${tool.source}`, { defaultValue: tool.source })}</span>
          <div className="muted small">{tool.source_id}</div>
        </td>
        <td>
          <span className={`pill pill-${tool.side_effect}`}>{t(`adminTools.sideEffect.${tool.side_effect}`)}</span>
        </td>
        <td>
          <span className={`pill at-mode-${tool.approval_mode}`}>{t(`adminTools.mode.${tool.approval_mode}`)}</span>
          <div className="muted small">{t(`adminTools.origin.${tool.approval_origin}`, { defaultValue: tool.approval_origin })}</div>
        </td>
        <td>
          <button type="button" className="btn btn-small" data-testid="tool-policy" aria-expanded={open} aria-controls={panelId} onClick={onToggle}>
            {t("adminTools.tools.policy")}
          </button>
        </td>
      </tr>
      {open && (
        <tr className="at-detail-row">
          <td colSpan={5} id={panelId}>
            <PolicyEditor tool={tool} onChanged={onChanged} />
          </td>
        </tr>
      )}
    </>
  );
}

/** The tool's policy rows (GET .../approval), a form for PolicySet (PUT), and removal (DELETE: back to the default). */
function PolicyEditor({ tool, onChanged }: { tool: Tool; onChanged: () => void }) {
  const { t } = useTranslation();
  const fmt = useFormat();
  const name = tool.name;
  const { data: policies, error: loadError, reload } = useLoaded(
    () => api.GET("/api/v1/tools/{name}/approval", { params: { path: { name } } }),
    { failedKey: "adminTools.policy.loadFailed" },
  );
  const { busy, error, run } = useRunner();
  const [mode, setMode] = useState<Mode>(tool.approval_mode);
  const [scope, setScope] = useState<"default" | "user">("default");
  const [userId, setUserId] = useState("");
  const [notice, setNotice] = useState<string | null>(null);
  const [users, setUsers] = useState<Record<string, UserRead>>({});
  const ids = useId();

  async function save(event: FormEvent) {
    event.preventDefault();
    setNotice(null);
    const body: PolicySet = scope === "user" ? { mode, user_id: userId } : { mode };
    const done = await run(() => api.PUT("/api/v1/tools/{name}/approval", { params: { path: { name } }, body }), "adminTools.policy.saveFailed");
    if (done) {
      setNotice(t("adminTools.policy.saved"));
      void reload();
      onChanged();
    }
  }

  async function remove(policy: Policy) {
    setNotice(null);
    const query = policy.user_id ? { user_id: policy.user_id } : {};
    const done = await run(
      () => api.DELETE("/api/v1/tools/{name}/approval", { params: { path: { name }, query } }),
      "adminTools.policy.removeFailed",
    );
    if (done) {
      setNotice(t(policy.user_id ? "adminTools.policy.overrideRemoved" : "adminTools.policy.reset"));
      void reload();
      onChanged();
    }
  }

  const defaultRow = policies?.find((p) => p.user_id === null) ?? null;
  const overrides = policies?.filter((p) => p.user_id !== null) ?? [];
  const who = (id: string) => (users[id] ? `${users[id].display_name} <${users[id].email}>` : id);

  return (
    <div className="at-panel" data-testid="policy-editor">
      <h2>{t("adminTools.policy.title", { name })}</h2>
      {Object.keys(tool.parameters).length > 0 && (
        <details>
          <summary>{t("adminTools.tools.parameters")}</summary>
          <JsonView value={tool.parameters} />
        </details>
      )}
      <ErrorAlert>{loadError}</ErrorAlert>
      {policies === null && !loadError && <p className="muted small" role="status">{t("common.loading")}</p>}
      {policies && (
        <ul className="at-policies" aria-live="polite">
          <li data-testid="policy-default">
            <span>{t("adminTools.policy.everyone")}</span>{" "}
            {defaultRow ? (
              <>
                <span className={`pill at-mode-${defaultRow.mode}`}>{t(`adminTools.mode.${defaultRow.mode}`)}</span>{" "}
                <span className="muted small">{fmt.dateTime(defaultRow.updated_at)}</span>{" "}
                <button type="button" className="btn btn-small" data-testid="policy-reset" disabled={busy} onClick={() => void remove(defaultRow)}>
                  {t("adminTools.policy.resetButton")}
                </button>
              </>
            ) : (
              <span className="muted small">{t("adminTools.policy.noDefault")}</span>
            )}
          </li>
          {overrides.map((p) => (
            <li key={p.id} data-testid="policy-override">
              <span>{t("adminTools.policy.forUser", { user: who(p.user_id ?? "") })}</span>{" "}
              <span className={`pill at-mode-${p.mode}`}>{t(`adminTools.mode.${p.mode}`)}</span>{" "}
              <span className="muted small">{fmt.dateTime(p.updated_at)}</span>{" "}
              <button type="button" className="btn btn-small" disabled={busy} onClick={() => void remove(p)}>
                {t("adminTools.policy.removeOverride")}
              </button>
            </li>
          ))}
        </ul>
      )}
      <form className="at-form" onSubmit={(e) => void save(e)} aria-labelledby={`${ids}-legend`}>
        <h3 id={`${ids}-legend`}>{t("adminTools.policy.set")}</h3>
        <fieldset className="at-radios">
          <legend>{t("adminTools.policy.scope")}</legend>
          <label>
            <input type="radio" name={`${ids}-scope`} checked={scope === "default"} onChange={() => setScope("default")} />{" "}
            {t("adminTools.policy.everyone")}
          </label>
          <label>
            <input type="radio" name={`${ids}-scope`} data-testid="policy-scope-user" checked={scope === "user"} onChange={() => setScope("user")} />{" "}
            {t("adminTools.policy.oneUser")}
          </label>
        </fieldset>
        {scope === "user" && (
          <UserPicker value={userId} onChange={setUserId} onUsers={(found) => setUsers((all) => ({ ...all, ...found }))} />
        )}
        <label className="field">
          <span>{t("adminTools.policy.mode")}</span>
          <select data-testid="policy-mode" value={mode} onChange={(e) => setMode(e.target.value as Mode)}>
            {MODES.map((m) => (
              <option key={m} value={m}>
                {t(`adminTools.mode.${m}`)}
              </option>
            ))}
          </select>
        </label>
        <p className="muted small">{t(`adminTools.modeHelp.${mode}`)}</p>
        <ErrorAlert>{error}</ErrorAlert>
        {notice && <p className="alert alert-ok" role="status">{notice}</p>}
        <button type="submit" className="btn btn-primary" data-testid="policy-save" disabled={busy || (scope === "user" && !userId)}>
          {t("adminTools.policy.save")}
        </button>
      </form>
    </div>
  );
}

/** Finds a user (GET /api/v1/users?q=) for a per-user override. */
function UserPicker({ value, onChange, onUsers }: { value: string; onChange: (id: string) => void; onUsers: (users: Record<string, UserRead>) => void }) {
  const { t } = useTranslation();
  const [q, setQ] = useState("");
  const [asked, setAsked] = useState("");
  const [found, setFound] = useState<UserRead[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const report = useRef(onUsers);
  report.current = onUsers;

  useEffect(() => {
    let live = true;
    void (async () => {
      try {
        const { data, error: failure } = await api.GET("/api/v1/users", { params: { query: { limit: 50, ...(asked ? { q: asked } : {}) } } });
        if (!live) return;
        if (data) {
          setFound(data.items);
          setError(null);
          report.current(Object.fromEntries(data.items.map((u) => [u.id, u])));
        } else setError(describeFailure(failure, t("adminTools.policy.usersFailed")));
      } catch {
        if (live) setError(t("common.networkError"));
      }
    })();
    return () => {
      live = false;
    };
  }, [asked, t]);

  return (
    <div className="at-user-picker">
      <label className="field">
        <span>{t("adminTools.policy.findUser")}</span>
        <input
          type="search"
          data-testid="policy-user-search"
          value={q}
          onChange={(e) => setQ(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter") {
              e.preventDefault();
              setAsked(q.trim());
            }
          }}
        />
      </label>
      <button type="button" className="btn btn-small" onClick={() => setAsked(q.trim())}>
        {t("adminTools.policy.find")}
      </button>
      <ErrorAlert>{error}</ErrorAlert>
      <label className="field">
        <span>{t("adminTools.policy.user")}</span>
        <select data-testid="policy-user" value={value} onChange={(e) => onChange(e.target.value)} required>
          <option value="">{found === null ? t("common.loading") : t("adminTools.policy.chooseUser", { count: found.length })}</option>
          {found?.map((u) => (
            <option key={u.id} value={u.id}>
              {u.display_name} &lt;{u.email}&gt; · {t(`role.${u.role}`)}
            </option>
          ))}
        </select>
      </label>
    </div>
  );
}
