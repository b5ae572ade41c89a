// The Fibonacci cursor. State lives in memory as the pair (F(n), F(n+1)) in decimal limbs, so a
// step is one linear addition and the value renders without BigInt's quadratic toString; the
// store only keeps n. With flushMs = 0 every change is durable before it is
// acknowledged, and all changes made in one event-loop turn share one commit (group commit).
import type { Logger } from "../log.ts";
import { nextTurn } from "../next-turn.ts";
import type { FibStore } from "../storage/ports.ts";
import { addLimbs, fibPair, limbsToString, subLimbs, toLimbs, type Limbs } from "./fib.math.ts";

export interface FibState {
  index: number;
  value: string;
}

export class FibService {
  #store: FibStore;
  #log: Logger;
  #flushMs: number;
  #index = 0;
  #a: Limbs = [0]; // F(index)
  #b: Limbs = [1]; // F(index + 1)
  #value: string | null = "0";
  #durable = 0;
  #batch: Promise<void> | null = null;
  #writing: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  /** Number of commits issued (observability and tests). */
  commits = 0;

  private constructor(store: FibStore, log: Logger, flushMs: number) {
    this.#store = store;
    this.#log = log;
    this.#flushMs = flushMs;
  }

  /** Loads the stored index and recomputes the value once, in O(log n) multiplications. */
  static async open(store: FibStore, opts: { flushMs: number; log: Logger }): Promise<FibService> {
    const s = new FibService(store, opts.log, opts.flushMs);
    const index = await store.load();
    s.#set(index);
    s.#durable = index;
    if (opts.flushMs > 0) {
      s.#timer = setInterval(() => {
        if (s.#index !== s.#durable) s.#flush().catch(() => {});
      }, opts.flushMs);
      (s.#timer as { unref?: () => void }).unref?.();
    }
    return s;
  }

  get index(): number {
    return this.#index;
  }

  current(): FibState {
    return { index: this.#index, value: this.#valueString() };
  }

  next(): Promise<FibState> {
    this.#assertOpen();
    if (this.#index >= Number.MAX_SAFE_INTEGER) return Promise.resolve(this.current());
    const b = this.#b;
    this.#b = addLimbs(this.#a, b);
    this.#a = b;
    this.#index++;
    this.#value = null;
    return this.#acknowledge();
  }

  previous(): Promise<FibState> {
    this.#assertOpen();
    if (this.#index > 0) {
      const a = this.#a;
      this.#a = subLimbs(this.#b, a);
      this.#b = a;
      this.#index--;
      this.#value = null;
    }
    return this.#acknowledge();
  }

  reset(): Promise<FibState> {
    this.#assertOpen();
    this.#set(0);
    return this.#acknowledge();
  }

  /** Writes the current index if it is not durable yet and stops the flush timer. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#batch?.catch(() => {});
    if (this.#index !== this.#durable) await this.#flush();
    await this.#writing.catch(() => {});
  }

  #assertOpen() {
    if (this.#closed) throw new Error("fibonacci service is closed");
  }

  #set(index: number) {
    const [a, b] = fibPair(index);
    this.#index = index;
    this.#a = toLimbs(a);
    this.#b = toLimbs(b);
    this.#value = null;
  }

  #valueString(): string {
    return (this.#value ??= limbsToString(this.#a));
  }

  async #acknowledge(): Promise<FibState> {
    const state = this.current();
    if (this.#flushMs === 0) await this.#commitSoon();
    return state;
  }

  /** One commit for every change made before the next event-loop turn. */
  #commitSoon(): Promise<void> {
    if (!this.#batch) {
      this.#batch = new Promise<void>((resolve, reject) =>
        nextTurn(() => {
          this.#batch = null;
          this.#flush().then(resolve, reject);
        }),
      );
    }
    return this.#batch;
  }

  #flush(): Promise<void> {
    const target = this.#index;
    const write = this.#writing.then(async () => {
      this.commits++;
      try {
        await this.#store.save(target);
        this.#durable = target;
      } catch (err) {
        // Nothing after the last durable index was acknowledged: fall back to it.
        this.#log.limited("fib_commit", "error", "fibonacci commit failed; reverting to last durable index", {
          durable: this.#durable,
          error: String(err),
        });
        this.#set(this.#durable);
        throw err;
      }
    });
    this.#writing = write.catch(() => {});
    return write;
  }
}
