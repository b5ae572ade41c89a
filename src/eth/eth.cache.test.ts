// The response cache's byte bound and LRU order: no upstream needed.
import { describe, expect, test } from "bun:test";
import { ResponseCache } from "./eth.cache.ts";

describe("ResponseCache", () => {
  test("LRU by bytes: the bound holds and the least recent goes first", () => {
    const c = new ResponseCache(1000);
    for (let i = 0; i < 50; i++) c.set(`k${i}`, `"${"x".repeat(100)}"`, Infinity, false);
    expect(c.bytes).toBeLessThanOrEqual(1000);
    expect(c.evictions).toBeGreaterThan(0);
    expect(c.get("k0", 0)).toBeUndefined();
    expect(c.get("k49", 0)?.raw).toBe(`"${"x".repeat(100)}"`);
    expect(c.set("huge", "x".repeat(2000), Infinity, false)).toBe(false);
  });
});
