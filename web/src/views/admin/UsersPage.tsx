import { useEffect, useRef, useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { api, type Role, type Schemas, type User } from "../../api/client";
import { useLoaded } from "../../api/useLoaded";
import { useFormat } from "../../i18n/format";
import { useAction } from "./shared";
import "./people.css";

type UserAdminCreate = Schemas["UserAdminCreate"];
type ApiKey = Schemas["ApiKeyRead"];
type ApiKeyCreated = Schemas["ApiKeyCreated"];
const ROLES: Role[] = ["admin", "staff", "customer"];
const PAGE_SIZE = 50;

/** Admin: user accounts (GET /api/v1/users, POST /api/v1/users/accounts, PATCH /api/v1/users/{id}) and your API keys
 * (/api/v1/api-keys). */
export function UsersPage() {
  const { t } = useTranslation();
  return (
    <div className="people">
      <div className="page-head">
        <h1>{t("adminPeople.users.title")}</h1>
      </div>
      <UserList />
      <ApiKeys />
    </div>
  );
}

// -- users ------------------------------------------------------------------------------------------------------

type Search = { q: string; role: "" | Role };

function UserList() {
  const { t } = useTranslation();
  const fmt = useFormat();
  const [form, setForm] = useState<Search>({ q: "", role: "" });
  const [search, setSearch] = useState<Search>({ q: "", role: "" });
  const [offset, setOffset] = useState(0);
  const users = useLoaded(
    () =>
      api.GET("/api/v1/users", {
        params: { query: { limit: PAGE_SIZE, offset, ...(search.role ? { role: search.role } : {}), ...(search.q ? { q: search.q } : {}) } },
      }),
    { failedKey: "adminPeople.users.loadFailed" },
  );
  const { reload } = users;
  const query = JSON.stringify([search, offset]);
  const shown = useRef(query);
  useEffect(() => {
    if (shown.current === query) return;
    shown.current = query;
    void reload();
  }, [query, reload]);

  function apply(event: FormEvent) {
    event.preventDefault();
    setSearch({ q: form.q.trim(), role: form.role });
    setOffset(0);
  }

  const page = users.data;
  return (
    <>
      <CreateUser onCreated={() => void reload()} />
      <section className="people-section" aria-labelledby="users-title">
        <h2 id="users-title">{t("adminPeople.users.accounts")}</h2>
        <form className="people-filters" role="search" onSubmit={apply} aria-label={t("adminPeople.users.search")}>
          <label className="field">
            <span>{t("adminPeople.users.query")}</span>
            <input type="search" data-testid="users-q" maxLength={100} value={form.q} onChange={(e) => setForm({ ...form, q: e.target.value })} />
          </label>
          <label className="field">
            <span>{t("adminPeople.users.role")}</span>
            <select data-testid="users-role" value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value as Search["role"] })}>
              <option value="">{t("adminPeople.any")}</option>
              {ROLES.map((r) => (
                <option key={r} value={r}>{t(`role.${r}`)}</option>
              ))}
            </select>
          </label>
          <button type="submit" className="btn" data-testid="users-search">{t("adminPeople.users.searchButton")}</button>
        </form>
        <div>
          {users.error && <p className="alert alert-error" role="alert">{users.error}</p>}
          {page === null && !users.error && <p className="muted" role="status">{t("common.loading")}</p>}
          {page && page.items.length === 0 && <p className="empty muted">{t("adminPeople.users.none")}</p>}
          {page && page.items.length > 0 && (
            <div className="admin-table-wrap">
              <table className="admin-table">
                <caption className="visually-hidden">{t("adminPeople.users.accounts")}</caption>
                <thead>
                  <tr>
                    <th scope="col">{t("adminPeople.users.name")}</th>
                    <th scope="col">{t("adminPeople.users.email")}</th>
                    <th scope="col">{t("adminPeople.users.role")}</th>
                    <th scope="col">{t("adminPeople.users.status")}</th>
                    <th scope="col">{t("adminPeople.users.lastLogin")}</th>
                    <th scope="col">{t("adminPeople.users.actions")}</th>
                  </tr>
                </thead>
                <tbody>
                  {page.items.map((u) => (
                    <UserRow key={`${u.id}:${u.updated_at}`} user={u} />
                  ))}
                </tbody>
              </table>
            </div>
          )}
          {page && page.total > 0 && (
            <div className="people-pager">
              <span className="muted small" aria-live="polite">
                {t("adminPeople.range", { from: fmt.number(page.offset + 1), to: fmt.number(page.offset + page.items.length), total: fmt.number(page.total) })}
              </span>
              <button type="button" className="btn btn-small" data-testid="users-prev" disabled={page.offset === 0} onClick={() => setOffset(Math.max(0, page.offset - PAGE_SIZE))}>
                {t("adminPeople.prev")}
              </button>
              <button type="button" className="btn btn-small" data-testid="users-next" disabled={page.offset + page.items.length >= page.total} onClick={() => setOffset(page.offset + PAGE_SIZE)}>
                {t("adminPeople.next")}
              </button>
            </div>
          )}
        </div>
      </section>
    </>
  );
}

