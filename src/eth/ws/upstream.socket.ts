// One upstream WebSocket that comes back: priority failover across the configured URLs, jittered
// exponential backoff, a keep-alive ping, and reconnecting only while someone needs the socket (no
// idle reconnect loop against a paid upstream). The socket itself is injected (portable core).
import type { Upstream } from "../../config.ts";
import type { Logger } from "../../log.ts";

/** The WebSocket shape used (Bun's and Deno's clients take a non-standard `headers` option). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  ping?(): void;
}
export type SocketFactory = (url: string, headers: Record<string, string>) => WebSocketLike;

export interface UpstreamSocketOptions {
  upstreams: readonly Upstream[];
  connect: SocketFactory;
  log: Logger;
  /** Keep-alive ping period while connected. */
  pingMs?: number;
  /** Reconnect backoff: first delay and cap (jittered ±50%). */
  backoffMs?: number;
  maxBackoffMs?: number;
}

/** What the owner of the socket is told, and asked. */
export interface UpstreamSocketEvents {
  /** Connected (first time or again): resend what is owed. */
  open(): void;
  message(data: unknown): void;
  /** Lost; `wasOpen` false when a connection attempt failed before opening (it carried nothing). Read `down` to know whether every URL has failed. */
  close(wasOpen: boolean): void;
  /** Every URL failed to connect: the upstream is known to be down (until one opens). */
  down(reason: string): void;
  /** Whether to reconnect: calls are waiting or subscriptions are held. */
  wanted(): boolean;
  /** Keep-alive for sockets without ping() (a cheap call the node answers). */
  keepAlive(): void;
}

export class UpstreamSocket {
  readonly #o: Required<UpstreamSocketOptions>;
  readonly #events: UpstreamSocketEvents;
  #ws: WebSocketLike | null = null;
  #open = false;
  #current = 0;
  #backoff: number;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #connecting: Promise<void> | null = null;
  #waiters: { resolve(): void; reject(e: unknown): void }[] = [];
  #everConnected = false;
  #closed = false;
  /** Successful (re)connections after the first (observability). */
  reconnects = 0;
  /** Every URL failed since the last open (or the only one did): calls fail at once until one opens. */
  #down: string | null = null;
  /** URLs tried since the last open. */
  #failedInCycle = 0;

  constructor(opts: UpstreamSocketOptions, events: UpstreamSocketEvents) {
    // The backoff stays short: after the upstream returns, subscriptions must resume within ~2 s.
    this.#o = { pingMs: 30_000, backoffMs: 100, maxBackoffMs: 800, ...opts };
    this.#events = events;
    this.#backoff = this.#o.backoffMs;
  }

  get connected(): boolean {
    return this.#open;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Why the upstream is known to be down (every URL failed to connect), or null. */
  get down(): string | null {
    return this.#down;
  }

  /** Label (credential-free) of the upstream in use or being tried. */
  get label(): string {
    const ups = this.#o.upstreams;
    return ups.length ? ups[this.#current % ups.length]!.label : "none";
  }

  /** Resolves once connected; starts a connection attempt when none is under way. */
  ensureConnected(): Promise<void> {
    if (this.#open) return Promise.resolve();
    if (!this.#connecting) {
      this.#connecting = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
      this.#connecting.catch(() => {});
      if (this.#retryTimer === undefined) this.#connect();
    }
    return this.#connecting;
  }

  /** Sends on the open socket; a socket that died meanwhile is left to its close event. */
  send(text: string): void {
    try {
      this.#ws?.send(text);
    } catch {
      /* onclose follows and decides (retry or fail) */
    }
  }

  close(reason: unknown): void {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    clearInterval(this.#pingTimer);
    for (const w of this.#waiters.splice(0)) w.reject(reason);
    this.#ws?.close(1000, "shutting down");
    this.#ws = null;
    this.#open = false;
  }

  #connect(): void {
    this.#retryTimer = undefined;
    if (this.#closed || this.#o.upstreams.length === 0) return;
    const up = this.#o.upstreams[this.#current % this.#o.upstreams.length]!;
    const headers: Record<string, string> = up.authorization ? { Authorization: up.authorization } : {};
    let ws: WebSocketLike;
    try {
      ws = this.#o.connect(up.url, headers);
    } catch (e) {
      this.#o.log.warn("upstream WebSocket failed to connect", { upstream: up.label, error: e instanceof Error ? e.message : String(e) });
      this.#attemptFailed(up.label);
      this.#scheduleReconnect();
      return;
    }
    this.#ws = ws;
    ws.onopen = () => {
      if (this.#ws !== ws) return;
      this.#open = true;
      this.#down = null;
      this.#failedInCycle = 0;
      this.#backoff = this.#o.backoffMs;
      if (this.#everConnected) this.reconnects++;
      this.#everConnected = true;
      this.#o.log.info("upstream WebSocket connected", { upstream: up.label, reconnects: this.reconnects });
      clearInterval(this.#pingTimer);
      this.#pingTimer = setInterval(() => this.#ping(), this.#o.pingMs);
      (this.#pingTimer as { unref?: () => void }).unref?.();
      this.#connecting = null;
      for (const w of this.#waiters.splice(0)) w.resolve();
      this.#events.open();
    };
    ws.onmessage = (ev) => this.#events.message(ev.data);
    ws.onerror = () => {
      /* onclose follows and decides */
    };
    ws.onclose = (ev) => {
      if (this.#ws !== ws) return;
      const wasOpen = this.#open;
      this.#open = false;
      this.#ws = null;
      clearInterval(this.#pingTimer);
      if (this.#closed) return;
      this.#o.log.warn("upstream WebSocket closed", { upstream: up.label, code: ev?.code ?? null, was_open: wasOpen });
      if (!wasOpen) {
        this.#current++; // could not connect: fail over to the next upstream
        this.#attemptFailed(up.label);
      }
      this.#events.close(wasOpen);
      this.#scheduleReconnect();
    };
  }

  /** A connection attempt failed; once every URL has failed, the upstream is known to be down. */
  #attemptFailed(label: string): void {
    if (++this.#failedInCycle >= this.#o.upstreams.length) {
      this.#down = `${label} refused or dropped the connection`;
      // Calls waiting for this connection fail now rather than at their timeout.
      for (const w of this.#waiters.splice(0)) w.reject(new Error(this.#down));
      this.#connecting = null;
      this.#events.down(this.#down);
    }
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#retryTimer !== undefined) return;
    if (!this.#events.wanted() && this.#waiters.length === 0) {
      this.#connecting = null;
      return;
    }
    const delay = this.#backoff * (0.5 + Math.random());
    this.#backoff = Math.min(this.#backoff * 2, this.#o.maxBackoffMs);
    this.#retryTimer = setTimeout(() => this.#connect(), delay);
  }

  #ping(): void {
    if (!this.#open || !this.#ws) return;
    if (this.#ws.ping) this.#ws.ping();
    else this.#events.keepAlive();
  }
}
