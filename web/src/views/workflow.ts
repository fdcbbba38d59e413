import { useEffect, useState } from "react";
import { api, type Schemas, type Task, type TaskStage, type User } from "../api/client";

type TeamRead = Schemas["TeamRead"];
type UserRead = Schemas["UserRead"];

/**
 * The server's stage table (src/loopdesk/feedback/workflow.py `TRANSITIONS`): from-stage → the stages a task may
 * move to next. Some of these steps are taken by the workflow graph only (analysis, routing, resolved →
 * verification) and have no endpoint: `ACTIONS` lists the ones people take, and through which endpoint.
 */
export const TRANSITIONS: Record<TaskStage, readonly TaskStage[]> = {
  received: ["classified", "rejected"],
  classified: ["analyzed", "rejected"],
  analyzed: ["routed", "rejected"],
  routed: ["plan_review", "rejected"],
  plan_review: ["assigned", "rejected"],
  assigned: ["in_progress", "resolved", "rejected"],
  in_progress: ["feedback_pending", "resolved"],
  feedback_pending: ["in_progress", "resolved"],
  resolved: ["verification", "closed", "in_progress"],
  verification: ["closed", "in_progress"],
  closed: ["in_progress", "plan_review"],
  rejected: ["plan_review"],
};

/** What a person does to move a task (each is one endpoint; the dialog asks for what it needs). */
export type MoveAction =
  | "approve" // POST review {action: "approve"} → assigned
  | "reject" // POST review {action: "reject", reason} → rejected
  | "start" // POST progress {done: false} → in_progress
  | "resolve" // POST progress {done: true} → resolved
  | "requestUpdate" // POST request-update → feedback_pending
  | "close" // POST verify {result: "pass"} or POST close {reason} → closed
  | "verifyFail" // POST verify {result: "fail"} → in_progress
  | "reopen"; // POST reopen {reason} → in_progress or plan_review

type Who = "staff" | "assignee" | "reporterOrStaff";

interface Step {
  to: TaskStage;
  action: MoveAction;
  who: Who;
}

/** The human steps by from-stage, as WorkflowService (src/loopdesk/feedback/actions.py) allows them. */
const STEPS: Partial<Record<TaskStage, Step[]>> = {
  plan_review: [
    { to: "assigned", action: "approve", who: "staff" },
    { to: "rejected", action: "reject", who: "staff" },
  ],
  assigned: [
    { to: "in_progress", action: "start", who: "assignee" },
    { to: "resolved", action: "resolve", who: "assignee" },
  ],
  in_progress: [
    { to: "feedback_pending", action: "requestUpdate", who: "staff" },
    { to: "resolved", action: "resolve", who: "assignee" },
  ],
  feedback_pending: [
    { to: "in_progress", action: "start", who: "assignee" },
    { to: "resolved", action: "resolve", who: "assignee" },
  ],
  resolved: [
    { to: "closed", action: "close", who: "staff" },
    { to: "in_progress", action: "verifyFail", who: "reporterOrStaff" },
  ],
  verification: [
    { to: "closed", action: "close", who: "staff" },
    { to: "in_progress", action: "verifyFail", who: "reporterOrStaff" },
  ],
  // Reopening goes where the server sends it: in_progress when someone is assigned, plan_review otherwise.
  closed: [
    { to: "in_progress", action: "reopen", who: "reporterOrStaff" },
    { to: "plan_review", action: "reopen", who: "reporterOrStaff" },
  ],
  rejected: [{ to: "plan_review", action: "reopen", who: "staff" }],
};

export interface Move {
  to: TaskStage;
  action: MoveAction;
}

type Caller = Pick<User, "id" | "role"> | null | undefined;

export const isStaffRole = (user: Caller): boolean => user?.role === "staff" || user?.role === "admin";

/** The assignee's own report (progress) is theirs or an admin's. */
export const mayReportProgress = (task: Pick<Task, "assignee_id">, user: Caller): boolean =>
  !!user && (user.role === "admin" || (task.assignee_id !== null && task.assignee_id === user.id));

function may(who: Who, task: Task, user: Caller): boolean {
  if (!user) return false;
  if (who === "staff") return isStaffRole(user);
  if (who === "assignee") return mayReportProgress(task, user);
  return isStaffRole(user) || task.reporter_id === user.id;
}

/** The next stages `user` may move `task` to, each with the action that does it (none: nothing to do here). */
export function nextMoves(task: Task, user: Caller): Move[] {
  return (STEPS[task.workflow_stage] ?? [])
    .filter((step) => TRANSITIONS[task.workflow_stage].includes(step.to))
    .filter((step) => step.action !== "reopen" || task.workflow_stage !== "closed" || step.to === (task.assignee_id ? "in_progress" : "plan_review"))
    .filter((step) => may(step.who, task, user))
    .map(({ to, action }) => ({ to, action }));
}