function UserRow({ user }: { user: User }) {
  const { t } = useTranslation();
  const fmt = useFormat();
  const [row, setRow] = useState(user);
  const action = useAction();

  async function patch(body: Schemas["UserAdminUpdate"]) {
    const outcome = await action.run(
      () => api.PATCH("/api/v1/users/{user_id}", { params: { path: { user_id: row.id } }, body }),
      "adminPeople.users.saveFailed",
    );
    if (outcome.ok && outcome.data) setRow(outcome.data);
  }

  return (
    <tr data-testid="user-row" data-user-id={row.id} className={row.is_active ? undefined : "people-inactive"}>
      <th scope="row">
        {row.display_name}
        {row.username && <div className="muted small">@{row.username}</div>}
      </th>
      <td className="people-break">{row.email}</td>
      <td>
        <select
          data-testid="user-role"
          aria-label={t("adminPeople.users.roleOf", { name: row.display_name })}
          value={row.role}
          disabled={action.busy}
          onChange={(e) => void patch({ role: e.target.value as Role })}
        >
          {ROLES.map((r) => (
            <option key={r} value={r}>{t(`role.${r}`)}</option>
          ))}
        </select>
      </td>
      <td>
        <span className={`pill ${row.is_active ? "people-on" : "people-off"}`}>
          {row.is_active ? t("adminPeople.users.active") : t("adminPeople.users.inactive")}
        </span>
      </td>
      <td className="small">{row.last_login_at ? fmt.dateTime(row.last_login_at) : t("adminPeople.users.never")}</td>
      <td>
        <button
          type="button"
          className={`btn btn-small${row.is_active ? " btn-danger" : ""}`}
          data-testid="user-toggle-active"
          disabled={action.busy}
          aria-label={t(row.is_active ? "adminPeople.users.deactivateOf" : "adminPeople.users.activateOf", { name: row.display_name })}
          onClick={() => void patch({ is_active: !row.is_active })}
        >
          {row.is_active ? t("adminPeople.users.deactivate") : t("adminPeople.users.activate")}
        </button>
        {action.error && <p className="alert alert-error" role="alert">{action.error}</p>}
      </td>
    </tr>
  );
}

type NewUser = { email: string; username: string; display_name: string; password: string; role: Role };
const EMPTY_USER: NewUser = { email: "", username: "", display_name: "", password: "", role: "staff" };

function CreateUser({ onCreated }: { onCreated: () => void }) {
  const { t } = useTranslation();
  const [value, setValue] = useState<NewUser>(EMPTY_USER);
  const [notice, setNotice] = useState<string | null>(null);
  const action = useAction();

  async function submit(event: FormEvent) {
    event.preventDefault();
    setNotice(null);
    const body: UserAdminCreate = {
      email: value.email.trim(),
      password: value.password,
      role: value.role,
      ...(value.username.trim() ? { username: value.username.trim() } : {}),
      ...(value.display_name.trim() ? { display_name: value.display_name.trim() } : {}),
    };
    // The admin's own route: the account and its role in one call (public registration makes customers only).
    const created = await action.run(() => api.POST("/api/v1/users/accounts", { body }), "adminPeople.users.createFailed");
    if (!created.ok || !created.data) return;
    const user = created.data;
    setValue(EMPTY_USER);
    onCreated();
    setNotice(t("adminPeople.users.created", { email: user.email, role: t(`role.${user.role}`) }));
  }

  return (
    <form className="card" onSubmit={submit} aria-labelledby="user-new-title">
      <h2 id="user-new-title">{t("adminPeople.users.new")}</h2>
      <div className="people-grid">
        <label className="field">
          <span>{t("adminPeople.users.email")}</span>
          <input type="email" data-testid="user-new-email" required autoComplete="off" maxLength={320} value={value.email} onChange={(e) => setValue({ ...value, email: e.target.value })} />
        </label>
        <label className="field">
          <span>{t("adminPeople.users.password")}</span>
          <input
            type="password"
            data-testid="user-new-password"
            required
            minLength={8}
            maxLength={256}
            autoComplete="new-password"
            value={value.password}
            onChange={(e) => setValue({ ...value, password: e.target.value })}
          />
        </label>
        <label className="field">
          <span>{t("adminPeople.users.username")}</span>
          <input data-testid="user-new-username" autoComplete="off" maxLength={50} value={value.username} onChange={(e) => setValue({ ...value, username: e.target.value })} />
        </label>
        <label className="field">
          <span>{t("adminPeople.users.displayName")}</span>
          <input data-testid="user-new-name" maxLength={100} value={value.display_name} onChange={(e) => setValue({ ...value, display_name: e.target.value })} />
        </label>
        <label className="field">
          <span>{t("adminPeople.users.role")}</span>
          <select data-testid="user-new-role" value={value.role} onChange={(e) => setValue({ ...value, role: e.target.value as Role })}>
            {ROLES.map((r) => (
              <option key={r} value={r}>{t(`role.${r}`)}</option>
            ))}
          </select>
        </label>
      </div>
      <p className="muted small">{t("adminPeople.users.passwordHint")}</p>
      {action.error && <p className="alert alert-error" role="alert">{action.error}</p>}
      {notice && <p className="alert alert-ok" role="status">{notice}</p>}
      <div className="actions">
        <button type="submit" className="btn btn-primary" data-testid="user-create" disabled={action.busy || !value.email.trim() || value.password.length < 8}>
          {t("adminPeople.users.create")}
        </button>
      </div>
    </form>
  );
}

