// Rates as operators write them (`100/s`, `600/m,burst=50`, `1000/h`) and the token-bucket rule
// they stand for: `n` per unit is a refill of n/unit with room for `burst` (default n) at once.

export interface RateRule {
  /** Tokens added per millisecond. */
  readonly perMs: number;
  /** Bucket size: how many can be spent at once. */
  readonly burst: number;
  /** As written, for messages (`100/s, burst 200`). */
  readonly text: string;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000 };
const RATE = /^(\d{1,9})\/([smh])(?:\s*,\s*burst\s*=\s*(\d{1,9}))?$/;

/** Parses `<n>/s|m|h[,burst=<m>]`; throws a RangeError saying what is wrong. */
export function parseRate(raw: string): RateRule {
  const m = RATE.exec(raw.trim());
  if (!m) throw new RangeError('must be "<n>/s", "<n>/m" or "<n>/h", optionally ",burst=<m>" (e.g. "100/s,burst=200")');
  const n = Number(m[1]);
  const burst = m[3] === undefined ? n : Number(m[3]);
  if (n < 1) throw new RangeError("the rate must be at least 1");
  if (burst < 1) throw new RangeError("burst must be at least 1");
  return { perMs: n / UNIT_MS[m[2]!]!, burst, text: `${n}/${m[2]}, burst ${burst}` };
}

/** What a bucket granted: up to `want` tokens, and when the next one will be there if short. */
export interface Grant {
  granted: number;
  /** Milliseconds until one more token is available (0 when everything wanted was granted). */
  retryAfterMs: number;
}

/** The common answer, shared: a grant of one with nothing to wait for. */
const ONE: Grant = Object.freeze({ granted: 1, retryAfterMs: 0 });

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Token buckets by key in memory, bounded: past `maxKeys` the buckets that are full again (idle
 * clients, indistinguishable from new ones) are swept, and if none is, the oldest are dropped.
 */
export class TokenBuckets {
  readonly rule: RateRule;
  readonly #now: () => number;
  readonly #max: number;
  #buckets = new Map<string, Bucket>();

  constructor(rule: RateRule, opts: { now?: () => number; maxKeys?: number } = {}) {
    this.rule = rule;
    this.#now = opts.now ?? Date.now;
    this.#max = opts.maxKeys ?? 100_000;
  }

  get size(): number {
    return this.#buckets.size;
  }

  /** Takes up to `want` tokens from `key`'s bucket (whole tokens only). */
  take(key: string, want: number): Grant {
    const now = this.#now();
    const { perMs, burst } = this.rule;
    let b = this.#buckets.get(key);
    if (b === undefined) {
      if (this.#buckets.size >= this.#max) this.#sweep(now);
      b = { tokens: burst, at: now };
      this.#buckets.set(key, b);
    } else if (now > b.at) {
      b.tokens = Math.min(burst, b.tokens + (now - b.at) * perMs);
      b.at = now;
    }
    if (want === 1 && b.tokens >= 1) {
      b.tokens -= 1;
      return ONE;
    }
    const granted = Math.min(want, Math.floor(b.tokens));
    b.tokens -= granted;
    // Short: every whole token was taken, so what is left is under one.
    return { granted, retryAfterMs: granted < want ? Math.ceil((1 - b.tokens) / perMs) : 0 };
  }

  #sweep(now: number): void {
    const { perMs, burst } = this.rule;
    for (const [k, b] of this.#buckets) if (b.tokens + (now - b.at) * perMs >= burst) this.#buckets.delete(k);
    // Still full of active clients: drop the oldest tenth (a flood of new keys cannot grow memory).
    if (this.#buckets.size >= this.#max) {
      let n = Math.ceil(this.#max / 10);
      for (const k of this.#buckets.keys()) {
        if (n-- <= 0) break;
        this.#buckets.delete(k);
      }
    }
  }
}
