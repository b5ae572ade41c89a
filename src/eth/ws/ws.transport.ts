// The upstream WebSocket multiplexer: every caller of the process shares one connection. Request ids
// are rewritten to an internal counter and answers routed back to their caller; a read in flight
// when the connection drops is sent again once on the next one, a write is failed (it may have been
// applied). Subscriptions live in UpstreamSubscriptions and come back after a reconnect.
import type { Upstream } from "../../config.ts";
import type { Logger } from "../../log.ts";
import { TokenBuckets, type RateRule } from "../../limits/rate.ts";
import type { UpstreamMetrics, UpstreamOutcome } from "../eth.metrics.ts";
import { isWrite } from "../eth.policy.ts";
import { UpstreamError, type JsonRpcResponse, type RpcTransport } from "../transport.ts";
import { UpstreamSocket, type SocketFactory } from "./upstream.socket.ts";
import { UpstreamSubscriptions, type SubscriptionNotice } from "./upstream.subscriptions.ts";

type Params = unknown[] | Record<string, unknown> | undefined;

interface Pending {
  method: string;
  params: Params;
  resolve(r: JsonRpcResponse): void;
  reject(e: unknown): void;
  timer: ReturnType<typeof setTimeout>;
  started: number;
  /** Already sent again once after a reconnect. */
  retried: boolean;
}

export interface WsTransportOptions {
  upstreams: readonly Upstream[];
  timeoutMs: number;
  connect: SocketFactory;
  log: Logger;
  metrics?: UpstreamMetrics;
  /** Calls waiting for an answer at most (then refused at once). */
  maxPending?: number;
  /** Calls per upstream at most (PEXD_ETH_UPSTREAM_RATE). */
  rate?: RateRule | undefined;
  pingMs?: number;
  backoffMs?: number;
  maxBackoffMs?: number;
}

export class WsTransport implements RpcTransport {
  readonly upstreams: readonly string[];
  /** eth_subscribe upstream, with stable ids across reconnects. */
  readonly subscriptions: UpstreamSubscriptions;
  readonly #socket: UpstreamSocket;
  readonly #timeoutMs: number;
  readonly #maxPending: number;
  readonly #log: Logger;
  readonly #metrics: UpstreamMetrics | undefined;
  readonly #caps: TokenBuckets | null;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #closed = false;

  constructor(opts: WsTransportOptions) {
    this.upstreams = opts.upstreams.map((u) => u.label);
    this.#timeoutMs = opts.timeoutMs;
    this.#maxPending = opts.maxPending ?? 10_000;
    this.#log = opts.log;
    this.#metrics = opts.metrics;
    this.#caps = opts.rate ? new TokenBuckets(opts.rate) : null;
    this.subscriptions = new UpstreamSubscriptions(
      (method, params) => this.call(method, params),
      () => this.connected,
      opts.log,
    );
    this.#socket = new UpstreamSocket(opts, {
      open: () => {
        // Calls that waited for the connection (or survived a drop) go out now; subscriptions come back.
        for (const [id, p] of this.#pending) this.#send(id, p);
        this.subscriptions.reestablish();
      },
      message: (data) => this.#onMessage(data),
      close: (wasOpen) => {
        if (wasOpen) this.#lost();
      },
      down: (reason) => this.#failAll(new UpstreamError("upstream_unavailable", `the upstream WebSocket is known to be down: ${reason}`)),
      wanted: () => this.#pending.size > 0 || this.subscriptions.size > 0,
      keepAlive: () => void this.call("eth_chainId", []).catch(() => {}),
    });
  }

  get connected(): boolean {
    return this.#socket.connected;
  }

  get reconnects(): number {
    return this.#socket.reconnects;
  }

  get pending(): number {
    return this.#pending.size;
  }

  call(method: string, params: Params): Promise<JsonRpcResponse> {
    if (this.upstreams.length === 0)
      return Promise.reject(new UpstreamError("upstream_not_configured", "no upstream WebSocket configured (PEXD_ETH_WS_URL)"));
    if (this.#closed) return Promise.reject(new UpstreamError("upstream_error", "the upstream WebSocket is closed (shutting down)"));
    const cap = this.#caps?.take(this.#socket.label, 1);
    if (cap && cap.granted === 0) {
      this.#metrics?.capped(this.#socket.label);
      return Promise.reject(
        new UpstreamError(
          "upstream_rate_limited",
          `the upstream WebSocket is at its call cap (PEXD_ETH_UPSTREAM_RATE: ${this.#caps!.rule.text})`,
          cap.retryAfterMs,
        ),
      );
    }
    if (this.#pending.size >= this.#maxPending) {
      return Promise.reject(new UpstreamError("upstream_error", `too many calls waiting for the upstream WebSocket (${this.#maxPending})`));
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
          reject(new UpstreamError("upstream_timeout", `upstream WebSocket did not answer ${method} within ${this.#timeoutMs} ms`));
        }, this.#timeoutMs),
      };
      if (!this.#socket.connected && this.#socket.down) {
        // Known down: fail at once (docs/security.md), and try to connect again for the calls to come.
        clearTimeout(p.timer);
        void this.#socket.ensureConnected().catch(() => {});
        reject(new UpstreamError("upstream_unavailable", `the upstream WebSocket is known to be down: ${this.#socket.down}`));
        return;
      }
      this.#pending.set(id, p);
      if (this.#socket.connected) this.#send(id, p);
      else void this.#socket.ensureConnected().catch(() => {});
    });
  }

  /** Known health of the upstream WebSocket: connected (up), known down, or not tried yet. */
  health(): { upstream: string; status: "up" | "down" | "unknown"; reason: string | null }[] {
    const current = this.#socket.label;
    return this.upstreams.map((u) => ({
      upstream: u,
      status: this.#socket.connected && u === current ? "up" : this.#socket.down ? "down" : "unknown",
      reason: this.#socket.down,
    }));
  }

  /** Rejects every call waiting for an answer (the connection is known to be down, or closing). */
  #failAll(e: UpstreamError): void {
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id);
      clearTimeout(p.timer);
      this.#record(p.method, "upstream_error", p.started);
      p.reject(e);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const reason = new UpstreamError("upstream_error", "the upstream WebSocket was closed (shutting down)");
    this.#failAll(reason);
    this.#socket.close(reason);
  }

  #send(id: number, p: Pending): void {
    this.#socket.send(JSON.stringify({ jsonrpc: "2.0", id, method: p.method, ...(p.params !== undefined ? { params: p.params } : {}) }));
  }

  /**
   * In flight on the lost socket: a read is sent again once on the next connection; a write may or
   * may not have reached the node, so it fails rather than risk being sent twice.
   */
  #lost(): void {
    for (const [id, p] of this.#pending) {
      if (!isWrite(p.method) && !p.retried) {
        p.retried = true;
        continue;
      }
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
    }
  }

  #record(method: string, outcome: UpstreamOutcome, started: number): void {
    this.#metrics?.record(this.#socket.label, method, outcome, (performance.now() - started) / 1000);
  }

  #onMessage(data: unknown): void {
    let msg: unknown;
    try {
      msg = JSON.parse(typeof data === "string" ? data : new TextDecoder().decode(data as ArrayBuffer));
    } catch {
      this.#log.warn("upstream WebSocket sent a message that is not JSON");
      return;
    }
    for (const m of Array.isArray(msg) ? msg : [msg]) {
      if (!m || typeof m !== "object") continue;
      const o = m as JsonRpcResponse & { method?: string; params?: SubscriptionNotice };
      if (o.method === "eth_subscription" && o.params) {
        this.subscriptions.notify(o.params);
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
