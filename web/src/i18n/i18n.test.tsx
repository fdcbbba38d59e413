import { describe, expect, it } from "vitest";
import { fireEvent, render, screen } from "@testing-library/react";
import { I18nextProvider, useTranslation } from "react-i18next";
import i18n, { AREAS, STORAGE_KEY, detectLang, setLang } from "./index";
import { LangSwitch } from "../components/LangSwitch";
import en from "./en.json";
import zh from "./zh.json";

function keys(obj: object, prefix = ""): string[] {
  return Object.entries(obj).flatMap(([k, v]) => (v && typeof v === "object" ? keys(v, `${prefix}${k}.`) : [`${prefix}${k}`]));
}

function Probe() {
  const { t } = useTranslation();
  return <h1>{t("nav.chat")}</h1>;
}

describe("i18n", () => {
  it("has the same keys in English and Chinese", () => {
    expect(keys(zh).sort()).toEqual(keys(en).sort());
  });

  it("has the same keys in English and Chinese in every area, none shadowing another's", () => {
    const seen = new Set(Object.keys(en));
    for (const [file, area] of Object.entries(AREAS)) {
      expect(keys(area.zh).sort(), file).toEqual(keys(area.en).sort());
      for (const top of Object.keys(area.en)) {
        expect(seen.has(top), `${file}: ${top}`).toBe(false);
        seen.add(top);
      }
    }
  });

  it("switching the language changes visible text and is remembered", async () => {
    setLang("en");
    render(
      <I18nextProvider i18n={i18n}>
        <LangSwitch />
        <Probe />
      </I18nextProvider>,
    );
    expect(screen.getByRole("heading")).toHaveTextContent("Chat");
    fireEvent.change(screen.getByTestId("lang-switch"), { target: { value: "zh" } });
    expect(await screen.findByRole("heading")).toHaveTextContent("对话");
    expect(localStorage.getItem(STORAGE_KEY)).toBe("zh");
    expect(screen.getByTestId("lang-switch")).toHaveValue("zh");
    expect(document.documentElement.lang).toBe("zh-CN");
    expect(detectLang()).toBe("zh");
    fireEvent.change(screen.getByTestId("lang-switch"), { target: { value: "en" } });
    expect(await screen.findByRole("heading")).toHaveTextContent("Chat");
    expect(localStorage.getItem(STORAGE_KEY)).toBe("en");
  });

  it("defaults from navigator.language", () => {
    localStorage.removeItem(STORAGE_KEY);
    const original = navigator.language;
    Object.defineProperty(navigator, "language", { value: "zh-TW", configurable: true });
    expect(detectLang()).toBe("zh");
    Object.defineProperty(navigator, "language", { value: "en-GB", configurable: true });
    expect(detectLang()).toBe("en");
    Object.defineProperty(navigator, "language", { value: original, configurable: true });
  });
});
