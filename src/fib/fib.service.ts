// The Fibonacci cursor. The store holds the index; this service derives the exact values, keeping the
// pair (F(n), F(n+1)) of the last position it knows in decimal limbs, so a step is one linear
// addition (or subtraction) and a jump — another instance moved the index — one fast doubling.
// With flushMs = 0 every step is durable before it is acknowledged: the steps of one event-loop turn
// go to the store as one batch, applied atomically to the committed index (the row is the truth,
// also across instances sharing a database). With flushMs > 0 this process's cursor is the truth,
// acknowledged at once and written every flushMs (a single-writer store only).
import type { Logger } from "../log.ts";
import { nextTurn } from "../next-turn.ts";
import { stepIndex, stepIndexes, type FibStep, type FibStore } from "../storage/fib.port.ts";
import { addInto, fibPair, limbsToString, subInto, toLimbs, type Limbs } from "./fib.math.ts";

export interface FibState {
  index: number;
  value: string;
}

interface Waiting {
  step: FibStep;
  resolve(s: FibState): void;
  reject(e: unknown): void;
}

/** Batches of steps in the store at once (see #commitQueue). */
const MAX_IN_FLIGHT = 4;

export class FibService {
  #store: FibStore;
  #log: Logger;
  #flushMs: number;
  // The position values are derived from: the last committed index this process knows (flushMs = 0)
  // or its own cursor (flushMs > 0).
  #index = 0;
  #a: Limbs = [0]; // F(index)
  #b: Limbs = [1]; // F(index + 1)
  #value: string | null = "0";
  /** Steps of this turn, waiting for their commit (flushMs = 0). */
  #queue: Waiting[] = [];
  /** Batches are answered one after another, in order (their commits may overlap: see #commitQueue). */
  #writing: Promise<void> = Promise.resolve();
  /** Batches handed to the store and not answered yet. */
  #inFlight = 0;
  /** flushMs > 0: the index last written. */
  #durable = 0;
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
    if (opts.flushMs > 0 && store.shared) {
      throw new Error("a flush interval needs a single-writer store: with a shared database every step is committed before it is answered");
    }
    const s = new FibService(store, opts.log, opts.flushMs);
    const index = await store.load();
    s.#moveTo(index);
    s.#durable = index;
    if (opts.flushMs > 0) {
      s.#timer = setInterval(() => {
        if (s.#index !== s.#durable) s.#flushLocal().catch(() => {});
      }, opts.flushMs);
      (s.#timer as { unref?: () => void }).unref?.();
    }
    return s;
  }

  /** The last index this process knows (metrics). */
  get index(): number {
    return this.#index;
  }

  /** Whether other instances move the index too (then current() reads the committed one). */
  get shared(): boolean {
    return this.#store.shared;
  }

  /** The current state; with a shared store, the committed index is read first (another instance may have moved it). */
  current(): FibState | Promise<FibState> {
    if (!this.#store.shared) return this.#state();
    return this.#store.load().then((i) => {
      this.#moveTo(i);
      return this.#state();
    });
  }

  next(): Promise<FibState> {
    return this.#step("next");
  }

  previous(): Promise<FibState> {
    return this.#step("previous");
  }

  reset(): Promise<FibState> {
    return this.#step("reset");
  }

  /** Commits what is pending and stops the flush timer. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    while (this.#queue.length || this.#inFlight) {
      this.#commitQueue();
      await this.#writing.catch(() => {});
    }
    if (this.#flushMs > 0 && this.#index !== this.#durable) await this.#flushLocal();
    await this.#writing.catch(() => {});
  }

  #state(): FibState {
    return { index: this.#index, value: (this.#value ??= limbsToString(this.#a)) };
  }

  #step(step: FibStep): Promise<FibState> {
    if (this.#closed) throw new Error("fibonacci service is closed");
    if (this.#flushMs > 0) {
      this.#moveTo(stepIndex(this.#index, step));
      return Promise.resolve(this.#state());
    }
    return new Promise<FibState>((resolve, reject) => {
      this.#queue.push({ step, resolve, reject });
      // One commit for every step made before the next event-loop turn.
      if (this.#queue.length === 1) nextTurn(() => this.#commitQueue());
    });
  }

  /**
   * Hands this turn's steps to the store as one batch. Up to MAX_IN_FLIGHT batches may be in the
   * store at once (a database that waits for its log flush after releasing the row can take the next
   * batch meanwhile); past that, steps keep gathering into the next batch. Answers go out in order.
   */
  #commitQueue(): void {
    const batch = this.#queue;
    if (!batch.length || this.#inFlight >= MAX_IN_FLIGHT) return;
    this.#queue = [];
    this.#inFlight++;
    this.commits++;
    const steps = batch.map((w) => w.step);
    const applied = this.#store.apply(steps);
    applied.catch(() => {}); // handled below, in order
    this.#writing = this.#writing.then(async () => {
      let start: number;
      try {
        start = await applied;
      } catch (err) {
        for (const w of batch) w.reject(err);
        return;
      } finally {
        this.#inFlight--;
        if (this.#queue.length) this.#commitQueue();
      }
      // Each caller gets the state right after its own step (a batch of nexts: consecutive values).
      const indexes = stepIndexes(start, steps);
      for (let k = 0; k < batch.length; k++) {
        this.#moveTo(indexes[k]!);
        batch[k]!.resolve(this.#state());
      }
    });
  }

  /** flushMs > 0: writes this process's cursor; on failure, goes back to the last durable index. */
  #flushLocal(): Promise<void> {
    const target = this.#index;
    const write = this.#writing.then(async () => {
      this.commits++;
      try {
        await this.#store.apply([target]);
        this.#durable = target;
      } catch (err) {
        // Nothing after the last durable index was acknowledged as durable: fall back to it.
        this.#log.limited("fib_commit", "error", "fibonacci commit failed; reverting to last durable index", {
          durable: this.#durable,
          error: String(err),
        });
        this.#moveTo(this.#durable);
        throw err;
      }
    });
    this.#writing = write.catch(() => {});
    return write;
  }

  /** Moves the derived values to `index`: a step when it is adjacent, a fast doubling otherwise. */
  #moveTo(index: number): void {
    if (index === this.#index) return;
    // In place: the pair's arrays are this service's own (rendering copies the digits out).
    if (index === this.#index + 1) {
      const a = this.#a;
      addInto(a, this.#b); // a := F(n) + F(n+1) = F(n+2)
      this.#a = this.#b;
      this.#b = a;
    } else if (index === this.#index - 1) {
      const b = this.#b;
      subInto(b, this.#a); // b := F(n+1) − F(n) = F(n−1)
      this.#b = this.#a;
      this.#a = b;
    } else {
      const [a, b] = fibPair(index);
      this.#a = toLimbs(a);
      this.#b = toLimbs(b);
    }
    this.#index = index;
    this.#value = null;
  }
}
