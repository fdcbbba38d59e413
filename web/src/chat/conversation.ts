import type { Approval, HistoryMessage, Schemas } from "../api/client";
import type { ServerFrame } from "./protocol";

/** A file sent with a user message (served by GET /api/v1/sessions/{session_id}/attachments/{id}). */
export type MessageFile = Schemas["MessageAttachment"];

/** What a conversation shows, built from REST history and then from socket frames (pure functions). */
export type ChatItem =
  | { kind: "user"; key: string; content: string; runId?: string; clientRef?: string; pending?: boolean; files?: MessageFile[] }
  | { kind: "assistant"; key: string; content: string; runId?: string; agent?: string | null; done: boolean }
  | { kind: "tool"; key: string; tool: string; args: unknown; result?: unknown; hasResult: boolean; callId?: string | null; runId?: string }
  | {
      kind: "interrupt"; key: string; threadId: string; runId: string; interruptId: string | null; action: string;
      params: unknown; description?: string | null; expiresAt: string | null;
      state: "pending" | "sent" | "expired" | "closed"; decision?: string;
      /** Set for a card restored from GET /api/v1/approvals (decided over REST: it has no interrupt id). */
      approvalId?: string;
    }
  | { kind: "notice"; key: string; text: string; tone: "info" | "warning" }
  | { kind: "error"; key: string; code: string; message: string };

export function fromHistory(messages: HistoryMessage[]): ChatItem[] {
  const items: ChatItem[] = [];
  for (const m of messages) {
    if (m.role === "user") {
      items.push({
        kind: "user", key: `h-${m.id}`, content: m.content, runId: m.run_id ?? undefined, pending: m.status === "pending",
        ...(m.attachments?.length ? { files: m.attachments } : {}),
      });
    } else if (m.role === "assistant") {
      if (m.content) items.push({ kind: "assistant", key: `h-${m.id}`, content: m.content, runId: m.run_id ?? undefined, done: true });
      for (const call of (m.tool_calls ?? []) as Array<{ id?: string; name?: string; args?: unknown }>) {
        items.push({ kind: "tool", key: `h-${m.id}-${call.id ?? call.name}`, tool: call.name ?? "?", args: call.args ?? {}, hasResult: false, callId: call.id ?? null, runId: m.run_id ?? undefined });
      }
    } else if (m.role === "tool") {
      const call = items.find((i) => i.kind === "tool" && i.callId && i.callId === m.tool_call_id);
      if (call && call.kind === "tool") {
        call.result = m.content;
        call.hasResult = true;
      } else {
        items.push({ kind: "tool", key: `h-${m.id}`, tool: m.name ?? "tool", args: {}, result: m.content, hasResult: true, callId: m.tool_call_id ?? null, runId: m.run_id ?? undefined });
      }
    }
  }
  return items;
}

/** The optimistic bubble for a message the user just sent (confirmed by its `ack` and `user_message`). */
export function addOutgoing(items: ChatItem[], clientRef: string, content: string, files: MessageFile[] = []): ChatItem[] {
  return [...items, { kind: "user", key: `o-${clientRef}`, content, clientRef, pending: true, ...(files.length ? { files } : {}) }];
}

/** The frame's text of a message sent with files also lists them, a line each (`\n[attached: name (type, size)]`). */
function sameText(item: Extract<ChatItem, { kind: "user" }>, said: string): boolean {
  return item.content === said || (!!item.files?.length && said.startsWith(`${item.content}\n[attached: `));
}

/** Work going on after an approval card means it was decided (or withdrawn by a new message): close it. */
function closePendingInterrupts(items: ChatItem[]): ChatItem[] {
  let changed = false;
  const next = items.map((i) => {
    if (i.kind === "interrupt" && (i.state === "pending" || i.state === "sent")) {
      changed = true;
      return { ...i, state: "closed" as const };
    }
    return i;
  });
  return changed ? next : items;
}

