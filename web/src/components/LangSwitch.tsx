import { useTranslation } from "react-i18next";
import { LANGS, setLang, type Lang } from "../i18n";

export function LangSwitch() {
  const { t, i18n } = useTranslation();
  return (
    <label className="lang-switch">
      <span className="visually-hidden">{t("header.language")}</span>
      <select
        data-testid="lang-switch"
        value={i18n.language === "zh" ? "zh" : "en"}
        onChange={(e) => setLang(e.target.value as Lang)}
      >
        {LANGS.map((lang) => (
          <option key={lang} value={lang}>
            {t(`lang.${lang}`)}
          </option>
        ))}
      </select>
    </label>
  );
}
