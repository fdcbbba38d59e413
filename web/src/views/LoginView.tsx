import { useState, type FormEvent } from "react";
import { Navigate, useLocation, useNavigate } from "react-router";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";
import { errorMessage } from "../api/errors";
import { homeFor, useAuth } from "../auth";
import { LangSwitch } from "../components/LangSwitch";

export function LoginView() {
  const { t } = useTranslation();
  const { user, refresh } = useAuth();
  const navigate = useNavigate();
  const location = useLocation();
  const [login, setLogin] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const from = (location.state as { from?: string } | null)?.from;
  if (user) return <Navigate to={from && from !== "/login" ? from : homeFor(user.role)} replace />;

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    setBusy(true);
    try {
      const name = login.trim();
      const body = name.includes("@") ? { email: name, password } : { username: name, password };
      const { error: failure, response } = await api.POST("/api/v1/auth/login", { body });
      if (!response.ok) {
        setError(errorMessage(failure, t("login.failed")));
        return;
      }
      const me = await refresh();
      if (!me) {
        setError(t("login.failed"));
        return;
      }
      navigate(from && from !== "/login" ? from : homeFor(me.role), { replace: true });
    } catch {
      setError(t("common.networkError"));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="login-page">
      <div className="login-lang"><LangSwitch /></div>
      <form className="card login-card" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title" className="brand-title">loopdesk</h1>
        <p className="muted">{t("login.subtitle")}</p>
        <label className="field">
          <span>{t("login.identifier")}</span>
          <input
            data-testid="login-email"
            name="username"
            autoComplete="username"
            required
            value={login}
            onChange={(e) => setLogin(e.target.value)}
          />
        </label>
        <label className="field">
          <span>{t("login.password")}</span>
          <input
            data-testid="login-password"
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        {error && <p className="alert alert-error" role="alert">{error}</p>}
        <button className="btn btn-primary" data-testid="login-submit" type="submit" disabled={busy}>
          {busy ? t("login.signingIn") : t("login.submit")}
        </button>
      </form>
    </div>
  );
}
