// RpcTransport over HTTP(S) with ky. Each upstream has a circuit and a bounded pool of calls in
// flight (upstream.health.ts). Reads go to the first healthy upstream and are hedged: unanswered
// after the hedge delay (from recent latency), the same read also goes to the next healthy one;
// the first answer wins and the other is cancelled. Writes are never hedged, and never sent again
// once they may have reached a node. When every upstream is known to be down a call fails at once
// (upstream_unavailable); a background probe brings an upstream back after its cool-down.
// Connections are kept alive (fetch's default) and bounded by the pools. Credentials stay in the header.
import ky, { TimeoutError, type KyInstance } from "ky";
import type { Upstream } from "../config.ts";
import { TokenBuckets, type RateRule } from "../limits/rate.ts";
import type { UpstreamMetrics, UpstreamOutcome } from "./eth.metrics.ts";
import { isWrite } from "./eth.policy.ts";
import { UpstreamError, type JsonRpcResponse, type RpcTransport } from "./transport.ts";
import { LatencyWindow, UpstreamHealth, type HealthView } from "./upstream.health.ts";

export type FetchLike = (input: Request | string | URL, init?: RequestInit) => Promise<Response>;

export interface HttpTransportOptions {
  upstreams: readonly Upstream[];
  timeoutMs: number;
  /** Extra rounds over the upstreams for reads after every upstream failed (not after timeouts). */
  retries?: number;
  /** Base of the backoff between rounds (full jitter: uniform in [0, base·2^round]). */
  backoffMs?: number;
  /** Calls in flight per upstream at most (and so connections to it); more wait for a slot. */
  pool?: number;
  fetch?: FetchLike;
  metrics?: UpstreamMetrics;
  /** Calls per upstream at most (PEXD_ETH_UPSTREAM_RATE): a capped upstream is skipped like a down one. */
  rate?: RateRule | undefined;
  now?: () => number;
}

/** Calls in flight per upstream by default (PEXD_ETH_UPSTREAM_CONNECTIONS). */
export const DEFAULT_POOL = 16;

interface UpstreamState {
  readonly upstream: Upstream;
  readonly headers: Record<string, string>;
  readonly health: UpstreamHealth;
}

/** Connection refused: nothing reached the node, so even a write may go to the next upstream. */
function refused(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === "ECONNREFUSED" || code === "ConnectionRefused";
}

const aborted = (e: unknown) => e instanceof Error && e.name === "AbortError";

export class HttpTransport implements RpcTransport {
  readonly upstreams: readonly string[];
  readonly latency = new LatencyWindow();
  #states: UpstreamState[];
  #client: KyInstance;
  #timeoutMs: number;
  #retries: number;
  #backoffMs: number;
  #metrics: UpstreamMetrics | undefined;
  #now: () => number;
  #caps: TokenBuckets | null;
  #id = 0;
  /** Reads sent to a second upstream after the hedge delay (metrics). */
  hedged = 0;

