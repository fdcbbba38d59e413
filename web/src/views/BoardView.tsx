import { useEffect, useId, useMemo, useRef, useState, type DragEvent, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { useTranslation } from "react-i18next";
import { api, type Schemas, type Task, type TaskStage } from "../api/client";
import { errorMessage } from "../api/errors";
import type { paths } from "../api/schema";
import { useLoaded } from "../api/useLoaded";
import { useAuth } from "../auth";
import { useFormat } from "../i18n/format";
import {
  ISSUE_TYPES,
  LEVELS,
  REGIONS,
  nextMoves,
  noteRequired,
  performMove,
  shortId,
  usePeople,
  useTeams,
  type Move,
  type MoveInput,
} from "./workflow";
import "./board.css";

type TeamRead = Schemas["TeamRead"];
type TaskQuery = NonNullable<paths["/api/v1/tasks"]["get"]["parameters"]["query"]>;

export const STAGES: TaskStage[] = [
  "received", "classified", "analyzed", "routed", "plan_review", "assigned", "in_progress",
  "feedback_pending", "resolved", "verification", "closed", "rejected",
];
export const POLL_MS = 15_000;

/** How close a task is to its SLA deadline: breached, at risk (last quarter of its window, or < 1 h), fine. */
export function slaTone(task: Pick<Task, "sla_deadline" | "created_at" | "workflow_stage">, now = Date.now()): "none" | "ok" | "risk" | "breached" {
  if (!task.sla_deadline || task.workflow_stage === "closed" || task.workflow_stage === "rejected") return "none";
  const due = new Date(task.sla_deadline).getTime();
  const left = due - now;
  if (left <= 0) return "breached";
  const window = due - new Date(task.created_at).getTime();
  return left < 3_600_000 || (window > 0 && left / window < 0.25) ? "risk" : "ok";
}

const oneOf = <T extends string>(values: readonly T[], value: string | null): T | undefined =>
  value !== null && (values as readonly string[]).includes(value) ? (value as T) : undefined;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The classifier's categories (src/loopdesk/triage/issue_type/category.py); the URL may name another one. */
export const CATEGORIES = ["account", "billing", "performance", "ui", "data", "integration", "other"] as const;
const FILTERS = ["q", "region", "priority", "type", "category", "team", "assignee"] as const;

/** The board's filters, as kept in the URL (`?q=&region=&priority=&type=&category=&team=&assignee=`), in GET
 * /api/v1/tasks terms. */
export function taskQuery(params: URLSearchParams): TaskQuery {
  const q = params.get("q")?.trim().slice(0, 100);
  const region = oneOf(REGIONS, params.get("region"));
  const level = oneOf(LEVELS, params.get("priority"));
  const type = oneOf(ISSUE_TYPES, params.get("type"));
  const category = params.get("category")?.trim().slice(0, 64);
  const team = params.get("team");
  const assignee = params.get("assignee");
  return {
    limit: 200,
    ...(q ? { q } : {}),
    ...(region ? { region } : {}),
    ...(level ? { priority_level: level } : {}),
    ...(type ? { issue_type: type } : {}),
    ...(category ? { category } : {}),
    ...(team && UUID.test(team) ? { team_id: team } : {}),
    ...(assignee && UUID.test(assignee) ? { assignee } : {}),
  };
}

/** Staff board: tasks by workflow stage, filtered (in the URL), moved by drag and drop or "Move to…", every 15 s. */
export function BoardView() {
  const { t } = useTranslation();
  const fmt = useFormat();
  const { user } = useAuth();
  const [params, setParams] = useSearchParams();
  const query = taskQuery(params);
  const queryKey = JSON.stringify(query);
  const { data, error, reload } = useLoaded(() => api.GET("/api/v1/tasks", { params: { query } }), {
    everyMs: POLL_MS,
    failedKey: "board.loadFailed",
  });
  const [tasks, setTasks] = useState<Task[] | null>(null);
  useEffect(() => {
    if (data) setTasks(data.items);
  }, [data]);
  const firstQuery = useRef(queryKey);
  useEffect(() => {
    if (queryKey === firstQuery.current) return; // the hook loads on mount itself
    firstQuery.current = queryKey;
    void reload();
  }, [queryKey, reload]);

  const teams = useTeams();
  const memberIds = (teams ?? []).flatMap((team) => team.members.map((m) => m.user_id));
  const names = usePeople([...memberIds, ...(tasks ?? []).map((task) => task.assignee_id), query.assignee]);

  const [dragging, setDragging] = useState<Task | null>(null);
  const [pending, setPending] = useState<{ task: Task; move: Move } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const allowed = useMemo(() => new Set(dragging ? nextMoves(dragging, user).map((m) => m.to) : []), [dragging, user]);

  function begin(task: Task, to: TaskStage) {
    const move = nextMoves(task, user).find((m) => m.to === to);
    if (!move) return; // not a next stage this person may move it to: refused, nothing is sent
    setNotice(null);
    setPending({ task, move });
  }

  function moved(task: Task) {
    setTasks((all) => (all ? all.map((x) => (x.id === task.id ? task : x)) : all));
    setNotice(t("tasks.board.moved", { number: task.task_number, stage: t(`stage.${task.workflow_stage}`) }));
    setPending(null);
    void reload();
  }

  const now = Date.now();
  return (
    <div className="page page-wide">
      <div className="page-head">
        <h1>{t("board.title")}</h1>
        {tasks && <span className="muted small">{t("board.count", { count: tasks.length, n: fmt.number(tasks.length) })}</span>}
      </div>
      <Filters params={params} setParams={setParams} teams={teams} names={names} meId={user?.id ?? null} />
      {error && <p className="alert alert-error" role="alert">{error}</p>}
      <div aria-live="polite">{notice && <p className="alert alert-ok" data-testid="board-notice">{notice}</p>}</div>
      {tasks === null && !error && <p className="muted" role="status">{t("common.loading")}</p>}
      {tasks && (
        <div className={`board${dragging ? " board-dragging" : ""}`}>
          {STAGES.map((stage) => {
            const column = tasks.filter((x) => x.workflow_stage === stage);
            const drop = dragging ? (allowed.has(stage) ? "allowed" : "refused") : undefined;
            const accept = (e: DragEvent) => {
              if (drop !== "allowed") return; // not preventing the default refuses the drop
              e.preventDefault();
              if (e.dataTransfer) e.dataTransfer.dropEffect = "move";
            };
            return (
              <section
                key={stage}
                className={`board-column${drop ? ` drop-${drop}` : ""}`}
                aria-labelledby={`col-${stage}`}
                data-testid="board-column"
                data-stage={stage}
                data-drop={drop}
                onDragEnter={accept}
                onDragOver={accept}
                onDrop={(e) => {
                  e.preventDefault();
                  const task = dragging;
                  setDragging(null);
                  if (task && drop === "allowed") begin(task, stage);
                }}
              >
                <h2 id={`col-${stage}`}>
                  {t(`stage.${stage}`)} <span className="count">{fmt.number(column.length)}</span>
                </h2>
                <ul>
                  {column.map((task) => (
                    <Card
                      key={task.id}
                      task={task}
                      moves={nextMoves(task, user)}
                      tone={slaTone(task, now)}
                      now={now}
                      assignee={task.assignee_id ? names[task.assignee_id] ?? shortId(task.assignee_id) : null}
                      dragged={dragging?.id === task.id}
                      onDragStart={() => setDragging(task)}
                      onDragEnd={() => setDragging(null)}
                      onMove={(to) => begin(task, to)}
                    />
                  ))}
                </ul>
              </section>
            );
          })}
        </div>
      )}
      {pending && (
        <MoveDialog
          key={`${pending.task.id}-${pending.move.to}`}
          task={pending.task}
          move={pending.move}
          teams={teams}
          names={names}
          onDone={moved}
          onCancel={() => setPending(null)}
        />
      )}
    </div>
  );
}

function Card({
  task,
  moves,
  tone,
  now,
  assignee,
  dragged,
  onDragStart,
  onDragEnd,
  onMove,
}: {
  task: Task;
  moves: Move[];
  tone: ReturnType<typeof slaTone>;
  now: number;
  assignee: string | null;
  dragged: boolean;
  onDragStart: () => void;
  onDragEnd: () => void;
  onMove: (to: TaskStage) => void;
}) {
  const { t } = useTranslation();
  const fmt = useFormat();
  return (
    <li
      className={`task-card sla-${tone}${dragged ? " dragging" : ""}`}
      data-testid="board-card"
      data-task={task.task_number}
      draggable
      onDragStart={(e) => {
        if (e.dataTransfer) {
          e.dataTransfer.effectAllowed = "move";
          e.dataTransfer.setData("text/plain", task.task_number); // some browsers start no drag without data
        }
        onDragStart();
      }}
      onDragEnd={onDragEnd}
    >
      <div className="task-card-head">
        <span className="task-number">{task.task_number}</span>
        {task.priority_level && <span className={`pill prio-${task.priority_level}`}>{task.priority_level}</span>}
      </div>
      <Link className="task-title" to={`/board/${encodeURIComponent(task.task_number)}`} data-testid="board-card-open" draggable={false}>
        {task.title || t("chat.untitled")}
      </Link>
      <div className="task-card-meta">
        {task.region && <span>{t(`region.${task.region}`)}</span>}
        {task.issue_type && <span>{t(`tasks.type.${task.issue_type}`)}</span>}
        {task.sla_deadline && (
          <span className={`sla sla-${tone}`} title={fmt.dateTime(task.sla_deadline)}>
            {tone === "breached" ? t("board.breached") : t("board.due", { when: fmt.relative(task.sla_deadline, now) })}
          </span>
        )}
      </div>
      {assignee && <div className="task-card-assignee small muted">{t("tasks.board.assignee", { name: assignee })}</div>}
      {moves.length > 0 && (
        <select
          className="card-move"
          data-testid="card-move"
          aria-label={t("tasks.board.moveLabel", { number: task.task_number })}
          value=""
          onChange={(e) => {
            if (e.target.value) onMove(e.target.value as TaskStage);
          }}
        >
          <option value="">{t("tasks.board.moveTo")}</option>
          {moves.map((m) => (
            <option key={m.to} value={m.to} data-testid={`card-move-${m.to}`}>
              {t(`stage.${m.to}`)}
            </option>
          ))}
        </select>
      )}
    </li>
  );
}

function Filters({
  params,
  setParams,
  teams,
  names,
  meId,
}: {
  params: URLSearchParams;
  setParams: ReturnType<typeof useSearchParams>[1];
  teams: TeamRead[] | null;
  names: Record<string, string>;
  meId: string | null;
}) {
  const { t } = useTranslation();
  const [text, setText] = useState(params.get("q") ?? "");
  const urlText = params.get("q") ?? "";
  useEffect(() => setText(urlText), [urlText]);

  function set(name: string, value: string) {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    setParams(next, { replace: true });
  }
  function search(event: FormEvent) {
    event.preventDefault();
    set("q", text.trim().slice(0, 100));
  }
  const assignee = params.get("assignee") ?? "";
  const known = new Set([meId, ...(teams ?? []).flatMap((team) => team.members.map((m) => m.user_id))]);
  const category = params.get("category") ?? "";
  const team = params.get("team") ?? "";
  const active = FILTERS.some((name) => params.get(name));

  return (
    <form className="board-filters" role="search" aria-label={t("tasks.filter.label")} onSubmit={search}>
      <label className="field">
        <span>{t("tasks.filter.text")}</span>
        <input type="search" data-testid="filter-q" maxLength={100} value={text} onChange={(e) => setText(e.target.value)} />
      </label>
      <label className="field">
        <span>{t("tasks.field.region")}</span>
        <select data-testid="filter-region" value={params.get("region") ?? ""} onChange={(e) => set("region", e.target.value)}>
          <option value="">{t("tasks.filter.any")}</option>
          {REGIONS.map((r) => <option key={r} value={r}>{t(`region.${r}`)}</option>)}
        </select>
      </label>
      <label className="field">
        <span>{t("tasks.field.priority")}</span>
        <select data-testid="filter-priority" value={params.get("priority") ?? ""} onChange={(e) => set("priority", e.target.value)}>
          <option value="">{t("tasks.filter.any")}</option>
          {LEVELS.map((l) => <option key={l} value={l}>{l}</option>)}
        </select>
      </label>
      <label className="field">
        <span>{t("tasks.field.type")}</span>
        <select data-testid="filter-type" value={params.get("type") ?? ""} onChange={(e) => set("type", e.target.value)}>
          <option value="">{t("tasks.filter.any")}</option>
          {ISSUE_TYPES.map((x) => <option key={x} value={x}>{t(`tasks.type.${x}`)}</option>)}
        </select>
      </label>
      <label className="field">
        <span>{t("tasks.field.category")}</span>
        <select data-testid="filter-category" value={category} onChange={(e) => set("category", e.target.value)}>
          <option value="">{t("tasks.filter.any")}</option>
          {category && !(CATEGORIES as readonly string[]).includes(category) && <option value={category}>{category}</option>}
          {CATEGORIES.map((c) => <option key={c} value={c}>{t(`tasks.category.${c}`)}</option>)}
        </select>
      </label>
      <label className="field">
        <span>{t("tasks.field.team")}</span>
        <select data-testid="filter-team" value={team} onChange={(e) => set("team", e.target.value)}>
          <option value="">{t("tasks.filter.anyTeam")}</option>
          {team && !(teams ?? []).some((x) => x.id === team) && <option value={team}>{shortId(team)}</option>}
          {(teams ?? []).map((x) => <option key={x.id} value={x.id}>{x.name}</option>)}
        </select>
      </label>
      <label className="field">
        <span>{t("tasks.field.assignee")}</span>
        <select data-testid="filter-assignee" value={assignee} onChange={(e) => set("assignee", e.target.value)}>
          <option value="">{t("tasks.filter.anyone")}</option>
          {meId && <option value={meId}>{t("tasks.filter.me")}</option>}
          {assignee && !known.has(assignee) && <option value={assignee}>{names[assignee] ?? shortId(assignee)}</option>}
          {(teams ?? []).map((team) => (
            <optgroup key={team.id} label={team.name}>
              {team.members.map((m) => (
                <option key={m.user_id} value={m.user_id}>{names[m.user_id] ?? shortId(m.user_id)}</option>
              ))}
            </optgroup>
          ))}
        </select>
      </label>
      <div className="board-filter-actions">
        <button type="submit" className="btn">{t("tasks.filter.search")}</button>
        {active && (
          <button type="button" className="btn btn-ghost" data-testid="filter-clear" onClick={() => setParams(new URLSearchParams(), { replace: true })}>
            {t("tasks.filter.clear")}
          </button>
        )}
      </div>
    </form>
  );
}

/** Staff who may be named: the members of the task's team first, then everyone else on a team. */
export function AssigneeOptions({ teams, names, teamId }: { teams: TeamRead[] | null; names: Record<string, string>; teamId: string | null }) {
  const ordered = [...(teams ?? [])].sort((a, b) => Number(b.id === teamId) - Number(a.id === teamId));
  const seen = new Set<string>();
  return (
    <>
      {ordered.map((team) => {
        const members = team.members.filter((m) => m.active && !seen.has(m.user_id));
        members.forEach((m) => seen.add(m.user_id));
        if (!members.length) return null;
        return (
          <optgroup key={team.id} label={team.name}>
            {members.map((m) => (
              <option key={m.user_id} value={m.user_id}>{names[m.user_id] ?? shortId(m.user_id)}</option>
            ))}
          </optgroup>
        );
      })}
    </>
  );
}

/** What the drop (or "Move to…") asks before the move is sent; the server's message when it refuses. */
function MoveDialog({
  task,
  move,
  teams,
  names,
  onDone,
  onCancel,
}: {
  task: Task;
  move: Move;
  teams: TeamRead[] | null;
  names: Record<string, string>;
  onDone: (task: Task) => void;
  onCancel: () => void;
}) {
  const { t } = useTranslation();
  const id = useId();
  const [input, setInput] = useState<MoveInput>({ note: "", assigneeId: "", percent: null, closeMode: "verified" });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const dialog = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const before = document.activeElement as HTMLElement | null;
    dialog.current?.querySelector<HTMLElement>("select, textarea, input, button")?.focus();
    return () => before?.focus?.();
  }, []);

  const needsNote = noteRequired(move.action, input);
  const needsAssignee = move.action === "approve" && !task.assignee_id;
  const ready = (!needsNote || input.note.trim() !== "") && (!needsAssignee || !!input.assigneeId);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!ready) return;
    setBusy(true);
    setError(null);
    try {
      const { data, error: failure } = await performMove(task, move.action, input);
      if (data) onDone(data);
      else setError(errorMessage(failure, t("tasks.action.failed")));
    } catch {
      setError(t("common.networkError"));
    } finally {
      setBusy(false);
    }
  }

  const noteLabel = t(`tasks.move.note.${move.action}`);
  return (
    <div className="modal-backdrop" onClick={(e) => e.target === e.currentTarget && !busy && onCancel()}>
      <div
        ref={dialog}
        className="card modal"
        role="dialog"
        aria-modal="true"
        aria-labelledby={`${id}-title`}
        data-testid="move-dialog"
        onKeyDown={(e) => {
          if (e.key === "Escape" && !busy) onCancel();
        }}
      >
        <form onSubmit={submit}>
          <h2 id={`${id}-title`}>{t("tasks.move.title", { number: task.task_number, stage: t(`stage.${move.to}`) })}</h2>
          <p className="muted small">{t(`tasks.move.explain.${move.action}`)}</p>
          {move.action === "approve" && (
            <label className="field">
              <span>{t("tasks.field.assignee")}</span>
              <select data-testid="move-assignee" required={needsAssignee} value={input.assigneeId} onChange={(e) => setInput({ ...input, assigneeId: e.target.value })}>
                <option value="">
                  {task.assignee_id ? t("tasks.move.keepAssignee", { name: names[task.assignee_id] ?? shortId(task.assignee_id) }) : t("tasks.move.chooseAssignee")}
                </option>
                <AssigneeOptions teams={teams} names={names} teamId={task.team_id} />
              </select>
            </label>
          )}
          {move.action === "close" && (
            <fieldset className="choice">
              <legend>{t("tasks.move.closeHow")}</legend>
              {(["verified", "unverified"] as const).map((mode) => (
                <label key={mode}>
                  <input
                    type="radio"
                    name={`${id}-close`}
                    data-testid={`move-close-${mode}`}
                    checked={input.closeMode === mode}
                    onChange={() => setInput({ ...input, closeMode: mode })}
                  />{" "}
                  {t(`tasks.move.close.${mode}`)}
                </label>
              ))}
            </fieldset>
          )}
          <label className="field">
            <span>{needsNote ? noteLabel : t("tasks.optional", { label: noteLabel })}</span>
            <textarea data-testid="move-note" rows={3} maxLength={needsNote ? 2000 : 5000} required={needsNote} value={input.note} onChange={(e) => setInput({ ...input, note: e.target.value })} />
          </label>
          {move.action === "start" && (
            <label className="field">
              <span>{t("tasks.optional", { label: t("tasks.action.percent") })}</span>
              <input
                type="number"
                min={0}
                max={100}
                data-testid="move-percent"
                value={input.percent ?? ""}
                onChange={(e) => setInput({ ...input, percent: e.target.value === "" ? null : Math.max(0, Math.min(100, Math.round(Number(e.target.value)))) })}
              />
            </label>
          )}
          {error && <p className="alert alert-error" role="alert">{error}</p>}
          <div className="actions">
            <button type="submit" className="btn btn-primary" data-testid="move-confirm" disabled={busy || !ready}>
              {t("tasks.move.confirm", { stage: t(`stage.${move.to}`) })}
            </button>
            <button type="button" className="btn btn-ghost" data-testid="move-cancel" disabled={busy} onClick={onCancel}>
              {t("common.cancel")}
            </button>
          </div>
        </form>
      </div>
    </div>
  );
}
