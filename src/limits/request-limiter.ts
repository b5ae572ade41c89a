// Per-client rate limits (docs/security.md): one token bucket per client, shared by its HTTP requests, its
// JSON-RPC calls (each call of a batch counts) and its client WebSocket messages. A client is its
// bearer token when it sends the valid one, else its address (behind trusted proxies, the
// forwarded one). The buckets sit behind RateLimitStore, so several instances can share them.
import type { Context } from "hono";
import { timingSafeEqual } from "hono/utils/buffer";
import { AppError } from "../errors.ts";
import { LIMIT_EXCEEDED, RpcFault } from "../eth/jsonrpc.ts";
import { clientAddress, limitKey, type Cidr, type IpAddress } from "./client-ip.ts";
import { TokenBuckets, type Grant, type RateRule } from "./rate.ts";

export type { Grant };

/** Where the buckets live: memory by default; a shared store lets a limit hold across instances. */
export interface RateLimitStore {
  /** Takes up to `want` whole tokens from `key`'s bucket under `rule`. */
  take(key: string, want: number, rule: RateRule): Grant | Promise<Grant>;
  /** Buckets held (metrics), when the store can tell. */
  readonly size?: number;
}

export function memoryRateLimitStore(now: () => number = Date.now): RateLimitStore {
  const byRule = new Map<RateRule, TokenBuckets>();
  let last: TokenBuckets | null = null;
  return {
    take(key, want, rule) {
      let b = last?.rule === rule ? last : byRule.get(rule);
      if (!b) byRule.set(rule, (b = new TokenBuckets(rule, { now })));
      last = b;
      return b.take(key, want);
    },
    get size() {
      let n = 0;
      for (const b of byRule.values()) n += b.size;
      return n;
    },
  };
}

/** The peer address as the runtime sees it (Bun: server.requestIP), or null where it cannot tell. */
export type PeerAddress = (request: Request, env: unknown) => string | null;

/** Who sent a request: its address, behind trusted proxies the forwarded one. */
export class Clients {
  readonly #peer: PeerAddress;
  readonly #trusted: readonly Cidr[];
  /** Peer address text → limit key: parsing an address per request was most of the limiter's cost. */
  readonly #keys = new Map<string, string>();

  constructor(peer: PeerAddress, trusted: readonly Cidr[]) {
    this.#peer = peer;
    this.#trusted = trusted;
  }

