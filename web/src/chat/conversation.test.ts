import { describe, expect, it } from "vitest";
import { addOutgoing, applyFrame, fromHistory, type ChatItem } from "./conversation";
import type { ServerFrame } from "./protocol";

const THREAD = "7a0c6f5e-7d49-4c1e-9d3e-3f0b1f8f0a11";
const shot = { id: "3e0a5d85-7777-4c3a-9a51-5d0c3b2e7c40", filename: "shot.png", content_type: "image/png", size: 66 };
const userMessage = (content: string): ServerFrame => ({
  type: "user_message", event_id: "run1:1:0", thread_id: THREAD, run_id: "run1", content, user_id: null,
});

describe("messages with files", () => {
  it("a message's own user_message frame, whose text lists its files, confirms its bubble before the ack", () => {
    const sent = addOutgoing([], "m-1", "see this", [shot]);
    const confirmed = applyFrame(sent, userMessage("see this\n[attached: shot.png (image/png, 66 B)]"));
    expect(confirmed).toEqual([{ kind: "user", key: "o-m-1", content: "see this", clientRef: "m-1", pending: false, runId: "run1", files: [shot] }]);
  });

  it("a bubble without files is not matched by a text that only starts like it", () => {
    const sent = addOutgoing([], "m-1", "see this");
    const items = applyFrame(sent, userMessage("see this\n[attached: shot.png (image/png, 66 B)]"));
    expect(items.map((i) => (i as Extract<ChatItem, { kind: "user" }>).pending)).toEqual([true, undefined]);
  });

  it("the history's user messages keep their files", () => {
    const [asked] = fromHistory([
      { id: "m1", role: "user", content: "see this", tool_calls: [], tool_call_id: null, name: null, run_id: "run1", created_at: null, status: "complete", attachments: [shot] },
    ]);
    expect(asked).toMatchObject({ kind: "user", content: "see this", files: [shot] });
  });
});
