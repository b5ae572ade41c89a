// The RelayStore contract: every adapter runs these cases (unstorage's testDriver pattern), so a new
// adapter proves itself by passing them.
import { describe, expect, test } from "bun:test";
import type { RelayFrame, RelayStore } from "../../src/storage/relay.port.ts";

const html = (n: number, tag = "first") =>
  new TextEncoder().encode(`<html><head><meta name="block-number" content="${n}"></head>${tag}</html>`);
const frame = (address: string, at: string, n?: number, tag?: string): RelayFrame => {
  const body = n === undefined ? new TextEncoder().encode("<p>no tag</p>") : html(n, tag);
  return {
    address,
    at,
    bytes: body.length,
    ...(n === undefined ? {} : { block: { number: n, hash: `0x${n.toString(16).padStart(4, "0")}`, html: body } }),
  };
};

export interface RelayContractOptions {
  /** A fresh, empty store per call. */
  make(): Promise<RelayStore> | RelayStore;
  /** Reopens the same storage (durability), when the adapter has any. */
  reopen?(store: RelayStore): Promise<RelayStore>;
}

export function relayStoreContract(name: string, opts: RelayContractOptions): void {
  const make = () => opts.make();
  describe(`RelayStore contract: ${name}`, () => {
    test("an empty store has zero totals and no clients or blocks", async () => {
      const s = await make();
      expect(await s.totals()).toEqual({ blocks: 0, frames: 0, duplicates: 0, rejected: 0, bytes: 0, clients: 0 });
      expect(await s.clients()).toEqual([]);
      expect(await s.blocks(100)).toEqual([]);
      expect(await s.document(1)).toBeNull();
    });

    test("first copy wins; later copies are duplicates; untagged frames are rejected", async () => {
      const s = await make();
      const a = frame("10.0.0.1", "2026-01-01T00:00:00.000Z", 7, "first");
      const b = frame("10.0.0.2", "2026-01-01T00:00:01.000Z", 7, "second-copy");
      const c = frame("10.0.0.1", "2026-01-01T00:00:02.000Z");
      expect(await s.record(a)).toBe("stored");
      expect(await s.record(b)).toBe("duplicate");
      expect(await s.record(c)).toBe("rejected");
      expect(new TextDecoder().decode((await s.document(7))!)).toContain("first");
      expect(await s.blocks(10)).toEqual([{ number: 7, hash: "0x0007", bytes: a.bytes, received_at: a.at, from: "10.0.0.1" }]);
      expect(await s.totals()).toEqual({
        blocks: 1,
        frames: 3,
        duplicates: 1,
        rejected: 1,
        bytes: a.bytes + b.bytes + c.bytes,
        clients: 2,
      });
      expect(await s.clients()).toEqual([
        { address: "10.0.0.1", frames: 2, bytes: a.bytes + c.bytes, duplicates: 0, rejected: 1, first_seen: a.at, last_seen: c.at },
        { address: "10.0.0.2", frames: 1, bytes: b.bytes, duplicates: 1, rejected: 0, first_seen: b.at, last_seen: b.at },
      ]);
    });

    test("concurrent copies of one block (one event-loop turn) store exactly one", async () => {
      const s = await make();
      const outcomes = await Promise.all([1, 2, 3, 4].map((i) => s.record(frame(`10.0.0.${i}`, "2026-01-01T00:00:00.000Z", 5))));
      expect(outcomes.filter((o) => o === "stored").length).toBe(1);
      expect(outcomes.filter((o) => o === "duplicate").length).toBe(3);
      expect((await s.totals()).duplicates).toBe(3);
    });

    test("blocks are listed newest first and limited", async () => {
      const s = await make();
      for (const n of [3, 1, 4, 2, 5]) await s.record(frame("::1", "2026-01-01T00:00:00.000Z", n));
      expect((await s.blocks(3)).map((b) => b.number)).toEqual([5, 4, 3]);
      expect((await s.blocks(1000)).map((b) => b.number)).toEqual([5, 4, 3, 2, 1]);
    });

    test.skipIf(!opts.reopen)("stored blocks and client stats survive reopening", async () => {
      const s = await make();
      await s.record(frame("10.0.0.9", "2026-01-01T00:00:00.000Z", 11));
      const t = await opts.reopen!(s);
      expect((await t.blocks(10)).map((b) => b.number)).toEqual([11]);
      expect(await t.record(frame("10.0.0.9", "2026-01-01T00:00:05.000Z", 11))).toBe("duplicate");
      expect(await t.clients()).toEqual([
        {
          address: "10.0.0.9",
          frames: 2,
          bytes: html(11).length * 2,
          duplicates: 1,
          rejected: 0,
          first_seen: "2026-01-01T00:00:00.000Z",
          last_seen: "2026-01-01T00:00:05.000Z",
        },
      ]);
    });
  });
}
