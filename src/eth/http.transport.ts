// RpcTransport over HTTP(S) with ky: priority failover across upstreams, a health score that skips a
// failing upstream until a back-off expires (re-probed by the next call that needs it, never idly),
// and retry rounds with jittered backoff for reads only. Credentials never leave the header.
import ky, { TimeoutError, type KyInstance } from "ky";
import type { Upstream } from "../config.ts";
import { isWrite } from "./eth.policy.ts";
import type { UpstreamMetrics, UpstreamOutcome } from "./eth.metrics.ts";
import { TokenBuckets, type RateRule } from "../limits/rate.ts";
import { UpstreamError, type JsonRpcResponse, type RpcTransport } from "./transport.ts";

export type FetchLike = (input: Request | string | URL, init?: RequestInit) => Promise<Response>;

export interface HttpTransportOptions {
  upstreams: readonly Upstream[];
  timeoutMs: number;
  /** Extra rounds over the upstreams for reads after every upstream failed (not after timeouts). */
  retries?: number;
  /** Base of the backoff between rounds (full jitter: uniform in [0, base·2^round]). */
  backoffMs?: number;
  fetch?: FetchLike;
  metrics?: UpstreamMetrics;
  /** Calls per upstream at most (PEXD_ETH_UPSTREAM_RATE): a capped upstream is skipped like a down one. */
  rate?: RateRule | undefined;
  now?: () => number;
}

interface UpstreamState {
  readonly upstream: Upstream;
  readonly headers: Record<string, string>;
  /** Consecutive failures: the health score (0 = healthy). */
  failures: number;
  /** Skipped (tried only when every upstream is down) until this time. */
  downUntil: number;
  lastOkAt: number;
}

/** Back-off of a failing upstream: 1 s, 2 s, 4 s … capped at 30 s. */
const DOWN_BASE_MS = 1000;
const DOWN_MAX_MS = 30_000;

/** Connection refused: nothing reached the node, so even a write may go to the next upstream. */
function refused(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === "ECONNREFUSED" || code === "ConnectionRefused";
}

export class HttpTransport implements RpcTransport {
  readonly upstreams: readonly string[];
  #states: UpstreamState[];
  #client: KyInstance;
  #timeoutMs: number;
  #retries: number;
  #backoffMs: number;
  #metrics: UpstreamMetrics | undefined;
  #now: () => number;
  #caps: TokenBuckets | null;
  #id = 0;

