import i18n from "i18next";
import { initReactI18next } from "react-i18next";
import en from "./en.json";
import zh from "./zh.json";

type Messages = Record<string, unknown>;
/**
 * Each console area keeps its strings in `areas/<area>.json` as `{"en": {...}, "zh": {...}}`, merged over the
 * shared `en.json` / `zh.json` (an area's top-level keys are its own namespace, e.g. `admin.*`).
 */
export const AREAS = import.meta.glob<{ en: Messages; zh: Messages }>("./areas/*.json", { eager: true, import: "default" });

function merged(base: Messages, lang: "en" | "zh"): Messages {
  return Object.values(AREAS).reduce<Messages>((all, area) => ({ ...all, ...area[lang] }), { ...base });
}

export type Lang = "en" | "zh";
export const LANGS: Lang[] = ["en", "zh"];
export const STORAGE_KEY = "loopdesk.lang";

export function detectLang(): Lang {
  try {
    const stored = localStorage.getItem(STORAGE_KEY);
    if (stored === "en" || stored === "zh") return stored;
  } catch {
    /* storage may be unavailable */
  }
  const nav = typeof navigator !== "undefined" ? navigator.language || "" : "";
  return nav.toLowerCase().startsWith("zh") ? "zh" : "en";
}

/** BCP 47 tag for Intl and <html lang>. */
export function locale(lang: string = i18n.language): string {
  return lang === "zh" ? "zh-CN" : "en";
}

export function setLang(lang: Lang): void {
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    /* ignore */
  }
  void i18n.changeLanguage(lang);
}

i18n.on("languageChanged", (lng) => {
  if (typeof document !== "undefined") document.documentElement.lang = locale(lng);
});

void i18n.use(initReactI18next).init({
  resources: { en: { translation: merged(en, "en") }, zh: { translation: merged(zh, "zh") } },
  lng: detectLang(),
  fallbackLng: "en",
  interpolation: { escapeValue: false },
  returnNull: false,
});

export default i18n;