/** Apply one server frame (already de-duplicated by the socket) to a thread's items. */
export function applyFrame(items: ChatItem[], frame: ServerFrame): ChatItem[] {
  switch (frame.type) {
    case "ack": {
      if (frame.of === "message" && frame.ref) {
        return items.map((i) => (i.kind === "user" && i.clientRef === frame.ref ? { ...i, runId: frame.run_id ?? i.runId } : i));
      }
      if (frame.of === "interrupt_response" && frame.ref) {
        return items.map((i) => (i.kind === "interrupt" && i.key === frame.ref ? { ...i, state: "closed" as const } : i));
      }
      return items;
    }
    case "user_message": {
      if (items.some((i) => i.kind === "user" && !i.pending && i.runId === frame.run_id)) return items; // in the history
      const base = closePendingInterrupts(items);
      // Our own optimistic bubble: matched by run id (from the ack) or, before the ack, by its text.
      let index = base.findIndex((i) => i.kind === "user" && i.pending && i.runId === frame.run_id);
      if (index < 0) index = base.findIndex((i) => i.kind === "user" && i.pending && !i.runId && sameText(i, frame.content));
      if (index >= 0) {
        const next = base.slice();
        next[index] = { ...(base[index] as Extract<ChatItem, { kind: "user" }>), runId: frame.run_id, pending: false };
        return next;
      }
      return [...base, { kind: "user", key: frame.event_id, content: frame.content, runId: frame.run_id }];
    }
    case "token": {
      const base = closePendingInterrupts(items);
      const last = base[base.length - 1];
      if (last && last.kind === "assistant" && !last.done && last.runId === frame.run_id && (last.agent ?? null) === (frame.agent ?? null)) {
        return [...base.slice(0, -1), { ...last, content: last.content + frame.content }];
      }
      return [...base, { kind: "assistant", key: frame.event_id, content: frame.content, runId: frame.run_id, agent: frame.agent, done: false }];
    }
    case "clarification":
      return [...items, { kind: "assistant", key: frame.event_id, content: frame.message, runId: frame.run_id, done: true }];
    case "tool_call":
      return [...items, { kind: "tool", key: frame.event_id, tool: frame.tool, args: frame.args, hasResult: false, callId: frame.id, runId: frame.run_id }];
    case "tool_result": {
      items = closePendingInterrupts(items);
      // The result may come from a later run than its call (a run resumed after an approval): pair by call id.
      const index = items.findLastIndex((i) => i.kind === "tool" && !i.hasResult && (frame.id ? i.callId === frame.id : i.tool === frame.tool));
      if (index >= 0) {
        const next = items.slice();
        next[index] = { ...(items[index] as Extract<ChatItem, { kind: "tool" }>), result: frame.result, hasResult: true };
        return next;
      }
      return [...items, { kind: "tool", key: frame.event_id, tool: frame.tool ?? "tool", args: {}, result: frame.result, hasResult: true, callId: frame.id, runId: frame.run_id }];
    }
    case "interrupt":
      return [...items, {
        kind: "interrupt", key: frame.event_id, threadId: frame.thread_id, runId: frame.run_id, interruptId: frame.interrupt_id,
        action: frame.action, params: frame.params, description: frame.description, expiresAt: frame.expires_at, state: "pending",
      }];
    case "interrupt_expired": {
      let marked = false;
      const next = items.map((i) => {
        if (!marked && i.kind === "interrupt" && i.runId === frame.run_id && i.action === frame.action && i.state !== "expired") {
          marked = true;
          return { ...i, state: "expired" as const };
        }
        return i;
      });
      return [...next, { kind: "notice", key: frame.event_id, text: frame.message, tone: "warning" }];
    }
    case "message_complete":
      return items.map((i) => (i.kind === "assistant" && i.runId === frame.run_id && !i.done ? { ...i, done: true } : i));
    case "error":
      return [...items, { kind: "error", key: frame.event_id + (frame.ref ?? ""), code: frame.code, message: frame.message }];
    default:
      return items;
  }
}

/** Pending approvals of the thread (REST) as cards, for those the live frames did not bring already. */
export function withApprovals(items: ChatItem[], approvals: Approval[]): ChatItem[] {
  const fresh = approvals.filter(
    (a) => a.status === "pending" && !items.some((i) => i.kind === "interrupt" && (i.approvalId === a.id || (i.runId === a.run_id && i.action === a.tool_name))),
  );
  if (!fresh.length) return items;
  return [
    ...items,
    ...fresh.map((a): ChatItem => ({
      kind: "interrupt", key: `a-${a.id}`, threadId: a.thread_id, runId: a.run_id ?? "", interruptId: null, action: a.tool_name,
      params: a.args, description: a.description, expiresAt: a.expires_at, state: "pending", approvalId: a.id,
    })),
  ];
}

/** Mark an approval card as answered from this browser (the ack then closes it). */
export function markDecision(items: ChatItem[], key: string, decision: string): ChatItem[] {
  return items.map((i) => (i.kind === "interrupt" && i.key === key ? { ...i, state: "sent" as const, decision } : i));
}
