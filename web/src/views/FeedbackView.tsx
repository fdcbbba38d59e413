import { useEffect, useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { api, type Task, type TaskEvent } from "../api/client";
import { errorMessage } from "../api/errors";
import { useLoaded } from "../api/useLoaded";
import { useFormat } from "../i18n/format";

/** A customer's reports: submit one (POST /api/v1/feedback), follow their state and timeline. */
export function FeedbackView() {
  const { t } = useTranslation();
  const fmt = useFormat();
  const [title, setTitle] = useState("");
  const [description, setDescription] = useState("");
  const [modules, setModules] = useState("");
  const [busy, setBusy] = useState(false);
  const [formError, setFormError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const { data, error: listError, reload: load } = useLoaded(
    () => api.GET("/api/v1/tasks", { params: { query: { limit: 50 } } }),
    { failedKey: "feedback.loadFailed" },
  );
  const tasks: Task[] | null = data ? data.items : null;
  const [selected, setSelected] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setFormError(null);
    setNotice(null);
    try {
      const affected = modules.split(/[,，]/).map((m) => m.trim()).filter(Boolean);
      const { data, error } = await api.POST("/api/v1/feedback", {
        body: { title: title.trim(), description: description.trim(), source_channel: "web", ...(affected.length ? { affected_modules: affected } : {}) },
      });
      if (!data) {
        setFormError(errorMessage(error, t("feedback.submitFailed")));
        return;
      }
      setNotice(data.linked ? t("feedback.linked", { number: data.task.task_number }) : t("feedback.created", { number: data.task.task_number }));
      setTitle("");
      setDescription("");
      setModules("");
      setSelected(data.task.id);
      void load();
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
        {formError && <p className="alert alert-error" role="alert">{formError}</p>}
        {notice && <p className="alert alert-ok" role="status">{notice}</p>}
        <button className="btn btn-primary" type="submit" data-testid="feedback-submit" disabled={busy || !title.trim() || !description.trim()}>
          {t("feedback.submit")}
        </button>
      </form>

      <section className="card" aria-labelledby="feedback-list-title">
        <h2 id="feedback-list-title">{t("feedback.mine")}</h2>
        {listError && <p className="alert alert-error" role="alert">{listError}</p>}
        {tasks && tasks.length === 0 && <p className="muted">{t("feedback.none")}</p>}
        <ul className="task-list">
          {tasks?.map((task) => (
            <li key={task.id} data-testid="feedback-item">
              <button type="button" className={`task-row${selected === task.id ? " selected" : ""}`} aria-expanded={selected === task.id} onClick={() => setSelected(selected === task.id ? null : task.id)}>
                <span className="task-number">{task.task_number}</span>
                <span className="task-title">{task.title || t("chat.untitled")}</span>
                <span className={`pill stage-${task.workflow_stage}`}>{t(`stage.${task.workflow_stage}`)}</span>
                <span className="muted small">{fmt.dateTime(task.created_at)}</span>
              </button>
              {selected === task.id && <Timeline taskId={task.id} />}
            </li>
          ))}
        </ul>
      </section>
    </div>
  );
}

function Timeline({ taskId }: { taskId: string }) {
  const { t } = useTranslation();
  const fmt = useFormat();
  const [events, setEvents] = useState<TaskEvent[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    void (async () => {
      const { data, error: failure } = await api.GET("/api/v1/tasks/{task}/timeline", { params: { path: { task: taskId } } });
      if (!live) return;
      if (data) setEvents(data);
      else setError(errorMessage(failure, t("feedback.timelineFailed")));
    })();
    return () => {
      live = false;
    };
  }, [taskId, t]);
  if (error) return <p className="alert alert-error" role="alert">{error}</p>;
  if (!events) return <p className="muted small" role="status">{t("common.loading")}</p>;
  return (
    <ol className="timeline" data-testid="feedback-timeline">
      {events.map((e) => (
        <li key={e.id}>
          <time dateTime={e.at}>{fmt.dateTime(e.at)}</time>
          <span className="kind">{t(`event.${e.kind}`, { defaultValue: e.kind })}</span>
          {(e.from_value || e.to_value) && (
            <span className="change">
              {e.from_value ? `${t(`stage.${e.from_value}`, { defaultValue: e.from_value })} → ` : ""}
              {e.to_value ? t(`stage.${e.to_value}`, { defaultValue: e.to_value }) : ""}
            </span>
          )}
          {e.reason && <span className="muted small"> — {e.reason}</span>}
        </li>
      ))}
    </ol>
  );
}
