import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { setLang } from "../../i18n";
import { json, mockFetch, renderWith, type Call } from "../../test/helpers";
import { TeamsPage } from "./TeamsPage";
import { RoutingPage } from "./RoutingPage";
import { ChannelsPage } from "./ChannelsPage";
import { UsersPage } from "./UsersPage";

const T0 = "2026-01-05T09:00:00Z";
const ANN = "11111111-1111-4111-8111-111111111111";
const BOB = "22222222-2222-4222-8222-222222222222";
const CID = "33333333-3333-4333-8333-333333333333";
const SUPPORT = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const BILLING = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";

const user = (id: string, display_name: string, role: "admin" | "staff" | "customer", extra: object = {}) => ({
  id,
  user_id: id,
  email: `${display_name.toLowerCase()}@example.com`,
  username: null,
  display_name,
  role,
  is_active: true,
  created_at: T0,
  updated_at: T0,
  last_login_at: null,
  ...extra,
});
const ann = user(ANN, "Ann", "admin");
const bob = user(BOB, "Bob", "staff");
const cid = user(CID, "Cid", "staff");
const page = <T,>(items: T[], offset = 0, total = items.length) => ({ items, total, limit: 50, offset });

const team = (id: string, name: string, extra: object = {}) => ({
  id,
  name,
  description: "",
  region: null,
  lead_id: null,
  members: [],
  created_at: T0,
  updated_at: T0,
  ...extra,
});
const support = team(SUPPORT, "Support", {
  description: "First line",
  region: "domestic",
  lead_id: ANN,
  members: [{ user_id: BOB, skills: ["billing"], timezone: "Asia/Shanghai", on_call: [{ days: [0, 1], start: "09:00", end: "18:00" }], active: true, on_duty: true }],
});
const billing = team(BILLING, "Billing");

const body = (call: Call | undefined) => JSON.parse(call!.body);
const find = (calls: Call[], method: string, path: string) => calls.find((c) => c.method === method && c.path === path);
/** The alert shown inside `el` (found by its role attribute: *ByRole queries are slow in jsdom). */
const alertIn = (el: HTMLElement) => waitFor(() => {
  const alert = el.querySelector<HTMLElement>("[role=alert]");
  expect(alert).not.toBeNull();
  return alert!;
});

/** GET /api/v1/users by role, as loadStaff asks for it. */
function staffPage(path: string): Response {
  const role = new URL(path, "http://x").searchParams.get("role");
  return json(200, page(role === "admin" ? [ann] : role === "staff" ? [bob, cid] : [ann, bob, cid]));
}

beforeEach(() => setLang("en"));
afterEach(() => vi.unstubAllGlobals());

