import { useEffect, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { api, type Schemas } from "../../api/client";
import { useLoaded } from "../../api/useLoaded";
import { REGIONS, errorsByIndex, useAction, type Region } from "./shared";
import "./people.css";

type Rule = Schemas["RoutingRuleRead"];
type RuleWrite = Schemas["RoutingRuleWrite"];
type IssueType = NonNullable<Rule["issue_type"]>;
const ISSUE_TYPES: IssueType[] = ["bug", "suggestion", "question"];

type Draft = {
  key: number;
  issue_type: "" | IssueType;
  category: string;
  module: string;
  region: "" | Region;
  skill: string;
  team_id: string;
};

let nextKey = 1;

function toDraft(rule: Rule): Draft {
  return {
    key: nextKey++,
    issue_type: rule.issue_type ?? "",
    category: rule.category ?? "",
    module: rule.module ?? "",
    region: rule.region ?? "",
    skill: rule.skill ?? "",
    team_id: rule.team_id,
  };
}

function toWrite(d: Draft): RuleWrite {
  return {
    issue_type: d.issue_type || null,
    category: d.category.trim() || null,
    module: d.module.trim() || null,
    region: d.region || null,
    skill: d.skill.trim() || null,
    team_id: d.team_id,
  };
}

function fromRead(rule: Rule): RuleWrite {
  return { issue_type: rule.issue_type, category: rule.category, module: rule.module, region: rule.region, skill: rule.skill, team_id: rule.team_id };
}

/** Admin: the ordered routing rules (GET/PUT /api/v1/routing-rules), edited as a list and saved whole. */
export function RoutingPage() {
  const { t } = useTranslation();
  const rules = useLoaded(() => api.GET("/api/v1/routing-rules"), { failedKey: "adminPeople.routing.loadFailed" });
  const teams = useLoaded(() => api.GET("/api/v1/teams"), { failedKey: "adminPeople.teams.loadFailed" });
  const [saved, setSaved] = useState<Rule[] | null>(null);
  const [drafts, setDrafts] = useState<Draft[] | null>(null);
  const [ruleErrors, setRuleErrors] = useState<Map<number, string>>(new Map());
  const [notice, setNotice] = useState<string | null>(null);
  const [announce, setAnnounce] = useState("");
  const focusAfter = useRef<{ key: number; control: string } | null>(null);
  const action = useAction();

  // The list as the server has it: on load, on "discard", and as the save answered.
  useEffect(() => {
    if (rules.data) {
      setSaved(rules.data);
      setDrafts(rules.data.map(toDraft));
      setRuleErrors(new Map());
    }
  }, [rules.data]);

  useEffect(() => {
    const target = focusAfter.current;
    if (!target) return;
    focusAfter.current = null;
    const item = document.querySelector(`[data-rule-key="${target.key}"]`);
    const control = item?.querySelector<HTMLElement>(`[data-control="${target.control}"]:not(:disabled)`) ?? item?.querySelector<HTMLElement>("select, input");
    control?.focus();
  }, [drafts]);

  const dirty = drafts !== null && saved !== null && JSON.stringify(drafts.map(toWrite)) !== JSON.stringify(saved.map(fromRead));
  const teamList = teams.data ?? [];
  const teamName = new Map(teamList.map((x) => [x.id, x.name]));

  function change(index: number, patch: Partial<Draft>) {
    setNotice(null);
    setDrafts((all) => all && all.map((d, i) => (i === index ? { ...d, ...patch } : d)));
  }

  function move(index: number, by: -1 | 1) {
    if (!drafts) return;
    const to = index + by;
    if (to < 0 || to >= drafts.length) return;
    const next = [...drafts];
    [next[index], next[to]] = [next[to], next[index]];
    focusAfter.current = { key: drafts[index].key, control: to === 0 ? "down" : to === drafts.length - 1 ? "up" : by < 0 ? "up" : "down" };
    setDrafts(next);
    setRuleErrors(new Map());
    setNotice(null);
    setAnnounce(t("adminPeople.routing.moved", { n: to + 1 }));
  }

  function remove(index: number) {
    if (!drafts) return;
    const next = drafts.filter((_, i) => i !== index);
    const neighbour = next[Math.min(index, next.length - 1)];
    if (neighbour) focusAfter.current = { key: neighbour.key, control: "remove" };
    setDrafts(next);
    setRuleErrors(new Map());
    setNotice(null);
    setAnnounce(t("adminPeople.routing.removed", { n: index + 1 }));
  }

  function add() {
    const draft: Draft = { key: nextKey++, issue_type: "", category: "", module: "", region: "", skill: "", team_id: "" };
    focusAfter.current = { key: draft.key, control: "first" };
    setDrafts((all) => [...(all ?? []), draft]);
    setNotice(null);
    setAnnounce(t("adminPeople.routing.added", { n: (drafts?.length ?? 0) + 1 }));
  }

  async function save() {
    if (!drafts) return;
    setNotice(null);
    const missing = new Map<number, string>();
    drafts.forEach((d, i) => {
      if (!d.team_id) missing.set(i, t("adminPeople.routing.teamRequired"));
    });
    setRuleErrors(missing);
    if (missing.size) {
      action.setError(t("adminPeople.routing.fixRules"));
      return;
    }
    const body = drafts.map(toWrite);
    const outcome = await action.run(() => api.PUT("/api/v1/routing-rules", { body }), "adminPeople.routing.saveFailed");
    if (outcome.ok && outcome.data) {
      setSaved(outcome.data);
      setDrafts(outcome.data.map(toDraft));
      setNotice(t("adminPeople.routing.saved", { count: outcome.data.length }));
    } else if (!outcome.ok) setRuleErrors(errorsByIndex(outcome.info));
  }

  return (
    <div className="people">
      <div className="page-head">
        <h1>{t("adminPeople.routing.title")}</h1>
        {dirty && <span className="pill people-warn" data-testid="routing-dirty">{t("adminPeople.unsaved")}</span>}
      </div>
      <p className="muted small">{t("adminPeople.routing.intro")}</p>
      {rules.error && <p className="alert alert-error" role="alert">{rules.error}</p>}
      {teams.error && <p className="alert alert-error" role="alert">{teams.error}</p>}
      {drafts === null && !rules.error && <p className="muted" role="status">{t("common.loading")}</p>}
      {drafts && drafts.length === 0 && <p className="empty muted">{t("adminPeople.routing.none")}</p>}
      <p className="visually-hidden" aria-live="polite">{announce}</p>
      <ol className="people-list">
        {drafts?.map((d, index) => {
          const idBase = `rule-${d.key}`;
          const error = ruleErrors.get(index);
          return (
            <li key={d.key} className={`card routing-rule${error ? " people-invalid" : ""}`} data-testid="routing-rule" data-rule-key={d.key}>
              <fieldset>
                <legend>{t("adminPeople.routing.ruleN", { n: index + 1 })}</legend>
                <div className="people-grid">
                  <label className="field">
                    <span>{t("adminPeople.routing.issueType")}</span>
                    <select data-control="first" value={d.issue_type} onChange={(e) => change(index, { issue_type: e.target.value as Draft["issue_type"] })}>
                      <option value="">{t("adminPeople.any")}</option>
                      {ISSUE_TYPES.map((x) => (
                        <option key={x} value={x}>{t(`adminPeople.issueType.${x}`)}</option>
                      ))}
                    </select>
                  </label>
                  <label className="field">
                    <span>{t("adminPeople.region")}</span>
                    <select value={d.region} onChange={(e) => change(index, { region: e.target.value as Draft["region"] })}>
                      <option value="">{t("adminPeople.any")}</option>
                      {REGIONS.map((r) => (
                        <option key={r} value={r}>{t(`region.${r}`)}</option>
                      ))}
                    </select>
                  </label>
                  <label className="field">
                    <span>{t("adminPeople.routing.category")}</span>
                    <input value={d.category} maxLength={64} placeholder={t("adminPeople.any")} onChange={(e) => change(index, { category: e.target.value })} />
                  </label>
                  <label className="field">
                    <span>{t("adminPeople.routing.module")}</span>
                    <input value={d.module} maxLength={100} placeholder={t("adminPeople.any")} onChange={(e) => change(index, { module: e.target.value })} />
                  </label>
                  <label className="field">
                    <span>{t("adminPeople.routing.team")}</span>
                    <select
                      id={`${idBase}-team`}
                      required
                      aria-invalid={!d.team_id && ruleErrors.has(index) ? true : undefined}
                      value={d.team_id}
                      onChange={(e) => change(index, { team_id: e.target.value })}
                    >
                      <option value="">{t("adminPeople.routing.pickTeam")}</option>
                      {d.team_id && !teamName.has(d.team_id) && <option value={d.team_id}>{d.team_id.slice(0, 8)}</option>}
                      {teamList.map((x) => (
                        <option key={x.id} value={x.id}>{x.name}</option>
                      ))}
                    </select>
                  </label>
                  <label className="field">
                    <span>{t("adminPeople.routing.skill")}</span>
                    <input value={d.skill} maxLength={64} placeholder={t("adminPeople.routing.noSkill")} onChange={(e) => change(index, { skill: e.target.value })} />
                  </label>
                </div>
              </fieldset>
              {error && <p className="alert alert-error" role="alert" data-testid="routing-rule-error">{error}</p>}
              <div className="actions">
                <button
                  type="button"
                  className="btn btn-small"
                  data-control="up"
                  disabled={index === 0 || action.busy}
                  aria-label={t("adminPeople.routing.moveUpN", { n: index + 1 })}
                  onClick={() => move(index, -1)}
                >
                  ↑ {t("adminPeople.routing.moveUp")}
                </button>
                <button
                  type="button"
                  className="btn btn-small"
                  data-control="down"
                  disabled={index === drafts.length - 1 || action.busy}
                  aria-label={t("adminPeople.routing.moveDownN", { n: index + 1 })}
                  onClick={() => move(index, 1)}
                >
                  ↓ {t("adminPeople.routing.moveDown")}
                </button>
                <button
                  type="button"
                  className="btn btn-small btn-danger"
                  data-control="remove"
                  disabled={action.busy}
                  aria-label={t("adminPeople.routing.removeN", { n: index + 1 })}
                  onClick={() => remove(index)}
                >
                  {t("adminPeople.remove")}
                </button>
              </div>
            </li>
          );
        })}
      </ol>
      {drafts && (
        <>
          {action.error && <p className="alert alert-error" role="alert">{action.error}</p>}
          {notice && <p className="alert alert-ok" role="status">{notice}</p>}
          <div className="actions">
            <button type="button" className="btn" data-testid="routing-add" disabled={action.busy} onClick={add}>
              {t("adminPeople.routing.add")}
            </button>
            <button type="button" className="btn btn-primary" data-testid="routing-save" disabled={action.busy || !dirty} onClick={() => void save()}>
              {t("adminPeople.routing.save")}
            </button>
            <button type="button" className="btn btn-ghost" data-testid="routing-discard" disabled={action.busy || !dirty} onClick={() => void rules.reload()}>
              {t("adminPeople.discard")}
            </button>
          </div>
        </>
      )}
    </div>
  );
}
