// The FibStore contract: every adapter runs these same cases (unstorage's testDriver pattern).
import { describe, expect, test } from "bun:test";
import type { FibStore } from "../../src/storage/ports.ts";

export function fibStoreContract(name: string, open: () => Promise<{ store: FibStore; reopen?: () => Promise<FibStore> }>) {
  describe(`FibStore contract: ${name}`, () => {
    test("starts at 0", async () => {
      const { store } = await open();
      expect(await store.load()).toBe(0);
    });
    test("save then load returns the last saved index", async () => {
      const { store } = await open();
      await store.save(5);
      await store.save(7);
      expect(await store.load()).toBe(7);
      await store.save(0);
      expect(await store.load()).toBe(0);
    });
    test("large indexes round-trip", async () => {
      const { store } = await open();
      await store.save(2 ** 40);
      expect(await store.load()).toBe(2 ** 40);
    });
    test("a saved index survives reopening (where the adapter is durable)", async () => {
      const { store, reopen } = await open();
      await store.save(42);
      if (!reopen) return;
      expect(await (await reopen()).load()).toBe(42);
    });
  });
}