  constructor(opts: HttpTransportOptions) {
    this.upstreams = opts.upstreams.map((u) => u.label);
    this.#states = opts.upstreams.map((upstream) => ({
      upstream,
      headers: {
        "content-type": "application/json",
        accept: "application/json",
        ...(upstream.authorization ? { authorization: upstream.authorization } : {}),
      },
      failures: 0,
      downUntil: 0,
      lastOkAt: 0,
    }));
    this.#timeoutMs = opts.timeoutMs;
    this.#retries = opts.retries ?? 2;
    this.#backoffMs = opts.backoffMs ?? 100;
    this.#metrics = opts.metrics;
    this.#now = opts.now ?? Date.now;
    this.#caps = opts.rate ? new TokenBuckets(opts.rate, { now: this.#now }) : null;
    // Retries and failover are decided here (across upstreams), so ky itself never retries.
    this.#client = ky.create({ timeout: opts.timeoutMs, retry: 0, throwHttpErrors: false, ...(opts.fetch ? { fetch: opts.fetch } : {}) });
  }

  /** Health as seen by the failover (for logs and tests): failures and whether it is skipped now. */
  health(): { upstream: string; failures: number; down: boolean }[] {
    const now = this.#now();
    return this.#states.map((s) => ({ upstream: s.upstream.label, failures: s.failures, down: s.downUntil > now }));
  }

  async call(
    method: string,
    params: unknown[] | Record<string, unknown> | undefined,
    opts: { signal?: AbortSignal } = {},
  ): Promise<JsonRpcResponse> {
    if (this.#states.length === 0) throw new UpstreamError("upstream_not_configured", "no Ethereum upstream is configured");
    const write = isWrite(method);
    const body = JSON.stringify({ jsonrpc: "2.0", id: ++this.#id, method, params: params ?? [] });
    const rounds = write ? 1 : 1 + this.#retries;
    let last: UpstreamError | undefined;
    for (let round = 0; round < rounds; round++) {
      if (round > 0) await sleep(Math.random() * this.#backoffMs * 2 ** round, opts.signal);
      let allTimedOut = true;
      let capped = 0;
      let waitMs = Number.POSITIVE_INFINITY;
      for (const s of this.#order()) {
        if (this.#caps) {
          const g = this.#caps.take(s.upstream.label, 1);
          if (g.granted === 0) {
            capped++;
            waitMs = Math.min(waitMs, g.retryAfterMs);
            this.#metrics?.capped(s.upstream.label);
            continue;
          }
        }
        try {
          return await this.#attempt(s, method, body, opts.signal);
        } catch (e) {
          if (!(e instanceof UpstreamError)) throw e;
          last = e;
          if (e.kind !== "upstream_timeout") allTimedOut = false;
          // A write that may have reached a node is never sent again (no double spend of a nonce slot,
          // no duplicate side effects); only a refused connection is safe to move on from.
          if (write && !refused(e.cause)) throw e;
        }
      }
      // Every upstream at its call cap: say when one may be called again instead of retrying.
      if (capped === this.#states.length) {
        throw new UpstreamError(
          "upstream_rate_limited",
          `every upstream is at its call cap (PEXD_ETH_UPSTREAM_RATE: ${this.#caps!.rule.text})`,
          waitMs,
        );
      }
      // Timeouts already cost the caller the full timeout per upstream: do not add rounds on top.
      if (allTimedOut) break;
    }
    throw last ?? new UpstreamError("upstream_error", "no upstream answered");
  }

  /** Sends one call to one named upstream (readiness probes); no failover, no retry. */
  async probe(label: string, method = "eth_chainId"): Promise<JsonRpcResponse> {
    const s = this.#states.find((x) => x.upstream.label === label);
    if (!s) throw new UpstreamError("upstream_not_configured", `unknown upstream ${label}`);
    return this.#attempt(s, method, JSON.stringify({ jsonrpc: "2.0", id: ++this.#id, method, params: [] }));
  }

  /** Milliseconds since the upstream last answered (Infinity if never). */
  sinceOk(label: string): number {
    const s = this.#states.find((x) => x.upstream.label === label);
    return s?.lastOkAt ? this.#now() - s.lastOkAt : Infinity;
  }

  async close(): Promise<void> {}

  /** Healthy upstreams in priority order, then the skipped ones, soonest re-probe first. */
  #order(): UpstreamState[] {
    const now = this.#now();
    const up: UpstreamState[] = [];
    const down: UpstreamState[] = [];
    for (const s of this.#states) (s.downUntil > now ? down : up).push(s);
    if (down.length > 1) down.sort((a, b) => a.downUntil - b.downUntil);
    return up.concat(down);
  }

  async #attempt(s: UpstreamState, method: string, body: string, signal?: AbortSignal): Promise<JsonRpcResponse> {
    const label = s.upstream.label;
    const start = performance.now();
    let outcome: UpstreamOutcome = "upstream_error";
    try {
      let res: Response;
      try {
        res = await this.#client.post(s.upstream.url, { body, headers: s.headers, ...(signal ? { signal } : {}) });
      } catch (e) {
        if (e instanceof TimeoutError) {
          outcome = "upstream_timeout";
          throw new UpstreamError("upstream_timeout", `upstream ${label} did not answer within ${this.#timeoutMs} ms`);
        }
        if (signal?.aborted) throw e;
        // Only the error code: runtime messages may quote the URL, which can hold a project id.
        const code = (e as { code?: unknown } | null)?.code;
        throw Object.assign(
          new UpstreamError("upstream_error", `upstream ${label} unreachable${typeof code === "string" ? ` (${code})` : ""}`),
          { cause: e },
        );
      }
      const text = await res.text();
      // Rate limits and server errors mean "try elsewhere", even when they carry a JSON-RPC body.
      if (res.status === 429 || res.status >= 500)
        throw new UpstreamError("upstream_error", `upstream ${label} answered HTTP ${res.status}`);
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new UpstreamError("upstream_error", `upstream ${label} answered a non-JSON body (HTTP ${res.status})`);
      }
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed) || (!("result" in parsed) && !("error" in parsed))) {
        throw new UpstreamError(
          "upstream_error",
          `upstream ${label} answered something other than a JSON-RPC response (HTTP ${res.status})`,
        );
      }
      const response = parsed as JsonRpcResponse;
      outcome = response.error ? "rpc_error" : "ok";
      s.failures = 0;
      s.downUntil = 0;
      s.lastOkAt = this.#now();
      return response;
    } catch (e) {
      if (e instanceof UpstreamError) {
        s.failures++;
        s.downUntil = this.#now() + Math.min(DOWN_BASE_MS * 2 ** (s.failures - 1), DOWN_MAX_MS);
      }
      throw e;
    } finally {
      this.#metrics?.record(label, method, outcome, (performance.now() - start) / 1000);
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });
}
