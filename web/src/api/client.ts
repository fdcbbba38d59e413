import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type User = Schemas["UserRead"];
export type Role = Schemas["Role"];
export type Approval = Schemas["ApprovalRead"];
export type Session = Schemas["SessionRead"];
export type HistoryMessage = Schemas["MessageRead"];
export type Task = Schemas["TaskRead"];
export type TaskEvent = Schemas["TaskEventRead"];
export type TaskStage = Task["workflow_stage"];

/** The one typed REST client: same origin, the httpOnly session cookie authenticates it, bodies are JSON. */
export const api = createClient<paths>({
  baseUrl: "",
  credentials: "include",
  // Looked up on every call (not captured once) so tests can replace globalThis.fetch.
  fetch: (request: Request) => globalThis.fetch(request),
});

type Listener = () => void;
const unauthorizedListeners = new Set<Listener>();

/** Called when an authenticated call answers 401 (the session ended): the app shows the login page. */
export function onUnauthorized(listener: Listener): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

const authWatch: Middleware = {
  onResponse({ request, response }) {
    if (response.status === 401 && !new URL(request.url).pathname.endsWith("/auth/login")) {
      unauthorizedListeners.forEach((listener) => listener());
    }
    return undefined;
  },
};
api.use(authWatch);
