import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import { useSearchParams } from "react-router";
import { useTranslation } from "react-i18next";
import { api, type Session } from "../api/client";
import { errorMessage } from "../api/errors";
import { isStaff, useAuth } from "../auth";
import { FileChips, MessageFiles } from "../chat/ChatFiles";
import { ACCEPT, useChatAttachments } from "../chat/attachments";
import { addOutgoing, applyFrame, fromHistory, markDecision, withApprovals, type ChatItem } from "../chat/conversation";
import { loadLocalThreads, rememberLocalThread, type LocalThread } from "../chat/localThreads";
import type { Decision, ServerFrame } from "../chat/protocol";
import { ChatSocket, clientId, type ConnectionStatus } from "../chat/socket";
import { Countdown } from "../components/Countdown";
import { compact, JsonView } from "../components/JsonView";
import { useFormat } from "../i18n/format";

const ASSISTANT = "support";
const DRAFT = "__new__";
const GENERIC_AGENTS = new Set(["assistant", "agent", "supervisor"]);

type Interrupt = Extract<ChatItem, { kind: "interrupt" }>;

export function ChatView() {
  const { t } = useTranslation();
  const fmt = useFormat();
  const { user } = useAuth();
  const staff = isStaff(user?.role);
  const [params, setParams] = useSearchParams();
  const threadId = params.get("thread");
  const key = threadId ?? DRAFT;

  const [items, setItems] = useState<Record<string, ChatItem[]>>({});
  const [sessions, setSessions] = useState<Session[]>([]);
  const [localThreads, setLocalThreads] = useState<LocalThread[]>(() => loadLocalThreads());
  const [status, setStatus] = useState<ConnectionStatus>("connecting");
  const [listError, setListError] = useState<string | null>(null);
  const [historyError, setHistoryError] = useState<string | null>(null);
  const [draft, setDraft] = useState("");
  const [sending, setSending] = useState(false);
  const [showList, setShowList] = useState(false);
  const attachments = useChatAttachments();
  const [attachError, setAttachError] = useState<string | null>(null);
  const socketRef = useRef<ChatSocket | null>(null);
  const pendingRefs = useRef(new Map<string, string>()); // client message id -> items key it was sent from
  const loaded = useRef(new Set<string>());
  const loads = useRef(new Map<string, number>()); // thread -> number of its latest history read
  const runsSeen = useRef(new Set<string>()); // runs whose start (ack / user_message) this page saw live
  const endRef = useRef<HTMLDivElement | null>(null);

  const update = useCallback((thread: string, fn: (list: ChatItem[]) => ChatItem[]) => {
    setItems((all) => ({ ...all, [thread]: fn(all[thread] ?? []) }));
  }, []);

  const loadSessions = useCallback(async () => {
    const { data, error } = await api.GET("/api/v1/sessions", { params: { query: { limit: 50 } } });
    if (data) {
      setSessions(data.items);
      setListError(null);
    } else setListError(errorMessage(error, t("chat.listFailed")));
  }, [t]);

  const onFrame = useCallback(
    (frame: ServerFrame) => {
      if (frame.type === "ack" && frame.of === "message" && frame.run_id) runsSeen.current.add(frame.run_id);
      // Subscribed: from here on every run event of the thread comes live, but a run may have ended between the
      // history read and this moment (e.g. one an approval resumed while the page was elsewhere): read it again.
      if (frame.type === "ack" && frame.of === "subscribe" && frame.thread_id && loaded.current.has(frame.thread_id)) {
        void loadHistoryRef.current(frame.thread_id, true);
        return;
      }
      if (frame.type === "ack" && frame.of === "message" && frame.ref) {
        const from = pendingRefs.current.get(frame.ref);
        pendingRefs.current.delete(frame.ref);
        const target = frame.thread_id;
        if (from === DRAFT && target) {
          // A thread the server started for us: its items move under its id, and it becomes the selection.
          loaded.current.add(target);
          setItems((all) => ({ ...all, [target]: applyFrame(all[DRAFT] ?? [], frame), [DRAFT]: [] }));
          setParams({ thread: target }, { replace: true });
          return;
        }
      }
      if (frame.type === "error" && !("thread_id" in frame && frame.thread_id)) {
        const from = frame.ref ? pendingRefs.current.get(frame.ref) : undefined;
        update(from ?? DRAFT, (list) => applyFrame(list, frame));
        return;
      }
      const thread = "thread_id" in frame ? frame.thread_id : null;
      if (!thread) return;
      if (frame.type === "user_message") runsSeen.current.add(frame.run_id);
      update(thread, (list) => applyFrame(list, frame));
      if (frame.type === "message_complete") {
        void loadSessions();
        if (!runsSeen.current.has(frame.run_id) && loaded.current.has(thread)) void loadHistoryRef.current(thread, true);
      }
    },
    [loadSessions, setParams, update],
  );

  // One socket for the page: reconnects, resumes and de-duplicates by itself (src/chat/socket.ts).
  useEffect(() => {
    const socket = new ChatSocket({ onFrame: (f) => onFrameRef.current(f), onStatus: setStatus });
    socketRef.current = socket;
    socket.connect();
    return () => {
      socket.close();
      socketRef.current = null;
    };
  }, []);
  const onFrameRef = useRef(onFrame);
  const sessionsRef = useRef(sessions);
  sessionsRef.current = sessions;
  onFrameRef.current = onFrame;

  useEffect(() => {
    void loadSessions();
  }, [loadSessions]);

  /**
   * The conversation from REST. First load: live frames that came in meanwhile stay after it. `refresh`
   * (a run ended whose start this page did not see live, e.g. one resumed while the page was elsewhere):
   * the history replaces what the page pieced together, keeping only live items of runs it does not hold yet.
   */
  const loadHistory = useCallback(
    async (thread: string, refresh: boolean) => {
      const ticket = (loads.current.get(thread) ?? 0) + 1;
      loads.current.set(thread, ticket);
      const { data, error, response } = await api.GET("/api/v1/sessions/{session_id}/messages", {
        params: { path: { session_id: thread }, query: { limit: 500 } },
      });
      if (loads.current.get(thread) !== ticket) return; // a later read of this thread supersedes this one
      if (!data) {
        if (response.status !== 404) setHistoryError(errorMessage(error, t("chat.historyFailed")));
        return;
      }
      const history = fromHistory(data.items);
      const historyRuns = new Set(history.flatMap((h) => ("runId" in h && h.runId ? [h.runId] : [])));
      const userRuns = new Set(history.flatMap((h) => (h.kind === "user" && h.runId ? [h.runId] : [])));
      update(thread, (live) => [
        ...history,
        ...live.filter((i) =>
          refresh
            ? "runId" in i && !!i.runId && !historyRuns.has(i.runId)
            : !(i.kind === "user" && i.runId && userRuns.has(i.runId)),
        ),
      ]);
      // A run waiting for a decision: its approval card comes from the approvals you may decide, else a notice.
      const session = sessionsRef.current.find((x) => x.thread_id === thread);
      const pending = await api.GET("/api/v1/approvals", { params: { query: { thread_id: thread, status: "pending" } } });
      const approvals = pending.data?.items ?? [];
      if (approvals.length) update(thread, (list) => withApprovals(list, approvals));
      else if (!refresh && session?.status === "interrupted") {
        update(thread, (list) => (list.some((i) => i.kind === "interrupt") ? list : [...list, { kind: "notice", key: `w-${thread}`, text: t("approval.waitingStaff"), tone: "warning" }]));
      }
    },
    [t, update],
  );
  const loadHistoryRef = useRef(loadHistory);
  loadHistoryRef.current = loadHistory;

  // Selecting a conversation: follow it on the socket, and load its history once.
  useEffect(() => {
    if (!threadId) return;
    socketRef.current?.follow(threadId);
    if (loaded.current.has(threadId)) return;
    loaded.current.add(threadId);
    setHistoryError(null);
    void loadHistory(threadId, false);
  }, [threadId, loadHistory]);

  // /chat alone goes back to the conversation this user had open in this tab (unless "new" was asked for).
  const lastKey = user ? `loopdesk.chat.thread.${user.id}` : null;
  const wantsNew = params.has("new");
  useEffect(() => {
    if (!lastKey) return;
    try {
      if (threadId) sessionStorage.setItem(lastKey, threadId);
      else if (!wantsNew) {
        const last = sessionStorage.getItem(lastKey);
        if (last) setParams({ thread: last }, { replace: true });
      }
    } catch {
      /* storage unavailable */
    }
  }, [lastKey, threadId, wantsNew, setParams]);

  const current = items[key] ?? [];
  useEffect(() => {
    endRef.current?.scrollIntoView?.({ block: "end" });
  }, [current]);

  /**
   * A new conversation is a session (so it is listed, its history can be read back and files can be attached), on
   * the support assistant. Untitled, the server names it after its first message.
   */
  async function startSession(title?: string): Promise<string | null> {
    const { data } = await api.POST("/api/v1/sessions", { body: { assistant_id: ASSISTANT, ...(title ? { title } : {}) } });
    if (!data) return null;
    loaded.current.add(data.thread_id);
    setSessions((list) => [data, ...list.filter((s) => s.session_id !== data.session_id)]);
    setParams({ thread: data.thread_id });
    return data.thread_id;
  }

  // Chosen files go to the conversation's session at once (one started first when there is none yet); the next
  // message sends the ids of those stored.
  async function attach(chosen: File[]) {
    if (!chosen.length) return;
    setAttachError(null);
    const target = threadId ?? (await startSession());
    if (!target) {
      setAttachError(t("chatFiles.noSession"));
      return;
    }
    await attachments.add(target, chosen);
  }

  const chosen = attachments.files.filter((f) => f.sessionId === threadId);
  const uploading = chosen.some((f) => f.status === "uploading");

  async function send(event?: FormEvent) {
    event?.preventDefault();
    const content = draft.trim();
    if (!content || sending || uploading) return;
    setSending(true);
    try {
      // When starting the session fails the socket starts a bare thread and this browser remembers it.
      const target = threadId ?? (await startSession(content.slice(0, 80)));
      const files = target ? attachments.take(target) : [];
      const ref = clientId("m");
      const itemsKey = target ?? DRAFT;
      pendingRefs.current.set(ref, itemsKey);
      update(itemsKey, (list) => addOutgoing(list, ref, content, files));
      socketRef.current?.send({
        type: "message", id: ref, content, assistant_id: ASSISTANT, ...(target ? { thread_id: target } : {}),
        ...(files.length ? { attachments: files.map((f) => f.id) } : {}),
      });
      setDraft("");
      setAttachError(null);
    } finally {
      setSending(false);
    }
  }

  // Bare threads (no session) the ack named: remember them for the list.
  useEffect(() => {
    if (!threadId || sessions.some((s) => s.thread_id === threadId) || localThreads.some((x) => x.thread_id === threadId)) return;
    const first = (items[threadId] ?? []).find((i) => i.kind === "user");
    if (first && first.kind === "user") {
      setLocalThreads(rememberLocalThread({ thread_id: threadId, title: first.content.slice(0, 60), at: new Date().toISOString() }));
    }
  }, [threadId, items, sessions, localThreads]);

  async function decide(card: Interrupt, decision: Decision) {
    update(card.threadId, (list) => markDecision(list, card.key, decision));
    if (card.approvalId) {
      // A card restored from REST has no interrupt id: decide it through the approvals API.
      const path = { approval_id: card.approvalId };
      const { error, response } =
        decision === "approve"
          ? await api.POST("/api/v1/approvals/{approval_id}/approve", { params: { path }, body: {} })
          : await api.POST("/api/v1/approvals/{approval_id}/reject", { params: { path }, body: {} });
      update(card.threadId, (list) =>
        response.ok
          ? list.map((i) => (i.key === card.key && i.kind === "interrupt" ? { ...i, state: "closed" as const } : i))
          : [...list.map((i) => (i.key === card.key && i.kind === "interrupt" ? { ...i, state: "pending" as const } : i)),
             { kind: "error" as const, key: `e-${card.key}-${Date.now()}`, code: "decision_failed", message: errorMessage(error, t("approvals.actionFailed")) }],
      );
      return;
    }
    socketRef.current?.send({
      type: "interrupt_response", id: card.key, thread_id: card.threadId, interrupt_id: card.interruptId, decision,
    });
  }

  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      void send();
    }
  }

  const conversations = useMemo(() => {
    const listed = sessions.map((s) => ({ id: s.thread_id, title: s.title || t("chat.untitled"), at: s.last_activity_at, status: s.status }));
    const local = localThreads
      .filter((x) => !sessions.some((s) => s.thread_id === x.thread_id))
      .map((x) => ({ id: x.thread_id, title: x.title || t("chat.untitled"), at: x.at, status: undefined as string | undefined }));
    return [...listed, ...local];
  }, [sessions, localThreads, t]);

  return (
    <div className="chat">
      <aside className={`chat-sidebar${showList ? " open" : ""}`} aria-label={t("chat.conversations")}>
        <div className="sidebar-head">
          <h2>{t("chat.conversations")}</h2>
          <button type="button" className="btn btn-small" data-testid="chat-new" onClick={() => { setParams({ new: "1" }); setShowList(false); }}>
            {t("chat.new")}
          </button>
        </div>
        {listError && <p className="alert alert-error" role="alert">{listError}</p>}
        {conversations.length === 0 && !listError && <p className="muted small">{t("chat.noConversations")}</p>}
        <ul className="session-list">
          {conversations.map((c) => (
            <li key={c.id}>
              <button
                type="button"
                data-testid="chat-session"
                className={`session${c.id === threadId ? " selected" : ""}`}
                aria-current={c.id === threadId ? "true" : undefined}
                onClick={() => { setParams({ thread: c.id }); setShowList(false); }}
              >
                <span className="session-title">{c.title}</span>
                <span className="session-meta">
                  {fmt.dateTime(c.at)}
                  {c.status && c.status !== "idle" && <span className={`pill pill-${c.status}`}>{t(`session.${c.status}`)}</span>}
                </span>
              </button>
            </li>
          ))}
        </ul>
      </aside>

      <section className="chat-main" aria-label={t("chat.title")}>
        <div className="chat-toolbar">
          <button type="button" className="btn btn-small list-toggle" aria-expanded={showList} onClick={() => setShowList((v) => !v)}>
            {t("chat.conversations")}
          </button>
          <span className={`conn conn-${status}`} role="status" data-testid="chat-status">{t(`conn.${status}`)}</span>
        </div>
        {historyError && <p className="alert alert-error" role="alert">{historyError}</p>}
        <div className="messages" aria-live="polite" aria-relevant="additions text">
          {current.length === 0 && <p className="empty muted">{t("chat.empty")}</p>}
          {current.map((item) => (
            <ChatLine key={item.key} item={item} sessionId={threadId} staff={staff} onDecide={decide} />
          ))}
          <div ref={endRef} />
        </div>
        <FileChips files={chosen} onRemove={attachments.remove} />
        {attachError && <p className="alert alert-error" role="alert">{attachError}</p>}
        <form className="composer" onSubmit={send}>
          <label className="btn btn-small chat-attach" title={t("chatFiles.attach")}>
            <span aria-hidden="true">📎</span>
            <input
              type="file"
              multiple
              accept={ACCEPT}
              className="visually-hidden"
              data-testid="chat-attach"
              aria-label={t("chatFiles.attach")}
              disabled={sending}
              onChange={(e) => {
                const picked = Array.from(e.target.files ?? []);
                e.target.value = ""; // the same file may be chosen again
                void attach(picked);
              }}
            />
          </label>
          <label className="visually-hidden" htmlFor="chat-input">{t("chat.inputLabel")}</label>
          <textarea
            id="chat-input"
            data-testid="chat-input"
            rows={2}
            placeholder={t("chat.placeholder")}
            value={draft}
            maxLength={10000}
            onChange={(e) => setDraft(e.target.value)}
            onKeyDown={onKeyDown}
          />
          <button type="submit" className="btn btn-primary" data-testid="chat-send" disabled={!draft.trim() || sending || uploading}>
            {t("chat.send")}
          </button>
        </form>
      </section>
    </div>
  );
}

