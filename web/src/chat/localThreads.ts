/** Threads opened in this browser that the sessions list does not show (a fallback, kept in localStorage). */
const KEY = "loopdesk.threads";

export interface LocalThread {
  thread_id: string;
  title: string;
  at: string;
}

export function loadLocalThreads(): LocalThread[] {
  try {
    const value = JSON.parse(localStorage.getItem(KEY) ?? "[]") as unknown;
    return Array.isArray(value) ? (value as LocalThread[]).filter((x) => x && typeof x.thread_id === "string") : [];
  } catch {
    return [];
  }
}

export function rememberLocalThread(thread: LocalThread): LocalThread[] {
  const list = [thread, ...loadLocalThreads().filter((x) => x.thread_id !== thread.thread_id)].slice(0, 50);
  try {
    localStorage.setItem(KEY, JSON.stringify(list));
  } catch {
    /* ignore */
  }
  return list;
}
