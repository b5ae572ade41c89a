// The upstream WebSocket multiplexer: every caller of the process shares one connection. Request ids
// are rewritten to an internal counter and answers routed back; subscriptions survive reconnects
// with the caller-visible handle unchanged. The socket itself is injected (portable core).
import type { Upstream } from "../../config.ts";
import type { Logger } from "../../log.ts";
import type { UpstreamMetrics } from "../eth.metrics.ts";
import { isWrite } from "../eth.policy.ts";
import { UpstreamError, type JsonRpcResponse, type RpcTransport } from "../transport.ts";

/** The WebSocket shape used (Bun's and Deno's clients take a non-standard `headers` option). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code?: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  ping?(): void;
}
export type SocketFactory = (url: string, headers: Record<string, string>) => WebSocketLike;

type Params = unknown[] | Record<string, unknown> | undefined;

interface Pending {
  method: string;
  params: Params;
  resolve(r: JsonRpcResponse): void;
  reject(e: unknown): void;
  timer: ReturnType<typeof setTimeout>;
  started: number;
  /** Already re-sent once after a reconnect. */
  retried: boolean;
}

export interface Subscription {
  /** Stable for the caller across reconnects (the upstream's id may change). */
  readonly id: string;
  unsubscribe(): Promise<void>;
}

interface Sub {
  id: string;
  params: unknown[];
  onNotification: (result: unknown) => void;
  upstreamId: string | null;
}

export interface WsTransportOptions {
  upstreams: readonly Upstream[];
  timeoutMs: number;
  connect: SocketFactory;
  log: Logger;
  metrics?: UpstreamMetrics;
  /** Calls waiting for an answer at most (then refused at once). */
  maxPending?: number;
  /** Keep-alive ping period while connected. */
  pingMs?: number;
  /** Reconnect backoff: first delay and cap (jittered ±50%). */
  backoffMs?: number;
  maxBackoffMs?: number;
}

export class WsTransport implements RpcTransport {
  readonly upstreams: readonly string[];
  #o: Required<Omit<WsTransportOptions, "metrics">> & { metrics?: UpstreamMetrics };
  #ws: WebSocketLike | null = null;
  #open = false;
  #connecting: Promise<void> | null = null;
  #current = 0;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #subs = new Map<string, Sub>();
  #byUpstreamId = new Map<string, Sub>();
  #subSeq = 0;
  #backoff: number;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  /** Successful (re)connections after the first (observability). */
  reconnects = 0;
  #everConnected = false;
  /** Waiters for the connection (calls made while it is being established). */
  #waiters: { resolve(): void; reject(e: unknown): void }[] = [];

  constructor(opts: WsTransportOptions) {
    this.#o = { maxPending: 10_000, pingMs: 30_000, backoffMs: 100, maxBackoffMs: 10_000, ...opts };
    this.upstreams = opts.upstreams.map((u) => u.label);
    this.#backoff = this.#o.backoffMs;
  }

  get connected(): boolean {
    return this.#open;
  }

  get pending(): number {
    return this.#pending.size;
  }

  get subscriptions(): number {
    return this.#subs.size;
  }

