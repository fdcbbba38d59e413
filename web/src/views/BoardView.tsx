import { useTranslation } from "react-i18next";
import { api, type Task, type TaskStage } from "../api/client";
import { useLoaded } from "../api/useLoaded";
import { useFormat } from "../i18n/format";

export const STAGES: TaskStage[] = [
  "received", "classified", "analyzed", "routed", "plan_review", "assigned", "in_progress",
  "feedback_pending", "resolved", "verification", "closed", "rejected",
];

/** How close a task is to its SLA deadline: breached, at risk (last quarter of its window, or < 1 h), fine. */
export function slaTone(task: Pick<Task, "sla_deadline" | "created_at" | "workflow_stage">, now = Date.now()): "none" | "ok" | "risk" | "breached" {
  if (!task.sla_deadline || task.workflow_stage === "closed" || task.workflow_stage === "rejected") return "none";
  const due = new Date(task.sla_deadline).getTime();
  const left = due - now;
  if (left <= 0) return "breached";
  const window = due - new Date(task.created_at).getTime();
  return left < 3_600_000 || (window > 0 && left / window < 0.25) ? "risk" : "ok";
}

/** Staff board: tasks by workflow stage (read-only), refreshed every 15 s. */
export function BoardView() {
  const { t } = useTranslation();
  const fmt = useFormat();
  const { data, error } = useLoaded(() => api.GET("/api/v1/tasks", { params: { query: { limit: 200 } } }), {
    everyMs: 15_000,
    failedKey: "board.loadFailed",
  });
  const tasks: Task[] | null = data ? data.items : null;

  const now = Date.now();
  return (
    <div className="page page-wide">
      <div className="page-head">
        <h1>{t("board.title")}</h1>
        {tasks && <span className="muted small">{t("board.count", { count: tasks.length, n: fmt.number(tasks.length) })}</span>}
      </div>
      {error && <p className="alert alert-error" role="alert">{error}</p>}
      {tasks === null && !error && <p className="muted" role="status">{t("common.loading")}</p>}
      {tasks && (
        <div className="board">
          {STAGES.map((stage) => {
            const column = tasks.filter((x) => x.workflow_stage === stage);
            return (
              <section key={stage} className="board-column" aria-labelledby={`col-${stage}`} data-testid="board-column" data-stage={stage}>
                <h2 id={`col-${stage}`}>
                  {t(`stage.${stage}`)} <span className="count">{fmt.number(column.length)}</span>
                </h2>
                <ul>
                  {column.map((task) => {
                    const tone = slaTone(task, now);
                    return (
                      <li key={task.id} className={`task-card sla-${tone}`} data-testid="board-card">
                        <div className="task-card-head">
                          <span className="task-number">{task.task_number}</span>
                          {task.priority_level && <span className={`pill prio-${task.priority_level}`}>{task.priority_level}</span>}
                        </div>
                        <p className="task-title">{task.title || t("chat.untitled")}</p>
                        <div className="task-card-meta">
                          {task.region && <span>{t(`region.${task.region}`)}</span>}
                          {task.sla_deadline && (
                            <span className={`sla sla-${tone}`} title={fmt.dateTime(task.sla_deadline)}>
                              {tone === "breached" ? t("board.breached") : t("board.due", { when: fmt.relative(task.sla_deadline, now) })}
                            </span>
                          )}
                        </div>
                      </li>
                    );
                  })}
                </ul>
              </section>
            );
          })}
        </div>
      )}
    </div>
  );
}
