import { describe, expect, expectTypeOf, it } from "vitest";
import schema from "../../realtime.schema.json";
import type * as Frames from "./frames";
import { isRunEventId, type ClientFrame, type Decision, type ServerFrame } from "./protocol";

type Defs = Record<string, { oneOf?: { $ref: string }[]; properties?: { type?: { const?: string; enum?: string[] } } }>;

/** The `type` values of a union of the committed schema (ClientFrame, ServerFrame). */
function frameTypes(union: string): string[] {
  const defs = schema.$defs as unknown as Defs;
  return defs[union].oneOf!.flatMap(({ $ref }) => {
    const type = defs[$ref.split("/").pop()!].properties!.type!;
    return type.enum ?? [type.const!];
  });
}

// Checked by the compiler against the generated union: a frame type missing here, or one it no longer has, fails tsc.
const SERVER_TYPES: Record<ServerFrame["type"], true> = {
  user_message: true, token: true, tool_call: true, tool_result: true, interrupt: true, clarification: true, handoff: true,
  interrupt_expired: true, custom: true, message_complete: true, task_update: true, support_update: true, ack: true,
  error: true, pong: true,
};
const CLIENT_TYPES: Record<Frames.ClientFrame["type"], true> = {
  message: true, interrupt_response: true, subscribe: true, unsubscribe: true, subscribe_task: true, submit_feedback: true,
  resume: true, ping: true,
};

describe("protocol", () => {
  it("types every frame of the server's schema, and nothing else", () => {
    expect(Object.keys(SERVER_TYPES).sort()).toEqual(frameTypes("ServerFrame").sort());
    expect(Object.keys(CLIENT_TYPES).sort()).toEqual(frameTypes("ClientFrame").sort());
  });

  it("narrows what the console sends to how it sends it", () => {
    expectTypeOf<Decision>().toEqualTypeOf<"approve" | "reject" | "edit">();
    expectTypeOf<Extract<ClientFrame, { type: "interrupt_response" }>["decision"]>().toEqualTypeOf<Decision>();
    expectTypeOf<Extract<ClientFrame, { type: "subscribe" | "unsubscribe" }>["thread_id"]>().toEqualTypeOf<string>();
    expectTypeOf<ClientFrame>().toMatchTypeOf<Frames.ClientFrame>();
    expectTypeOf<Extract<ServerFrame, { type: "token" }>>().toEqualTypeOf<Frames.TokenOut>();
  });

  it("tells a run's resumable event ids from the connection's own", () => {
    expect(isRunEventId("0b7f2a52-1111-4c3a-9a51-5d0c3b2e7c10:3:1")).toBe(true);
    expect(isRunEventId("~12")).toBe(false);
    expect(isRunEventId("")).toBe(false);
    expect(isRunEventId(null)).toBe(false);
  });
});
