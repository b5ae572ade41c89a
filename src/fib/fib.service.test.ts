import { describe, expect, test } from "bun:test";
import { silentLogger } from "../log.ts";
import { MemoryFibStore } from "../storage/memory/fib.memory.ts";
import { stepIndexes, type FibStep } from "../storage/fib.port.ts";
import type { FibStore } from "../storage/ports.ts";
import { fib } from "./fib.math.ts";
import { FibService } from "./fib.service.ts";

/** Records the index each commit leaves; can fail the next one; `shared` as asked. */
class CountingStore implements FibStore {
  saves: number[] = [];
  failNext = false;
  constructor(
    private index = 0,
    readonly shared = false,
  ) {}
  async load() {
    return this.index;
  }
  async apply(steps: readonly FibStep[]) {
    if (this.failNext) {
      this.failNext = false;
      throw new Error("disk full");
    }
    const start = this.index;
    this.index = stepIndexes(start, steps).at(-1) ?? start;
    this.saves.push(this.index);
    return start;
  }
  /** Another instance moving the index. */
  moveElsewhere(to: number) {
    this.index = to;
  }
}

describe("FibService", () => {
  test("steps forward and back with exact values; previous stops at 0", async () => {
    const s = await FibService.open(new MemoryFibStore(), { flushMs: 0, log: silentLogger });
    expect(await s.previous()).toEqual({ index: 0, value: "0" });
    for (let i = 1; i <= 120; i++) expect(await s.next()).toEqual({ index: i, value: fib(i).toString() });
    for (let i = 119; i >= 0; i--) expect(await s.previous()).toEqual({ index: i, value: fib(i).toString() });
    await s.next();
    await s.next();
    expect(await s.reset()).toEqual({ index: 0, value: "0" });
  });

  test("recovers the stored index with the exact value", async () => {
    const s = await FibService.open(new CountingStore(100_000), { flushMs: 0, log: silentLogger });
    const cur = await s.current();
    expect(cur.index).toBe(100_000);
    expect(cur.value).toBe(fib(100_000).toString());
    expect((await s.next()).value).toBe(fib(100_001).toString());
  });

  test("group commit: changes made in one turn share one commit, acknowledged after it", async () => {
    const store = new CountingStore();
    const s = await FibService.open(store, { flushMs: 0, log: silentLogger });
    const pending = Array.from({ length: 100 }, () => s.next());
    expect(store.saves).toEqual([]); // nothing acknowledged yet, nothing committed yet
    const results = await Promise.all(pending);
    expect(results.map((r) => r.index)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(store.saves).toEqual([100]);
    await s.next();
    expect(store.saves).toEqual([100, 101]);
  });

  test("a failed commit fails its requests and reverts to the last durable index", async () => {
    const store = new CountingStore();
    const s = await FibService.open(store, { flushMs: 0, log: silentLogger });
    await s.next();
    store.failNext = true;
    const results = await Promise.allSettled([s.next(), s.next()]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    expect((await s.current()).index).toBe(1);
    expect((await s.next()).index).toBe(2);
    expect(store.saves).toEqual([1, 2]);
  });

  test("flushMs > 0 acknowledges at once, flushes periodically and on close", async () => {
    const store = new CountingStore();
    const s = await FibService.open(store, { flushMs: 20, log: silentLogger });
    await s.next();
    await s.next();
    expect(store.saves).toEqual([]);
    for (let i = 0; i < 200 && store.saves.length === 0; i++) await Bun.sleep(10);
    expect(store.saves.at(-1)).toBe(2);
    await s.next();
    await s.close();
    expect(store.saves.at(-1)).toBe(3);
    expect(() => s.next()).toThrow("closed");
  });
});

describe("FibService on a shared store (several instances)", () => {
  test("the row is the truth: each batch continues from the committed index, and /current reads it", async () => {
    const store = new CountingStore(0, true);
    const s = await FibService.open(store, { flushMs: 0, log: silentLogger });
    expect((await Promise.all([s.next(), s.next()])).map((r) => r.index)).toEqual([1, 2]);
    store.moveElsewhere(50); // another instance stepped meanwhile
    expect(await s.current()).toEqual({ index: 50, value: fib(50).toString() });
    store.moveElsewhere(1000);
    const [a, b] = await Promise.all([s.next(), s.previous()]);
    expect(a).toEqual({ index: 1001, value: fib(1001).toString() });
    expect(b).toEqual({ index: 1000, value: fib(1000).toString() });
  });

  test("a flush interval is refused on a shared store", async () => {
    await expect(FibService.open(new CountingStore(0, true), { flushMs: 10, log: silentLogger })).rejects.toThrow(/single-writer/);
  });
  test("batches overlap in the store (up to 4), yet are answered in order; the rest wait for a slot", async () => {
    // A store that applies at once (in call order) but acknowledges durability only when told to.
    const durable: (() => void)[] = [];
    let index = 0;
    const store: FibStore = {
      shared: true,
      load: async () => index,
      apply: (steps) => {
        const start = index;
        index = stepIndexes(start, steps).at(-1) ?? start;
        return new Promise<number>((resolve) => durable.push(() => resolve(start)));
      },
    };
    const s = await FibService.open(store, { flushMs: 0, log: silentLogger });
    const order: number[] = [];
    const pending: Promise<unknown>[] = [];
    for (let turn = 0; turn < 6; turn++) {
      pending.push(s.next().then((r) => order.push(r.index)));
      await Bun.sleep(1);
    }
    // Four batches in the store, two steps waiting for a slot.
    expect(durable).toHaveLength(4);
    expect(s.commits).toBe(4);
    // The last batch becomes durable first: nothing is answered before the first one is.
    durable[3]!();
    durable[1]!();
    await Bun.sleep(1);
    expect(order).toEqual([]);
    durable[0]!();
    await Bun.sleep(1);
    expect(order).toEqual([1, 2]);
    durable[2]!();
    await Bun.sleep(1);
    expect(order).toEqual([1, 2, 3, 4]);
    // Slots freed: the two waiting steps went to the store as one batch.
    expect(durable).toHaveLength(5);
    durable[4]!();
    await Promise.all(pending);
    expect(order).toEqual([1, 2, 3, 4, 5, 6]);
    expect(s.commits).toBe(5);
    await s.close();
  });
});
