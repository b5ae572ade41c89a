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
    test("save then load returns the last saved index", async () => {
      const store = await opts.make();
      await store.save(5);
      await store.save(7);
      expect(await store.load()).toBe(7);
      await store.save(0);
      expect(await store.load()).toBe(0);
    });
    test("large indexes round-trip", async () => {
      const store = await opts.make();
      await store.save(2 ** 40);
      expect(await store.load()).toBe(2 ** 40);
    });
    test.skipIf(!opts.reopen)("a saved index survives reopening", async () => {
      const store = await opts.make();
      await store.save(42);
      expect(await (await opts.reopen!(store)).load()).toBe(42);
    });
  });
}
