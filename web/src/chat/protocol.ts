/**
 * WebSocket frames, as generated from the server's protocol schema (frames.d.ts, `make web-api`): the names the
 * console uses, and the frames it sends, narrowed to how it sends them. The socket is not part of the OpenAPI document.
 */
import type * as Frames from "./frames";

export type UserMessageFrame = Frames.UserMessageOut;
export type TokenFrame = Frames.TokenOut;
export type ToolCallFrame = Frames.ToolCallOut;
export type ToolResultFrame = Frames.ToolResultOut;
export type InterruptFrame = Frames.InterruptOut;
export type ClarificationFrame = Frames.ClarificationOut;
export type HandoffFrame = Frames.HandoffOut;
export type InterruptExpiredFrame = Frames.InterruptExpiredOut;
export type CustomFrame = Frames.CustomOut;
export type MessageCompleteFrame = Frames.MessageCompleteOut;
export type TaskUpdateFrame = Frames.TaskUpdateOut;
export type SupportUpdateFrame = Frames.SupportUpdateOut;
export type AckFrame = Frames.AckOut;
export type ErrorFrame = Frames.ErrorOut;
export type PongFrame = Frames.PongOut;

/** Every frame the server sends. */
export type ServerFrame = Frames.ServerFrame;

export type Decision = Frames.DecisionIn["type"];

/**
 * What the console sends: the protocol's frames, with what it always gives required (a decision by name; a thread
 * to follow, never a task).
 */
export type ClientFrame =
  | Frames.MessageIn
  | (Omit<Frames.InterruptResponseIn, "decision"> & { decision: Decision })
  | (Omit<Frames.SubscribeIn, "thread_id" | "task_id"> & { thread_id: string })
  | Frames.ResumeIn
  | Frames.PingIn;

/** `<run_id>:<seq>:<n>` ids come from a run's durable log (resumable); `~<n>` ids are about the connection. */
export function isRunEventId(eventId: string | undefined | null): eventId is string {
  return !!eventId && !eventId.startsWith("~") && eventId.split(":").length >= 3;
}
