/* Generated from web/realtime.schema.json (the server's /api/v1/realtime/schema) by json-schema-to-typescript: do not edit. `make web-api` writes it again. */

/**
 * The WebSocket protocol: every frame a client may send and every frame the server sends, as
 * Pydantic models. `protocol.schema.json` (next to this file, served at /api/v1/realtime/schema) is
 * generated from them (`python -m loopdesk.realtime.protocol > .../protocol.schema.json`); a test keeps
 * the two in step and validates every frame the tests receive against it.
 *
 * Event ids: frames that come from a run's durable event log carry `<run_id>:<seq>:<n>` ids, which
 * `resume` accepts; frames about the connection itself (`ack`, `pong`, `error`) carry `~<n>` ids that
 * only order them within the connection.
 */
export type LoopdeskWebSocketProtocol = ClientFrame | ServerFrame;
export type ClientFrame =
  MessageIn | InterruptResponseIn | SubscribeIn | SubscribeTaskIn | SubmitFeedbackIn | ResumeIn | PingIn;
export type ServerFrame =
  | UserMessageOut
  | TokenOut
  | ToolCallOut
  | ToolResultOut
  | InterruptOut
  | ClarificationOut
  | HandoffOut
  | InterruptExpiredOut
  | CustomOut
  | MessageCompleteOut
  | TaskUpdateOut
  | SupportUpdateOut
  | AckOut
  | ErrorOut
  | PongOut;

/**
 * Send a user message: creates a run of the thread's assistant (queued behind a running one).
 * Without `thread_id` a new thread is created (its id comes back in the `ack`).
 */
export interface MessageIn {
  /**
   * echoed as `ref` in the ack / error it causes
   */
  id?: string | null;
  type: "message";
  thread_id?: string | null;
  content: string;
  assistant_id?: string | null;
  /**
   * ids of files uploaded to the session `thread_id` (POST /api/v1/sessions/{id}/attachments)
   *
   * @maxItems 10
   */
  attachments?: string[];
}
/**
 * Answer an interrupt (a tool approval, a question): approve, reject (with a message) or edit the
 * arguments. The seeds' `approved: true|false` is shorthand for approve / reject.
 */
export interface InterruptResponseIn {
  /**
   * echoed as `ref` in the ack / error it causes
   */
  id?: string | null;
  type: "interrupt_response";
  thread_id: string;
  interrupt_id?: string | null;
  decision?: ("approve" | "reject" | "edit") | DecisionIn | null;
  message?: string | null;
  args?: {
    [k: string]: unknown;
  } | null;
  approved?: boolean | null;
}
export interface DecisionIn {
  type: "approve" | "reject" | "edit";
  message?: string | null;
  args?: {
    [k: string]: unknown;
  } | null;
}
/**
 * Follow a thread's events (from now on) or a feedback task's updates; `unsubscribe` stops.
 */
export interface SubscribeIn {
  /**
   * echoed as `ref` in the ack / error it causes
   */
  id?: string | null;
  type: "subscribe" | "unsubscribe";
  thread_id?: string | null;
  task_id?: string | null;
}
/**
 * The seeds' shorthand for `subscribe` {task_id}.
 */
export interface SubscribeTaskIn {
  /**
   * echoed as `ref` in the ack / error it causes
   */
  id?: string | null;
  type: "subscribe_task";
  task_id: string;
}
/**
 * Report a problem or a suggestion (as `POST /api/v1/feedback` with a JSON body): answered by an `ack` with
 * the task's id and number (`linked`: joined to an open duplicate); the socket then follows the task.
 */
export interface SubmitFeedbackIn {
  /**
   * echoed as `ref` in the ack / error it causes
   */
  id?: string | null;
  type: "submit_feedback";
  title: string;
  description: string;
  source_channel?: ("web" | "app" | "api") | null;
  /**
   * @maxItems 20
   */
  affected_modules?: string[];
  phone?: string | null;
  registered_region?: string | null;
}
/**
 * After a reconnect: every event of the thread after `last_event_id`, exactly once, then live.
 */
export interface ResumeIn {
  /**
   * echoed as `ref` in the ack / error it causes
   */
  id?: string | null;
  type: "resume";
  thread_id: string;
  last_event_id: string;
}
export interface PingIn {
  /**
   * echoed as `ref` in the ack / error it causes
   */
  id?: string | null;
  type: "ping";
}
/**
 * A user's message on the thread (from any device), at the start of the run it created.
 */
export interface UserMessageOut {
  /**
   * `<run_id>:<seq>:<n>` for run events (resumable), `~<n>` otherwise
   */
  event_id: string;
  thread_id: string;
  run_id: string;
  type: "user_message";
  content: string;
  user_id: string | null;
}
export interface TokenOut {
  /**
   * `<run_id>:<seq>:<n>` for run events (resumable), `~<n>` otherwise
   */
  event_id: string;
  thread_id: string;
  run_id: string;
  type: "token";
  agent: string | null;
  content: string;
}
export interface ToolCallOut {
  /**
   * `<run_id>:<seq>:<n>` for run events (resumable), `~<n>` otherwise
   */
  event_id: string;
  thread_id: string;
  run_id: string;
  type: "tool_call";
  agent: string | null;
  tool: string;
  args: {
    [k: string]: unknown;
  };
  id: string | null;
}
export interface ToolResultOut {
  /**
   * `<run_id>:<seq>:<n>` for run events (resumable), `~<n>` otherwise
   */
  event_id: string;
  thread_id: string;
  run_id: string;
  type: "tool_result";
  agent: string | null;
  tool: string | null;
  result: unknown;
  id: string | null;
}
/**
 * The run paused for a decision: answer with `interrupt_response`.
 */
