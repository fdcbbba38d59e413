import { useMemo, useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { api, type Schemas, type User } from "../../api/client";
import { useLoaded } from "../../api/useLoaded";
import { locale } from "../../i18n";
import { REGIONS, errorsByIndex, splitList, useAction, type Region } from "./shared";
import "./people.css";

type Team = Schemas["TeamRead"];
type TeamCreate = Schemas["TeamCreate"];
type TeamUpdate = Schemas["TeamUpdate"];
type TeamMember = Schemas["TeamMemberRead"];
type TeamMemberWrite = Schemas["TeamMemberWrite"];
type OnCallWindow = Schemas["OnCallWindow"];

// -- helpers ----------------------------------------------------------------------------------------------------

/** Every active staff and admin account (GET /api/v1/users by role, all pages): who may lead or join a team. */
async function loadStaff(): Promise<{ data?: User[]; error?: unknown }> {
  const all: User[] = [];
  for (const role of ["admin", "staff"] as const) {
    for (let offset = 0; ; ) {
      const { data, error } = await api.GET("/api/v1/users", { params: { query: { role, limit: 200, offset } } });
      if (!data) return { error };
      all.push(...data.items);
      offset += data.items.length;
      if (data.items.length === 0 || offset >= data.total) break;
    }
  }
  return { data: all };
}

function userLabel(user: User | undefined, id: string): string {
  return user ? `${user.display_name} (${user.email})` : id.slice(0, 8);
}

// -- the page ---------------------------------------------------------------------------------------------------

/** Admin: teams (GET/POST/PATCH/DELETE /api/v1/teams) and their members (PUT /api/v1/teams/{id}/members). */
export function TeamsPage() {
  const { t } = useTranslation();
  const teams = useLoaded(() => api.GET("/api/v1/teams"), { failedKey: "adminPeople.teams.loadFailed" });
  const staff = useLoaded(loadStaff, { failedKey: "adminPeople.teams.staffFailed" });
  const people = useMemo(() => new Map((staff.data ?? []).map((u) => [u.id, u])), [staff.data]);
  const reload = teams.reload;

  return (
    <div className="people">
      <div className="page-head">
        <h1>{t("adminPeople.teams.title")}</h1>
        <span className="muted small" aria-live="polite">{teams.data ? t("adminPeople.teams.count", { count: teams.data.length }) : ""}</span>
      </div>
      <p className="muted small">{t("adminPeople.teams.intro")}</p>
      {teams.error && <p className="alert alert-error" role="alert">{teams.error}</p>}
      {staff.error && <p className="alert alert-error" role="alert">{staff.error}</p>}
      <CreateTeam staff={staff.data ?? []} onCreated={() => void reload()} />
      {teams.data === null && !teams.error && <p className="muted" role="status">{t("common.loading")}</p>}
      {teams.data && teams.data.length === 0 && <p className="empty muted">{t("adminPeople.teams.none")}</p>}
      <ul className="people-list">
        {teams.data?.map((team) => (
          <TeamRow key={`${team.id}:${team.updated_at}`} team={team} people={people} staff={staff.data ?? []} onChanged={() => void reload()} />
        ))}
      </ul>
    </div>
  );
}

type TeamFieldsValue = { name: string; description: string; region: "" | Region; lead: string };

function fieldsOf(team: Team | null): TeamFieldsValue {
  return team
    ? { name: team.name, description: team.description, region: team.region ?? "", lead: team.lead_id ?? "" }
    : { name: "", description: "", region: "", lead: "" };
}

function TeamFields({ value, onChange, staff, idBase }: { value: TeamFieldsValue; onChange: (v: TeamFieldsValue) => void; staff: User[]; idBase: string }) {
  const { t } = useTranslation();
  const candidates = staff.filter((u) => u.is_active || u.id === value.lead);
  const leadKnown = !value.lead || candidates.some((u) => u.id === value.lead);
  return (
    <div className="people-grid">
      <label className="field">
        <span>{t("adminPeople.teams.name")}</span>
        <input data-testid={`${idBase}-name`} required maxLength={100} value={value.name} onChange={(e) => onChange({ ...value, name: e.target.value })} />
      </label>
      <label className="field">
        <span>{t("adminPeople.region")}</span>
        <select data-testid={`${idBase}-region`} value={value.region} onChange={(e) => onChange({ ...value, region: e.target.value as "" | Region })}>
          <option value="">{t("adminPeople.anyRegion")}</option>
          {REGIONS.map((r) => (
            <option key={r} value={r}>{t(`region.${r}`)}</option>
          ))}
        </select>
      </label>
      <label className="field">
        <span>{t("adminPeople.teams.lead")}</span>
        <select data-testid={`${idBase}-lead`} value={value.lead} onChange={(e) => onChange({ ...value, lead: e.target.value })}>
          <option value="">{t("adminPeople.teams.noLead")}</option>
          {!leadKnown && <option value={value.lead}>{value.lead.slice(0, 8)}</option>}
          {candidates.map((u) => (
            <option key={u.id} value={u.id}>{userLabel(u, u.id)}</option>
          ))}
        </select>
      </label>
      <label className="field people-span">
        <span>{t("adminPeople.teams.description")}</span>
        <textarea data-testid={`${idBase}-description`} rows={2} maxLength={2000} value={value.description} onChange={(e) => onChange({ ...value, description: e.target.value })} />
      </label>
    </div>
  );
}

function CreateTeam({ staff, onCreated }: { staff: User[]; onCreated: () => void }) {
  const { t } = useTranslation();
  const [value, setValue] = useState<TeamFieldsValue>(() => fieldsOf(null));
  const [notice, setNotice] = useState<string | null>(null);
  const action = useAction();

  async function submit(event: FormEvent) {
    event.preventDefault();
    setNotice(null);
    const body: TeamCreate = {
      name: value.name.trim(),
      description: value.description.trim(),
      region: value.region || null,
      lead_id: value.lead || null,
    };
    const outcome = await action.run(() => api.POST("/api/v1/teams", { body }), "adminPeople.teams.saveFailed");
    if (!outcome.ok) return;
    setNotice(t("adminPeople.teams.created", { name: body.name }));
    setValue(fieldsOf(null));
    onCreated();
  }

  return (
    <form className="card" onSubmit={submit} aria-labelledby="team-new-title">
      <h2 id="team-new-title">{t("adminPeople.teams.new")}</h2>
      <TeamFields value={value} onChange={setValue} staff={staff} idBase="team-new" />
      {action.error && <p className="alert alert-error" role="alert">{action.error}</p>}
      {notice && <p className="alert alert-ok" role="status">{notice}</p>}
      <div className="actions">
        <button type="submit" className="btn btn-primary" data-testid="team-create" disabled={action.busy || !value.name.trim()}>
          {t("adminPeople.teams.create")}
        </button>
      </div>
    </form>
  );
}

type Mode = "idle" | "edit" | "members" | "delete";

function TeamRow({ team, people, staff, onChanged }: { team: Team; people: Map<string, User>; staff: User[]; onChanged: () => void }) {
  const { t } = useTranslation();
  const [mode, setMode] = useState<Mode>("idle");
  const [value, setValue] = useState<TeamFieldsValue>(() => fieldsOf(team));
  const action = useAction();

  async function save(event: FormEvent) {
    event.preventDefault();
    const body: TeamUpdate = {};
    if (value.name.trim() !== team.name) body.name = value.name.trim();
    if (value.description.trim() !== team.description) body.description = value.description.trim();
    if ((value.region || null) !== team.region) body.region = value.region || null;
    if ((value.lead || null) !== team.lead_id) body.lead_id = value.lead || null;
    if (Object.keys(body).length === 0) {
      setMode("idle");
      return;
    }
    const outcome = await action.run(
      () => api.PATCH("/api/v1/teams/{team_id}", { params: { path: { team_id: team.id } }, body }),
      "adminPeople.teams.saveFailed",
    );
    if (outcome.ok) onChanged();
  }

  async function remove() {
    const outcome = await action.run(
      () => api.DELETE("/api/v1/teams/{team_id}", { params: { path: { team_id: team.id } } }),
      "adminPeople.teams.deleteFailed",
    );
    if (outcome.ok) onChanged();
  }

  function open(next: Mode) {
    action.setError(null);
    if (next === "edit") setValue(fieldsOf(team));
    setMode(next);
  }

  const titleId = `team-${team.id}-title`;
  return (
    <li className="card people-item" data-testid="team-row" data-team-id={team.id} aria-labelledby={titleId}>
      <div className="people-item-head">
        <h2 id={titleId}>{team.name}</h2>
        <span className="pill">{team.region ? t(`region.${team.region}`) : t("adminPeople.anyRegion")}</span>
        <span className="muted small">{t("adminPeople.teams.memberCount", { count: team.members.length })}</span>
      </div>
      {team.description && <p className="people-description">{team.description}</p>}
      <dl className="meta">
        <div>
          <dt>{t("adminPeople.teams.lead")}</dt>
          <dd>{team.lead_id ? userLabel(people.get(team.lead_id), team.lead_id) : t("adminPeople.teams.noLead")}</dd>
        </div>
      </dl>
      {mode !== "members" && team.members.length > 0 && (
        <ul className="people-members">
          {team.members.map((m) => (
            <MemberSummary key={m.user_id} member={m} user={people.get(m.user_id)} />
          ))}
        </ul>
      )}

      {mode === "edit" && (
        <form onSubmit={save} aria-label={t("adminPeople.teams.editOf", { name: team.name })}>
          <TeamFields value={value} onChange={setValue} staff={staff} idBase="team-edit" />
          {action.error && <p className="alert alert-error" role="alert">{action.error}</p>}
          <div className="actions">
            <button type="submit" className="btn btn-primary" data-testid="team-save" disabled={action.busy || !value.name.trim()}>
              {t("adminPeople.save")}
            </button>
            <button type="button" className="btn btn-ghost" onClick={() => setMode("idle")}>{t("common.cancel")}</button>
          </div>
        </form>
      )}
      {mode === "members" && (
        <MembersEditor
          team={team}
          people={people}
          staff={staff}
          onSaved={() => {
            setMode("idle");
            onChanged();
          }}
          onCancel={() => setMode("idle")}
        />
      )}
      {mode === "delete" && (
        <div className="people-confirm" role="group" aria-label={t("adminPeople.teams.deleteTitle")}>
          <p>{t("adminPeople.teams.deleteConfirm", { name: team.name })}</p>
          {action.error && <p className="alert alert-error" role="alert">{action.error}</p>}
          <div className="actions">
            <button type="button" className="btn btn-danger" data-testid="team-delete-confirm" disabled={action.busy} onClick={() => void remove()}>
              {t("adminPeople.teams.deleteYes")}
            </button>
            <button type="button" className="btn btn-ghost" onClick={() => setMode("idle")}>{t("common.cancel")}</button>
          </div>
        </div>
      )}
      {mode === "idle" && (
        <div className="actions">
          <button type="button" className="btn btn-small" data-testid="team-edit" onClick={() => open("edit")}>
            {t("adminPeople.edit")}
          </button>
          <button type="button" className="btn btn-small" data-testid="team-members" onClick={() => open("members")}>
            {t("adminPeople.teams.editMembers")}
          </button>
          <button type="button" className="btn btn-small btn-danger" data-testid="team-delete" onClick={() => open("delete")}>
            {t("adminPeople.delete")}
          </button>
        </div>
      )}
    </li>
  );
}

function MemberSummary({ member, user }: { member: TeamMember; user: User | undefined }) {
  const { t } = useTranslation();
  return (
    <li className="people-member" data-testid="team-member">
      <span>{userLabel(user, member.user_id)}</span>
      {member.skills.map((s) => (
        <span key={s} className="pill">{s}</span>
      ))}
      <span className="muted small">{member.timezone}</span>
      {!member.active ? (
        <span className="pill people-off">{t("adminPeople.teams.inactive")}</span>
      ) : (
        <span className={`pill ${member.on_duty ? "people-on" : "people-off"}`}>
          {member.on_duty ? t("adminPeople.teams.onDuty") : t("adminPeople.teams.offDuty")}
        </span>
      )}
    </li>
  );
}

// -- members editor -------------------------------------------------------------------------------------------

type MemberDraft = { user_id: string; skills: string; timezone: string; active: boolean; on_call: OnCallWindow[] };
const DAYS = [0, 1, 2, 3, 4, 5, 6];

function timeZones(): string[] {
  try {
    return ["UTC", ...Intl.supportedValuesOf("timeZone").filter((z) => z !== "UTC")];
  } catch {
    return ["UTC"];
  }
}

/** Monday = 0 … Sunday = 6, short names in the current language. */
function useWeekdays(): string[] {
  const { i18n } = useTranslation();
  return useMemo(() => {
    const format = new Intl.DateTimeFormat(locale(i18n.language), { weekday: "short", timeZone: "UTC" });
    return DAYS.map((d) => format.format(new Date(Date.UTC(2024, 0, 1 + d)))); // 2024-01-01 was a Monday
  }, [i18n.language]);
}

function MembersEditor({
  team,
  people,
  staff,
  onSaved,
  onCancel,
}: {
  team: Team;
  people: Map<string, User>;
  staff: User[];
  onSaved: () => void;
  onCancel: () => void;
}) {
  const { t } = useTranslation();
  const [drafts, setDrafts] = useState<MemberDraft[]>(() =>
    team.members.map((m) => ({ user_id: m.user_id, skills: m.skills.join(", "), timezone: m.timezone, active: m.active, on_call: m.on_call })),
  );
  const [adding, setAdding] = useState("");
  const [rowErrors, setRowErrors] = useState<Map<number, string>>(new Map());
  const action = useAction();
  // Hundreds of names: listed only once a time zone field is used.
  const [zonesWanted, setZonesWanted] = useState(false);
  const zones = useMemo(() => (zonesWanted ? timeZones() : []), [zonesWanted]);
  const listed = new Set(drafts.map((d) => d.user_id));
  const addable = staff.filter((u) => u.is_active && !listed.has(u.id));
  const listId = `tz-${team.id}`;

  const update = (index: number, patch: Partial<MemberDraft>) => setDrafts((all) => all.map((d, i) => (i === index ? { ...d, ...patch } : d)));

  function add() {
    if (!adding) return;
    setDrafts((all) => [...all, { user_id: adding, skills: "", timezone: "UTC", active: true, on_call: [] }]);
    setAdding("");
  }

  async function save() {
    setRowErrors(new Map());
    const body: TeamMemberWrite[] = drafts.map((d) => ({
      user_id: d.user_id,
      skills: splitList(d.skills),
      timezone: d.timezone.trim() || "UTC",
      on_call: d.on_call,
      active: d.active,
    }));
    const outcome = await action.run(
      () => api.PUT("/api/v1/teams/{team_id}/members", { params: { path: { team_id: team.id } }, body }),
      "adminPeople.teams.membersFailed",
    );
    if (outcome.ok) onSaved();
    else setRowErrors(errorsByIndex(outcome.info));
  }

  return (
    <section className="people-editor" aria-label={t("adminPeople.teams.membersOf", { name: team.name })}>
      <h3>{t("adminPeople.teams.membersOf", { name: team.name })}</h3>
      {zonesWanted && (
        <datalist id={listId}>
          {zones.map((z) => (
            <option key={z} value={z} />
          ))}
        </datalist>
      )}
      {drafts.length === 0 && <p className="muted small">{t("adminPeople.teams.noMembers")}</p>}
      <ol className="people-list">
        {drafts.map((d, index) => {
          const name = userLabel(people.get(d.user_id), d.user_id);
          const idBase = `member-${team.id}-${index}`;
          return (
            <li key={d.user_id} className="people-subcard" data-testid="member-draft">
              <fieldset>
                <legend>{name}</legend>
                <div className="people-grid">
                  <label className="field">
                    <span>{t("adminPeople.teams.skills")}</span>
                    <input id={`${idBase}-skills`} value={d.skills} placeholder={t("adminPeople.teams.skillsHint")} onChange={(e) => update(index, { skills: e.target.value })} />
                  </label>
                  <label className="field">
                    <span>{t("adminPeople.teams.timezone")}</span>
                    <input list={listId} value={d.timezone} maxLength={64} onFocus={() => setZonesWanted(true)} onChange={(e) => update(index, { timezone: e.target.value })} />
                  </label>
                  <label className="people-check">
                    <input type="checkbox" checked={d.active} onChange={(e) => update(index, { active: e.target.checked })} />
                    <span>{t("adminPeople.teams.activeMember")}</span>
                  </label>
                </div>
                <OnCallEditor windows={d.on_call} onChange={(on_call) => update(index, { on_call })} />
                {rowErrors.get(index) && <p className="alert alert-error" role="alert">{rowErrors.get(index)}</p>}
                <div className="actions">
                  <button type="button" className="btn btn-small btn-ghost" onClick={() => setDrafts((all) => all.filter((_, i) => i !== index))}>
                    {t("adminPeople.teams.removeMember", { name })}
                  </button>
                </div>
              </fieldset>
            </li>
          );
        })}
      </ol>
      <div className="people-inline">
        <label className="field">
          <span>{t("adminPeople.teams.addMember")}</span>
          <select data-testid="member-add-select" value={adding} onChange={(e) => setAdding(e.target.value)}>
            <option value="">{t("adminPeople.teams.pickUser")}</option>
            {addable.map((u) => (
              <option key={u.id} value={u.id}>{userLabel(u, u.id)}</option>
            ))}
          </select>
        </label>
        <button type="button" className="btn" data-testid="member-add" disabled={!adding} onClick={add}>
          {t("adminPeople.add")}
        </button>
      </div>
      {action.error && <p className="alert alert-error" role="alert">{action.error}</p>}
      <div className="actions">
        <button type="button" className="btn btn-primary" data-testid="members-save" disabled={action.busy} onClick={() => void save()}>
          {t("adminPeople.teams.saveMembers")}
        </button>
        <button type="button" className="btn btn-ghost" onClick={onCancel}>{t("common.cancel")}</button>
      </div>
    </section>
  );
}

function OnCallEditor({ windows, onChange }: { windows: OnCallWindow[]; onChange: (w: OnCallWindow[]) => void }) {
  const { t } = useTranslation();
  const weekdays = useWeekdays();
  const update = (index: number, patch: Partial<OnCallWindow>) => onChange(windows.map((w, i) => (i === index ? { ...w, ...patch } : w)));
  return (
    <div className="people-oncall">
      <h4>{t("adminPeople.teams.onCall")}</h4>
      {windows.length === 0 && <p className="muted small">{t("adminPeople.teams.alwaysOn")}</p>}
      {windows.map((w, index) => (
        <fieldset key={index} className="people-window">
          <legend className="visually-hidden">{t("adminPeople.teams.windowN", { n: index + 1 })}</legend>
          <div className="people-days" role="group" aria-label={t("adminPeople.teams.days")}>
            {DAYS.map((d) => (
              <label key={d} className="people-check">
                <input
                  type="checkbox"
                  checked={w.days.includes(d)}
                  onChange={(e) => update(index, { days: e.target.checked ? [...w.days, d].sort((a, b) => a - b) : w.days.filter((x) => x !== d) })}
                />
                <span>{weekdays[d]}</span>
              </label>
            ))}
          </div>
          <label className="people-time">
            <span>{t("adminPeople.teams.from")}</span>
            <input type="time" required value={w.start} onChange={(e) => update(index, { start: e.target.value })} />
          </label>
          <label className="people-time">
            <span>{t("adminPeople.teams.to")}</span>
            <input type="time" required value={w.end} onChange={(e) => update(index, { end: e.target.value })} />
          </label>
          <button type="button" className="btn btn-small btn-ghost" onClick={() => onChange(windows.filter((_, i) => i !== index))}>
            {t("adminPeople.teams.removeWindow", { n: index + 1 })}
          </button>
        </fieldset>
      ))}
      <button type="button" className="btn btn-small" onClick={() => onChange([...windows, { days: [0, 1, 2, 3, 4], start: "09:00", end: "18:00" }])}>
        {t("adminPeople.teams.addWindow")}
      </button>
      <p className="muted small">{t("adminPeople.teams.overnight")}</p>
    </div>
  );
}