function ChatLine({ item, sessionId, staff, onDecide }: {
  item: ChatItem; sessionId: string | null; staff: boolean; onDecide: (card: Interrupt, d: Decision) => void | Promise<void>;
}) {
  const { t } = useTranslation();
  switch (item.kind) {
    case "user":
      return (
        <div className="bubble bubble-user" data-testid="chat-message" data-role="user" data-pending={item.pending ? "true" : undefined}>
          {item.content}
          {item.files && sessionId && <MessageFiles sessionId={sessionId} files={item.files} />}
        </div>
      );
    case "assistant":
      return (
        <div className="bubble bubble-assistant" data-testid="chat-message" data-role="assistant" data-done={item.done ? "true" : "false"}>
          {item.agent && !GENERIC_AGENTS.has(item.agent) && <span className="agent">{item.agent}</span>}
          {item.content}
          {!item.done && <span className="typing" aria-label={t("chat.typing")}>▍</span>}
        </div>
      );
    case "tool":
      return (
        <details className="tool-line" data-testid="chat-tool">
          <summary>
            <span className="tool-icon" aria-hidden="true">⚙</span> <code>{item.tool}</code>({compact(item.args, 80)})
            {item.hasResult ? <span className="muted"> → {compact(item.result, 60)}</span> : <span className="muted"> {t("chat.toolRunning")}</span>}
          </summary>
          <div className="tool-detail">
            <h4>{t("chat.toolArgs")}</h4>
            <JsonView value={item.args} />
            {item.hasResult && (<><h4>{t("chat.toolResult")}</h4><JsonView value={item.result} /></>)}
          </div>
        </details>
      );
    case "interrupt":
      return <InterruptCard card={item} staff={staff} onDecide={onDecide} />;
    case "notice":
      return <p className={`notice notice-${item.tone}`} role="status">{item.text}</p>;
    case "error":
      return <p className="alert alert-error inline-error" role="alert" data-testid="chat-error">{item.message}</p>;
  }
}

