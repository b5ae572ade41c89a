// What several pexd instances share through Redis (PEXD_REDIS_URL): the gateway's second-level
// response cache and the rate-limit buckets. The client is typed by the few calls used (Bun's
// RedisClient satisfies it; src/runtime/bun/redis.ts opens it). Redis is an accelerator, never a
// dependency: when it fails, a cache read is a miss, a write is skipped, and the rate limit falls
// back to this instance's own buckets — every failure counted and logged, rate-limited.
import type { SharedCache } from "../../eth/eth.cache.ts";
import type { Grant, RateLimitStore } from "../../limits/request-limiter.ts";
import type { RateRule } from "../../limits/rate.ts";
import type { Logger } from "../../log.ts";

export interface RedisLike {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ...options: string[]): Promise<unknown>;
  send(command: string, args: string[]): Promise<unknown>;
}

/**
 * Counts Redis failures and logs them once a second at most (metrics: pexd_redis_errors_total).
 * Every call has a deadline (a stalled server must not stall requests); after a failure Redis is
 * left alone for RETRY_MS — calls answer from this instance's own cache and buckets at once — and
 * then tried again.
 */
export class RedisHealth {
  static readonly TIMEOUT_MS = 250;
  static readonly RETRY_MS = 1000;
  errors = 0;
  lastError: string | null = null;
  lastOkAt = 0;
  #downUntil = 0;
  constructor(
    readonly log: Logger,
    readonly now: () => number = Date.now,
  ) {}
  ok(): void {
    this.lastOkAt = this.now();
    this.lastError = null;
  }
  failed(what: string, e: unknown): void {
    this.errors++;
    this.lastError = e instanceof Error ? e.message : String(e);
    this.#downUntil = this.now() + RedisHealth.RETRY_MS;
    this.log.limited(`redis ${what}`, "warn", `redis ${what} failed; going on without it`, { error: this.lastError });
  }
  /** Runs one Redis call within TIMEOUT_MS; rejects at once while Redis is being left alone. */
  async call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.now() < this.#downUntil) throw SKIPPED;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${RedisHealth.TIMEOUT_MS} ms`)), RedisHealth.TIMEOUT_MS);
    });
    try {
      const call = fn();
      call.catch(() => {}); // a late failure after the deadline is not an unhandled rejection
      return await Promise.race([call, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }
  /** Whether a failure is the circuit being open (already counted), not a new one. */
  static skipped(e: unknown): boolean {
    return e === SKIPPED;
  }
}

const SKIPPED = new Error("redis is being left alone after a failure");

/** The gateway's second-level cache: result texts under `pexd:eth:<key>`, each with its own lifetime. */
export class RedisSharedCache implements SharedCache {
  readonly #redis: RedisLike;
  readonly #health: RedisHealth;
  /** An entry "forever" still leaves after a week unless read: Redis keeps no unbounded garbage. */
  static readonly FOREVER_MS = 7 * 24 * 3600 * 1000;

  constructor(redis: RedisLike, health: RedisHealth) {
    this.#redis = redis;
    this.#health = health;
  }

  async get(key: string): Promise<string | null> {
    try {
      const v = await this.#health.call(() => this.#redis.get(`pexd:eth:${key}`));
      this.#health.ok();
      return v;
    } catch (e) {
      if (!RedisHealth.skipped(e)) this.#health.failed("cache read", e);
      return null;
    }
  }

  async set(key: string, value: string, ttlMs: number | null): Promise<void> {
    const ms = String(Math.max(1, Math.round(ttlMs ?? RedisSharedCache.FOREVER_MS)));
    try {
      await this.#health.call(() => this.#redis.set(`pexd:eth:${key}`, value, "PX", ms));
      this.#health.ok();
    } catch (e) {
      if (!RedisHealth.skipped(e)) this.#health.failed("cache write", e);
    }
  }
}

/**
 * A token bucket in a Redis hash, updated atomically by a script on Redis' own clock (instances'
 * clocks may differ): the same rule as TokenBuckets, shared by every instance.
 */
const TAKE = `
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local perMs = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens = tonumber(b[1])
local at = tonumber(b[2])
if tokens == nil then tokens = burst; at = ms end
if ms > at then tokens = math.min(burst, tokens + (ms - at) * perMs); at = ms end
local granted = math.min(want, math.floor(tokens))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / perMs) + 1000)
local retry = 0
if granted < want then retry = math.ceil((1 - tokens) / perMs) end
return {granted, retry}
`;

export class RedisRateLimitStore implements RateLimitStore {
  readonly #redis: RedisLike;
  readonly #health: RedisHealth;
  readonly #fallback: RateLimitStore;
  #sha: string | null = null;

  /** `fallback`: this instance's own buckets, used while Redis fails. */
  constructor(redis: RedisLike, health: RedisHealth, fallback: RateLimitStore) {
    this.#redis = redis;
    this.#health = health;
    this.#fallback = fallback;
  }

  async take(key: string, want: number, rule: RateRule): Promise<Grant> {
    const args = [String(rule.perMs), String(rule.burst), String(want)];
    const send = (cmd: string, a: string[]) => this.#health.call(() => this.#redis.send(cmd, a));
    try {
      this.#sha ??= String(await send("SCRIPT", ["LOAD", TAKE]));
      let r: unknown;
      try {
        r = await send("EVALSHA", [this.#sha, "1", `pexd:rl:${key}`, ...args]);
      } catch (e) {
        // The server restarted (scripts are not kept): load it again once.
        if (!String(e).includes("NOSCRIPT")) throw e;
        this.#sha = String(await send("SCRIPT", ["LOAD", TAKE]));
        r = await send("EVALSHA", [this.#sha, "1", `pexd:rl:${key}`, ...args]);
      }
      if (!Array.isArray(r) || r.length !== 2 || !Number.isFinite(Number(r[0])) || !Number.isFinite(Number(r[1]))) {
        throw new Error("unexpected answer from the rate-limit script");
      }
      this.#health.ok();
      return { granted: Number(r[0]), retryAfterMs: Number(r[1]) };
    } catch (e) {
      if (!RedisHealth.skipped(e)) this.#health.failed("rate limit", e);
      return this.#fallback.take(key, want, rule);
    }
  }
}
