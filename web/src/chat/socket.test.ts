import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { applyFrame, addOutgoing, withApprovals, type ChatItem } from "./conversation";
import type { ServerFrame } from "./protocol";
import { ChatSocket } from "./socket";
import { FakeSocket } from "../test/helpers";

const THREAD = "7a0c6f5e-7d49-4c1e-9d3e-3f0b1f8f0a11";
const token = (n: number, content: string, run = "run1"): ServerFrame => ({
  type: "token", event_id: `${run}:1:${n}`, thread_id: THREAD, run_id: run, agent: null, content,
});

function setup() {
  const frames: ServerFrame[] = [];
  const statuses: string[] = [];
  const socket = new ChatSocket({
    url: "ws://test/ws",
    create: (url) => new FakeSocket(url),
    onFrame: (f) => frames.push(f),
    onStatus: (s) => statuses.push(s),
    initialDelayMs: 100,
    maxDelayMs: 1000,
    random: () => 0,
  });
  return { socket, frames, statuses };
}

describe("ChatSocket", () => {
  beforeEach(() => {
    FakeSocket.all = [];
    vi.useFakeTimers();
  });
  afterEach(() => vi.useRealTimers());

  it("queues frames until open, then sends them", () => {
    const { socket } = setup();
    socket.connect();
    socket.send({ type: "message", id: "m1", content: "hi", assistant_id: "support" });
    expect(FakeSocket.all[0].sent).toEqual([]);
    FakeSocket.all[0].open();
    expect(FakeSocket.all[0].sent).toEqual([{ type: "message", id: "m1", content: "hi", assistant_id: "support" }]);
  });

  it("reconnects with backoff and resumes each followed thread after the last event id", () => {
    const { socket, frames, statuses } = setup();
    socket.connect();
    const first = FakeSocket.all[0];
    first.open();
    socket.follow(THREAD);
    expect(first.sent[0]).toMatchObject({ type: "subscribe", thread_id: THREAD });
    first.receive(token(1, "Hel"));
    first.receive(token(2, "lo"));
    expect(socket.lastEventId(THREAD)).toBe("run1:1:2");

    first.drop();
    expect(statuses.at(-1)).toBe("reconnecting");
    vi.advanceTimersByTime(99);
    expect(FakeSocket.all).toHaveLength(1);
    vi.advanceTimersByTime(1);
    const second = FakeSocket.all[1];
    second.drop(); // fails again: the next delay doubles
    vi.advanceTimersByTime(199);
    expect(FakeSocket.all).toHaveLength(2);
    vi.advanceTimersByTime(1);
    const third = FakeSocket.all[2];
    third.open();
    expect(statuses.at(-1)).toBe("open");
    expect(third.sent).toEqual([{ type: "resume", id: expect.any(String), thread_id: THREAD, last_event_id: "run1:1:2" }]);

    // The resume replays from after run1:1:2; a live push of the same event is not delivered twice.
    third.receive(token(3, "!"));
    third.receive(token(3, "!"));
    third.receive(token(2, "lo"));
    expect(frames.map((f) => f.event_id)).toEqual(["run1:1:1", "run1:1:2", "run1:1:3"]);
  });

  it("follows a thread the server started for a message (ack) and resumes it after a reconnect", () => {
    const { socket } = setup();
    socket.connect();
    FakeSocket.all[0].open();
    FakeSocket.all[0].receive({ type: "ack", event_id: "~1", of: "message", ref: "m1", thread_id: THREAD, run_id: "run1" });
    FakeSocket.all[0].receive(token(1, "x"));
    FakeSocket.all[0].drop();
    vi.advanceTimersByTime(100);
    FakeSocket.all[1].open();
    expect(FakeSocket.all[1].sent[0]).toMatchObject({ type: "resume", thread_id: THREAD, last_event_id: "run1:1:1" });
  });

  it("does not de-duplicate connection frames and stops on 4401", () => {
    const onFatal = vi.fn();
    const frames: ServerFrame[] = [];
    const socket = new ChatSocket({ url: "ws://t/ws", create: (u) => new FakeSocket(u), onFrame: (f) => frames.push(f), onFatal });
    socket.connect();
    FakeSocket.all[0].open();
    FakeSocket.all[0].receive({ type: "pong", event_id: "~1" });
    FakeSocket.all[0].receive({ type: "pong", event_id: "~1" });
    expect(frames).toHaveLength(2);
    FakeSocket.all[0].drop(4401);
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(onFatal).toHaveBeenCalledWith(4401, "");
    expect(socket.connectionStatus).toBe("closed");
  });
});

