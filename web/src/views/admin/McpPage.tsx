import { useId, useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { api, type Schemas } from "../../api/client";
import { useLoaded } from "../../api/useLoaded";
import { JsonView } from "../../components/JsonView";
import { useFormat } from "../../i18n/format";
import { ConfirmButton, ErrorAlert, useRunner } from "./shared";
import "./tools.css";

type Server = Schemas["MCPServerRead"];
type ServerCreate = Schemas["MCPServerCreate"];
type Transport = ServerCreate["transport"];

/** The transports `MCPServerCreate.transport` allows (the compiler checks none is missing). */
const TRANSPORTS = ["stdio", "http"] as const satisfies readonly Transport[];
const transportsComplete: [Exclude<Transport, (typeof TRANSPORTS)[number]>] extends [never] ? true : never = true;
void transportsComplete;

/** MCP servers (GET /api/v1/mcp-servers): status, tools, last error; register, refresh and remove them. */
export function McpPage() {
  const { t } = useTranslation();
  const { data, error, reload } = useLoaded(() => api.GET("/api/v1/mcp-servers"), { failedKey: "adminTools.mcp.loadFailed" });
  const [adding, setAdding] = useState(false);

  return (
    <div className="at-page">
      <div className="page-head">
        <h1>{t("adminTools.mcp.title")}</h1>
        <span className="muted small">{t("adminTools.mcp.intro")}</span>
        <button type="button" className="btn btn-primary at-push" data-testid="mcp-add" aria-expanded={adding} onClick={() => setAdding(!adding)}>
          {t("adminTools.mcp.add")}
        </button>
      </div>
      {adding && (
        <AddServer
          onAdded={() => {
            setAdding(false);
            void reload();
          }}
          onCancel={() => setAdding(false)}
        />
      )}
      <ErrorAlert>{error}</ErrorAlert>
      {data === null && !error && <p className="muted" role="status">{t("common.loading")}</p>}
      {data && data.length === 0 && <p className="empty muted">{t("adminTools.mcp.none")}</p>}
      {data && data.length > 0 && (
        <ul className="at-cards" aria-live="polite">
          {data.map((server) => (
            <ServerItem key={server.name} server={server} onChanged={() => void reload()} />
          ))}
        </ul>
      )}
    </div>
  );
}

function where(server: Server): string {
  const config = server.config;
  if (server.transport === "http") return typeof config.url === "string" ? config.url : "";
  const args = Array.isArray(config.args) ? config.args.map(String) : [];
  return [typeof config.command === "string" ? config.command : "", ...args].join(" ").trim();
}

function ServerItem({ server, onChanged }: { server: Server; onChanged: () => void }) {
  const { t } = useTranslation();
  const fmt = useFormat();
  const { busy, error, run } = useRunner();
  // A refresh answers the server's new state; a reload of the list replaces it.
  const [refreshed, setRefreshed] = useState<Server | null>(null);
  const [listed, setListed] = useState(server);
  if (listed !== server) {
    setListed(server);
    setRefreshed(null);
  }
  const current = refreshed ?? server;
  const path = { name: server.name };

  async function refresh() {
    const done = await run(() => api.POST("/api/v1/mcp-servers/{name}/refresh", { params: { path } }), "adminTools.mcp.refreshFailed");
    if (done?.data) setRefreshed(done.data);
  }
  async function remove() {
    const done = await run(() => api.DELETE("/api/v1/mcp-servers/{name}", { params: { path } }), "adminTools.mcp.deleteFailed");
    if (done) onChanged();
  }

  return (
    <li className="card at-card" data-testid="mcp-row" data-server={server.name}>
      <div className="at-card-head">
        <h2>
          <code>{current.name}</code>
        </h2>
        <span className="pill">{t(`adminTools.mcp.transport.${current.transport}`, { defaultValue: current.transport })}</span>
        <span className={`pill at-status-${current.status}`} data-testid="mcp-status">
          {t(`adminTools.mcp.status.${current.status}`, { defaultValue: current.status })}
        </span>
        {!current.enabled && <span className="pill">{t("adminTools.mcp.disabled")}</span>}
      </div>
      <dl className="meta">
        <div>
          <dt>{t(current.transport === "http" ? "adminTools.mcp.url" : "adminTools.mcp.command")}</dt>
          <dd>
            <code className="at-break">{where(current) || "—"}</code>
          </dd>
        </div>
        <div>
          <dt>{t("adminTools.mcp.toolCount")}</dt>
          <dd data-testid="mcp-tool-count">{fmt.number(current.tools.length)}</dd>
        </div>
        <div>
          <dt>{t("adminTools.updated")}</dt>
          <dd>{fmt.dateTime(current.updated_at)}</dd>
        </div>
      </dl>
      {current.status_detail && (
        <p className="small at-bad" data-testid="mcp-last-error">
          <strong>{t("adminTools.mcp.lastError")}:</strong> {current.status_detail}
        </p>
      )}
      {current.tools.length > 0 && (
        <details>
          <summary>{t("adminTools.mcp.tools", { count: current.tools.length })}</summary>
          <ul className="at-chips">
            {current.tools.map((name) => (
              <li key={name}>
                <code>{name}</code>
              </li>
            ))}
          </ul>
        </details>
      )}
      <details>
        <summary>{t("adminTools.mcp.config")}</summary>
        <JsonView value={current.config} />
      </details>
      <ErrorAlert>{error}</ErrorAlert>
      <div className="actions">
        <button type="button" className="btn btn-small" data-testid="mcp-refresh" disabled={busy} onClick={() => void refresh()}>
          {t("adminTools.mcp.refresh")}
        </button>
        <ConfirmButton
          testId="mcp-delete"
          label={t("adminTools.delete")}
          confirmLabel={t("adminTools.confirmDelete")}
          question={t("adminTools.mcp.deleteQuestion", { name: server.name })}
          disabled={busy}
          onConfirm={() => void remove()}
        />
      </div>
    </li>
  );
}

type Pair = { key: string; value: string };

/** Key / value rows whose values are secrets (env variables, headers): password fields, never shown back. */
function SecretPairs({ legend, keyLabel, pairs, onChange, testId }: { legend: string; keyLabel: string; pairs: Pair[]; onChange: (pairs: Pair[]) => void; testId: string }) {
  const { t } = useTranslation();
  const set = (i: number, change: Partial<Pair>) => onChange(pairs.map((p, j) => (j === i ? { ...p, ...change } : p)));
  return (
    <fieldset className="at-pairs">
      <legend>{legend}</legend>
      {pairs.map((pair, i) => (
        <div className="at-pair" key={i}>
          <label className="field">
            <span>{keyLabel}</span>
            <input data-testid={`${testId}-key`} value={pair.key} onChange={(e) => set(i, { key: e.target.value })} autoComplete="off" spellCheck={false} />
          </label>
          <label className="field">
            <span>{t("adminTools.mcp.secretValue")}</span>
            <input type="password" data-testid={`${testId}-value`} value={pair.value} onChange={(e) => set(i, { value: e.target.value })} autoComplete="new-password" />
          </label>
          <button type="button" className="btn btn-ghost btn-small" onClick={() => onChange(pairs.filter((_, j) => j !== i))} aria-label={t("adminTools.mcp.removePair", { name: pair.key || keyLabel })}>
            ×
          </button>
        </div>
      ))}
      <button type="button" className="btn btn-small" data-testid={`${testId}-add`} onClick={() => onChange([...pairs, { key: "", value: "" }])}>
        {t("adminTools.mcp.addPair", { name: keyLabel })}
      </button>
    </fieldset>
  );
}

const toRecord = (pairs: Pair[]) => Object.fromEntries(pairs.filter((p) => p.key.trim()).map((p) => [p.key.trim(), p.value]));

function AddServer({ onAdded, onCancel }: { onAdded: () => void; onCancel: () => void }) {
  const { t } = useTranslation();
  const ids = useId();
  const { busy, error, run } = useRunner();
  const [name, setName] = useState("");
  const [transport, setTransport] = useState<Transport>("stdio");
  const [command, setCommand] = useState("");
  const [args, setArgs] = useState("");
  const [cwd, setCwd] = useState("");
  const [env, setEnv] = useState<Pair[]>([]);
  const [url, setUrl] = useState("");
  const [headers, setHeaders] = useState<Pair[]>([]);
  const [timeout, setTimeoutSeconds] = useState("30");
  const [callTimeout, setCallTimeout] = useState("60");

  async function submit(event: FormEvent) {
    event.preventDefault();
    const common = { name: name.trim(), transport, timeout_seconds: Number(timeout), call_timeout_seconds: Number(callTimeout) };
    const body: ServerCreate =
      transport === "stdio"
        ? {
            ...common,
            command: command.trim(),
            args: args.split("\n").map((a) => a.trim()).filter(Boolean),
            env: toRecord(env),
            ...(cwd.trim() ? { cwd: cwd.trim() } : {}),
          }
        : { ...common, url: url.trim(), headers: toRecord(headers) };
    const done = await run(() => api.POST("/api/v1/mcp-servers", { body }), "adminTools.mcp.addFailed");
    if (done) onAdded();
  }

  return (
    <form className="card at-form" onSubmit={(e) => void submit(e)} aria-labelledby={`${ids}-title`} data-testid="mcp-form">
      <h2 id={`${ids}-title`}>{t("adminTools.mcp.addTitle")}</h2>
      <label className="field">
        <span>{t("adminTools.mcp.name")}</span>
        <input
          data-testid="mcp-name"
          required
          maxLength={40}
          pattern="[a-z0-9_\-]+"
          value={name}
          onChange={(e) => setName(e.target.value)}
          aria-describedby={`${ids}-name-help`}
          spellCheck={false}
        />
        <small id={`${ids}-name-help`} className="muted">{t("adminTools.mcp.nameHelp")}</small>
      </label>
      <fieldset className="at-radios">
        <legend>{t("adminTools.mcp.transportLabel")}</legend>
        {TRANSPORTS.map((value) => (
          <label key={value}>
            <input type="radio" name={`${ids}-transport`} data-testid={`mcp-transport-${value}`} checked={transport === value} onChange={() => setTransport(value)} />{" "}
            {t(`adminTools.mcp.transport.${value}`)}
          </label>
        ))}
      </fieldset>
      {transport === "stdio" ? (
        <>
          <label className="field">
            <span>{t("adminTools.mcp.command")}</span>
            <input data-testid="mcp-command" required maxLength={1000} value={command} onChange={(e) => setCommand(e.target.value)} spellCheck={false} />
          </label>
          <label className="field">
            <span>{t("adminTools.mcp.args")}</span>
            <textarea data-testid="mcp-args" className="mono" rows={3} value={args} onChange={(e) => setArgs(e.target.value)} spellCheck={false} aria-describedby={`${ids}-args-help`} />
            <small id={`${ids}-args-help`} className="muted">{t("adminTools.mcp.argsHelp")}</small>
          </label>
          <label className="field">
            <span>{t("adminTools.mcp.cwd")}</span>
            <input data-testid="mcp-cwd" maxLength={1000} value={cwd} onChange={(e) => setCwd(e.target.value)} spellCheck={false} />
          </label>
          <SecretPairs legend={t("adminTools.mcp.env")} keyLabel={t("adminTools.mcp.envName")} pairs={env} onChange={setEnv} testId="mcp-env" />
        </>
      ) : (
        <>
          <label className="field">
            <span>{t("adminTools.mcp.url")}</span>
            <input data-testid="mcp-url" type="url" required maxLength={2000} value={url} onChange={(e) => setUrl(e.target.value)} spellCheck={false} placeholder="https://" />
          </label>
          <SecretPairs legend={t("adminTools.mcp.headers")} keyLabel={t("adminTools.mcp.headerName")} pairs={headers} onChange={setHeaders} testId="mcp-header" />
        </>
      )}
      <p className="muted small">{t("adminTools.mcp.secretsNote")}</p>
      <div className="at-row">
        <label className="field">
          <span>{t("adminTools.mcp.timeout")}</span>
          <input data-testid="mcp-timeout" type="number" min={0.1} max={600} step="any" required value={timeout} onChange={(e) => setTimeoutSeconds(e.target.value)} />
        </label>
        <label className="field">
          <span>{t("adminTools.mcp.callTimeout")}</span>
          <input data-testid="mcp-call-timeout" type="number" min={0.1} max={3600} step="any" required value={callTimeout} onChange={(e) => setCallTimeout(e.target.value)} />
        </label>
      </div>
      <ErrorAlert>{error}</ErrorAlert>
      <div className="actions">
        <button type="submit" className="btn btn-primary" data-testid="mcp-submit" disabled={busy}>
          {t("adminTools.mcp.register")}
        </button>
        <button type="button" className="btn btn-ghost" onClick={onCancel}>
          {t("common.cancel")}
        </button>
      </div>
    </form>
  );
}
