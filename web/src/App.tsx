import type { ReactNode } from "react";
import { Navigate, Route, Routes, useLocation } from "react-router";
import { useTranslation } from "react-i18next";
import type { Role } from "./api/client";
import { homeFor, useAuth } from "./auth";
import { Layout } from "./components/Layout";
import { AdminView } from "./views/admin/AdminView";
import { AnalyticsView } from "./views/AnalyticsView";
import { ApprovalsView } from "./views/ApprovalsView";
import { BoardView } from "./views/BoardView";
import { ChatView } from "./views/ChatView";
import { ConversationsView } from "./views/ConversationsView";
import { FeedbackView } from "./views/FeedbackView";
import { LoginView } from "./views/LoginView";
import { ReplayView } from "./views/ReplayView";
import { TaskDetailView } from "./views/TaskDetailView";

function RequireAuth({ roles, children }: { roles?: Role[]; children: ReactNode }) {
  const { user, loading } = useAuth();
  const location = useLocation();
  const { t } = useTranslation();
  if (loading) return <p className="loading" role="status">{t("common.loading")}</p>;
  if (!user) return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  if (roles && !roles.includes(user.role)) return <Navigate to={homeFor(user.role)} replace />;
  return <>{children}</>;
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
