import { useState } from "react";
import { Link } from "react-router";
import { useTranslation } from "react-i18next";
import { api, type Approval } from "../api/client";
import { errorMessage } from "../api/errors";
import { useLoaded } from "../api/useLoaded";
import { Countdown } from "../components/Countdown";
import { JsonView, pretty } from "../components/JsonView";
import { useFormat } from "../i18n/format";

export const POLL_MS = 3000;

/** Pending approvals across conversations (GET /api/v1/approvals), refreshed every 3 s. */
export function ApprovalsView() {
  const { t } = useTranslation();
  const { data, error, reload: load } = useLoaded(
    () => api.GET("/api/v1/approvals", { params: { query: { status: "pending", limit: 100 } } }),
    { everyMs: POLL_MS, failedKey: "approvals.loadFailed" },
  );
  const items: Approval[] | null = data ? data.items : null;

  return (
    <div className="page">
      <div className="page-head">
        <h1>{t("approvals.title")}</h1>
        <span className="muted small">{t("approvals.live")}</span>
      </div>
      {error && <p className="alert alert-error" role="alert">{error}</p>}
      {items === null && !error && <p className="muted" role="status">{t("common.loading")}</p>}
      {items && items.length === 0 && <p className="empty muted" data-testid="approvals-empty">{t("approvals.none")}</p>}
      <ul className="approval-list">
        {items?.map((a) => (
          <ApprovalItem key={a.id} approval={a} onDone={() => void load()} />
        ))}
      </ul>
    </div>
  );
}

type Mode = "idle" | "reject" | "edit";

function ApprovalItem({ approval, onDone }: { approval: Approval; onDone: () => void }) {
  const { t } = useTranslation();
  const fmt = useFormat();
  const [mode, setMode] = useState<Mode>("idle");
  const [reason, setReason] = useState("");
  const [args, setArgs] = useState(() => pretty(approval.args));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const path = { approval_id: approval.id };

  async function run(call: () => Promise<{ error?: unknown; response: Response }>) {
    setBusy(true);
    setError(null);
    try {
      const { error: failure, response } = await call();
      if (!response.ok) setError(errorMessage(failure, t("approvals.actionFailed")));
      else onDone();
    } catch {
      setError(t("common.networkError"));
    } finally {
      setBusy(false);
    }
  }

  const approve = () => run(() => api.POST("/api/v1/approvals/{approval_id}/approve", { params: { path }, body: {} }));
  const reject = () =>
    run(() => api.POST("/api/v1/approvals/{approval_id}/reject", { params: { path }, body: reason.trim() ? { message: reason.trim() } : {} }));
  const edit = () => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(args);
    } catch {
      setError(t("approvals.badJson"));
      return;
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
      setError(t("approvals.badJson"));
      return;
    }
    return run(() => api.POST("/api/v1/approvals/{approval_id}/edit", { params: { path }, body: { args: parsed as Record<string, unknown> } }));
  };

  const idBase = `approval-${approval.id}`;
  return (
    <li className="card approval-item" data-testid="approvals-item" data-approval-id={approval.id}>
      <div className="approval-head">
        <code className="action">{approval.tool_name}</code>
        <span className={`pill pill-${approval.side_effect}`}>{t(`sideEffect.${approval.side_effect}`, { defaultValue: approval.side_effect })}</span>
        <Countdown expiresAt={approval.expires_at} />
      </div>
      {approval.description && <p>{approval.description}</p>}
      <JsonView value={approval.args} />
      <dl className="meta">
        <div>
          <dt>{t("approvals.conversation")}</dt>
          <dd><Link to={`/chat?thread=${encodeURIComponent(approval.thread_id)}`}>{approval.thread_id.slice(0, 8)}</Link></dd>
        </div>
        <div>
          <dt>{t("approvals.requester")}</dt>
          <dd><code>{approval.requester_id ? approval.requester_id.slice(0, 8) : "—"}</code></dd>
        </div>
        {approval.assistant_id && (
          <div>
            <dt>{t("approvals.assistant")}</dt>
            <dd>{approval.assistant_id}</dd>
          </div>
        )}
        <div>
          <dt>{t("approvals.requested")}</dt>
          <dd>{fmt.dateTime(approval.created_at)}</dd>
        </div>
      </dl>
      {mode === "reject" && (
        <label className="field">
          <span>{t("approvals.reason")}</span>
          <input id={`${idBase}-reason`} value={reason} onChange={(e) => setReason(e.target.value)} maxLength={10000} />
        </label>
      )}
      {mode === "edit" && (
        <label className="field">
          <span>{t("approvals.args")}</span>
          <textarea className="mono" rows={6} value={args} onChange={(e) => setArgs(e.target.value)} spellCheck={false} />
        </label>
      )}
      {error && <p className="alert alert-error" role="alert">{error}</p>}
      <div className="actions">
        {mode === "idle" && (
          <>
            <button type="button" className="btn btn-primary" data-testid="approval-approve" disabled={busy} onClick={() => void approve()}>
              {t("approval.approve")}
            </button>
            <button type="button" className="btn btn-danger" data-testid="approval-reject" disabled={busy} onClick={() => setMode("reject")}>
              {t("approval.reject")}
            </button>
            <button type="button" className="btn" data-testid="approval-edit" disabled={busy} onClick={() => setMode("edit")}>
              {t("approvals.edit")}
            </button>
          </>
        )}
        {mode === "reject" && (
          <>
            <button type="button" className="btn btn-danger" data-testid="approval-reject-confirm" disabled={busy} onClick={() => void reject()}>
              {t("approvals.confirmReject")}
            </button>
            <button type="button" className="btn btn-ghost" onClick={() => setMode("idle")}>{t("common.cancel")}</button>
          </>
        )}
        {mode === "edit" && (
          <>
            <button type="button" className="btn btn-primary" data-testid="approval-edit-confirm" disabled={busy} onClick={() => void edit()}>
              {t("approvals.confirmEdit")}
            </button>
            <button type="button" className="btn btn-ghost" onClick={() => setMode("idle")}>{t("common.cancel")}</button>
          </>
        )}
      </div>
    </li>
  );
}