  constructor(opts: HttpTransportOptions) {
    this.upstreams = opts.upstreams.map((u) => u.label);
    this.#now = opts.now ?? Date.now;
    this.#states = opts.upstreams.map((upstream) => ({
      upstream,
      headers: {
        "content-type": "application/json",
        accept: "application/json",
        ...(upstream.authorization ? { authorization: upstream.authorization } : {}),
      },
      health: new UpstreamHealth(upstream.label, { pool: opts.pool ?? DEFAULT_POOL, now: this.#now }),
    }));
    this.#timeoutMs = opts.timeoutMs;
    this.#retries = opts.retries ?? 2;
    this.#backoffMs = opts.backoffMs ?? 100;
    this.#metrics = opts.metrics;
    this.#caps = opts.rate ? new TokenBuckets(opts.rate, { now: this.#now }) : null;
    // Retries, hedging and failover are decided here (across upstreams), so ky itself never retries.
    this.#client = ky.create({ timeout: false, retry: 0, throwHttpErrors: false, ...(opts.fetch ? { fetch: opts.fetch } : {}) });
  }

  /** What is known of each upstream (readiness, metrics, tests). */
  health(): HealthView[] {
    return this.#states.map((s) => s.health.view());
  }

  async call(
    method: string,
    params: unknown[] | Record<string, unknown> | undefined,
    opts: { signal?: AbortSignal } = {},
  ): Promise<JsonRpcResponse> {
    if (this.#states.length === 0) throw new UpstreamError("upstream_not_configured", "no Ethereum upstream is configured");
    this.#probeDue();
    const body = JSON.stringify({ jsonrpc: "2.0", id: ++this.#id, method, params: params ?? [] });
    const deadline = this.#now() + this.#timeoutMs;
    if (isWrite(method)) return this.#write(method, body, deadline, opts.signal);
    let last: UpstreamError | undefined;
    for (let round = 0; round <= this.#retries; round++) {
      if (round > 0) await sleep(Math.random() * this.#backoffMs * 2 ** round, opts.signal);
      try {
        return await this.#read(method, body, deadline, opts.signal);
      } catch (e) {
        if (!(e instanceof UpstreamError)) throw e;
        last = e;
        // Timeouts already cost the caller the whole timeout; unavailable and capped answer at once.
        if (e.kind !== "upstream_error" || this.#now() >= deadline) throw e;
      }
    }
    throw last!;
  }

  /** Sends one call to one named upstream (readiness probes); no failover, no retry. */
  async probe(label: string, method = "eth_chainId"): Promise<JsonRpcResponse> {
    const s = this.#states.find((x) => x.upstream.label === label);
    if (!s) throw new UpstreamError("upstream_not_configured", `unknown upstream ${label}`);
    return this.#attempt(s, method, JSON.stringify({ jsonrpc: "2.0", id: ++this.#id, method, params: [] }), this.#timeoutMs);
  }

  /** Milliseconds since the upstream last answered (Infinity if never). */
  sinceOk(label: string): number {
    return this.#states.find((x) => x.upstream.label === label)?.health.view().sinceOkMs ?? Number.POSITIVE_INFINITY;
  }

  async close(): Promise<void> {}

  /** Healthy upstreams, in priority order, within their call cap. */
  #candidates(): UpstreamState[] {
    return this.#states.filter((s) => s.health.available);
  }

  #unavailable(): UpstreamError {
    const down = this.#states.map((s) => `${s.upstream.label} (${s.health.view().reason ?? "down"})`).join(", ");
    return new UpstreamError("upstream_unavailable", `every upstream is known to be down: ${down}`);
  }

  /** Takes a token of the upstream's call cap; false (and counted) when it has none. */
  #capped(s: UpstreamState): number | null {
    if (!this.#caps) return null;
    const g = this.#caps.take(s.upstream.label, 1);
    if (g.granted) return null;
    this.#metrics?.capped(s.upstream.label);
    return g.retryAfterMs;
  }

  #cappedError(waitMs: number): UpstreamError {
    return new UpstreamError(
      "upstream_rate_limited",
      `every upstream is at its call cap (PEXD_ETH_UPSTREAM_RATE: ${this.#caps!.rule.text})`,
      waitMs,
    );
  }

  /** Background probes of open circuits whose cool-down is over: an upstream comes back without a client's call paying for it. */
  #probeDue(): void {
    for (const s of this.#states) {
      if (!s.health.probeDue) continue;
      s.health.startProbe();
      this.#attempt(
        s,
        "eth_chainId",
        JSON.stringify({ jsonrpc: "2.0", id: ++this.#id, method: "eth_chainId", params: [] }),
        Math.min(this.#timeoutMs, 5000),
      )
        .catch(() => {})
        .finally(() => s.health.probed());
    }
  }

  /** A write: the first healthy upstream; the next one only if the connection was refused (nothing reached a node). */
  async #write(method: string, body: string, deadline: number, signal?: AbortSignal): Promise<JsonRpcResponse> {
    const candidates = this.#candidates();
    if (candidates.length === 0) throw this.#unavailable();
    let last: UpstreamError | undefined;
    let capWait = Number.POSITIVE_INFINITY;
    for (const s of candidates) {
      const wait = this.#capped(s);
      if (wait !== null) {
        capWait = Math.min(capWait, wait);
        continue;
      }
      if (!(await s.health.acquire(deadline - this.#now()))) throw this.#timeout(s);
      try {
        return await this.#attempt(s, method, body, deadline - this.#now(), signal);
      } catch (e) {
        if (!(e instanceof UpstreamError)) throw e;
        last = e;
        // A write that may have reached a node is never sent again (no double spend of a nonce slot).
        if (!refused(e.cause)) throw e;
      } finally {
        s.health.release();
      }
    }
    throw last ?? this.#cappedError(capWait);
  }

  #timeout(s: UpstreamState): UpstreamError {
    return new UpstreamError("upstream_timeout", `upstream ${s.upstream.label} did not answer within ${this.#timeoutMs} ms`);
  }

  /**
   * A read, hedged: the first healthy upstream with a free slot (waiting for one if every pool is
   * full); each hedge delay without an answer sends it to the next one with a free slot; a failure
   * fails over at once. The first answer wins; the others are cancelled.
   */
  #read(method: string, body: string, deadline: number, signal?: AbortSignal): Promise<JsonRpcResponse> {
    const candidates = this.#candidates();
    if (candidates.length === 0) return Promise.reject(this.#unavailable());
    return new Promise<JsonRpcResponse>((resolve, reject) => {
      const running = new Map<UpstreamState, { ctl: AbortController; started: number }>();
      let next = 0;
      let done = false;
      let last: UpstreamError | undefined;
      let capWait = Number.POSITIVE_INFINITY;
      let hedge: ReturnType<typeof setTimeout> | undefined;

      const settle = (err: UpstreamError | null, res?: JsonRpcResponse) => {
        if (done) return;
        done = true;
        clearTimeout(hedge);
        signal?.removeEventListener("abort", onAbort);
        const now = this.#now();
        for (const [s, r] of running) {
          // Still waiting after a hedge delay while another answered: slow, a step towards open.
          if (!err && now - r.started >= this.latency.hedgeDelayMs) s.health.lostRace();
          r.ctl.abort();
        }
        if (err) reject(err);
        else resolve(res!);
      };
      const onAbort = () => settle(new UpstreamError("upstream_error", "the call was cancelled"));
      signal?.addEventListener("abort", onAbort);

      const start = (s: UpstreamState) => {
        const ctl = new AbortController();
        running.set(s, { ctl, started: this.#now() });
        this.#attempt(s, method, body, deadline - this.#now(), ctl.signal)
          .then(
            (res) => settle(null, res),
            (e: unknown) => {
              running.delete(s);
              if (done || aborted(e)) return;
              last = e instanceof UpstreamError ? e : new UpstreamError("upstream_error", `upstream ${s.upstream.label} failed`);
              // A timeout is the caller's whole budget; anything else fails over at once.
              if (last.kind === "upstream_timeout" || !launch(true)) {
                if (running.size === 0) settle(last);
              }
            },
          )
          .finally(() => s.health.release());
        clearTimeout(hedge);
        if (next < candidates.length) hedge = setTimeout(() => !done && launch(false) && this.hedged++, this.latency.hedgeDelayMs);
      };

      /** Starts the read on the next candidate with a free slot; waits for one only when nothing runs. */
      const launch = (failover: boolean): boolean => {
        while (next < candidates.length) {
          const s = candidates[next++]!;
          if (!s.health.available) continue;
          const wait = this.#capped(s);
          if (wait !== null) {
            capWait = Math.min(capWait, wait);
            continue;
          }
          if (s.health.tryAcquire()) {
            start(s);
            return true;
          }
          // Every pool busy and nothing in flight for this call: queue for this upstream's slot.
          if (failover && running.size === 0 && next >= candidates.length) {
            void s.health.acquire(deadline - this.#now()).then((got) => {
              if (done) {
                if (got) s.health.release();
              } else if (got) start(s);
              else settle(this.#timeout(s));
            });
            running.set(s, { ctl: new AbortController(), started: this.#now() });
            return true;
          }
        }
        return false;
      };

      if (!launch(true)) settle(capWait < Number.POSITIVE_INFINITY ? this.#cappedError(capWait) : (last ?? this.#unavailable()));
    });
  }

  async #attempt(s: UpstreamState, method: string, body: string, timeoutMs: number, signal?: AbortSignal): Promise<JsonRpcResponse> {
    const label = s.upstream.label;
    const start = performance.now();
    let outcome: UpstreamOutcome = "upstream_error";
    try {
      let res: Response;
      try {
        res = await this.#client.post(s.upstream.url, {
          body,
          headers: s.headers,
          timeout: Math.max(1, timeoutMs),
          ...(signal ? { signal } : {}),
        });
      } catch (e) {
        if (e instanceof TimeoutError) {
          outcome = "upstream_timeout";
          s.health.failed(`no answer within ${this.#timeoutMs} ms`, true);
          throw new UpstreamError("upstream_timeout", `upstream ${label} did not answer within ${this.#timeoutMs} ms`);
        }
        if (signal?.aborted) {
          outcome = "cancelled";
          throw e;
        }
        // Only the error code: runtime messages may quote the URL, which can hold a project id.
        const code = (e as { code?: unknown } | null)?.code;
        const why = `unreachable${typeof code === "string" ? ` (${code})` : ""}`;
        // A refused connection is as clear as a timeout: nothing listens there now.
        s.health.failed(why, refused(e));
        throw Object.assign(new UpstreamError("upstream_error", `upstream ${label} ${why}`), { cause: e });
      }
      const text = await res.text();
      // Rate limits and server errors mean "try elsewhere", even when they carry a JSON-RPC body.
      if (res.status === 429 || res.status >= 500) {
        s.health.failed(`HTTP ${res.status}`, false);
        throw new UpstreamError("upstream_error", `upstream ${label} answered HTTP ${res.status}`);
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        s.health.failed("a non-JSON answer", false);
        throw new UpstreamError("upstream_error", `upstream ${label} answered a non-JSON body (HTTP ${res.status})`);
      }
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed) || (!("result" in parsed) && !("error" in parsed))) {
        s.health.failed("not a JSON-RPC answer", false);
        throw new UpstreamError(
          "upstream_error",
          `upstream ${label} answered something other than a JSON-RPC response (HTTP ${res.status})`,
        );
      }
      const response = parsed as JsonRpcResponse;
      outcome = response.error ? "rpc_error" : "ok";
      s.health.ok();
      this.latency.add(performance.now() - start);
      return response;
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
