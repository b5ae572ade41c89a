import { describe, expect, test } from "bun:test";
import { silentLogger } from "../log.ts";
import { MemoryFibStore } from "../storage/memory/fib.memory.ts";
import type { FibStore } from "../storage/ports.ts";
import { fib } from "./fib.math.ts";
import { FibService } from "./fib.service.ts";

class CountingStore implements FibStore {
  saves: number[] = [];
  failNext = false;
  constructor(private index = 0) {}
  async load() {
    return this.index;
  }
  async save(i: number) {
    if (this.failNext) {
      this.failNext = false;
      throw new Error("disk full");
    }
    this.saves.push(i);
    this.index = i;
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
    const cur = s.current();
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
    expect(s.current().index).toBe(1);
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
