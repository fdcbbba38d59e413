/**
 * WebSocket frames, after src/loopdesk/realtime/protocol.schema.json (served at /api/v1/realtime/schema).
 * Only the fields the console reads or sends; the socket is not part of the OpenAPI document.
 */
interface RunFrame {
  event_id: string;
  thread_id: string;
  run_id: string;
}

export interface UserMessageFrame extends RunFrame { type: "user_message"; content: string; user_id: string | null }
export interface TokenFrame extends RunFrame { type: "token"; agent: string | null; content: string }
export interface ToolCallFrame extends RunFrame {
  type: "tool_call"; agent: string | null; tool: string; args: Record<string, unknown>; id: string | null;
}
export interface ToolResultFrame extends RunFrame {
  type: "tool_result"; agent: string | null; tool: string | null; result: unknown; id: string | null;
}
export interface InterruptFrame extends RunFrame {
  type: "interrupt"; interrupt_id: string | null; action: string; params: unknown;
  description?: string | null; expires_at: string | null;
}
export interface ClarificationFrame extends RunFrame { type: "clarification"; interrupt_id?: string | null; message: string }
export interface HandoffFrame extends RunFrame { type: "handoff"; agent: string; intent?: string | null }
export interface InterruptExpiredFrame extends RunFrame {
  type: "interrupt_expired"; action: string; message: string; approval_id?: string | null;
}
export interface CustomFrame extends RunFrame { type: "custom"; data: unknown }
export interface MessageCompleteFrame extends RunFrame { type: "message_complete"; status: string }
export interface TaskUpdateFrame {
  type: "task_update"; event_id: string; task_id: string; task_number?: string | null; stage?: string | null;
  kind?: string | null; thread_id?: string | null;
}
export interface SupportUpdateFrame {
  type: "support_update"; event_id: string; kind: string; thread_id: string | null; text?: string | null; at: string | null;
}
export interface AckFrame {
  type: "ack"; event_id: string; of: string; ref?: string | null; thread_id?: string | null; run_id?: string | null;
  task_id?: string | null;
}
export interface ErrorFrame {
  type: "error"; event_id: string; code: string; message: string; detail?: unknown; ref?: string | null;
  thread_id?: string | null; run_id?: string | null; retry_after?: number | null;
}
export interface PongFrame { type: "pong"; event_id: string; ref?: string | null }

export type ServerFrame =
  | UserMessageFrame | TokenFrame | ToolCallFrame | ToolResultFrame | InterruptFrame | ClarificationFrame
  | HandoffFrame | InterruptExpiredFrame | CustomFrame | MessageCompleteFrame | TaskUpdateFrame
  | SupportUpdateFrame | AckFrame | ErrorFrame | PongFrame;

export type Decision = "approve" | "reject" | "edit";

export type ClientFrame =
  | { type: "message"; id?: string; thread_id?: string; content: string; assistant_id?: string }
  | {
      type: "interrupt_response"; id?: string; thread_id: string; interrupt_id?: string | null;
      decision: Decision; message?: string; args?: Record<string, unknown>;
    }
  | { type: "subscribe" | "unsubscribe"; id?: string; thread_id: string }
  | { type: "resume"; id?: string; thread_id: string; last_event_id: string }
  | { type: "ping"; id?: string };

/** `<run_id>:<seq>:<n>` ids come from a run's durable log (resumable); `~<n>` ids are about the connection. */
export function isRunEventId(eventId: string | undefined | null): eventId is string {
  return !!eventId && !eventId.startsWith("~") && eventId.split(":").length >= 3;
}