// -- API keys ---------------------------------------------------------------------------------------------------

function ApiKeys() {
  const { t } = useTranslation();
  const keys = useLoaded(() => api.GET("/api/v1/api-keys"), { failedKey: "adminPeople.keys.loadFailed" });
  const [name, setName] = useState("");
  const [days, setDays] = useState("");
  const [created, setCreated] = useState<ApiKeyCreated | null>(null);
  const action = useAction();

  async function submit(event: FormEvent) {
    event.preventDefault();
    const expires = days.trim() ? Number(days) : null;
    const body = { name: name.trim(), ...(expires !== null ? { expires_in_days: expires } : {}) };
    const outcome = await action.run(() => api.POST("/api/v1/api-keys", { body }), "adminPeople.keys.createFailed");
    if (!outcome.ok || !outcome.data) return;
    setCreated(outcome.data);
    setName("");
    setDays("");
    void keys.reload();
  }

  const now = Date.now();
  return (
    <section className="card people-section" aria-labelledby="keys-title">
      <h2 id="keys-title">{t("adminPeople.keys.title")}</h2>
      <p className="muted small">{t("adminPeople.keys.intro")}</p>
      <form className="people-filters" onSubmit={submit} aria-label={t("adminPeople.keys.new")}>
        <label className="field">
          <span>{t("adminPeople.keys.name")}</span>
          <input data-testid="apikey-name" required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label className="field">
          <span>{t("adminPeople.keys.expiresInDays")}</span>
          <input data-testid="apikey-days" type="number" min={1} max={3650} inputMode="numeric" value={days} placeholder={t("adminPeople.keys.never")} onChange={(e) => setDays(e.target.value)} />
        </label>
        <button type="submit" className="btn btn-primary" data-testid="apikey-create" disabled={action.busy || !name.trim()}>
          {t("adminPeople.keys.create")}
        </button>
      </form>
      {action.error && <p className="alert alert-error" role="alert">{action.error}</p>}
      {created && <NewSecret created={created} onClose={() => setCreated(null)} />}
      {keys.error && <p className="alert alert-error" role="alert">{keys.error}</p>}
      {keys.data === null && !keys.error && <p className="muted" role="status">{t("common.loading")}</p>}
      {keys.data && keys.data.length === 0 && <p className="empty muted">{t("adminPeople.keys.none")}</p>}
      {keys.data && keys.data.length > 0 && (
        <div className="admin-table-wrap">
          <table className="admin-table">
            <caption className="visually-hidden">{t("adminPeople.keys.title")}</caption>
            <thead>
              <tr>
                <th scope="col">{t("adminPeople.keys.name")}</th>
                <th scope="col">{t("adminPeople.keys.prefix")}</th>
                <th scope="col">{t("adminPeople.keys.created")}</th>
                <th scope="col">{t("adminPeople.keys.lastUsed")}</th>
                <th scope="col">{t("adminPeople.keys.expires")}</th>
                <th scope="col">{t("adminPeople.keys.status")}</th>
                <th scope="col">{t("adminPeople.users.actions")}</th>
              </tr>
            </thead>
            <tbody>
              {keys.data.map((k) => (
                <KeyRow key={k.id} apiKey={k} now={now} onRevoked={() => void keys.reload()} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

/** The new key's secret: shown here once (the API never returns it again), until the admin closes it. */
function NewSecret({ created, onClose }: { created: ApiKeyCreated; onClose: () => void }) {
  const { t } = useTranslation();
  const [copied, setCopied] = useState<"" | "ok" | "failed">("");
  const input = useRef<HTMLInputElement>(null);

  async function copy() {
    try {
      await navigator.clipboard.writeText(created.key);
      setCopied("ok");
    } catch {
      input.current?.select();
      setCopied("failed");
    }
  }

  return (
    <div className="people-secret" role="region" aria-labelledby="apikey-secret-title" data-testid="apikey-secret-box">
      <h3 id="apikey-secret-title">{t("adminPeople.keys.createdTitle", { name: created.name })}</h3>
      <p className="alert people-warning" role="alert">{t("adminPeople.keys.once")}</p>
      <label className="field">
        <span>{t("adminPeople.keys.secret")}</span>
        <input ref={input} readOnly className="mono" data-testid="apikey-secret" value={created.key} spellCheck={false} onFocus={(e) => e.currentTarget.select()} />
      </label>
      <div className="actions">
        <button type="button" className="btn btn-primary" data-testid="apikey-copy" onClick={() => void copy()}>
          {t("adminPeople.keys.copy")}
        </button>
        <button type="button" className="btn" data-testid="apikey-secret-close" onClick={onClose}>
          {t("adminPeople.keys.done")}
        </button>
        <span className="muted small" aria-live="polite">
          {copied === "ok" ? t("adminPeople.keys.copied") : copied === "failed" ? t("adminPeople.keys.copyFailed") : ""}
        </span>
      </div>
    </div>
  );
}

function KeyRow({ apiKey, now, onRevoked }: { apiKey: ApiKey; now: number; onRevoked: () => void }) {
  const { t } = useTranslation();
  const fmt = useFormat();
  const [confirming, setConfirming] = useState(false);
  const action = useAction();
  const state = apiKey.revoked_at ? "revoked" : apiKey.expires_at && new Date(apiKey.expires_at).getTime() <= now ? "expired" : "active";

  async function revoke() {
    const outcome = await action.run(
      () => api.DELETE("/api/v1/api-keys/{key_id}", { params: { path: { key_id: apiKey.id } } }),
      "adminPeople.keys.revokeFailed",
    );
    if (outcome.ok) {
      setConfirming(false);
      onRevoked();
    }
  }

  return (
    <tr data-testid="apikey-row" data-key-id={apiKey.id}>
      <th scope="row">{apiKey.name}</th>
      <td><code>{apiKey.prefix}…</code></td>
      <td className="small">{fmt.dateTime(apiKey.created_at)}</td>
      <td className="small">{apiKey.last_used_at ? fmt.dateTime(apiKey.last_used_at) : t("adminPeople.users.never")}</td>
      <td className="small">{apiKey.expires_at ? fmt.dateTime(apiKey.expires_at) : t("adminPeople.keys.never")}</td>
      <td>
        <span className={`pill ${state === "active" ? "people-on" : "people-off"}`}>{t(`adminPeople.keys.state.${state}`)}</span>
        {apiKey.revoked_at && <div className="muted small">{fmt.dateTime(apiKey.revoked_at)}</div>}
      </td>
      <td>
        {state !== "revoked" && !confirming && (
          <button
            type="button"
            className="btn btn-small btn-danger"
            data-testid="apikey-revoke"
            aria-label={t("adminPeople.keys.revokeOf", { name: apiKey.name })}
            onClick={() => {
              action.setError(null);
              setConfirming(true);
            }}
          >
            {t("adminPeople.keys.revoke")}
          </button>
        )}
        {confirming && (
          <div className="people-confirm" role="group" aria-label={t("adminPeople.keys.revokeOf", { name: apiKey.name })}>
            <p className="small">{t("adminPeople.keys.revokeConfirm", { name: apiKey.name })}</p>
            <div className="actions">
              <button type="button" className="btn btn-small btn-danger" data-testid="apikey-revoke-confirm" disabled={action.busy} onClick={() => void revoke()}>
                {t("adminPeople.keys.revokeYes")}
              </button>
              <button type="button" className="btn btn-small btn-ghost" onClick={() => setConfirming(false)}>
                {t("common.cancel")}
              </button>
            </div>
          </div>
        )}
        {action.error && <p className="alert alert-error" role="alert">{action.error}</p>}
      </td>
    </tr>
  );
}
