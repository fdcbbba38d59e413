import { NavLink, Outlet, useNavigate } from "react-router";
import { useTranslation } from "react-i18next";
import { isStaff, useAuth } from "../auth";
import { LangSwitch } from "./LangSwitch";

export function Layout() {
  const { t } = useTranslation();
  const { user, logout } = useAuth();
  const navigate = useNavigate();
  const staff = isStaff(user?.role);
  const links = [
    { to: "/chat", id: "nav-chat", label: t("nav.chat"), show: true },
    { to: "/approvals", id: "nav-approvals", label: t("nav.approvals"), show: staff },
    { to: "/board", id: "nav-board", label: t("nav.board"), show: staff },
    { to: "/conversations", id: "nav-conversations", label: t("nav.conversations"), show: staff },
    { to: "/analytics", id: "nav-analytics", label: t("nav.analytics"), show: staff },
    { to: "/admin", id: "nav-admin", label: t("nav.admin"), show: user?.role === "admin" },
    { to: "/feedback", id: "nav-feedback", label: t("nav.feedback"), show: user?.role === "customer" },
  ].filter((l) => l.show);

  return (
    <div className="shell">
      <a className="skip-link" href="#main">{t("header.skip")}</a>
      <header className="topbar">
        <span className="brand">loopdesk</span>
        <nav aria-label={t("header.nav")} className="nav">
          {links.map((l) => (
            <NavLink key={l.to} to={l.to} data-testid={l.id} className={({ isActive }) => (isActive ? "active" : undefined)}>
              {l.label}
            </NavLink>
          ))}
        </nav>
        <div className="topbar-right">
          <LangSwitch />
          {user && (
            <>
              <span className="user" title={user.email}>
                {user.display_name || user.username || user.email}
                <span className="role-badge">{t(`role.${user.role}`)}</span>
              </span>
              <button
                type="button"
                className="btn btn-ghost"
                data-testid="logout"
                onClick={async () => {
                  await logout();
                  navigate("/login", { replace: true });
                }}
              >
                {t("header.logout")}
              </button>
            </>
          )}
        </div>
      </header>
      <main id="main" className="main">
        <Outlet />
      </main>
    </div>
  );
}
