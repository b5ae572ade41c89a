// What pexd knows about one upstream, kept as calls happen: a circuit breaker (closed; open after a
// timeout or a refused connection, after consecutive failures, or after consecutive races lost to
// another upstream; a
// background probe after a cool-down closes it again), a bounded pool of calls in flight (so a
// hanging upstream cannot absorb every caller, and sockets stay bounded), and recent latencies
// from which the hedge delay is derived. Nothing here sends a call: transports do.

export type CircuitState = "closed" | "open";

/** Consecutive failures (or lost races) that open a circuit; a timeout opens it at once. */
export const FAILURES_TO_OPEN = 3;
/** Cool-down of an open circuit: 1 s, doubling while probes fail, at most 30 s. */
export const OPEN_BASE_MS = 1000;
export const OPEN_MAX_MS = 30_000;

export interface HealthView {
  upstream: string;
  state: CircuitState;
  /** "up": answered last; "down": circuit open; "unknown": never called yet. */
  status: "up" | "down" | "unknown";
  /** Why the circuit opened, when it is open. */
  reason: string | null;
  /** Milliseconds since the last good answer (Infinity if never). */
  sinceOkMs: number;
  inFlight: number;
  queued: number;
}

interface Waiter {
  resolve(ok: boolean): void;
  timer: ReturnType<typeof setTimeout>;
}

export class UpstreamHealth {
  readonly label: string;
  readonly #pool: number;
  readonly #now: () => number;
  #state: CircuitState = "closed";
  #reason: string | null = null;
  #failures = 0;
  #opens = 0;
  #retryAt = 0;
  #probing = false;
  #lastOkAt = 0;
  #called = false;
  #inFlight = 0;
  #waiters: Waiter[] = [];

  constructor(label: string, opts: { pool: number; now?: () => number }) {
    this.label = label;
    this.#pool = opts.pool;
    this.#now = opts.now ?? Date.now;
  }

  /** Whether calls may go to this upstream now (a closed circuit). */
  get available(): boolean {
    return this.#state === "closed";
  }

  /** An open circuit whose cool-down is over and whose probe is not under way: time to probe. */
  get probeDue(): boolean {
    return this.#state === "open" && !this.#probing && this.#now() >= this.#retryAt;
  }

  /** Takes a free slot of the pool if there is one now (nobody waiting before); pair with release(). */
  tryAcquire(): boolean {
    if (this.#inFlight >= this.#pool || this.#waiters.length > 0) return false;
    this.#inFlight++;
    return true;
  }

  get queued(): number {
    return this.#waiters.length;
  }

  view(): HealthView {
    return {
      upstream: this.label,
      state: this.#state,
      status: this.#state === "open" ? "down" : this.#called ? "up" : "unknown",
      reason: this.#reason,
      sinceOkMs: this.#lastOkAt ? this.#now() - this.#lastOkAt : Number.POSITIVE_INFINITY,
      inFlight: this.#inFlight,
      queued: this.#waiters.length,
    };
  }

  /**
   * Takes a slot of the pool, waiting (FIFO) for one until `waitMs`; false when none came in time.
   * Every true must be paired with release().
   */
  acquire(waitMs: number): Promise<boolean> {
    if (this.tryAcquire()) return Promise.resolve(true);
    if (waitMs <= 0) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const w: Waiter = {
        resolve,
        timer: setTimeout(() => {
          const i = this.#waiters.indexOf(w);
          if (i >= 0) this.#waiters.splice(i, 1);
          resolve(false);
        }, waitMs),
      };
      this.#waiters.push(w);
    });
  }

  release(): void {
    const next = this.#waiters.shift();
    if (next) {
      clearTimeout(next.timer);
      next.resolve(true); // the slot passes straight to the next waiter
    } else this.#inFlight--;
  }

  ok(): void {
    this.#called = true;
    this.#lastOkAt = this.#now();
    this.#failures = 0;
    this.#opens = 0;
    this.#state = "closed";
    this.#reason = null;
  }

  /**
   * A failed attempt. A timeout or a refused connection (`certain`) opens the circuit at once, other
   * failures after FAILURES_TO_OPEN in a row; a failed probe keeps it open for a longer cool-down.
   */
  failed(reason: string, certain: boolean): void {
    this.#called = true;
    this.#failures++;
    if (this.#state === "open" || certain || this.#failures >= FAILURES_TO_OPEN) this.#open(reason);
  }

  /** Another upstream answered first while this one had not yet (a hedged read): slow, not failed. */
  lostRace(): void {
    this.#failures++;
    if (this.#failures >= FAILURES_TO_OPEN) this.#open("slower than another upstream in consecutive hedged reads");
  }

  /** Marks the probe under way; the caller reports its result with ok()/failed() then probed(). */
  startProbe(): void {
    this.#probing = true;
  }

  probed(): void {
    this.#probing = false;
  }

  #open(reason: string): void {
    if (this.#state === "closed") this.#opens = 0;
    this.#state = "open";
    this.#reason = reason;
    this.#retryAt = this.#now() + Math.min(OPEN_BASE_MS * 2 ** this.#opens, OPEN_MAX_MS);
    this.#opens++;
    this.#failures = 0;
  }
}

/**
 * Recent latencies of good answers (all upstreams of a transport): the hedge delay is twice their
 * 90th percentile, kept between 20 ms and 1 s (250 ms before anything was measured).
 */
export class LatencyWindow {
  readonly #samples: number[] = [];
  #next = 0;
  #delay = 250;
  #dirty = 0;

  constructor(readonly size = 128) {}

  add(ms: number): void {
    if (this.#samples.length < this.size) this.#samples.push(ms);
    else this.#samples[this.#next] = ms;
    this.#next = (this.#next + 1) % this.size;
    // Recomputed every 16 samples: a sort of 128 numbers per answer is not worth it.
    if (++this.#dirty >= 16 || this.#samples.length < 16) {
      this.#dirty = 0;
      const sorted = [...this.#samples].sort((a, b) => a - b);
      const p90 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.9))]!;
      this.#delay = Math.min(1000, Math.max(20, 2 * p90));
    }
  }

  get hedgeDelayMs(): number {
    return this.#delay;
  }
}