describe("TeamsPage", () => {
  it("lists the teams with lead and members, and creates a team with the typed body", async () => {
    const calls = mockFetch(({ method, path }) => {
      if (method === "GET" && path === "/api/v1/teams") return json(200, [support]);
      if (method === "GET" && path.startsWith("/api/v1/users?")) return staffPage(path);
      if (method === "POST" && path === "/api/v1/teams") return json(201, billing);
      return json(500, {});
    });
    renderWith(<TeamsPage />);
    const row = await screen.findByTestId("team-row");
    expect(row).toHaveTextContent("Support");
    expect(row).toHaveTextContent("Domestic");
    expect(row).toHaveTextContent("First line");
    await waitFor(() => expect(row).toHaveTextContent("Ann (ann@example.com)"));
    const member = within(row).getByTestId("team-member");
    expect(member).toHaveTextContent("Bob (bob@example.com)");
    expect(member).toHaveTextContent("billing");
    expect(member).toHaveTextContent("On duty");
    expect(calls.some((c) => c.path === "/api/v1/users?role=staff&limit=200&offset=0")).toBe(true);

    fireEvent.change(screen.getByTestId("team-new-name"), { target: { value: "  Billing " } });
    fireEvent.change(screen.getByTestId("team-new-region"), { target: { value: "international" } });
    fireEvent.change(screen.getByTestId("team-new-lead"), { target: { value: CID } });
    fireEvent.click(screen.getByTestId("team-create"));
    expect(await screen.findByText(/Team “Billing” created/)).toHaveRole("status");
    expect(body(find(calls, "POST", "/api/v1/teams"))).toEqual({ name: "Billing", description: "", region: "international", lead_id: CID });
    await waitFor(() => expect(calls.filter((c) => c.path === "/api/v1/teams" && c.method === "GET")).toHaveLength(2));
  });

  it("edits a team with a PATCH of only the changed fields, and shows the server's refusal", async () => {
    const calls = mockFetch(({ method, path }) => {
      if (method === "GET" && path === "/api/v1/teams") return json(200, [support]);
      if (method === "GET" && path.startsWith("/api/v1/users?")) return staffPage(path);
      if (method === "PATCH") return json(409, { error: { code: "team_name_taken", message: "A team with this name already exists", detail: null } });
      return json(500, {});
    });
    renderWith(<TeamsPage />);
    fireEvent.click(await screen.findByTestId("team-edit"));
    fireEvent.change(screen.getByTestId("team-edit-name"), { target: { value: "Billing" } });
    fireEvent.change(screen.getByTestId("team-edit-lead"), { target: { value: "" } });
    fireEvent.click(screen.getByTestId("team-save"));
    expect(await screen.findByText("A team with this name already exists")).toHaveRole("alert");
    const patch = find(calls, "PATCH", `/api/v1/teams/${SUPPORT}`);
    expect(body(patch)).toEqual({ name: "Billing", lead_id: null });
  });

  it("replaces the members with PUT, keeping the existing ones' windows, and shows an error at the member", async () => {
    const calls = mockFetch(({ method, path }) => {
      if (method === "GET" && path === "/api/v1/teams") return json(200, [support]);
      if (method === "GET" && path.startsWith("/api/v1/users?")) return staffPage(path);
      if (method === "PUT")
        return json(422, {
          error: { code: "not_staff", message: `User ${CID} is deactivated: team members and leads must be active staff or admins`, detail: { user_id: CID, field: "members[1].user_id", reason: "deactivated" } },
        });
      return json(500, {});
    });
    renderWith(<TeamsPage />);
    fireEvent.click(await screen.findByTestId("team-members"));
    await waitFor(() => expect(screen.getByTestId("member-add-select")).toHaveTextContent("Cid (cid@example.com)"));
    fireEvent.change(screen.getByTestId("member-add-select"), { target: { value: CID } });
    fireEvent.click(screen.getByTestId("member-add"));
    const drafts = screen.getAllByTestId("member-draft");
    expect(drafts).toHaveLength(2);
    fireEvent.change(within(drafts[1]).getByLabelText("Skills"), { target: { value: "iOS, refunds" } });
    fireEvent.change(within(drafts[1]).getByLabelText("Time zone"), { target: { value: "Europe/Berlin" } });
    fireEvent.click(screen.getByTestId("members-save"));

    expect(await alertIn(drafts[1])).toHaveTextContent(`User ${CID} is deactivated`);
    expect(drafts[0].querySelector("[role=alert]")).toBeNull();
    expect(screen.getAllByText(/is deactivated: team members/)).toHaveLength(2); // at the member, and for the whole save
    expect(body(find(calls, "PUT", `/api/v1/teams/${SUPPORT}/members`))).toEqual([
      { user_id: BOB, skills: ["billing"], timezone: "Asia/Shanghai", on_call: [{ days: [0, 1], start: "09:00", end: "18:00" }], active: true },
      { user_id: CID, skills: ["iOS", "refunds"], timezone: "Europe/Berlin", on_call: [], active: true },
    ]);
  });

  it("deletes a team only after confirmation, and shows why the server refused", async () => {
    const calls = mockFetch(({ method, path }) => {
      if (method === "GET" && path === "/api/v1/teams") return json(200, [support]);
      if (method === "GET" && path.startsWith("/api/v1/users?")) return staffPage(path);
      if (method === "DELETE") return json(409, { error: { code: "team_in_use", message: "The team has open tasks: reassign or close them first", detail: { open_tasks: 2 } } });
      return json(500, {});
    });
    renderWith(<TeamsPage />);
    fireEvent.click(await screen.findByTestId("team-delete"));
    expect(calls.some((c) => c.method === "DELETE")).toBe(false);
    fireEvent.click(screen.getByTestId("team-delete-confirm"));
    expect(await screen.findByText("The team has open tasks: reassign or close them first")).toHaveRole("alert");
    expect(find(calls, "DELETE", `/api/v1/teams/${SUPPORT}`)).toBeDefined();
  });
});

