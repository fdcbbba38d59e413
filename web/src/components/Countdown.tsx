import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { countdownText } from "../i18n/format";

/** A live "time left" until `expiresAt`, ticking every second. */
export function Countdown({ expiresAt }: { expiresAt: string | null | undefined }) {
  const { t } = useTranslation();
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  if (!expiresAt) return null;
  const text = countdownText(expiresAt, now);
  const left = new Date(expiresAt).getTime() - now;
  const tone = text === null ? "expired" : left < 5 * 60_000 ? "soon" : "ok";
  return (
    <span className={`countdown countdown-${tone}`} data-testid="countdown" role="timer" aria-live="off">
      {text === null ? t("approval.expired") : t("approval.timeLeft", { time: text })}
    </span>
  );
}