export interface InterruptOut {
  /**
   * `<run_id>:<seq>:<n>` for run events (resumable), `~<n>` otherwise
   */
  event_id: string;
  thread_id: string;
  run_id: string;
  type: "interrupt";
  interrupt_id: string | null;
  action: string;
  params: unknown;
  description?: string | null;
  expires_at: string | null;
}
/**
 * The agent needs more information: answer with a `message`.
 */
export interface ClarificationOut {
  /**
   * `<run_id>:<seq>:<n>` for run events (resumable), `~<n>` otherwise
   */
  event_id: string;
  thread_id: string;
  run_id: string;
  type: "clarification";
  interrupt_id?: string | null;
  message: string;
}
/**
 * The support supervisor handed the request to an agent.
 */
export interface HandoffOut {
  /**
   * `<run_id>:<seq>:<n>` for run events (resumable), `~<n>` otherwise
   */
  event_id: string;
  thread_id: string;
  run_id: string;
  type: "handoff";
  agent: string;
  intent?: string | null;
}
/**
 * Nobody decided in time: the tool call was cancelled and the run went on without it.
 */
export interface InterruptExpiredOut {
  /**
   * `<run_id>:<seq>:<n>` for run events (resumable), `~<n>` otherwise
   */
  event_id: string;
  thread_id: string;
  run_id: string;
  type: "interrupt_expired";
  action: string;
  message: string;
  approval_id?: string | null;
}
/**
 * What a graph wrote with its stream writer (progress and the like).
 */
export interface CustomOut {
  /**
   * `<run_id>:<seq>:<n>` for run events (resumable), `~<n>` otherwise
   */
  event_id: string;
  thread_id: string;
  run_id: string;
  type: "custom";
  data: unknown;
}
/**
 * The run is over; `status` success, interrupted (waiting for a decision), error or timeout.
 */
export interface MessageCompleteOut {
  /**
   * `<run_id>:<seq>:<n>` for run events (resumable), `~<n>` otherwise
   */
  event_id: string;
  thread_id: string;
  run_id: string;
  type: "message_complete";
  status: string;
}
/**
 * A feedback task changed: an entry of its timeline (`subscribe` {task_id}), or a notification to the
 * reporter, assignee or team lead (`kind` e.g. `stage:plan_review`, `assigned`, `sla_warning`).
 */
export interface TaskUpdateOut {
  /**
   * `<run_id>:<seq>:<n>` for run events (resumable), `~<n>` otherwise
   */
  event_id: string;
  type: "task_update";
  task_id: string;
  task_number?: string | null;
  /**
   * the task's stage now
   */
  stage?: string | null;
  /**
   * stage, assignee, team, plan, progress, csat, ... or a notification
   */
  kind?: string | null;
  from_value?: string | null;
  to_value?: string | null;
  reason?: string | null;
  /**
   * who did it (staff see it; null: the system)
   */
  actor_id?: string | null;
  at?: string | null;
  thread_id?: string | null;
  [k: string]: unknown;
}
/**
 * To staff: a support conversation was handed to people (`conversation.escalated`), or its customer wrote
 * while a person has it (`conversation.message`).
 */
export interface SupportUpdateOut {
  /**
   * `<run_id>:<seq>:<n>` for run events (resumable), `~<n>` otherwise
   */
  event_id: string;
  type: "support_update";
  kind: string;
  thread_id: string | null;
  escalation_id?: string | null;
  reason?: string | null;
  text?: string | null;
  at: string | null;
}
/**
 * A client frame was accepted (`of`: its type; `ref`: its `id`).
 */
export interface AckOut {
  /**
   * `<run_id>:<seq>:<n>` for run events (resumable), `~<n>` otherwise
   */
  event_id: string;
  type: "ack";
  of: string;
  ref?: string | null;
  thread_id?: string | null;
  run_id?: string | null;
  task_id?: string | null;
  task_number?: string | null;
  /**
   * submit_feedback: joined to an open duplicate task
   */
  linked?: boolean | null;
}
export interface ErrorOut {
  /**
   * `<run_id>:<seq>:<n>` for run events (resumable), `~<n>` otherwise
   */
  event_id: string;
  type: "error";
  code: string;
  message: string;
  detail?: unknown;
  ref?: string | null;
  thread_id?: string | null;
  run_id?: string | null;
  retry_after?: number | null;
}
export interface PongOut {
  /**
   * `<run_id>:<seq>:<n>` for run events (resumable), `~<n>` otherwise
   */
  event_id: string;
  type: "pong";
  ref?: string | null;
}