describe("RoutingPage", () => {
  const rule = (id: number, position: number, extra: object) => ({
    id, position, issue_type: null, category: null, module: null, region: null, skill: null, team_id: SUPPORT, created_at: T0, ...extra,
  });
  const rules = [rule(1, 0, { issue_type: "bug", module: "checkout" }), rule(2, 1, { region: "international", team_id: BILLING, skill: "billing" })];

  it("renders the rules in order, reorders and adds one, and saves the whole list with PUT", async () => {
    const calls = mockFetch(({ method, path, body: sent }) => {
      if (method === "GET" && path === "/api/v1/routing-rules") return json(200, rules);
      if (method === "GET" && path === "/api/v1/teams") return json(200, [support, billing]);
      if (method === "PUT") return json(200, (JSON.parse(sent) as object[]).map((r, i) => ({ ...r, id: 10 + i, position: i, created_at: T0 })));
      return json(500, {});
    });
    renderWith(<RoutingPage />);
    let items = await screen.findAllByTestId("routing-rule");
    expect(items).toHaveLength(2);
    expect(within(items[0]).getByLabelText("Type")).toHaveValue("bug");
    expect(within(items[0]).getByLabelText("Affected module")).toHaveValue("checkout");
    await waitFor(() => expect(within(items[1]).getByLabelText("Route to team")).toHaveDisplayValue("Billing"));
    expect(screen.getByTestId("routing-save")).toBeDisabled();

    fireEvent.click(screen.getByLabelText("Move rule 2 up"));
    items = screen.getAllByTestId("routing-rule");
    expect(within(items[0]).getByLabelText("Required skill")).toHaveValue("billing");
    expect(screen.getByLabelText("Move rule 1 down")).toHaveFocus(); // "up" is disabled at the top

    fireEvent.click(screen.getByTestId("routing-add"));
    items = screen.getAllByTestId("routing-rule");
    expect(within(items[2]).getByLabelText("Type")).toHaveFocus();
    fireEvent.change(within(items[2]).getByLabelText("Category"), { target: { value: " payments " } });
    fireEvent.change(within(items[2]).getByLabelText("Route to team"), { target: { value: BILLING } });
    fireEvent.click(screen.getByTestId("routing-save"));

    expect(await screen.findByText("Saved 3 rules.")).toHaveRole("status");
    expect(body(find(calls, "PUT", "/api/v1/routing-rules"))).toEqual([
      { issue_type: null, category: null, module: null, region: "international", skill: "billing", team_id: BILLING },
      { issue_type: "bug", category: null, module: "checkout", region: null, skill: null, team_id: SUPPORT },
      { issue_type: null, category: "payments", module: null, region: null, skill: null, team_id: BILLING },
    ]);
    expect(screen.getByTestId("routing-save")).toBeDisabled();
  });

  it("shows the server's validation errors at the rule they name", async () => {
    const calls = mockFetch(({ method, path }) => {
      if (method === "GET" && path === "/api/v1/routing-rules") return json(200, rules);
      if (method === "GET" && path === "/api/v1/teams") return json(200, [support, billing]);
      if (method === "PUT")
        return json(422, {
          error: { code: "validation_error", message: "Request is not valid: see detail", detail: [{ loc: ["body", 1, "skill"], msg: "String should have at most 64 characters", type: "string_too_long" }] },
        });
      return json(500, {});
    });
    renderWith(<RoutingPage />);
    const items = await screen.findAllByTestId("routing-rule");
    fireEvent.change(within(items[1]).getByLabelText("Required skill"), { target: { value: "x".repeat(64) } });
    fireEvent.click(screen.getByTestId("routing-save"));
    expect(await alertIn(items[1])).toHaveTextContent("skill: String should have at most 64 characters");
    expect(items[0].querySelector("[role=alert]")).toBeNull();
    expect(screen.getByText("Request is not valid: see detail")).toHaveRole("alert");
    expect(calls.filter((c) => c.method === "PUT")).toHaveLength(1);
  });

  it("refuses to save a rule without a team, and names an unknown team at its rule", async () => {
    const calls = mockFetch(({ method, path }) => {
      if (method === "GET" && path === "/api/v1/routing-rules") return json(200, []);
      if (method === "GET" && path === "/api/v1/teams") return json(200, [support]);
      if (method === "PUT")
        return json(422, { error: { code: "unknown_team", message: `Routing rule 0 names team ${SUPPORT}, which does not exist`, detail: { position: 0, team_id: SUPPORT } } });
      return json(500, {});
    });
    renderWith(<RoutingPage />);
    fireEvent.click(await screen.findByTestId("routing-add"));
    fireEvent.click(screen.getByTestId("routing-save"));
    const item = screen.getByTestId("routing-rule");
    expect(item.querySelector("[role=alert]")).toHaveTextContent("Choose the team this rule routes to.");
    expect(calls.some((c) => c.method === "PUT")).toBe(false);

    await waitFor(() => expect(within(item).getByLabelText("Route to team")).toHaveTextContent("Support"));
    fireEvent.change(within(item).getByLabelText("Route to team"), { target: { value: SUPPORT } });
    fireEvent.click(screen.getByTestId("routing-save"));
    await waitFor(() => expect(item.querySelector("[role=alert]")).toHaveTextContent("which does not exist"));
  });
});

