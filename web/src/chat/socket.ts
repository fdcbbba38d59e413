import { isRunEventId, type ClientFrame, type ServerFrame } from "./protocol";

/** The part of the browser's WebSocket the client uses (a fake one in the tests). */
export interface SocketLike {
  readonly readyState: number;
  onopen: ((event: Event) => void) | null;
  onmessage: ((event: MessageEvent) => void) | null;
  onclose: ((event: CloseEvent) => void) | null;
  onerror: ((event: Event) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type ConnectionStatus = "connecting" | "open" | "reconnecting" | "closed";

export interface ChatSocketOptions {
  /** ws(s)://host/ws; default: this page's origin. */
  url?: string;
  onFrame: (frame: ServerFrame) => void;
  onStatus?: (status: ConnectionStatus) => void;
  create?: (url: string) => SocketLike;
  /** Reconnect delays: initial * 2^attempt, capped, with up to 30% jitter. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  random?: () => number;
  /** Close codes after which reconnecting is useless (auth gone, foreign origin). */
  fatalCodes?: number[];
  onFatal?: (code: number, reason: string) => void;
}

const OPEN = 1;
const SEEN_LIMIT = 5000;

export function defaultSocketUrl(loc: Location = window.location): string {
  return `${loc.protocol === "https:" ? "wss:" : "ws:"}//${loc.host}/ws`;
}

let counter = 0;
export function clientId(prefix = "c"): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${counter}`;
}

/**
 * One WebSocket to the gateway, kept alive: reconnects with backoff, and on every (re)connection follows
 * again each thread it followed, with `resume {thread_id, last_event_id}` when it has seen an event of the
 * thread (so nothing is lost) and `subscribe` otherwise. Run events whose id it has already delivered are
 * dropped (so nothing is repeated). Frames sent while disconnected wait for the next connection.
 */
export class ChatSocket {
  private readonly opts: ChatSocketOptions;
  private socket: SocketLike | null = null;
  private readonly followed = new Set<string>();
  private readonly lastEvent = new Map<string, string>();
  private readonly seen = new Map<string, Set<string>>();
  private readonly outbox: ClientFrame[] = [];
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = true;
  private status: ConnectionStatus = "closed";

  constructor(options: ChatSocketOptions) {
    this.opts = options;
  }

  get connectionStatus(): ConnectionStatus {
    return this.status;
  }

  connect(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.open();
  }

  close(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onclose = socket.onmessage = socket.onopen = socket.onerror = null;
      socket.close(1000, "bye");
    }
    this.setStatus("closed");
  }

  /** The id of the last run event delivered for the thread (what a reconnect resumes after). */
  lastEventId(threadId: string): string | undefined {
    return this.lastEvent.get(threadId);
  }

  /** Follow a thread's events (resuming after the last one seen, when there is one). */
  follow(threadId: string): void {
    this.followed.add(threadId);
    this.send(this.followFrame(threadId));
  }

  unfollow(threadId: string): void {
    if (this.followed.delete(threadId)) this.send({ type: "unsubscribe", thread_id: threadId });
  }

  /** Send a frame now, or as soon as the socket is open. Returns whether it went out at once. */
  send(frame: ClientFrame): boolean {
    if (frame.type === "message" && frame.thread_id) this.followed.add(frame.thread_id);
    if (this.socket && this.socket.readyState === OPEN) {
      this.socket.send(JSON.stringify(frame));
      return true;
    }
    this.outbox.push(frame);
    return false;
  }

  private followFrame(threadId: string): ClientFrame {
    const last = this.lastEvent.get(threadId);
    return last
      ? { type: "resume", id: clientId("r"), thread_id: threadId, last_event_id: last }
      : { type: "subscribe", id: clientId("s"), thread_id: threadId };
  }

  private setStatus(status: ConnectionStatus): void {
    if (status === this.status) return;
    this.status = status;
    this.opts.onStatus?.(status);
  }

  private open(): void {
    const url = this.opts.url ?? defaultSocketUrl();
    const create = this.opts.create ?? ((u: string) => new WebSocket(u) as unknown as SocketLike);
    this.setStatus(this.attempt === 0 ? "connecting" : "reconnecting");
    let socket: SocketLike;
    try {
      socket = create(url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      this.attempt = 0;
      this.setStatus("open");
      // Follow again what we followed (resume where we were), then what waited to be sent; the outbox's own
      // follow frames for those threads are superseded by these.
      const pending = this.outbox.splice(0);
      for (const threadId of this.followed) socket.send(JSON.stringify(this.followFrame(threadId)));
      for (const frame of pending) {
        if ((frame.type === "subscribe" || frame.type === "resume") && this.followed.has(frame.thread_id)) continue;
        socket.send(JSON.stringify(frame));
      }
    };
    socket.onmessage = (event: MessageEvent) => this.receive(event.data);
    socket.onerror = () => {
      /* the close event follows */
    };
    socket.onclose = (event: CloseEvent) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped) return;
      if ((this.opts.fatalCodes ?? [4401, 4403]).includes(event.code)) {
        this.stopped = true;
        this.setStatus("closed");
        this.opts.onFatal?.(event.code, event.reason);
        return;
      }
      this.scheduleReconnect();
    };
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    this.setStatus("reconnecting");
    const initial = this.opts.initialDelayMs ?? 500;
    const max = this.opts.maxDelayMs ?? 15000;
    const base = Math.min(max, initial * 2 ** this.attempt);
    const delay = Math.round(base * (1 + 0.3 * (this.opts.random ?? Math.random)()));
    this.attempt += 1;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.stopped) this.open();
    }, delay);
  }

  private receive(data: unknown): void {
    if (typeof data !== "string") return;
    let frame: ServerFrame;
    try {
      frame = JSON.parse(data) as ServerFrame;
    } catch {
      return;
    }
    if (!frame || typeof frame !== "object" || typeof frame.type !== "string") return;
    const threadId = "thread_id" in frame ? frame.thread_id : null;
    if (threadId && isRunEventId(frame.event_id)) {
      let seen = this.seen.get(threadId);
      if (!seen) this.seen.set(threadId, (seen = new Set()));
      if (seen.has(frame.event_id)) return; // delivered already (a resume overlapping a live push)
      seen.add(frame.event_id);
      if (seen.size > SEEN_LIMIT) seen.delete(seen.values().next().value as string);
      this.lastEvent.set(threadId, frame.event_id);
    }
    if (frame.type === "ack" && frame.of === "message" && frame.thread_id) this.followed.add(frame.thread_id);
    this.opts.onFrame(frame);
  }
}