describe("conversation frames", () => {
  it("appends token frames into one assistant bubble and ends it on message_complete", () => {
    let items: ChatItem[] = addOutgoing([], "m1", "where is A1005?");
    const frames: ServerFrame[] = [
      { type: "ack", event_id: "~1", of: "message", ref: "m1", thread_id: THREAD, run_id: "run1" },
      { type: "user_message", event_id: "run1:1:0", thread_id: THREAD, run_id: "run1", content: "where is A1005?", user_id: "u" },
      token(1, "It is "),
      token(2, "on its way."),
      { type: "message_complete", event_id: "run1:1:3", thread_id: THREAD, run_id: "run1", status: "success" },
    ];
    for (const f of frames) items = applyFrame(items, f);
    expect(items).toHaveLength(2);
    expect(items[0]).toMatchObject({ kind: "user", pending: false, runId: "run1" });
    expect(items[1]).toMatchObject({ kind: "assistant", content: "It is on its way.", done: true });
  });

  it("pairs tool results with their call and shows interrupts until they expire", () => {
    let items: ChatItem[] = [];
    items = applyFrame(items, { type: "tool_call", event_id: "r:1:1", thread_id: THREAD, run_id: "r", agent: null, tool: "getOrder", args: { id: "A1" }, id: "c1" });
    items = applyFrame(items, { type: "tool_result", event_id: "r:1:2", thread_id: THREAD, run_id: "r", agent: null, tool: "getOrder", result: { ok: 1 }, id: "c1" });
    items = applyFrame(items, { type: "interrupt", event_id: "r:1:3", thread_id: THREAD, run_id: "r", interrupt_id: "i1", action: "cancelOrder", params: { id: "A1" }, expires_at: "2030-01-01T00:00:00Z" });
    expect(items[0]).toMatchObject({ kind: "tool", hasResult: true, result: { ok: 1 } });
    expect(items[1]).toMatchObject({ kind: "interrupt", state: "pending", action: "cancelOrder" });
    items = applyFrame(items, { type: "interrupt_expired", event_id: "r:1:4", thread_id: THREAD, run_id: "r", action: "cancelOrder", message: "expired" });
    expect(items[1]).toMatchObject({ state: "expired" });
    expect(items[2]).toMatchObject({ kind: "notice", text: "expired" });
  });

  it("pairs a result from the resumed run with its call and restores pending approvals from REST once", () => {
    let items: ChatItem[] = [];
    items = applyFrame(items, { type: "tool_call", event_id: "r1:1:1", thread_id: THREAD, run_id: "r1", agent: null, tool: "remember", args: { fact: "x" }, id: "c9" });
    items = applyFrame(items, { type: "interrupt", event_id: "r1:1:2", thread_id: THREAD, run_id: "r1", interrupt_id: "i9", action: "remember", params: { fact: "x" }, expires_at: null });
    const approval = { id: "a1", thread_id: THREAD, run_id: "r1", tool_name: "remember", status: "pending", args: { fact: "x" }, description: null, expires_at: "2030-01-01T00:00:00Z" };
    expect(withApprovals(items, [approval as never])).toBe(items); // the live card is the same approval
    items = applyFrame(items, { type: "tool_result", event_id: "r2:1:1", thread_id: THREAD, run_id: "r2", agent: null, tool: "remember", result: "ok", id: "c9" });
    expect(items).toHaveLength(2);
    expect(items[0]).toMatchObject({ kind: "tool", hasResult: true, result: "ok" });
    expect(items[1]).toMatchObject({ kind: "interrupt", state: "closed" });
    const restored = withApprovals([], [approval as never]);
    expect(restored[0]).toMatchObject({ kind: "interrupt", approvalId: "a1", state: "pending", action: "remember" });
  });
});
