import { useCallback, useEffect, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { errorMessage } from "./errors";

/** What a typed client call answers: its data, or the server's error. */
type Answer<T> = { data?: T; error?: unknown };

/**
 * Data a view reads from the API: loaded on mount, again every `everyMs` while the page is visible (0: never), and
 * on `reload()`. `error` is the server's message (or `failedKey`'s text, or the network error's); the last data
 * stays shown meanwhile.
 */
export function useLoaded<T>(
  fetcher: () => Promise<Answer<T>>,
  { everyMs = 0, failedKey }: { everyMs?: number; failedKey: string },
): { data: T | null; error: string | null; reload: () => Promise<void> } {
  const { t } = useTranslation();
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const latest = useRef(fetcher);
  latest.current = fetcher;

  const reload = useCallback(async () => {
    try {
      const answer = await latest.current();
      if (answer.data !== undefined) {
        setData(answer.data);
        setError(null);
      } else setError(errorMessage(answer.error, t(failedKey)));
    } catch {
      setError(t("common.networkError"));
    }
  }, [t, failedKey]);

  useEffect(() => {
    void reload();
    if (!everyMs) return;
    const timer = setInterval(() => {
      if (document.visibilityState !== "hidden") void reload();
    }, everyMs);
    return () => clearInterval(timer);
  }, [reload, everyMs]);

  return { data, error, reload };
}
