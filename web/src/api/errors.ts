/**
 * The server's error envelope is `{"error": {"code", "message", "detail"}}` (documented in openapi.json
 * only by examples, so there is no generated type for it); FastAPI's own 422s may still carry `detail`.
 */
export interface ApiErrorBody {
  code?: string;
  message?: string;
  detail?: unknown;
}

export function errorInfo(error: unknown): ApiErrorBody | null {
  if (error && typeof error === "object") {
    const envelope = (error as { error?: unknown }).error;
    if (envelope && typeof envelope === "object") return envelope as ApiErrorBody;
    const detail = (error as { detail?: unknown }).detail;
    if (typeof detail === "string") return { message: detail };
    if (Array.isArray(detail) && detail.length > 0) {
      const first = detail[0] as { msg?: string; loc?: unknown[] };
      const where = Array.isArray(first.loc) ? first.loc.filter((x) => x !== "body").join(".") : "";
      return { code: "validation_error", message: where ? `${where}: ${first.msg ?? ""}` : first.msg, detail };
    }
  }
  if (typeof error === "string" && error.trim()) return { message: error };
  return null;
}

/** A message to show the user for a failed call (the server's own message when it sent one). */
export function errorMessage(error: unknown, fallback: string): string {
  if (error instanceof Error) return error.message || fallback;
  return errorInfo(error)?.message || fallback;
}
