import { File as NodeFile } from "node:buffer";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { AuthProvider } from "../auth";
import { ACCEPT } from "../chat/attachments";
import { setLang } from "../i18n";
import { FakeSocket, json, mockFetch, renderWith, type Call } from "../test/helpers";
import { ChatView } from "./ChatView";

const ME = "9d5b4c2e-6666-4c3a-9a51-5d0c3b2e7c14";
const SESSION = "7a0c6f5e-7d49-4c1e-9d3e-3f0b1f8f0a11";
const now = new Date().toISOString();
const session = {
  session_id: SESSION, thread_id: SESSION, user_id: ME, assistant_id: "0b7f2a52-1111-4c3a-9a51-5d0c3b2e7c10", title: null,
  metadata: {}, status: "idle", message_count: 0, created_at: now, last_activity_at: now, expires_at: null,
};
const shot = { id: "3e0a5d85-7777-4c3a-9a51-5d0c3b2e7c40", filename: "shot.png", content_type: "image/png", size: 2048 };
const log = { id: "5c2b9d11-8888-4c3a-9a51-5d0c3b2e7c41", filename: "app.log", content_type: "text/plain", size: 58 };
const empty = (limit: number) => json(200, { items: [], total: 0, limit, offset: 0 });

// As in feedback.test.tsx: Node's own FormData and File, which Node's fetch reads (a browser has one of each).
const file = (name: string, text: string, type: string) => new NodeFile([text], name, { type }) as unknown as File;
async function nodeFormData() {
  const form = await new Response("", { headers: { "content-type": "application/x-www-form-urlencoded" } }).formData();
  vi.stubGlobal("FormData", form.constructor);
}

function server(extra: (call: Call) => Response | undefined) {
  return mockFetch((call) => {
    const { method, path } = call;
    const answer = extra(call);
    if (answer) return answer;
    if (path === "/api/v1/users/me") return json(200, { id: ME, email: "me@example.com", role: "customer" });
    if (method === "GET" && path.startsWith("/api/v1/sessions?")) return empty(50);
    if (method === "GET" && path.startsWith("/api/v1/approvals")) return empty(100);
    return json(404, { error: { code: "not_found", message: "Not found", detail: null } });
  });
}

function renderChat(path: string) {
  renderWith(<AuthProvider><ChatView /></AuthProvider>, path);
  FakeSocket.last?.open();
}

