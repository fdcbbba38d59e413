import { Suspense, lazy, type ReactNode } from "react";
import { Navigate, Route, Routes, useLocation } from "react-router";
import { useTranslation } from "react-i18next";
import type { Role } from "./api/client";
import { homeFor, useAuth } from "./auth";
import { Layout } from "./components/Layout";
import { ApprovalsView } from "./views/ApprovalsView";
import { ChatView } from "./views/ChatView";
import { FeedbackView } from "./views/FeedbackView";
import { LoginView } from "./views/LoginView";

// Staff and admin views load on first use: the customer's first page (login, chat, feedback) stays small.
const AdminView = lazy(() => import("./views/admin/AdminView").then((m) => ({ default: m.AdminView })));
const AnalyticsView = lazy(() => import("./views/AnalyticsView").then((m) => ({ default: m.AnalyticsView })));
const BoardView = lazy(() => import("./views/BoardView").then((m) => ({ default: m.BoardView })));
const ConversationsView = lazy(() => import("./views/ConversationsView").then((m) => ({ default: m.ConversationsView })));
const ReplayView = lazy(() => import("./views/ReplayView").then((m) => ({ default: m.ReplayView })));
const TaskDetailView = lazy(() => import("./views/TaskDetailView").then((m) => ({ default: m.TaskDetailView })));

function Loading() {
  const { t } = useTranslation();
  return <p className="loading" role="status">{t("common.loading")}</p>;
}

function RequireAuth({ roles, children }: { roles?: Role[]; children: ReactNode }) {
  const { user, loading } = useAuth();
  const location = useLocation();
  const { t } = useTranslation();
  if (loading) return <p className="loading" role="status">{t("common.loading")}</p>;
  if (!user) return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  if (roles && !roles.includes(user.role)) return <Navigate to={homeFor(user.role)} replace />;
  return <Suspense fallback={<Loading />}>{children}</Suspense>;
}

function Home() {
  const { user, loading } = useAuth();
  if (loading) return null;
  return <Navigate to={user ? homeFor(user.role) : "/login"} replace />;
}

export function App() {
  return (
    <Routes>
      <Route path="/login" element={<LoginView />} />
      <Route element={<RequireAuth><Layout /></RequireAuth>}>
        <Route path="/chat" element={<ChatView />} />
        <Route path="/approvals" element={<RequireAuth roles={["staff", "admin"]}><ApprovalsView /></RequireAuth>} />
        <Route path="/board" element={<RequireAuth roles={["staff", "admin"]}><BoardView /></RequireAuth>} />
        <Route path="/board/:task" element={<RequireAuth roles={["staff", "admin"]}><TaskDetailView /></RequireAuth>} />
        <Route path="/conversations" element={<RequireAuth roles={["staff", "admin"]}><ConversationsView /></RequireAuth>} />
        <Route path="/conversations/:threadId" element={<RequireAuth roles={["staff", "admin"]}><ReplayView /></RequireAuth>} />
        <Route path="/analytics" element={<RequireAuth roles={["staff", "admin"]}><AnalyticsView /></RequireAuth>} />
        <Route path="/admin/*" element={<RequireAuth roles={["admin"]}><AdminView /></RequireAuth>} />
        <Route path="/feedback" element={<RequireAuth roles={["customer"]}><FeedbackView /></RequireAuth>} />
      </Route>
      <Route path="*" element={<Home />} />
    </Routes>
  );
}
