import { useEffect, useId, useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { api, type Schemas } from "../../api/client";
import { useLoaded } from "../../api/useLoaded";
import { JsonView } from "../../components/JsonView";
import { useFormat } from "../../i18n/format";
import { ConfirmButton, ErrorAlert, SIDE_EFFECTS, describeFailure, useRunner } from "./shared";
import "./tools.css";

type Job = Schemas["ImportRead"];
type ImportCreate = Schemas["ImportCreate"];
type Upload = Schemas["Body_upload_document_api_v1_openapi_import_upload_post"];
type Credentials = Schemas["CredentialsIn"];
type Classification = Schemas["Classification"];
type ClassificationEdit = Schemas["ClassificationEdit"];
type Assistant = Schemas["AssistantRead"];

/** `CredentialsIn.kind`'s values (the compiler checks none is missing). */
const CREDENTIAL_KINDS = ["header", "bearer", "query"] as const satisfies readonly Credentials["kind"][];
const kindsComplete: [Exclude<Credentials["kind"], (typeof CREDENTIAL_KINDS)[number]>] extends [never] ? true : never = true;
void kindsComplete;

const JOBS_POLL_MS = 5000;

/** OpenAPI imports: import a document (URL or upload), follow the jobs, review each operation's classification,
 * approve (the tools go live) or delete. */
export function OpenApiPage() {
  const { t } = useTranslation();
  const { data, error, reload } = useLoaded(() => api.GET("/api/v1/openapi/jobs"), {
    everyMs: JOBS_POLL_MS,
    failedKey: "adminTools.openapi.loadFailed",
  });
  const [openId, setOpenId] = useState<string | null>(null);
  const openJob = data?.find((job) => job.id === openId) ?? null;

  return (
    <div className="at-page">
      <div className="page-head">
        <h1>{t("adminTools.openapi.title")}</h1>
        <span className="muted small">{t("adminTools.openapi.intro")}</span>
      </div>
      <ImportForm
        onStarted={(job) => {
          setOpenId(job.id);
          void reload();
        }}
      />
      <section className="card" aria-labelledby="openapi-jobs-title">
        <h2 id="openapi-jobs-title">{t("adminTools.openapi.jobs")}</h2>
        <ErrorAlert>{error}</ErrorAlert>
        {data === null && !error && <p className="muted" role="status">{t("common.loading")}</p>}
        {data && data.length === 0 && <p className="empty muted">{t("adminTools.openapi.none")}</p>}
        {data && data.length > 0 && <JobTable jobs={data} openId={openId} onOpen={(id) => setOpenId(openId === id ? null : id)} />}
      </section>
      {openJob && (
        <JobPanel
          key={`${openJob.id}:${openJob.status}`}
          job={openJob}
          onChanged={() => void reload()}
          onDeleted={() => {
            setOpenId(null);
            void reload();
          }}
        />
      )}
    </div>
  );
}

function StatusPill({ status }: { status: Job["status"] }) {
  const { t } = useTranslation();
  return <span className={`pill at-job-${status}`}>{t(`adminTools.openapi.status.${status}`)}</span>;
}

function JobTable({ jobs, openId, onOpen }: { jobs: Job[]; openId: string | null; onOpen: (id: string) => void }) {
  const { t } = useTranslation();
  const fmt = useFormat();
  return (
    <div className="admin-table-wrap" aria-live="polite">
      <table className="admin-table">
        <thead>
          <tr>
            <th scope="col">{t("adminTools.openapi.name")}</th>
            <th scope="col">{t("adminTools.openapi.statusLabel")}</th>
            <th scope="col">{t("adminTools.openapi.operations")}</th>
            <th scope="col">{t("adminTools.openapi.created")}</th>
            <th scope="col">
              <span className="visually-hidden">{t("adminTools.actions")}</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {jobs.map((job) => (
            <tr key={job.id} data-testid="openapi-job" className={openId === job.id ? "at-selected" : undefined}>
              <th scope="row">
                <code>{job.name}</code>
                {job.title && (
                  <div className="small">
                    {job.title}
                    {job.version ? ` · ${job.version}` : ""}
                  </div>
                )}
                <div className="muted small at-break">{job.source_url ?? t("adminTools.openapi.uploaded")}</div>
              </th>
              <td>
                <StatusPill status={job.status} />
                {job.error && <div className="small at-bad">{job.error}</div>}
              </td>
              <td>{t("adminTools.openapi.enabledOf", { enabled: job.enabled, total: job.operations })}</td>
              <td className="small">{fmt.dateTime(job.created_at)}</td>
              <td>
                <button type="button" className="btn btn-small" data-testid="openapi-open" aria-expanded={openId === job.id} onClick={() => onOpen(job.id)}>
                  {openId === job.id ? t("adminTools.openapi.close") : t("adminTools.openapi.open")}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ImportForm({ onStarted }: { onStarted: (job: Job) => void }) {
  const { t } = useTranslation();
  const ids = useId();
  const { busy, error, run } = useRunner();
  const [from, setFrom] = useState<"url" | "file">("url");
  const [url, setUrl] = useState("");
  const [file, setFile] = useState<File | null>(null);
  const [name, setName] = useState("");
  const [baseUrl, setBaseUrl] = useState("");
  const [kind, setKind] = useState<Credentials["kind"] | "">("");
  const [credName, setCredName] = useState("Authorization");
  const [credValue, setCredValue] = useState("");
  const [fileKey, setFileKey] = useState(0);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const trimmedName = name.trim();
    const trimmedBase = baseUrl.trim();
    let done: { data: Job | undefined } | null;
    if (from === "url") {
      const body: ImportCreate = {
        url: url.trim(),
        ...(trimmedName ? { name: trimmedName } : {}),
        ...(trimmedBase ? { base_url: trimmedBase } : {}),
        ...(kind ? { credentials: { kind, name: credName.trim(), value: credValue } } : {}),
      };
      done = await run(() => api.POST("/api/v1/openapi/import", { body }), "adminTools.openapi.importFailed");
    } else {
      if (!file) return;
      const chosen = file;
      // The generated type says `string` for the binary part; the serializer below sends the File itself.
      const body: Upload = {
        file: chosen as unknown as string,
        ...(trimmedName ? { name: trimmedName } : {}),
        ...(trimmedBase ? { base_url: trimmedBase } : {}),
        ...(kind ? { credentials_kind: kind, credentials_name: credName.trim(), credentials_value: credValue } : {}),
      };
      done = await run(
        () =>
          api.POST("/api/v1/openapi/import/upload", {
            body,
            bodySerializer: (fields) => {
              const form = new FormData();
              for (const [key, value] of Object.entries(fields)) {
                if (key === "file") form.append("file", chosen, chosen.name);
                else if (typeof value === "string") form.append(key, value);
              }
              return form;
            },
          }),
        "adminTools.openapi.importFailed",
      );
    }
    if (done?.data) {
      setUrl("");
      setFile(null);
      setFileKey((k) => k + 1);
      setName("");
      setCredValue("");
      onStarted(done.data);
    }
  }

  return (
    <form className="card at-form" onSubmit={(e) => void submit(e)} aria-labelledby={`${ids}-title`}>
      <h2 id={`${ids}-title`}>{t("adminTools.openapi.importTitle")}</h2>
      <fieldset className="at-radios">
        <legend>{t("adminTools.openapi.from")}</legend>
        <label>
          <input type="radio" name={`${ids}-from`} data-testid="openapi-from-url" checked={from === "url"} onChange={() => setFrom("url")} /> {t("adminTools.openapi.fromUrl")}
        </label>
        <label>
          <input type="radio" name={`${ids}-from`} data-testid="openapi-from-file" checked={from === "file"} onChange={() => setFrom("file")} /> {t("adminTools.openapi.fromFile")}
        </label>
      </fieldset>
      {from === "url" ? (
        <label className="field">
          <span>{t("adminTools.openapi.url")}</span>
          <input data-testid="openapi-url" type="url" required maxLength={2000} value={url} onChange={(e) => setUrl(e.target.value)} placeholder="https://" spellCheck={false} />
        </label>
      ) : (
        <label className="field">
          <span>{t("adminTools.openapi.file")}</span>
          <input
            key={fileKey}
            data-testid="openapi-file"
            type="file"
            accept=".json,.yaml,.yml,application/json,application/yaml,text/yaml"
            onChange={(e) => setFile(e.target.files?.[0] ?? null)}
          />
        </label>
      )}
      <div className="at-row">
        <label className="field">
          <span>{t("adminTools.openapi.sourceName")}</span>
          <input data-testid="openapi-name" maxLength={40} pattern="[a-z0-9_\-]+" value={name} onChange={(e) => setName(e.target.value)} aria-describedby={`${ids}-name-help`} spellCheck={false} />
          <small id={`${ids}-name-help`} className="muted">{t("adminTools.openapi.nameHelp")}</small>
        </label>
        <label className="field">
          <span>{t("adminTools.openapi.baseUrl")}</span>
          <input data-testid="openapi-base-url" type="url" maxLength={2000} value={baseUrl} onChange={(e) => setBaseUrl(e.target.value)} spellCheck={false} aria-describedby={`${ids}-base-help`} />
          <small id={`${ids}-base-help`} className="muted">{t("adminTools.openapi.baseUrlHelp")}</small>
        </label>
      </div>
      <div className="at-row">
        <label className="field">
          <span>{t("adminTools.openapi.credentials")}</span>
          <select data-testid="openapi-cred-kind" value={kind} onChange={(e) => setKind(e.target.value as Credentials["kind"] | "")}>
            <option value="">{t("adminTools.openapi.credNone")}</option>
            {CREDENTIAL_KINDS.map((k) => (
              <option key={k} value={k}>
                {t(`adminTools.openapi.credKind.${k}`)}
              </option>
            ))}
          </select>
        </label>
        {kind && kind !== "bearer" && (
          <label className="field">
            <span>{t(kind === "query" ? "adminTools.openapi.credQueryName" : "adminTools.openapi.credHeaderName")}</span>
            <input data-testid="openapi-cred-name" required maxLength={200} value={credName} onChange={(e) => setCredName(e.target.value)} spellCheck={false} />
          </label>
        )}
        {kind && (
          <label className="field">
            <span>{t("adminTools.openapi.credValue")}</span>
            <input data-testid="openapi-cred-value" type="password" required maxLength={10000} autoComplete="new-password" value={credValue} onChange={(e) => setCredValue(e.target.value)} />
          </label>
        )}
      </div>
      {kind && <p className="muted small">{t("adminTools.openapi.credNote")}</p>}
      <ErrorAlert>{error}</ErrorAlert>
      <button type="submit" className="btn btn-primary" data-testid="openapi-import" disabled={busy || (from === "file" && !file)}>
        {t("adminTools.openapi.import")}
      </button>
    </form>
  );
}

/** One job: its details, the classification review table, and (in review) approval with the assistants to give the tools. */
function JobPanel({ job, onChanged, onDeleted }: { job: Job; onChanged: () => void; onDeleted: () => void }) {
  const { t } = useTranslation();
  const fmt = useFormat();
  const jobId = job.id;
  const { data: loaded, error: loadError } = useLoaded(
    () => api.GET("/api/v1/openapi/jobs/{job_id}/classifications", { params: { path: { job_id: jobId } } }),
    { failedKey: "adminTools.openapi.classificationsFailed" },
  );
  const [items, setItems] = useState<Classification[] | null>(null);
  useEffect(() => {
    if (loaded) setItems(loaded);
  }, [loaded]);
  const { busy, error, run } = useRunner();
  const inReview = job.status === "review";

  async function remove() {
    const done = await run(() => api.DELETE("/api/v1/openapi/jobs/{job_id}", { params: { path: { job_id: jobId } } }), "adminTools.openapi.deleteFailed");
    if (done) onDeleted();
  }

  return (
    <section className="card at-panel" aria-labelledby={`job-${jobId}`} data-testid="openapi-job-panel">
      <div className="at-card-head">
        <h2 id={`job-${jobId}`}>
          <code>{job.name}</code>
        </h2>
        <StatusPill status={job.status} />
      </div>
      <dl className="meta">
        {job.title && (
          <div>
            <dt>{t("adminTools.openapi.docTitle")}</dt>
            <dd>
              {job.title}
              {job.version ? ` ${job.version}` : ""}
            </dd>
          </div>
        )}
        {job.spec_version && (
          <div>
            <dt>{t("adminTools.openapi.specVersion")}</dt>
            <dd>{job.spec_version}</dd>
          </div>
        )}
        <div>
          <dt>{t("adminTools.openapi.baseUrl")}</dt>
          <dd className="at-break">{job.base_url ?? "—"}</dd>
        </div>
        <div>
          <dt>{t("adminTools.openapi.credentials")}</dt>
          <dd>{job.has_credentials ? t("adminTools.openapi.credStored") : t("adminTools.openapi.credNone")}</dd>
        </div>
        <div>
          <dt>{t("adminTools.updated")}</dt>
          <dd>{fmt.dateTime(job.updated_at)}</dd>
        </div>
        {job.approved_at && (
          <div>
            <dt>{t("adminTools.openapi.approvedAt")}</dt>
            <dd>{fmt.dateTime(job.approved_at)}</dd>
          </div>
        )}
      </dl>
      {job.error && <p className="alert alert-error">{job.error}</p>}
      {job.warnings && job.warnings.length > 0 && (
        <details>
          <summary>{t("adminTools.openapi.warnings", { count: job.warnings.length })}</summary>
          <ul className="small">
            {job.warnings.map((w, i) => (
              <li key={i}>{w}</li>
            ))}
          </ul>
        </details>
      )}
      {job.status === "queued" && <p className="muted" role="status">{t("adminTools.openapi.queued")}</p>}
      <h3>{t("adminTools.openapi.review")}</h3>
      {!inReview && job.status !== "queued" && <p className="muted small">{t("adminTools.openapi.readOnly")}</p>}
      <ErrorAlert>{loadError}</ErrorAlert>
      {items === null && !loadError && <p className="muted small" role="status">{t("common.loading")}</p>}
      {items && items.length === 0 && job.status !== "queued" && <p className="muted small">{t("adminTools.openapi.noOperations")}</p>}
      {items && items.length > 0 && (
        <div className="admin-table-wrap">
          <table className="admin-table at-review">
            <thead>
              <tr>
                <th scope="col">{t("adminTools.openapi.operation")}</th>
                <th scope="col">{t("adminTools.openapi.toolName")}</th>
                <th scope="col">{t("adminTools.openapi.sideEffect")}</th>
                <th scope="col">{t("adminTools.openapi.exposed")}</th>
                <th scope="col">{t("adminTools.openapi.description")}</th>
                <th scope="col">
                  <span className="visually-hidden">{t("adminTools.actions")}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((item) => (
                <ClassificationRow
                  key={item.index}
                  jobId={jobId}
                  item={item}
                  editable={inReview}
                  onSaved={(saved) => {
                    setItems((all) => all?.map((x) => (x.index === saved.index ? saved : x)) ?? null);
                    onChanged();
                  }}
                />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {inReview && <ApproveForm job={job} onApproved={onChanged} />}
      <ErrorAlert>{error}</ErrorAlert>
      <div className="actions">
        <ConfirmButton
          testId="openapi-delete"
          label={t("adminTools.openapi.deleteJob")}
          confirmLabel={t("adminTools.confirmDelete")}
          question={t("adminTools.openapi.deleteQuestion", { name: job.name })}
          disabled={busy}
          onConfirm={() => void remove()}
        />
      </div>
    </section>
  );
}

function ClassificationRow({ jobId, item, editable, onSaved }: { jobId: string; item: Classification; editable: boolean; onSaved: (saved: Classification) => void }) {
  const { t } = useTranslation();
  const { busy, error, setError, run } = useRunner();
  const [editing, setEditing] = useState(false);
  const [toolName, setToolName] = useState(item.tool_name);
  const [description, setDescription] = useState(item.description);
  const [sideEffect, setSideEffect] = useState<Classification["side_effect"]>(item.side_effect);
  const [enabled, setEnabled] = useState(item.enabled);
  const base = `op-${jobId}-${item.index}`;

  function start() {
    setToolName(item.tool_name);
    setDescription(item.description);
    setSideEffect(item.side_effect);
    setEnabled(item.enabled);
    setError(null);
    setEditing(true);
  }

  async function save() {
    const body: ClassificationEdit = {
      ...(toolName.trim() !== item.tool_name ? { tool_name: toolName.trim() } : {}),
      ...(description !== item.description ? { description } : {}),
      ...(sideEffect !== item.side_effect ? { side_effect: sideEffect } : {}),
      ...(enabled !== item.enabled ? { enabled } : {}),
    };
    if (Object.keys(body).length === 0) {
      setEditing(false);
      return;
    }
    const done = await run(
      () => api.PATCH("/api/v1/openapi/jobs/{job_id}/classifications/{index}", { params: { path: { job_id: jobId, index: item.index } }, body }),
      "adminTools.openapi.editFailed",
    );
    if (done?.data) {
      setEditing(false);
      onSaved(done.data);
    }
  }

  return (
    <>
      <tr data-testid="openapi-row" data-index={item.index}>
        <th scope="row">
          <span className={`at-method at-method-${item.method.toLowerCase()}`}>{item.method.toUpperCase()}</span> <code className="at-break">{item.path}</code>
          {item.operation_id && <div className="muted small">{t("adminTools.openapi.operationId")}: <code>{item.operation_id}</code></div>}
        </th>
        <td>
          {editing ? (
            <label>
              <span className="visually-hidden">{t("adminTools.openapi.toolName")}</span>
              <input id={`${base}-tool`} data-testid="openapi-edit-tool-name" value={toolName} maxLength={64} pattern="[A-Za-z0-9_\-]+" required onChange={(e) => setToolName(e.target.value)} spellCheck={false} />
            </label>
          ) : (
            <code>{item.tool_name}</code>
          )}
        </td>
        <td>
          {editing ? (
            <label>
              <span className="visually-hidden">{t("adminTools.openapi.sideEffect")}</span>
              <select data-testid="openapi-edit-side-effect" value={sideEffect} onChange={(e) => setSideEffect(e.target.value as Classification["side_effect"])}>
                {SIDE_EFFECTS.map((s) => (
                  <option key={s} value={s}>
                    {t(`adminTools.sideEffect.${s}`)}
                  </option>
                ))}
              </select>
            </label>
          ) : (
            <span className={`pill pill-${item.side_effect}`}>{t(`adminTools.sideEffect.${item.side_effect}`)}</span>
          )}
          <div className="muted small">{item.side_effect_reason}</div>
        </td>
        <td>
          {editing ? (
            <label>
              <input type="checkbox" data-testid="openapi-edit-enabled" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} />{" "}
              <span className="small">{t("adminTools.openapi.exposed")}</span>
            </label>
          ) : item.enabled ? (
            t("adminTools.yes")
          ) : (
            <span className="muted">{t("adminTools.no")}</span>
          )}
        </td>
        <td className="at-desc-cell">
          {editing ? (
            <label>
              <span className="visually-hidden">{t("adminTools.openapi.description")}</span>
              <textarea data-testid="openapi-edit-description" rows={3} maxLength={4000} value={description} onChange={(e) => setDescription(e.target.value)} />
            </label>
          ) : (
            <span className="small">{item.description}</span>
          )}
          {Object.keys(item.args_schema).length > 0 && (
            <details>
              <summary className="small">{t("adminTools.openapi.arguments")}</summary>
              <JsonView value={item.args_schema} />
            </details>
          )}
        </td>
        <td>
          {editable &&
            (editing ? (
              <div className="at-stack">
                <button type="button" className="btn btn-primary btn-small" data-testid="openapi-edit-save" disabled={busy || !toolName.trim()} onClick={() => void save()}>
                  {t("adminTools.save")}
                </button>
                <button type="button" className="btn btn-ghost btn-small" onClick={() => setEditing(false)}>
                  {t("common.cancel")}
                </button>
              </div>
            ) : (
              <button type="button" className="btn btn-small" data-testid="openapi-edit" onClick={start} aria-label={t("adminTools.openapi.editOp", { name: item.tool_name })}>
                {t("adminTools.edit")}
              </button>
            ))}
        </td>
      </tr>
      {error && (
        <tr>
          <td colSpan={6}>
            <ErrorAlert>{error}</ErrorAlert>
          </td>
        </tr>
      )}
    </>
  );
}

/** Approve: POST .../approve with the assistants (POST /assistants/search) that get the tools. */
function ApproveForm({ job, onApproved }: { job: Job; onApproved: () => void }) {
  const { t } = useTranslation();
  const ids = useId();
  const { busy, error, run } = useRunner();
  const [assistants, setAssistants] = useState<Assistant[] | null>(null);
  const [listError, setListError] = useState<string | null>(null);
  const [chosen, setChosen] = useState<string[]>(job.assistant_ids);

  useEffect(() => {
    let live = true;
    void (async () => {
      try {
        const { data, error: failure } = await api.POST("/assistants/search", { body: { limit: 100, offset: 0, sort_by: "name", sort_order: "asc" } });
        if (!live) return;
        // Without `select`, each item is a whole AssistantRead.
        if (data) setAssistants(data as unknown as Assistant[]);
        else setListError(describeFailure(failure, t("adminTools.assistants.loadFailed")));
      } catch {
        if (live) setListError(t("common.networkError"));
      }
    })();
    return () => {
      live = false;
    };
  }, [t]);

  async function approve(event: FormEvent) {
    event.preventDefault();
    const done = await run(
      () => api.POST("/api/v1/openapi/jobs/{job_id}/approve", { params: { path: { job_id: job.id } }, body: { assistant_ids: chosen } }),
      "adminTools.openapi.approveFailed",
    );
    if (done) onApproved();
  }

  const toggle = (id: string, on: boolean) => setChosen((all) => (on ? [...all, id] : all.filter((x) => x !== id)));

  return (
    <form className="at-approve" onSubmit={(e) => void approve(e)} aria-labelledby={`${ids}-title`}>
      <h3 id={`${ids}-title`}>{t("adminTools.openapi.approveTitle")}</h3>
      <p className="muted small">{t("adminTools.openapi.approveHelp", { enabled: job.enabled, total: job.operations })}</p>
      <fieldset className="at-checks">
        <legend>{t("adminTools.openapi.giveTo")}</legend>
        <ErrorAlert>{listError}</ErrorAlert>
        {assistants === null && !listError && <p className="muted small">{t("common.loading")}</p>}
        {assistants?.length === 0 && <p className="muted small">{t("adminTools.assistants.none")}</p>}
        {assistants?.map((a) => (
          <label key={a.assistant_id}>
            <input type="checkbox" data-testid="openapi-assistant" value={a.assistant_id} checked={chosen.includes(a.assistant_id)} onChange={(e) => toggle(a.assistant_id, e.target.checked)} />{" "}
            {a.name} <span className="muted small">({a.graph_id})</span>
          </label>
        ))}
        {assistants &&
          job.assistant_ids
            .filter((id) => !assistants.some((a) => a.assistant_id === id))
            .map((id) => (
              <label key={id}>
                <input type="checkbox" data-testid="openapi-assistant" value={id} checked={chosen.includes(id)} onChange={(e) => toggle(id, e.target.checked)} /> <code>{id}</code>
              </label>
            ))}
      </fieldset>
      <ErrorAlert>{error}</ErrorAlert>
      <button type="submit" className="btn btn-primary" data-testid="openapi-approve" disabled={busy}>
        {t("adminTools.openapi.approve")}
      </button>
    </form>
  );
}