function InterruptCard({ card, staff, onDecide }: { card: Interrupt; staff: boolean; onDecide: (card: Interrupt, d: Decision) => void | Promise<void> }) {
  const { t } = useTranslation();
  const open = card.state === "pending";
  return (
    <div className={`approval-card state-${card.state}`} data-testid="approval-card" role="group" aria-label={t("approval.title")}>
      <div className="approval-head">
        <strong>{t("approval.title")}</strong>
        <code className="action">{card.action}</code>
        {open && <Countdown expiresAt={card.expiresAt} />}
      </div>
      {card.description && <p>{card.description}</p>}
      <JsonView value={card.params} />
      {card.state === "expired" && <p className="muted">{t("approval.expiredNotice")}</p>}
      {card.state === "closed" && <p className="muted">{t("approval.closed")}</p>}
      {card.state === "sent" && <p className="muted">{t("approval.sent", { decision: t(`approval.decision.${card.decision}`) })}</p>}
      {open && !staff && <p className="waiting">{t("approval.waitingStaff")}</p>}
      {open && staff && (
        <div className="actions">
          <button type="button" className="btn btn-primary" data-testid="approval-approve" onClick={() => void onDecide(card, "approve")}>
            {t("approval.approve")}
          </button>
          <button type="button" className="btn btn-danger" data-testid="approval-reject" onClick={() => void onDecide(card, "reject")}>
            {t("approval.reject")}
          </button>
        </div>
      )}
    </div>
  );
}
