import { useTranslation } from "react-i18next";
import { locale } from "./index";

/** Dates, numbers and durations through Intl, in the current language. */
export function useFormat() {
  const { i18n } = useTranslation();
  const loc = locale(i18n.language);
  return {
    dateTime: (value: string | number | Date | null | undefined): string =>
      value == null || value === "" ? "—" : new Intl.DateTimeFormat(loc, { dateStyle: "medium", timeStyle: "short" }).format(new Date(value)),
    number: (value: number): string => new Intl.NumberFormat(loc).format(value),
    relative: (value: string | number | Date, now: number = Date.now()): string => {
      const seconds = Math.round((new Date(value).getTime() - now) / 1000);
      const rtf = new Intl.RelativeTimeFormat(loc, { numeric: "auto" });
      const abs = Math.abs(seconds);
      if (abs < 60) return rtf.format(seconds, "second");
      if (abs < 3600) return rtf.format(Math.round(seconds / 60), "minute");
      if (abs < 86400) return rtf.format(Math.round(seconds / 3600), "hour");
      return rtf.format(Math.round(seconds / 86400), "day");
    },
  };
}

/** mm:ss (or h:mm:ss) left until a moment; null when it has passed. */
export function countdownText(expiresAt: string | number | Date, now: number = Date.now()): string | null {
  const left = Math.floor((new Date(expiresAt).getTime() - now) / 1000);
  if (!(left > 0)) return null;
  const h = Math.floor(left / 3600);
  const m = Math.floor((left % 3600) / 60);
  const s = left % 60;
  const pad = (n: number) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${pad(m)}:${pad(s)}`;
}