describe("ChatView attachments", () => {
  beforeEach(() => {
    setLang("en");
    vi.stubGlobal("WebSocket", FakeSocket);
  });
  afterEach(() => vi.unstubAllGlobals());

  it("uploads chosen files to a new conversation's session, shows each outcome, and sends the stored ids with the message", async () => {
    const calls = server(({ method, path, body }) => {
      if (method === "POST" && path === "/api/v1/sessions") return json(201, session);
      if (method === "GET" && path.startsWith(`/api/v1/sessions/${SESSION}/messages`)) return empty(500);
      if (method === "POST" && path === `/api/v1/sessions/${SESSION}/attachments`) {
        if (body.includes('filename="huge.log"'))
          return json(413, { error: { code: "attachment_too_large", message: "An attachment is larger than allowed", detail: { filename: "huge.log", max_bytes: 10485760 } } });
        if (body.includes('filename="tool.exe"'))
          return json(415, { error: { code: "attachment_type_not_allowed", message: "An attachment's type is not allowed", detail: { filename: "tool.exe" } } });
        return json(201, [{ ...shot, sha256: "ab".repeat(32), created_at: now }]);
      }
      return undefined;
    });
    await nodeFormData();
    renderChat("/chat?new=1");
    const input = screen.getByTestId("chat-attach");
    expect(input).toHaveAttribute("type", "file");
    expect(input).toHaveAttribute("multiple");
    expect(input).toHaveAttribute("accept", ACCEPT);
    expect(screen.getByLabelText("Attach files (screenshots or logs)")).toBe(input);

    fireEvent.change(input, {
      target: { files: [file("shot.png", "\x89PNG fake", "image/png"), file("huge.log", "big", "text/plain"), file("tool.exe", "MZ", "application/x-msdownload")] },
    });
    await waitFor(() => expect(screen.getAllByTestId("chat-attachment").map((c) => c.dataset.status)).toEqual(["ready", "failed", "failed"]));
    const [ok, tooBig, wrongType] = screen.getAllByTestId("chat-attachment");
    expect(ok).toHaveTextContent("shot.png");
    expect(tooBig).toHaveTextContent("An attachment is larger than allowed (at most 10 MB)");
    expect(wrongType).toHaveTextContent("An attachment's type is not allowed");
    // The session came first (untitled: the server names it after the first message), then one request a file.
    const posts = calls.filter((c) => c.method === "POST");
    expect(posts.map((c) => c.path)).toEqual(["/api/v1/sessions", ...Array(3).fill(`/api/v1/sessions/${SESSION}/attachments`)]);
    expect(JSON.parse(posts[0].body)).toEqual({ assistant_id: "support" });
    expect(posts[1].body).toMatch(/Content-Disposition: form-data; name="file"; filename="shot.png"\r\nContent-Type: image\/png/);

    fireEvent.click(within(tooBig).getByRole("button", { name: "Remove huge.log" }));
    fireEvent.click(within(wrongType).getByRole("button", { name: "Remove tool.exe" }));
    expect(screen.getAllByTestId("chat-attachment")).toHaveLength(1);
    fireEvent.change(screen.getByTestId("chat-input"), { target: { value: "Checkout fails, see the screenshot" } });
    fireEvent.click(screen.getByTestId("chat-send"));

    await waitFor(() => expect(FakeSocket.last!.sent.some((f) => f.type === "message")).toBe(true));
    const message = FakeSocket.last!.sent.find((f) => f.type === "message")!;
    expect(message).toMatchObject({ content: "Checkout fails, see the screenshot", thread_id: SESSION, attachments: [shot.id] });
    expect(screen.queryAllByTestId("chat-attachment")).toHaveLength(0);
    const bubble = screen.getByTestId("chat-message");
    expect(bubble).toHaveTextContent("Checkout fails, see the screenshot");
    expect(within(bubble).getByRole("img", { name: "shot.png" })).toHaveAttribute("src", `/api/v1/sessions/${SESSION}/attachments/${shot.id}`);
  });

  it("shows the files of the history's messages: images as thumbnails, other files as download links", async () => {
    server(({ method, path }) => {
      if (method === "GET" && path.startsWith(`/api/v1/sessions/${SESSION}/messages`))
        return json(200, {
          items: [
            { id: "m1", role: "user", content: "It crashed", tool_calls: [], tool_call_id: null, name: null, run_id: "r1", created_at: now, status: "complete", attachments: [shot, log] },
            { id: "m2", role: "assistant", content: "Thanks, looking", tool_calls: [], tool_call_id: null, name: null, run_id: "r1", created_at: now, status: "complete", attachments: [] },
          ],
          total: 2, limit: 500, offset: 0,
        });
      return undefined;
    });
    renderChat(`/chat?thread=${SESSION}`);
    const [asked, answered] = await screen.findAllByTestId("chat-message");
    expect(asked).toHaveTextContent("It crashed");
    const [image, text] = within(asked).getAllByTestId("chat-message-file");
    expect(within(image).getByRole("img", { name: "shot.png" })).toHaveAttribute("src", `/api/v1/sessions/${SESSION}/attachments/${shot.id}`);
    const link = within(text).getByRole("link");
    expect(link).toHaveAttribute("href", `/api/v1/sessions/${SESSION}/attachments/${log.id}`);
    expect(link).toHaveAttribute("download", "app.log");
    expect(link).toHaveTextContent("app.log (58 B)");
    expect(within(answered).queryAllByTestId("chat-message-file")).toHaveLength(0);
  });
  it("reads the history again once subscribed, so a run that ended in between (an approval elsewhere) shows its reply", async () => {
    const asked = { id: "m1", role: "user", content: "Cancel A1002", tool_calls: [], tool_call_id: null, name: null, run_id: "r1", created_at: now, status: "complete", attachments: [] };
    const answered = { ...asked, id: "m2", role: "assistant", content: "Order A1002 cancelled", run_id: "r2" };
    let reads = 0;
    server(({ method, path }) => {
      if (method === "GET" && path.startsWith(`/api/v1/sessions/${SESSION}/messages`)) {
        reads += 1;
        const items = reads === 1 ? [asked] : [asked, answered];
        return json(200, { items, total: items.length, limit: 500, offset: 0 });
      }
      return undefined;
    });
    renderChat(`/chat?thread=${SESSION}`);
    await screen.findByText("Cancel A1002");
    await waitFor(() => expect(FakeSocket.last!.sent.some((f) => f.type === "subscribe" && f.thread_id === SESSION)).toBe(true));
    expect(screen.queryByText("Order A1002 cancelled")).toBeNull();
    const before = screen.getAllByText("Cancel A1002").length;
    const ref = FakeSocket.last!.sent.find((f) => f.type === "subscribe")!.id;
    FakeSocket.last!.receive({ type: "ack", of: "subscribe", ref, thread_id: SESSION });
    expect(await screen.findByText("Order A1002 cancelled")).toBeInTheDocument();
    expect(screen.getAllByText("Cancel A1002")).toHaveLength(before); // nothing doubled
    expect(reads).toBe(2);
  });
});
