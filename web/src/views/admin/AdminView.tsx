import { NavLink, Navigate, Route, Routes } from "react-router";
import { useTranslation } from "react-i18next";
import { AssistantsPage } from "./AssistantsPage";
import { ChannelsPage } from "./ChannelsPage";
import { McpPage } from "./McpPage";
import { OpenApiPage } from "./OpenApiPage";
import { RoutingPage } from "./RoutingPage";
import { TeamsPage } from "./TeamsPage";
import { ToolsPage } from "./ToolsPage";
import { UsersPage } from "./UsersPage";

/** The admin area's pages, in the order of its side navigation. */
const ADMIN_PAGES = [
  { path: "tools", element: <ToolsPage /> },
  { path: "mcp", element: <McpPage /> },
  { path: "openapi", element: <OpenApiPage /> },
  { path: "assistants", element: <AssistantsPage /> },
  { path: "teams", element: <TeamsPage /> },
  { path: "routing", element: <RoutingPage /> },
  { path: "channels", element: <ChannelsPage /> },
  { path: "users", element: <UsersPage /> },
] as const;

/** Admin: a side navigation over the configuration pages (tools, MCP servers, OpenAPI imports, assistants, teams,
 * routing rules, notification channels, users and API keys). */
export function AdminView() {
  const { t } = useTranslation();
  return (
    <div className="page page-wide admin">
      <nav className="admin-nav" aria-label={t("nav.admin")}>
        <ul>
          {ADMIN_PAGES.map((p) => (
            <li key={p.path}>
              <NavLink to={`/admin/${p.path}`} data-testid={`admin-nav-${p.path}`} className={({ isActive }) => (isActive ? "active" : undefined)}>
                {t(`adminNav.${p.path}`)}
              </NavLink>
            </li>
          ))}
        </ul>
      </nav>
      <section className="admin-body">
        <Routes>
          {ADMIN_PAGES.map((p) => (
            <Route key={p.path} path={p.path} element={p.element} />
          ))}
          <Route path="*" element={<Navigate to="/admin/tools" replace />} />
        </Routes>
      </section>
    </div>
  );
}
