import { useCallback, useRef, useState } from "react";
import { api, type Schemas } from "../api/client";
import { clientId } from "./socket";
import type { MessageFile } from "./conversation";

/** What the file picker offers; the server decides what it keeps (its allowed types and sizes are settings). */
export const ACCEPT = "image/*,.log,.txt,.json";
/** As many as a message may name (ExecuteIn / the `message` frame). */
export const MAX_PER_MESSAGE = 10;

export type StoredFile = Schemas["SessionAttachmentRead"];

/** A file chosen for the next message: uploading, stored on the session (ready to send), or refused. */
export interface PendingFile {
  key: string;
  sessionId: string;
  name: string;
  size: number;
  status: "uploading" | "ready" | "failed";
  stored?: StoredFile;
  /** Why it failed: the server's error body, or a reason found here. */
  error?: unknown;
  reason?: "tooMany" | "network";
}

export function attachmentUrl(sessionId: string, id: string): string {
  return `/api/v1/sessions/${encodeURIComponent(sessionId)}/attachments/${encodeURIComponent(id)}`;
}

export function isImage(contentType: string): boolean {
  return contentType.startsWith("image/");
}

/** One file to the session: POST /api/v1/sessions/{session_id}/attachments, multipart with one `file` part (a
 * refused file then loses only itself). */
export async function uploadAttachment(sessionId: string, file: File): Promise<{ stored?: StoredFile; error?: unknown }> {
  const form = new FormData();
  form.append("file", file, file.name);
  const { data, error } = await api.POST("/api/v1/sessions/{session_id}/attachments", {
    params: { path: { session_id: sessionId } },
    // The typed body is the form's schema ({file: binary[]}); what is sent is the FormData itself.
    body: form as unknown as { file: string[] },
  });
  return data?.[0] ? { stored: data[0] } : { error: error ?? {} };
}

/** What a message sends of its ready files. */
export function messageFiles(files: PendingFile[]): MessageFile[] {
  return files.flatMap((f) =>
    f.status === "ready" && f.stored
      ? [{ id: f.stored.id, filename: f.stored.filename, content_type: f.stored.content_type, size: f.stored.size }]
      : [],
  );
}

/**
 * The composer's files: `add` uploads chosen files to a session (each on its own), `remove` drops one from the next
 * message (it stays stored on the session), `take` hands a session's ready files to a message and clears them.
 */
export function useChatAttachments() {
  const [files, setFiles] = useState<PendingFile[]>([]);
  const current = useRef(files);
  current.current = files;

  const change = useCallback((key: string, patch: Partial<PendingFile>) => {
    setFiles((list) => list.map((f) => (f.key === key ? { ...f, ...patch } : f)));
  }, []);

  const add = useCallback(
    async (sessionId: string, chosen: File[]) => {
      const taken = current.current.filter((f) => f.sessionId === sessionId && f.status !== "failed").length;
      const fresh: PendingFile[] = chosen.map((file, i) => ({
        key: clientId("f"),
        sessionId,
        name: file.name,
        size: file.size,
        ...(taken + i < MAX_PER_MESSAGE ? { status: "uploading" as const } : { status: "failed" as const, reason: "tooMany" as const }),
      }));
      current.current = [...current.current, ...fresh];
      setFiles((list) => [...list, ...fresh]);
      for (const [i, file] of chosen.entries()) {
        if (fresh[i].status !== "uploading") continue;
        try {
          const { stored, error } = await uploadAttachment(sessionId, file);
          change(fresh[i].key, stored ? { status: "ready", stored } : { status: "failed", error });
        } catch {
          change(fresh[i].key, { status: "failed", reason: "network" });
        }
      }
    },
    [change],
  );

  const remove = useCallback((key: string) => setFiles((list) => list.filter((f) => f.key !== key)), []);

  const take = useCallback((sessionId: string): MessageFile[] => {
    const sent = messageFiles(current.current.filter((f) => f.sessionId === sessionId));
    setFiles((list) => list.filter((f) => f.sessionId !== sessionId));
    return sent;
  }, []);

  return { files, add, remove, take };
}