describe("ChannelsPage", () => {
  const CH1 = "c1c1c1c1-c1c1-4c1c-8c1c-c1c1c1c1c1c1";
  const CH2 = "c2c2c2c2-c2c2-4c2c-8c2c-c2c2c2c2c2c2";
  const channels = [
    { id: CH1, name: "Ops mail", kind: "email", region: null, team_id: null, events: [], enabled: true, config: { recipients: ["ops@example.com"] }, created_at: T0, updated_at: T0 },
    {
      id: CH2, name: "CRM hook", kind: "webhook", region: "domestic", team_id: SUPPORT, events: ["stage:*", "sla_warning"], enabled: true,
      config: { url: "https://crm.example.com/hook?token=********", secret: "********" }, created_at: T0, updated_at: T0,
    },
  ];
  const delivery = (id: number, status: string, extra: object = {}) => ({
    id, task_id: null, event_id: null, event: "sla_warning", channel_id: CH2, kind: "webhook", recipient: "CRM hook", user_id: null, language: "en",
    subject: "s", body: "b", status, attempts: 3, last_error: null, next_attempt_at: T0, created_at: T0, sent_at: null, ...extra,
  });

  function handler(put?: (sent: string) => Response) {
    return ({ method, path, body: sent }: Call) => {
      if (method === "GET" && path === "/api/v1/notification-channels") return json(200, channels);
      if (method === "GET" && path === "/api/v1/teams") return json(200, [support]);
      if (method === "GET" && path.startsWith("/api/v1/notifications/deliveries")) {
        const offset = Number(new URL(path, "http://x").searchParams.get("offset"));
        return json(200, { items: [delivery(offset + 1, "failed", { last_error: "HTTP 502 from crm.example.com" })], total: 120, limit: 50, offset });
      }
      if (method === "PUT" && put) return put(sent);
      return json(500, {});
    };
  }

  it("never echoes a stored secret, keeps it with the mask, and sends a new one as typed", async () => {
    const calls = mockFetch(handler((sent) => json(200, (JSON.parse(sent) as object[]).map((c, i) => ({ ...channels[i], ...c })))));
    renderWith(<ChannelsPage />);
    const items = await screen.findAllByTestId("channel");
    const secret = within(items[1]).getByLabelText("Signing secret (X-Loopdesk-Signature)");
    expect(secret).toHaveAttribute("type", "password");
    expect(secret).toHaveValue("");
    expect(secret).toHaveAttribute("placeholder", "Stored — leave empty to keep it");
    expect(screen.queryByDisplayValue("********")).toBeNull();
    expect(within(items[1]).getByLabelText("Endpoint URL")).toHaveValue("https://crm.example.com/hook?token=********");
    expect(within(items[0]).getByLabelText("Recipients")).toHaveValue("ops@example.com");

    fireEvent.change(within(items[0]).getByLabelText("Recipients"), { target: { value: "ops@example.com\nlead@example.com" } });
    fireEvent.click(within(items[1]).getByLabelText("Enabled"));
    fireEvent.click(screen.getByTestId("channels-save"));
    expect(await screen.findByText("Saved 2 channels.")).toHaveRole("status");
    expect(body(find(calls, "PUT", "/api/v1/notification-channels"))).toEqual([
      { id: CH1, name: "Ops mail", region: null, team_id: null, events: [], enabled: true, kind: "email", config: { recipients: ["ops@example.com", "lead@example.com"] } },
      {
        id: CH2, name: "CRM hook", region: "domestic", team_id: SUPPORT, events: ["stage:*", "sla_warning"], enabled: false, kind: "webhook",
        config: { url: "https://crm.example.com/hook?token=********", secret: "********" },
      },
    ]);

    const again = screen.getAllByTestId("channel");
    fireEvent.change(within(again[1]).getByLabelText("Signing secret (X-Loopdesk-Signature)"), { target: { value: "s3cret-new" } });
    fireEvent.click(screen.getByTestId("channels-save"));
    await waitFor(() => expect(calls.filter((c) => c.method === "PUT")).toHaveLength(2));
    expect(body(calls.filter((c) => c.method === "PUT")[1])[1].config).toEqual({ url: "https://crm.example.com/hook?token=********", secret: "s3cret-new" });
  });

  it("adds a channel and shows the server's error at the channel it names", async () => {
    const calls = mockFetch(
      handler(() => json(422, { error: { code: "unsafe_url", message: "Channel 2: 10.0.0.5 resolves to a private or reserved address", detail: { field: "[2].config.url" } } })),
    );
    renderWith(<ChannelsPage />);
    await screen.findAllByTestId("channel");
    fireEvent.change(screen.getByTestId("channel-kind"), { target: { value: "slack" } });
    fireEvent.click(screen.getByTestId("channel-add"));
    const added = screen.getAllByTestId("channel")[2];
    expect(within(added).getByLabelText("Name")).toHaveFocus();
    fireEvent.change(within(added).getByLabelText("Name"), { target: { value: "Team chat" } });
    fireEvent.change(within(added).getByLabelText("Incoming webhook URL"), { target: { value: "http://10.0.0.5/hook" } });
    fireEvent.change(within(added).getByLabelText("Events"), { target: { value: "assigned, progress" } });
    fireEvent.click(screen.getByTestId("channels-save"));
    expect(await alertIn(added)).toHaveTextContent("Channel 2: 10.0.0.5 resolves to a private or reserved address");
    expect(body(find(calls, "PUT", "/api/v1/notification-channels"))[2]).toEqual({
      name: "Team chat", region: null, team_id: null, events: ["assigned", "progress"], enabled: true, kind: "slack", config: { url: "http://10.0.0.5/hook" },
    });
  });

  it("lists the deliveries with their outcome, filtered and paged by the endpoint", async () => {
    const calls = mockFetch(handler());
    renderWith(<ChannelsPage />);
    const row = await screen.findByTestId("delivery-row");
    expect(row).toHaveTextContent("sla_warning");
    expect(row).toHaveTextContent("Failed");
    expect(row).toHaveTextContent("HTTP 502 from crm.example.com");
    expect(screen.getByText("1–1 of 120")).toBeInTheDocument();
    expect(calls.some((c) => c.path === "/api/v1/notifications/deliveries?limit=50&offset=0")).toBe(true);

    fireEvent.change(screen.getByTestId("deliveries-status"), { target: { value: "failed" } });
    fireEvent.change(screen.getByTestId("deliveries-kind"), { target: { value: "webhook" } });
    fireEvent.change(screen.getByTestId("deliveries-event"), { target: { value: " sla_warning " } });
    fireEvent.click(screen.getByTestId("deliveries-apply"));
    await waitFor(() => expect(calls.some((c) => c.path === "/api/v1/notifications/deliveries?limit=50&offset=0&status=failed&kind=webhook&event=sla_warning")).toBe(true));
    fireEvent.click(screen.getByTestId("deliveries-next"));
    await waitFor(() => expect(screen.getByText("51–51 of 120")).toBeInTheDocument());
    expect(calls.some((c) => c.path === "/api/v1/notifications/deliveries?limit=50&offset=50&status=failed&kind=webhook&event=sla_warning")).toBe(true);
  });

  it("shows the server's message when the channels cannot be read", async () => {
    mockFetch(({ path }) => {
      if (path === "/api/v1/notification-channels") return json(403, { error: { code: "forbidden", message: "Admins only", detail: null } });
      if (path === "/api/v1/teams") return json(200, []);
      return json(200, { items: [], total: 0, limit: 50, offset: 0 });
    });
    renderWith(<ChannelsPage />);
    expect(await screen.findByText("Admins only")).toHaveRole("alert");
    expect(await screen.findByTestId("deliveries-empty")).toBeInTheDocument();
  });
});