/** Stages where staff may (re)assign a task (WorkflowService.assign). */
export const ASSIGNABLE: readonly TaskStage[] = ["routed", "plan_review", "assigned", "in_progress", "feedback_pending", "resolved"];
/** Stages where staff may not change the priority (WorkflowService.reprioritise). */
export const PRIORITY_LOCKED: readonly TaskStage[] = ["received", "closed", "rejected"];
export const LEVELS = ["P0", "P1", "P2", "P3", "P4"] as const;
export const ISSUE_TYPES = ["bug", "suggestion", "question"] as const;
export const REGIONS = ["domestic", "international"] as const;

// -- people and teams (staff): names for ids --------------------------------------------------------------------

const people = new Map<string, Promise<UserRead | null>>();

/** One user's record (GET /api/v1/users/{id}: staff may read anyone), fetched once per page load. */
function person(id: string): Promise<UserRead | null> {
  let found = people.get(id);
  if (!found) {
    found = api
      .GET("/api/v1/users/{user_id}", { params: { path: { user_id: id } } })
      .then(({ data }) => data ?? null)
      .catch(() => null);
    people.set(id, found);
    void found.then((user) => {
      if (!user) people.delete(id); // not cached: a later view may ask again
    });
  }
  return found;
}

/** Display names of these user ids (missing until known; unknown ones stay missing). */
export function usePeople(ids: readonly (string | null | undefined)[]): Record<string, string> {
  const key = [...new Set(ids.filter((id): id is string => !!id))].sort().join(",");
  const [names, setNames] = useState<Record<string, string>>({});
  useEffect(() => {
    if (!key) return;
    let live = true;
    void Promise.all(key.split(",").map((id) => person(id).then((user) => [id, user] as const))).then((found) => {
      if (!live) return;
      const next: Record<string, string> = {};
      for (const [id, user] of found) if (user) next[id] = user.display_name || user.username || user.email;
      setNames(next);
    });
    return () => {
      live = false;
    };
  }, [key]);
  return names;
}

/** The teams with their members (GET /api/v1/teams, staff); null until loaded or when refused. */
export function useTeams(enabled = true): TeamRead[] | null {
  const [teams, setTeams] = useState<TeamRead[] | null>(null);
  useEffect(() => {
    if (!enabled) return;
    let live = true;
    api
      .GET("/api/v1/teams")
      .then(({ data }) => {
        if (live && data) setTeams(data);
      })
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [enabled]);
  return teams;
}

/** A short form of an id for when no name is known. */
export const shortId = (id: string): string => id.slice(0, 8);

// -- carrying out a move -----------------------------------------------------------------------------------------

/** What the move dialog asks for. `note` is the comment, reason, progress note or resolution. */
export interface MoveInput {
  note: string;
  /** approve: who works on it (empty: keep the one routing chose). */
  assigneeId?: string;
  /** start: how far along (0–100), optional. */
  percent?: number | null;
  /** close: the fix was verified (POST verify pass), or close without verification (POST close, reason needed). */
  closeMode?: "verified" | "unverified";
}

/** Whether the move cannot be sent without a note (the server requires a reason). */
export function noteRequired(action: MoveAction, input: Pick<MoveInput, "closeMode">): boolean {
  return action === "reject" || action === "reopen" || (action === "close" && input.closeMode === "unverified");
}

/** Sends the move through its endpoint; the task as it now is, or the server's error. */
export async function performMove(task: Task, action: MoveAction, input: MoveInput): Promise<{ data?: Task; error?: unknown }> {
  const path = { task: task.id };
  const note = input.note.trim();
  const notes = note ? { notes: note } : {};
  const reason = note ? { reason: note } : {};
  switch (action) {
    case "approve": {
      const assignee = input.assigneeId && input.assigneeId !== task.assignee_id ? { assignee_id: input.assigneeId } : {};
      return api.POST("/api/v1/tasks/{task}/review", { params: { path }, body: { action: "approve", ...assignee, ...reason } });
    }
    case "reject":
      return api.POST("/api/v1/tasks/{task}/review", { params: { path }, body: { action: "reject", reason: note } });
    case "start": {
      const percent = input.percent != null ? { percent: input.percent } : {};
      return api.POST("/api/v1/tasks/{task}/progress", { params: { path }, body: { done: false, ...notes, ...percent } });
    }
    case "resolve":
      return api.POST("/api/v1/tasks/{task}/progress", { params: { path }, body: { done: true, ...notes } });
    case "requestUpdate":
      return api.POST("/api/v1/tasks/{task}/request-update", { params: { path }, body: reason });
    case "close":
      return input.closeMode === "unverified"
        ? api.POST("/api/v1/tasks/{task}/close", { params: { path }, body: { reason: note } })
        : api.POST("/api/v1/tasks/{task}/verify", { params: { path }, body: { result: "pass", ...notes } });
    case "verifyFail":
      return api.POST("/api/v1/tasks/{task}/verify", { params: { path }, body: { result: "fail", ...notes } });
    case "reopen":
      return api.POST("/api/v1/tasks/{task}/reopen", { params: { path }, body: { reason: note } });
  }
}
