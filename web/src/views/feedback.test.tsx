import { File as NodeFile } from "node:buffer";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import type { Task } from "../api/client";
import { setLang } from "../i18n";
import { json, mockFetch, renderWith, type Call } from "../test/helpers";
import { ACCEPT, FeedbackView } from "./FeedbackView";

const ME = "9d5b4c2e-6666-4c3a-9a51-5d0c3b2e7c14";
const now = new Date().toISOString();

function task(over: Partial<Task>): Task {
  return {
    id: "0b7f2a52-1111-4c3a-9a51-5d0c3b2e7c10", task_number: "FB-2026-000001", title: "Checkout fails", description: "Paying fails",
    issue_type: "bug", severity: null, category: null, language: "en", region: "domestic", region_reason: null,
    priority_score: null, priority_level: "P2", priority_reason: null, source_channel: "web", reporter_id: ME, affected_modules: [],
    log_analysis: null, root_cause_hypothesis: null, resolution_plan: null, person_feedback: null, team_id: null, assignee_id: null,
    workflow_stage: "received", sla_deadline: null, resolved_at: null, closed_at: null, duplicate_of: null, reporter_count: 1,
    csat: null, csat_comment: null, stage_entered_at: now, first_response_at: null, reopen_count: 0, escalation_level: 0,
    archived_at: null, created_at: now, updated_at: now, joined: false,
    ...over,
  };
}
const page = (items: Task[]) => json(200, { items, total: items.length, limit: 50, offset: 0 });
const posts = (calls: Call[]) => calls.filter((c) => c.method === "POST");
// jsdom's FormData and File are not what Node's fetch (undici) can read: the test uses Node's own, as a browser has
// one FormData and File that its fetch reads, so the multipart body sent holds the files' real names and bytes.
const file = (name: string, text: string, type: string) => new NodeFile([text], name, { type }) as unknown as File;
async function nodeFormData() {
  const form = await new Response("", { headers: { "content-type": "application/x-www-form-urlencoded" } }).formData();
  vi.stubGlobal("FormData", form.constructor);
}