  address(c: Context): IpAddress | null {
    const forwarded = this.#trusted.length ? (c.req.raw.headers.get("x-forwarded-for") ?? null) : null;
    return clientAddress(this.#peer(c.req.raw, c.env), forwarded, this.#trusted);
  }

  /** What per-address limits count by: an IPv4 address or an IPv6 /64 ("unknown" when the runtime cannot tell). */
  key(c: Context): string {
    if (this.#trusted.length) {
      const a = this.address(c);
      return a ? limitKey(a) : "unknown";
    }
    const peer = this.#peer(c.req.raw, c.env);
    if (peer === null) return "unknown";
    let k = this.#keys.get(peer);
    if (k === undefined) {
      const a = clientAddress(peer, null, []);
      k = a ? limitKey(a) : "unknown";
      // Bounded: a flood of distinct addresses only costs a parse each once this is full.
      if (this.#keys.size >= 10_000) this.#keys.clear();
      this.#keys.set(peer, k);
    }
    return k;
  }
}

/** Parses `Authorization: Bearer <token>` with the scheme in any case (RFC 9110 §11.1). */
export function bearerToken(header: string | null | undefined): string | null {
  if (!header) return null;
  const m = /^bearer[ \t]+([^ \t]+)[ \t]*$/i.exec(header);
  return m ? m[1]! : null;
}

/** Whether `got` is the API token, compared in constant time (over digests: neither content nor length leaks). */
export async function isApiToken(got: string | null, token: string | undefined): Promise<boolean> {
  if (token === undefined || got === null) return false;
  return timingSafeEqual(token, got);
}

export type LimitKind = "http" | "rpc" | "ws";

export class RequestLimiter {
  readonly rule: RateRule;
  /** Requests or calls refused, by where they came in (metrics). */
  readonly refused: Record<LimitKind, number> = { http: 0, rpc: 0, ws: 0 };
  readonly store: RateLimitStore;
  readonly #clients: Clients;
  readonly #token: string | undefined;

  constructor(o: { rule: RateRule; store: RateLimitStore; clients: Clients; token?: string | undefined }) {
    this.rule = o.rule;
    this.store = o.store;
    this.#clients = o.clients;
    this.#token = o.token;
  }

  /**
   * The bucket a request spends from: its valid bearer token, else its address. Synchronous unless
   * the request carries an Authorization header (the token compare hashes).
   */
  client(c: Context): string | Promise<string> {
    const auth = c.req.raw.headers.get("authorization");
    if (auth === null || this.#token === undefined) return this.#clients.key(c);
    return isApiToken(bearerToken(auth), this.#token).then((ok) => (ok ? "token" : this.#clients.key(c)));
  }

  /** Takes from the client's bucket; synchronous with the memory store. */
  take(client: string, want: number, kind: LimitKind): Grant | Promise<Grant> {
    const g = this.store.take(client, want, this.rule);
    if (g instanceof Promise) return g.then((x) => this.#count(x, want, kind));
    return this.#count(g, want, kind);
  }

  #count(g: Grant, want: number, kind: LimitKind): Grant {
    if (g.granted < want) this.refused[kind] += want - g.granted;
    return g;
  }

  /**
   * Charges one HTTP request; a refused one rejects with the 429, after the tarpit's wait. Synchronous
   * (no promise) in the common case: memory buckets, no Authorization header, a token left.
   */
  admit(c: Context): void | Promise<void> {
    const client = this.client(c);
    if (typeof client !== "string") return client.then((k) => this.#charge(k));
    return this.#charge(client);
  }

  #charge(client: string): void | Promise<void> {
    const g = this.take(client, 1, "http");
    if (g instanceof Promise) return g.then((x) => this.#refuse(x));
    return this.#refuse(g);
  }

  #refuse(g: Grant): void | Promise<void> {
    if (g.granted >= 1) return;
    return this.tarpit(g.retryAfterMs).then(() => {
      throw this.httpError(g);
    });
  }

  #waiting = 0;

  /**
   * Holds a refusal for the wait until the client's next token (at most TARPIT_MAX_MS, at most
   * TARPIT_MAX_WAITING at a time): a client that floods without honouring Retry-After slows itself
   * down instead of taking the server's time from everyone else.
   */
  tarpit(retryAfterMs: number): Promise<void> {
    if (this.#waiting >= TARPIT_MAX_WAITING) return Promise.resolve();
    this.#waiting++;
    return new Promise<void>((resolve) =>
      setTimeout(
        () => {
          this.#waiting--;
          resolve();
        },
        Math.min(retryAfterMs, TARPIT_MAX_MS),
      ),
    );
  }

  /** HTTP 429 with Retry-After and the error body (code rate_limited). */
  httpError(g: Grant): AppError {
    const s = Math.max(1, Math.ceil(g.retryAfterMs / 1000));
    return new AppError(429, "rate_limited", "too many requests from this client", `limit ${this.rule.text}`, `retry after ${s} s`, {
      "Retry-After": String(s),
    });
  }

  /** Charges `calls` JSON-RPC calls: how many may go, and the -32005 (data.retry_after_ms) for the rest. */
  async allowance(client: string, calls: number, kind: LimitKind): Promise<{ granted: number; refused: RpcFault }> {
    const g = await this.take(client, calls, kind);
    return { granted: g.granted, refused: rateLimitedFault(g.retryAfterMs, `rate limited: over ${this.rule.text} for this client`) };
  }
}

/** A refused request is answered after the wait for its next token, but never later than this. */
export const TARPIT_MAX_MS = 1000;
/** Refusals held at most at once; beyond, they are answered at once. */
export const TARPIT_MAX_WAITING = 10_000;

export function rateLimitedFault(retryAfterMs: number, message: string): RpcFault {
  return new RpcFault(LIMIT_EXCEEDED, message, { retry_after_ms: Math.max(1, Math.ceil(retryAfterMs)) });
}
