// The FibStore contract: every adapter runs these same cases (unstorage's testDriver pattern).
import { describe, expect, test } from "bun:test";
import type { FibStore } from "../../src/storage/ports.ts";

export interface FibContractOptions {
  /** A fresh store at index 0 per call. */
  make(): Promise<FibStore> | FibStore;
  /** Reopens the same storage (durability), when the adapter has any. */
  reopen?(store: FibStore): Promise<FibStore>;
}

export function fibStoreContract(name: string, opts: FibContractOptions) {
  describe(`FibStore contract: ${name}`, () => {
    test("starts at 0", async () => {
      const store = await opts.make();
      expect(await store.load()).toBe(0);
    });
    test("apply resolves with the index it started from and leaves the one after the last step", async () => {
      const store = await opts.make();
      expect(await store.apply(["next", "next", "next"])).toBe(0);
      expect(await store.load()).toBe(3);
      expect(await store.apply(["previous", "next", "next"])).toBe(3);
      expect(await store.load()).toBe(4);
      expect(await store.apply(["reset", "previous", "previous"])).toBe(4);
      expect(await store.load()).toBe(0);
      expect(await store.apply([7])).toBe(0);
      expect(await store.load()).toBe(7);
    });
    test("large indexes round-trip", async () => {
      const store = await opts.make();
      await store.apply([2 ** 40, "next"]);
      expect(await store.load()).toBe(2 ** 40 + 1);
    });
    test("concurrent applies are serialized: each starts where another ended, no step lost", async () => {
      const store = await opts.make();
      const starts = await Promise.all(Array.from({ length: 20 }, () => store.apply(["next", "next"])));
      // Batches of one store are applied in call order (FibService answers them in that order).
      expect(starts).toEqual(Array.from({ length: 20 }, (_, i) => 2 * i));
      expect(await store.load()).toBe(40);
    });
    test.skipIf(!opts.reopen)("an applied index survives reopening", async () => {
      const store = await opts.make();
      await store.apply([41, "next"]);
      expect(await (await opts.reopen!(store)).load()).toBe(42);
    });
  });
}