  async call(method: string, params: Params): Promise<JsonRpcResponse> {
    if (this.#o.upstreams.length === 0)
      throw new UpstreamError("upstream_not_configured", "no upstream WebSocket configured (PEXD_ETH_WS_URL)");
    if (this.#closed) throw new UpstreamError("upstream_error", "the upstream WebSocket is closed (shutting down)");
    if (this.#pending.size >= this.#o.maxPending) {
      throw new UpstreamError("upstream_error", `too many calls waiting for the upstream WebSocket (${this.#o.maxPending})`);
    }
    return new Promise<JsonRpcResponse>((resolve, reject) => {
      const id = this.#nextId++;
      const p: Pending = {
        method,
        params,
        resolve,
        reject,
        started: performance.now(),
        retried: false,
        timer: setTimeout(() => {
          this.#pending.delete(id);
          this.#record(method, "upstream_timeout", p.started);
          reject(new UpstreamError("upstream_timeout", `upstream WebSocket did not answer ${method} within ${this.#o.timeoutMs} ms`));
        }, this.#o.timeoutMs),
      };
      this.#pending.set(id, p);
      if (this.#open) this.#send(id, p);
      else this.#ensureConnected();
    });
  }

  /** One upstream eth_subscribe; notifications go to `onNotification` until unsubscribe(). */
  async subscribe(params: unknown[], onNotification: (result: unknown) => void): Promise<Subscription> {
    const sub: Sub = { id: `s${++this.#subSeq}`, params, onNotification, upstreamId: null };
    await this.#establish(sub);
    this.#subs.set(sub.id, sub);
    return {
      id: sub.id,
      unsubscribe: async () => {
        if (!this.#subs.delete(sub.id)) return;
        if (sub.upstreamId) this.#byUpstreamId.delete(sub.upstreamId);
        if (sub.upstreamId && this.#open) await this.call("eth_unsubscribe", [sub.upstreamId]).catch(() => {});
      },
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    clearInterval(this.#pingTimer);
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(new UpstreamError("upstream_error", "the upstream WebSocket was closed (shutting down)"));
      this.#pending.delete(id);
    }
    for (const w of this.#waiters.splice(0)) w.reject(new UpstreamError("upstream_error", "shutting down"));
    this.#ws?.close(1000, "shutting down");
    this.#ws = null;
    this.#open = false;
  }

  async #establish(sub: Sub): Promise<void> {
    const r = await this.call("eth_subscribe", sub.params);
    if (r.error) throw Object.assign(new Error(r.error.message), { rpcError: r.error });
    const upstreamId = String(r.result);
    if (sub.upstreamId) this.#byUpstreamId.delete(sub.upstreamId);
    sub.upstreamId = upstreamId;
    this.#byUpstreamId.set(upstreamId, sub);
  }

  #send(id: number, p: Pending): void {
    try {
      this.#ws!.send(JSON.stringify({ jsonrpc: "2.0", id, method: p.method, ...(p.params !== undefined ? { params: p.params } : {}) }));
    } catch {
      // The socket died between the check and the send: onclose decides (retry or fail).
    }
  }

  #record(method: string, outcome: "ok" | "rpc_error" | "upstream_error" | "upstream_timeout", started: number): void {
    this.#o.metrics?.record(this.#label(), method, outcome, (performance.now() - started) / 1000);
  }

  #label(): string {
    return this.upstreams[this.#current % Math.max(1, this.upstreams.length)] ?? "none";
  }

  #ensureConnected(): Promise<void> {
    if (this.#open) return Promise.resolve();
    if (!this.#connecting) {
      this.#connecting = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
      this.#connecting.catch(() => {});
      if (this.#retryTimer === undefined) this.#connect();
    }
    return this.#connecting;
  }

  #connect(): void {
    this.#retryTimer = undefined;
    if (this.#closed) return;
    const up = this.#o.upstreams[this.#current % this.#o.upstreams.length]!;
    const headers: Record<string, string> = up.authorization ? { Authorization: up.authorization } : {};
    let ws: WebSocketLike;
    try {
      ws = this.#o.connect(up.url, headers);
    } catch (e) {
      this.#o.log.warn("upstream WebSocket failed to connect", { upstream: up.label, error: e instanceof Error ? e.message : String(e) });
      this.#scheduleReconnect();
      return;
    }
    this.#ws = ws;
    ws.onopen = () => {
      if (this.#ws !== ws) return;
      this.#open = true;
      this.#backoff = this.#o.backoffMs;
      if (this.#everConnected) this.reconnects++;
      this.#everConnected = true;
      this.#o.log.info("upstream WebSocket connected", { upstream: up.label, reconnects: this.reconnects });
      clearInterval(this.#pingTimer);
      this.#pingTimer = setInterval(() => this.#ping(), this.#o.pingMs);
      (this.#pingTimer as { unref?: () => void }).unref?.();
      this.#connecting = null;
      for (const w of this.#waiters.splice(0)) w.resolve();
      // Calls that waited for the connection (or survived a drop) go out now.
      for (const [id, p] of this.#pending) this.#send(id, p);
      // Subscriptions come back under the same caller-visible ids.
      for (const sub of this.#subs.values()) {
        this.#establish(sub).catch((e) => this.#o.log.warn("re-subscribing failed", { error: String(e) }));
      }
    };
    ws.onmessage = (ev) => this.#onMessage(ev.data);
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
      // In flight on the lost socket: a read is retried once on the next connection; a write may
      // or may not have reached the node, so it fails rather than risk being sent twice. A socket
      // that never opened carried nothing: its failure costs the waiting calls no retry.
      for (const [id, p] of wasOpen ? this.#pending : []) {
        if (isWrite(p.method) || p.retried) {
          this.#pending.delete(id);
          clearTimeout(p.timer);
          this.#record(p.method, "upstream_error", p.started);
          p.reject(
            new UpstreamError(
              "upstream_error",
              isWrite(p.method)
                ? `upstream WebSocket lost while ${p.method} was in flight: it may or may not have been applied`
                : `upstream WebSocket lost twice while ${p.method} was in flight`,
            ),
          );
        } else p.retried = true;
      }
      if (!wasOpen) this.#current++; // could not connect: fail over to the next upstream
      this.#scheduleReconnect();
    };
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#retryTimer !== undefined) return;
    // Reconnect only when someone needs the socket (calls waiting or subscriptions): no idle
    // reconnect loop against a paid upstream.
    if (this.#pending.size === 0 && this.#subs.size === 0 && this.#waiters.length === 0) {
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
    else this.call("eth_chainId", []).catch(() => {});
  }

  #onMessage(data: unknown): void {
    let msg: unknown;
    try {
      msg = JSON.parse(typeof data === "string" ? data : new TextDecoder().decode(data as ArrayBuffer));
    } catch {
      this.#o.log.warn("upstream WebSocket sent a message that is not JSON");
      return;
    }
    for (const m of Array.isArray(msg) ? msg : [msg]) {
      if (!m || typeof m !== "object") continue;
      const o = m as JsonRpcResponse & { method?: string; params?: { subscription?: string; result?: unknown } };
      if (o.method === "eth_subscription" && o.params) {
        const sub = this.#byUpstreamId.get(String(o.params.subscription));
        if (sub) sub.onNotification(o.params.result);
        continue;
      }
      if (typeof o.id !== "number") continue;
      const p = this.#pending.get(o.id);
      if (!p) continue; // timed out already
      this.#pending.delete(o.id);
      clearTimeout(p.timer);
      this.#record(p.method, o.error ? "rpc_error" : "ok", p.started);
      p.resolve(o);
    }
  }
}
