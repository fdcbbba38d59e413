// Helpers shared by the admin pages (AdminView's tabs): hooks for the calls a page makes, error formatting,
// small components, and the values of a few schema enums. A page module exports only its page component.
import { useCallback, useState, type ReactNode } from "react";
import { useTranslation } from "react-i18next";
import type { Schemas } from "../../api/client";
import { errorInfo, errorMessage, type ApiErrorBody } from "../../api/errors";
import "./shared.css";

// -- enumerations -----------------------------------------------------------------------------------------------

/** `true` when `Listed` names every member of `All` (a compile-time check that a list of enum values is complete). */
export type Exhaustive<All, Listed> = [Exclude<All, Listed>] extends [never] ? true : never;

type SideEffect = Schemas["ToolRead"]["side_effect"];
/** The values of `ToolRead.side_effect` (also the OpenAPI classifications' side effects). */
export const SIDE_EFFECTS = ["read", "write", "destructive"] as const satisfies readonly SideEffect[];
const sideEffectsComplete: Exhaustive<SideEffect, (typeof SIDE_EFFECTS)[number]> = true;
void sideEffectsComplete;

export type Region = NonNullable<Schemas["TeamRead"]["region"]>;
export const REGIONS: Region[] = ["domestic", "international"];

// -- errors -----------------------------------------------------------------------------------------------------

/** The server's message for a failed call, followed by the fields its `detail` names (validation problems). */
export function describeFailure(error: unknown, fallback: string): string {
  const base = errorMessage(error, fallback);
  const detail = errorInfo(error)?.detail;
  if (!Array.isArray(detail)) return base;
  const lines = detail.flatMap((item: unknown) => {
    if (!item || typeof item !== "object" || !("msg" in item)) return [];
    const { loc, msg } = item as { loc?: unknown; msg?: unknown };
    const where = Array.isArray(loc) ? loc.filter((x) => x !== "body").join(".") : "";
    return [where ? `${where}: ${String(msg)}` : String(msg)];
  });
  const extra = lines.filter((line) => !base.includes(line));
  return extra.length ? `${base} — ${extra.join("; ")}` : base;
}

/**
 * The errors the server tied to one item of a JSON array it was sent, by the item's index: FastAPI's validation
 * errors (`loc: ["body", 2, "category"]`), `detail.position` (unknown_team) and `detail.field` (`members[1].user_id`,
 * `[0].config.url`).
 */
export function errorsByIndex(info: ApiErrorBody | null): Map<number, string> {
  const found = new Map<number, string>();
  if (!info) return found;
  const add = (index: number, text: string) => found.set(index, found.has(index) ? `${found.get(index)}; ${text}` : text);
  if (Array.isArray(info.detail)) {
    for (const item of info.detail as { loc?: unknown; msg?: unknown }[]) {
      const loc = Array.isArray(item?.loc) ? item.loc : [];
      const at = loc[0] === "body" ? 1 : 0;
      const index = loc[at];
      if (typeof index === "number") {
        const where = loc.slice(at + 1).join(".");
        const msg = typeof item.msg === "string" ? item.msg : "";
        add(index, where ? `${where}: ${msg}` : msg);
      }
    }
    return found;
  }
  if (info.detail && typeof info.detail === "object") {
    const detail = info.detail as { position?: unknown; field?: unknown };
    const message = info.message ?? "";
    if (typeof detail.position === "number") add(detail.position, message);
    else if (typeof detail.field === "string") {
      const match = /\[(\d+)\]/.exec(detail.field);
      if (match) add(Number(match[1]), message);
    }
  }
  return found;
}

// -- running a call ---------------------------------------------------------------------------------------------

type Answer<T> = { data?: T; error?: unknown; response: Response };

/**
 * One action at a time: `busy` while it runs, `error` with the server's message (and the fields its `detail` names)
 * when it fails; `run` resolves to `{ data }`, or `null` when the call failed. Used by the tool pages.
 */
export function useRunner() {
  const { t } = useTranslation();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = useCallback(
    async <T,>(call: () => Promise<Answer<T>>, failedKey: string): Promise<{ data: T | undefined } | null> => {
      setBusy(true);
      setError(null);
      try {
        const { data, error: failure, response } = await call();
        if (!response.ok) {
          setError(describeFailure(failure, t(failedKey)));
          return null;
        }
        return { data };
      } catch {
        setError(t("common.networkError"));
        return null;
      } finally {
        setBusy(false);
      }
    },
    [t],
  );
  return { busy, error, setError, run };
}

/** What a call ended with: its data (absent for 204), or the server's message and error envelope. */
export type Outcome<T> = { ok: true; data: T | undefined } | { ok: false; message: string; info: ApiErrorBody | null };

/**
 * A write the user started: `busy` while it runs, `error` the server's message (or the fallback's) when it failed;
 * `run` resolves to an {@link Outcome} that keeps the error envelope (for {@link errorsByIndex}). Used by the pages
 * for teams, routing, channels and users.
 */
export function useAction() {
  const { t } = useTranslation();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = useCallback(
    async <T,>(call: () => Promise<Answer<T>>, fallbackKey: string): Promise<Outcome<T>> => {
      setBusy(true);
      setError(null);
      try {
        const { data, error: failure, response } = await call();
        if (response.ok) return { ok: true, data };
        const message = errorMessage(failure, t(fallbackKey));
        setError(message);
        return { ok: false, message, info: errorInfo(failure) };
      } catch {
        const message = t("common.networkError");
        setError(message);
        return { ok: false, message, info: null };
      } finally {
        setBusy(false);
      }
    },
    [t],
  );
  return { busy, error, setError, run };
}

// -- text -------------------------------------------------------------------------------------------------------

/** Comma-, semicolon- or whitespace-separated words (a Chinese comma too), blanks dropped. */
export function splitList(text: string): string[] {
  return text.split(/[\s,;，；、]+/).map((x) => x.trim()).filter(Boolean);
}

// -- components -------------------------------------------------------------------------------------------------

/** A destructive button that asks once more, inline, before it acts. */
export function ConfirmButton({
  label,
  confirmLabel,
  question,
  onConfirm,
  disabled,
  testId,
}: {
  label: string;
  confirmLabel: string;
  question: string;
  onConfirm: () => void;
  disabled?: boolean;
  testId: string;
}) {
  const { t } = useTranslation();
  const [asking, setAsking] = useState(false);
  if (!asking)
    return (
      <button type="button" className="btn btn-danger btn-small" data-testid={testId} disabled={disabled} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  return (
    <span className="at-confirm" role="group" aria-label={question}>
      <span className="small">{question}</span>
      <button
        type="button"
        className="btn btn-danger btn-small"
        data-testid={`${testId}-confirm`}
        disabled={disabled}
        autoFocus
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        {confirmLabel}
      </button>
      <button type="button" className="btn btn-ghost btn-small" onClick={() => setAsking(false)}>
        {t("common.cancel")}
      </button>
    </span>
  );
}

/** The server's (or a fallback) message as an alert; nothing when there is none. */
export function ErrorAlert({ children }: { children: ReactNode }) {
  if (!children) return null;
  return (
    <p className="alert alert-error" role="alert">
      {children}
    </p>
  );
}