describe("FeedbackView", () => {
  beforeEach(() => setLang("en"));
  afterEach(() => vi.unstubAllGlobals());

  it("creates the report, then uploads each chosen file as multipart `file` to the new task, showing each file's outcome", async () => {
    const created = task({ id: "3e0a5d85-7777-4c3a-9a51-5d0c3b2e7c40", task_number: "FB-2026-000042", title: "App crashes" });
    let reported = false;
    const calls = mockFetch(({ method, path, body }) => {
      if (method === "GET" && path.startsWith("/api/v1/tasks?")) return page(reported ? [created] : []);
      if (method === "GET" && path.endsWith("/timeline")) return json(200, []);
      if (method === "POST" && path === "/api/v1/feedback") {
        reported = true;
        return json(201, { task: created, linked: false, similarity: null, attachments: [] });
      }
      if (method === "POST" && path === `/api/v1/tasks/${created.id}/attachments`) {
        if (body.includes('filename="dump.bin"'))
          return json(415, { error: { code: "attachment_type_not_allowed", message: "An attachment's type is not allowed", detail: { filename: "dump.bin" } } });
        if (body.includes('filename="huge.log"'))
          return json(413, { error: { code: "attachment_too_large", message: "An attachment is larger than allowed", detail: { filename: "huge.log", max_bytes: 10485760 } } });
        return json(201, [{ id: "a1", filename: "crash.log", content_type: "text/plain", size: 9, sha256: "x", uploaded_by: ME, created_at: now }]);
      }
      return json(404, { error: { code: "not_found", message: "Not found" } });
    });
    await nodeFormData();
    renderWith(<FeedbackView />, "/feedback");
    const input = screen.getByTestId("feedback-attach");
    expect(input).toHaveAttribute("accept", ACCEPT);
    expect(input).toHaveAttribute("multiple");

    fireEvent.change(screen.getByTestId("feedback-title"), { target: { value: "App crashes" } });
    fireEvent.change(screen.getByTestId("feedback-description"), { target: { value: "It crashes on start" } });
    fireEvent.change(input, {
      target: { files: [file("crash.log", "boom line", "text/plain"), file("dump.bin", "\u0000", "application/octet-stream"), file("huge.log", "big", "text/plain")] },
    });
    fireEvent.click(screen.getByTestId("feedback-submit"));

    await waitFor(() => expect(screen.getAllByTestId("feedback-upload").map((li) => li.className)).toEqual(["upload-done", "upload-failed", "upload-failed"]));
    const sent = posts(calls);
    expect(sent.map((c) => c.path)).toEqual([
      "/api/v1/feedback",
      `/api/v1/tasks/${created.id}/attachments`,
      `/api/v1/tasks/${created.id}/attachments`,
      `/api/v1/tasks/${created.id}/attachments`,
    ]);
    expect(JSON.parse(sent[0].body)).toEqual({ title: "App crashes", description: "It crashes on start", source_channel: "web" });
    expect(sent[1].body).toMatch(/^--.+\r\nContent-Disposition: form-data; name="file"; filename="crash.log"\r\nContent-Type: text\/plain\r\n\r\nboom line\r\n/);
    expect(sent[1].body.match(/Content-Disposition/g)).toHaveLength(1); // one file a request: a bad file loses only itself
    const [ok, wrongType, tooBig] = screen.getAllByTestId("feedback-upload");
    expect(ok).toHaveTextContent("crash.log");
    expect(ok).toHaveTextContent("Attached");
    expect(wrongType).toHaveTextContent("dump.bin");
    expect(wrongType).toHaveTextContent("An attachment's type is not allowed");
    expect(tooBig).toHaveTextContent("An attachment is larger than allowed (at most 10 MB)");
    expect(screen.getByText("Thank you! Your report FB-2026-000042 was received.")).toBeInTheDocument();
    expect(await screen.findByTestId("feedback-item")).toHaveTextContent("App crashes");
  });

  it("confirms a fix with the verify body, then rates the closed report with the csat body", async () => {
    let current = task({ workflow_stage: "verification" });
    const calls = mockFetch(({ method, path, body }) => {
      if (method === "GET" && path.startsWith("/api/v1/tasks?")) return page([current]);
      if (method === "GET" && path.endsWith("/timeline")) return json(200, []);
      if (method === "POST" && path === `/api/v1/tasks/${current.id}/verify`) {
        current = { ...current, workflow_stage: "closed", updated_at: new Date(Date.now() + 1000).toISOString() };
        return json(200, current);
      }
      if (method === "POST" && path === `/api/v1/tasks/${current.id}/csat`) {
        const { score, comment } = JSON.parse(body) as { score: number; comment?: string };
        current = { ...current, csat: score, csat_comment: comment ?? null, updated_at: new Date(Date.now() + 2000).toISOString() };
        return json(200, current);
      }
      return json(404, { error: { code: "not_found", message: "Not found" } });
    });
    renderWith(<FeedbackView />, "/feedback");
    const item = await screen.findByTestId("feedback-item");
    fireEvent.click(within(item).getByRole("button", { expanded: false }));
    fireEvent.change(await screen.findByTestId("feedback-verify-notes"), { target: { value: "Works now" } });
    fireEvent.click(screen.getByTestId("feedback-verify-yes"));

    fireEvent.click(await screen.findByTestId("feedback-score-4"));
    expect(screen.getByTestId("feedback-stage")).toHaveTextContent("Closed");
    fireEvent.change(screen.getByTestId("feedback-rate-comment"), { target: { value: "Quick fix" } });
    fireEvent.click(screen.getByTestId("feedback-rate"));
    expect(await screen.findByText("Thank you for your rating.")).toBeInTheDocument();

    const sent = posts(calls);
    expect(sent.map((c) => [c.path, JSON.parse(c.body)])).toEqual([
      [`/api/v1/tasks/${current.id}/verify`, { result: "pass", notes: "Works now" }],
      [`/api/v1/tasks/${current.id}/csat`, { score: 4, comment: "Quick fix" }],
    ]);
    expect(screen.getByText("You rated this 4 of 5.")).toBeInTheDocument();
  });

  it("'Still broken' sends a failed verification; a refused one shows the server's message", async () => {
    const resolved = task({ workflow_stage: "resolved" });
    const calls = mockFetch(({ method, path }) => {
      if (method === "GET" && path.startsWith("/api/v1/tasks?")) return page([resolved]);
      if (method === "GET" && path.endsWith("/timeline")) return json(200, []);
      if (method === "POST") return json(409, { error: { code: "invalid_transition", message: "The task is not at a stage where this action applies" } });
      return json(404, {});
    });
    renderWith(<FeedbackView />, "/feedback");
    fireEvent.click(within(await screen.findByTestId("feedback-item")).getByRole("button", { expanded: false }));
    fireEvent.click(await screen.findByTestId("feedback-verify-no"));
    expect(await screen.findByText("The task is not at a stage where this action applies")).toHaveAttribute("role", "alert");
    expect(posts(calls).map((c) => [c.path, JSON.parse(c.body)])).toEqual([[`/api/v1/tasks/${resolved.id}/verify`, { result: "fail" }]]);
    expect(screen.getByTestId("feedback-stage")).toHaveTextContent("Resolved");
  });

  it("shows the server's message when the report is refused, and sends no file", async () => {
    const calls = mockFetch(({ method, path }) => {
      if (method === "GET") return page([]);
      if (path === "/api/v1/feedback") return json(422, { detail: [{ loc: ["body", "title"], msg: "String should have at least 1 character" }] });
      return json(500, {});
    });
    renderWith(<FeedbackView />, "/feedback");
    fireEvent.change(screen.getByTestId("feedback-title"), { target: { value: "x" } });
    fireEvent.change(screen.getByTestId("feedback-description"), { target: { value: "y" } });
    fireEvent.change(screen.getByTestId("feedback-attach"), { target: { files: [file("a.txt", "a", "text/plain")] } });
    fireEvent.click(screen.getByTestId("feedback-submit"));
    expect(await screen.findByText("title: String should have at least 1 character")).toHaveAttribute("role", "alert");
    expect(posts(calls).map((c) => c.path)).toEqual(["/api/v1/feedback"]);
  });
});
