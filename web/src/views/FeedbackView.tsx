import { useEffect, useId, useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { api, type Task, type TaskEvent } from "../api/client";
import { errorInfo, errorMessage } from "../api/errors";
import { useLoaded } from "../api/useLoaded";
import { useFormat } from "../i18n/format";
import { Timeline, fileSize } from "./TaskDetailView";
import "./feedback.css";

export const POLL_MS = 10_000;
/** What the file picker offers; the server decides what it keeps (its allowed types and sizes are settings). */
export const ACCEPT = "image/*,.log,.txt,.json";

type FileState = { name: string; size: number; status: "sending" | "done" | "failed"; message?: string };

/** One file to one task: POST /api/v1/tasks/{task}/attachments, multipart with a `file` part. */
async function upload(taskId: string, file: File): Promise<{ ok: boolean; error?: unknown }> {
  const form = new FormData();
  form.append("file", file, file.name);
  const { error, response } = await api.POST("/api/v1/tasks/{task}/attachments", {
    params: { path: { task: taskId } },
    // The typed body is the form's schema ({file: binary[]}); what is sent is the FormData itself.
    body: form as unknown as { file: string[] },
  });
  return { ok: response.ok, error };
}

/** A customer's reports: submit one (POST /api/v1/feedback) with files, follow it live, confirm the fix, rate it. */
export function FeedbackView() {
  const { t } = useTranslation();
  const fmt = useFormat();
  const [title, setTitle] = useState("");
  const [description, setDescription] = useState("");
  const [modules, setModules] = useState("");
  const [files, setFiles] = useState<File[]>([]);
  const [picker, setPicker] = useState(0); // remounts the file input to clear it
  const [uploads, setUploads] = useState<FileState[]>([]);
  const [busy, setBusy] = useState(false);
  const [formError, setFormError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const { data, error: listError, reload: load } = useLoaded(
    () => api.GET("/api/v1/tasks", { params: { query: { limit: 50 } } }),
    { everyMs: POLL_MS, failedKey: "feedback.loadFailed" },
  );
  const [changed, setChanged] = useState<Record<string, Task>>({});
  const tasks: Task[] | null = data ? data.items.map((task) => newer(changed[task.id], task)) : null;
  const [selected, setSelected] = useState<string | null>(null);

  function fileError(error: unknown): string {
    const info = errorInfo(error);
    const max = info?.detail && typeof info.detail === "object" ? (info.detail as { max_bytes?: unknown }).max_bytes : undefined;
    const message = errorMessage(error, t("tasks.portal.uploadFailed"));
    return typeof max === "number" ? t("tasks.portal.tooLarge", { message, max: fileSize(max, fmt.number) }) : message;
  }

  async function attach(task: Task, chosen: File[]) {
    if (task.joined || !chosen.length) return; // a joined report's task is not theirs to add files to
    const states: FileState[] = chosen.map((f) => ({ name: f.name, size: f.size, status: "sending" }));
    setUploads(states);
    for (const [i, file] of chosen.entries()) {
      let next: FileState;
      try {
        const { ok, error } = await upload(task.id, file);
        next = ok ? { ...states[i], status: "done" } : { ...states[i], status: "failed", message: fileError(error) };
      } catch {
        next = { ...states[i], status: "failed", message: t("common.networkError") };
      }
      states[i] = next;
      setUploads([...states]);
    }
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setFormError(null);
    setNotice(null);
    setUploads([]);
    try {
      const affected = modules.split(/[,，]/).map((m) => m.trim()).filter(Boolean);
      const { data, error } = await api.POST("/api/v1/feedback", {
        body: { title: title.trim(), description: description.trim(), source_channel: "web", ...(affected.length ? { affected_modules: affected } : {}) },
      });
      if (!data) {
        setFormError(errorMessage(error, t("feedback.submitFailed")));
        return;
      }
      const number = data.task.task_number;
      setNotice(data.linked ? t("feedback.linked", { number }) : t("feedback.created", { number }));
      const chosen = files;
      setTitle("");
      setDescription("");
      setModules("");
      setFiles([]);
      setPicker((n) => n + 1);
      setSelected(data.task.id);
      void load();
      if (chosen.length && data.task.joined) {
        setUploads(chosen.map((f) => ({ name: f.name, size: f.size, status: "failed", message: t("tasks.portal.joinedNoFiles") })));
      } else await attach(data.task, chosen);
    } catch {
      setFormError(t("common.networkError"));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="page feedback">
      <form className="card" onSubmit={submit} aria-labelledby="feedback-form-title">
        <h1 id="feedback-form-title">{t("feedback.title")}</h1>
        <p className="muted small">{t("feedback.intro")}</p>
        <label className="field">
          <span>{t("feedback.summary")}</span>
          <input data-testid="feedback-title" required maxLength={500} value={title} onChange={(e) => setTitle(e.target.value)} />
        </label>
        <label className="field">
          <span>{t("feedback.description")}</span>
          <textarea data-testid="feedback-description" required rows={5} maxLength={20000} value={description} onChange={(e) => setDescription(e.target.value)} />
        </label>
        <label className="field">
          <span>{t("feedback.modules")}</span>
          <input data-testid="feedback-modules" value={modules} placeholder={t("feedback.modulesHint")} onChange={(e) => setModules(e.target.value)} />
        </label>
        <label className="field">
          <span>{t("tasks.portal.attach")}</span>
          <input
            key={picker}
            type="file"
            multiple
            accept={ACCEPT}
            data-testid="feedback-attach"
            aria-describedby="feedback-attach-hint"
            onChange={(e) => setFiles(Array.from(e.target.files ?? []))}
          />
          <small id="feedback-attach-hint" className="muted">{t("tasks.portal.attachHint")}</small>
        </label>
        {files.length > 0 && (
          <ul className="file-list" aria-label={t("tasks.portal.chosen")}>
            {files.map((f, i) => (
              <li key={`${f.name}-${i}`}>
                <span className="file-name">{f.name}</span> <span className="muted small">{fileSize(f.size, fmt.number)}</span>{" "}
                <button type="button" className="btn btn-ghost btn-small" aria-label={t("tasks.portal.remove", { name: f.name })} onClick={() => setFiles(files.filter((_, j) => j !== i))}>
                  ×
                </button>
              </li>
            ))}
          </ul>
        )}
        {formError && <p className="alert alert-error" role="alert">{formError}</p>}
        <div aria-live="polite">
          {notice && <p className="alert alert-ok">{notice}</p>}
          {uploads.length > 0 && (
            <ul className="file-list" data-testid="feedback-uploads" aria-label={t("tasks.portal.uploads")}>
              {uploads.map((u, i) => (
                <li key={`${u.name}-${i}`} className={`upload-${u.status}`} data-testid="feedback-upload">
                  <span className="file-name">{u.name}</span>{" "}
                  {u.status === "sending" && <span className="muted small">{t("tasks.portal.sending")}</span>}
                  {u.status === "done" && <span className="ok small">{t("tasks.portal.attached")}</span>}
                  {u.status === "failed" && <span className="alert-error-text small" role="alert">{u.message}</span>}
                </li>
              ))}
            </ul>
          )}
        </div>
        <button className="btn btn-primary" type="submit" data-testid="feedback-submit" disabled={busy || !title.trim() || !description.trim()}>
          {t("feedback.submit")}
        </button>
      </form>

      <section className="card" aria-labelledby="feedback-list-title">
        <h2 id="feedback-list-title">{t("feedback.mine")}</h2>
        {listError && <p className="alert alert-error" role="alert">{listError}</p>}
        {tasks && tasks.length === 0 && <p className="muted">{t("feedback.none")}</p>}
        <ul className="task-list" aria-live="polite">
          {tasks?.map((task) => (
            <li key={task.id} data-testid="feedback-item">
              <button type="button" className={`task-row${selected === task.id ? " selected" : ""}`} aria-expanded={selected === task.id} onClick={() => setSelected(selected === task.id ? null : task.id)}>
                <span className="task-number">{task.task_number}</span>
                <span className="task-title">{task.title || t("tasks.portal.joined")}</span>
                <span className={`pill stage-${task.workflow_stage}`} data-testid="feedback-stage">{t(`stage.${task.workflow_stage}`)}</span>
                <span className="muted small">{fmt.dateTime(task.created_at)}</span>
              </button>
              {selected === task.id && (
                <div className="feedback-detail">
                  <FollowUp task={task} onChanged={(next) => setChanged((all) => ({ ...all, [next.id]: next }))} />
                  <TaskTimeline taskId={task.id} version={task.updated_at} />
                </div>
              )}
            </li>
          ))}
        </ul>
      </section>
    </div>
  );
}

/** The later of two reads of one task (an action's answer may be newer than the last poll). */
function newer(local: Task | undefined, polled: Task): Task {
  return local && new Date(local.updated_at).getTime() > new Date(polled.updated_at).getTime() ? local : polled;
}

/** What the reporter can do next: confirm the fix or say it is still broken (resolved, verification), rate it (closed). */
function FollowUp({ task, onChanged }: { task: Task; onChanged: (task: Task) => void }) {
  const { t } = useTranslation();
  if (task.joined) return <p className="muted small">{t("tasks.portal.joinedNote")}</p>;
  if (task.workflow_stage === "resolved" || task.workflow_stage === "verification") return <Verify task={task} onChanged={onChanged} />;
  if (task.workflow_stage === "closed") return <Rate task={task} onChanged={onChanged} />;
  return null;
}

function Verify({ task, onChanged }: { task: Task; onChanged: (task: Task) => void }) {
  const { t } = useTranslation();
  const id = useId();
  const [notes, setNotes] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function send(result: "pass" | "fail") {
    setBusy(true);
    setError(null);
    try {
      const { data, error: failure } = await api.POST("/api/v1/tasks/{task}/verify", {
        params: { path: { task: task.id } },
        body: { result, ...(notes.trim() ? { notes: notes.trim() } : {}) },
      });
      if (data) onChanged(data);
      else setError(errorMessage(failure, t("tasks.action.failed")));
    } catch {
      setError(t("common.networkError"));
    } finally {
      setBusy(false);
    }
  }
  return (
    <div className="follow-up" role="group" aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`}>{t("tasks.portal.verifyTitle")}</h3>
      <p className="small">{t("tasks.portal.verifyIntro")}</p>
      <label className="field">
        <span>{t("tasks.optional", { label: t("tasks.portal.verifyNotes") })}</span>
        <textarea rows={2} maxLength={5000} data-testid="feedback-verify-notes" value={notes} onChange={(e) => setNotes(e.target.value)} />
      </label>
      {error && <p className="alert alert-error" role="alert">{error}</p>}
      <div className="actions">
        <button type="button" className="btn btn-primary" data-testid="feedback-verify-yes" disabled={busy} onClick={() => void send("pass")}>
          {t("tasks.portal.confirmFixed")}
        </button>
        <button type="button" className="btn btn-danger" data-testid="feedback-verify-no" disabled={busy} onClick={() => void send("fail")}>
          {t("tasks.portal.stillBroken")}
        </button>
      </div>
    </div>
  );
}

function Rate({ task, onChanged }: { task: Task; onChanged: (task: Task) => void }) {
  const { t } = useTranslation();
  const id = useId();
  const [score, setScore] = useState<number | null>(task.csat);
  const [comment, setComment] = useState(task.csat_comment ?? "");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  async function submit(event: FormEvent) {
    event.preventDefault();
    if (score === null) return;
    setBusy(true);
    setError(null);
    setSaved(false);
    try {
      const { data, error: failure } = await api.POST("/api/v1/tasks/{task}/csat", {
        params: { path: { task: task.id } },
        body: { score, ...(comment.trim() ? { comment: comment.trim() } : {}) },
      });
      if (data) {
        setSaved(true);
        onChanged(data);
      } else setError(errorMessage(failure, t("tasks.action.failed")));
    } catch {
      setError(t("common.networkError"));
    } finally {
      setBusy(false);
    }
  }
  return (
    <form className="follow-up" onSubmit={(e) => void submit(e)} aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`}>{t("tasks.portal.rateTitle")}</h3>
      {task.csat != null && <p className="small muted">{t("tasks.portal.rated", { score: task.csat })}</p>}
      <fieldset className="stars">
        <legend>{t("tasks.portal.score")}</legend>
        {[1, 2, 3, 4, 5].map((n) => (
          <label key={n} className={score !== null && n <= score ? "on" : ""}>
            <input type="radio" name={`${id}-score`} value={n} checked={score === n} onChange={() => setScore(n)} data-testid={`feedback-score-${n}`} />
            <span aria-hidden="true">★</span>
            <span className="visually-hidden">{t("tasks.portal.stars", { count: n })}</span>
          </label>
        ))}
      </fieldset>
      <label className="field">
        <span>{t("tasks.optional", { label: t("tasks.portal.comment") })}</span>
        <textarea rows={2} maxLength={5000} data-testid="feedback-rate-comment" value={comment} onChange={(e) => setComment(e.target.value)} />
      </label>
      {error && <p className="alert alert-error" role="alert">{error}</p>}
      {saved && <p className="alert alert-ok" role="status">{t("tasks.portal.thanks")}</p>}
      <div className="actions">
        <button type="submit" className="btn btn-primary" data-testid="feedback-rate" disabled={busy || score === null}>
          {t("tasks.portal.rateSend")}
        </button>
      </div>
    </form>
  );
}

/** The task's timeline, fetched again whenever the task changes (`version`: its updated_at). */
function TaskTimeline({ taskId, version }: { taskId: string; version: string }) {
  const { t } = useTranslation();
  const [events, setEvents] = useState<TaskEvent[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    void (async () => {
      try {
        const { data, error: failure } = await api.GET("/api/v1/tasks/{task}/timeline", { params: { path: { task: taskId } } });
        if (!live) return;
        if (data) {
          setEvents(data);
          setError(null);
        } else setError(errorMessage(failure, t("feedback.timelineFailed")));
      } catch {
        if (live) setError(t("common.networkError"));
      }
    })();
    return () => {
      live = false;
    };
  }, [taskId, version, t]);
  if (error) return <p className="alert alert-error" role="alert">{error}</p>;
  if (!events) return <p className="muted small" role="status">{t("common.loading")}</p>;
  return <Timeline events={events} testId="feedback-timeline" />;
}