describe("UsersPage", () => {
  const KEY = "dddddddd-dddd-4ddd-8ddd-dddddddddddd";
  const apiKey = { id: KEY, name: "CI", prefix: "ld_ab12", created_at: T0, last_used_at: null, expires_at: null, revoked_at: null };

  function handler(extra?: (call: Call) => Response | undefined) {
    return (call: Call) => {
      const hit = extra?.(call);
      if (hit) return hit;
      const { method, path } = call;
      if (method === "GET" && path.startsWith("/api/v1/users?")) return json(200, page([ann, bob], 0, 2));
      if (method === "GET" && path === "/api/v1/api-keys") return json(200, [apiKey]);
      return json(500, {});
    };
  }

  it("lists the users, changes a role with PATCH, and shows the server's refusal", async () => {
    const calls = mockFetch(
      handler(({ method, path, body: sent }) => {
        if (method === "PATCH" && path === `/api/v1/users/${BOB}`) return json(200, { ...bob, ...JSON.parse(sent), updated_at: "2026-01-06T00:00:00Z" });
        if (method === "PATCH" && path === `/api/v1/users/${ANN}`) return json(409, { error: { code: "conflict", message: "The last active admin cannot be demoted or deactivated", detail: null } });
        return undefined;
      }),
    );
    renderWith(<UsersPage />);
    const rows = await screen.findAllByTestId("user-row");
    expect(rows).toHaveLength(2);
    expect(rows[1]).toHaveTextContent("bob@example.com");
    expect(within(rows[1]).getByLabelText("Role of Bob")).toHaveValue("staff");
    expect(calls[0].path).toBe("/api/v1/users?limit=50&offset=0");

    fireEvent.change(within(rows[1]).getByLabelText("Role of Bob"), { target: { value: "admin" } });
    await waitFor(() => expect(within(rows[1]).getByLabelText("Role of Bob")).toHaveValue("admin"));
    expect(body(find(calls, "PATCH", `/api/v1/users/${BOB}`))).toEqual({ role: "admin" });

    fireEvent.click(within(rows[0]).getByLabelText("Deactivate Ann"));
    expect(await alertIn(rows[0])).toHaveTextContent("The last active admin cannot be demoted or deactivated");
    expect(body(find(calls, "PATCH", `/api/v1/users/${ANN}`))).toEqual({ is_active: false });
    expect(rows[0]).toHaveTextContent("Active");
  });

  it("searches by text and role", async () => {
    const calls = mockFetch(handler());
    renderWith(<UsersPage />);
    await screen.findAllByTestId("user-row");
    fireEvent.change(screen.getByTestId("users-q"), { target: { value: " bob " } });
    fireEvent.change(screen.getByTestId("users-role"), { target: { value: "staff" } });
    fireEvent.click(screen.getByTestId("users-search"));
    await waitFor(() => expect(calls.some((c) => c.path === "/api/v1/users?limit=50&offset=0&role=staff&q=bob")).toBe(true));
  });

  it("creates an account with its role in one call (POST /api/v1/users/accounts)", async () => {
    const dee = user("44444444-4444-4444-8444-444444444444", "Dee", "staff");
    const calls = mockFetch(
      handler(({ method, path }) => (method === "POST" && path === "/api/v1/users/accounts" ? json(201, dee) : undefined)),
    );
    renderWith(<UsersPage />);
    await screen.findAllByTestId("user-row");
    const listed = calls.filter((c) => c.path.startsWith("/api/v1/users?")).length;
    fireEvent.change(screen.getByTestId("user-new-email"), { target: { value: " dee@example.com " } });
    fireEvent.change(screen.getByTestId("user-new-password"), { target: { value: "correct horse" } });
    fireEvent.change(screen.getByTestId("user-new-name"), { target: { value: "Dee" } });
    fireEvent.click(screen.getByTestId("user-create"));
    expect(await screen.findByText("Created dee@example.com as Staff.")).toBeInTheDocument();
    expect(calls.filter((c) => c.method !== "GET").map((c) => [c.method, c.path])).toEqual([["POST", "/api/v1/users/accounts"]]);
    expect(body(find(calls, "POST", "/api/v1/users/accounts"))).toEqual({
      email: "dee@example.com", password: "correct horse", role: "staff", display_name: "Dee",
    });
    expect(screen.getByTestId("user-new-password")).toHaveValue("");
    await waitFor(() => expect(calls.filter((c) => c.path.startsWith("/api/v1/users?")).length).toBe(listed + 1)); // the list again
  });

  it("sends the role chosen in the form and names the role the server gave", async () => {
    const calls = mockFetch(
      handler(({ method, body: sent }) =>
        method === "POST" ? json(201, { ...user("55555555-5555-4555-8555-555555555555", "Eve", "admin"), email: JSON.parse(sent).email }) : undefined,
      ),
    );
    renderWith(<UsersPage />);
    await screen.findAllByTestId("user-row");
    fireEvent.change(screen.getByTestId("user-new-email"), { target: { value: "eve@example.com" } });
    fireEvent.change(screen.getByTestId("user-new-password"), { target: { value: "correct horse" } });
    fireEvent.change(screen.getByTestId("user-new-username"), { target: { value: "eve" } });
    fireEvent.change(screen.getByTestId("user-new-role"), { target: { value: "admin" } });
    fireEvent.click(screen.getByTestId("user-create"));
    expect(await screen.findByText("Created eve@example.com as Admin.")).toBeInTheDocument();
    expect(body(find(calls, "POST", "/api/v1/users/accounts"))).toEqual({
      email: "eve@example.com", password: "correct horse", role: "admin", username: "eve",
    });
  });

  it("shows the server's message when an account cannot be created", async () => {
    const calls = mockFetch(
      handler(({ method }) => (method === "POST" ? json(409, { error: { code: "email_taken", message: "An account with this email already exists", detail: null } }) : undefined)),
    );
    renderWith(<UsersPage />);
    await screen.findAllByTestId("user-row");
    fireEvent.change(screen.getByTestId("user-new-email"), { target: { value: "bob@example.com" } });
    fireEvent.change(screen.getByTestId("user-new-password"), { target: { value: "12345678" } });
    fireEvent.change(screen.getByTestId("user-new-role"), { target: { value: "customer" } });
    fireEvent.click(screen.getByTestId("user-create"));
    expect(await screen.findByText("An account with this email already exists")).toHaveRole("alert");
    expect(calls.filter((c) => c.method !== "GET").map((c) => [c.method, c.path])).toEqual([["POST", "/api/v1/users/accounts"]]);
    expect(body(find(calls, "POST", "/api/v1/users/accounts"))).toMatchObject({ role: "customer" });
    expect(screen.getByTestId("user-new-email")).toHaveValue("bob@example.com"); // kept, to correct
  });

  it("shows a new API key's secret once, with a copy button, and never again after closing", async () => {
    const writeText = vi.fn(async () => {});
    vi.stubGlobal("navigator", { ...navigator, clipboard: { writeText } });
    const secret = "ld_ef34.9f8e7d6c5b4a";
    const calls = mockFetch(
      handler(({ method, path }) => {
        if (method === "POST" && path === "/api/v1/api-keys") return json(201, { ...apiKey, id: "eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee", name: "Deploy", prefix: "ld_ef34", key: secret });
        return undefined;
      }),
    );
    renderWith(<UsersPage />);
    expect(await screen.findByTestId("apikey-row")).toHaveTextContent("CI");
    fireEvent.change(screen.getByTestId("apikey-name"), { target: { value: "Deploy" } });
    fireEvent.change(screen.getByTestId("apikey-days"), { target: { value: "30" } });
    fireEvent.click(screen.getByTestId("apikey-create"));
    expect(await screen.findByTestId("apikey-secret")).toHaveValue(secret);
    expect(screen.getByTestId("apikey-secret-box")).toHaveTextContent("shown only once");
    expect(body(find(calls, "POST", "/api/v1/api-keys"))).toEqual({ name: "Deploy", expires_in_days: 30 });

    fireEvent.click(screen.getByTestId("apikey-copy"));
    expect(await screen.findByText("Copied to the clipboard.")).toBeInTheDocument();
    expect(writeText).toHaveBeenCalledWith(secret);

    fireEvent.click(screen.getByTestId("apikey-secret-close"));
    expect(screen.queryByTestId("apikey-secret")).toBeNull();
    expect(screen.queryByDisplayValue(secret)).toBeNull();
    expect(document.body.textContent).not.toContain(secret);
  });

  it("revokes a key only after confirmation, and shows the server's error", async () => {
    const calls = mockFetch(
      handler(({ method }) => (method === "DELETE" ? json(404, { error: { code: "not_found", message: "API key not found", detail: null } }) : undefined)),
    );
    renderWith(<UsersPage />);
    const row = await screen.findByTestId("apikey-row");
    fireEvent.click(within(row).getByTestId("apikey-revoke"));
    expect(calls.some((c) => c.method === "DELETE")).toBe(false);
    fireEvent.click(within(row).getByTestId("apikey-revoke-confirm"));
    expect(await alertIn(row)).toHaveTextContent("API key not found");
    expect(find(calls, "DELETE", `/api/v1/api-keys/${KEY}`)).toBeDefined();
  });
});
