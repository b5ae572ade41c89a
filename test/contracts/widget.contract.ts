// The shared contract of the widgets port: every adapter runs these cases (unstorage's testDriver
// pattern), so a new adapter proves itself by passing them.
import { describe, expect, test } from "bun:test";
import { WidgetStoreError, type WidgetErrorReason, type WidgetStore } from "../../src/storage/widget.port.ts";

export interface ContractOptions {
  /** A fresh, empty store per call. */
  make(): Promise<WidgetStore> | WidgetStore;
  /** Reopens the same storage (durability), when the adapter has any. */
  reopen?(store: WidgetStore): Promise<WidgetStore>;
}

async function refused(p: Promise<unknown>, reason: WidgetErrorReason): Promise<WidgetStoreError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(WidgetStoreError);
    expect((e as WidgetStoreError).reason).toBe(reason);
    return e as WidgetStoreError;
  }
  throw new Error(`expected refusal ${reason}`);
}

export function widgetStoreContract(name: string, opts: ContractOptions): void {
  describe(`WidgetStore contract: ${name}`, () => {
    test("add then get lists slots in creation order, all free", async () => {
      const s = await opts.make();
      await s.add({ sn: "a", name: "Alpha", slots: ["P", "R", "R"] });
      await s.add({ sn: "b", name: "Beta", slots: [] });
      expect(await s.get("a")).toEqual({
        widget_sn: "a",
        widget_name: "Alpha",
        slots: [
          { port: "P", associated_with: null },
          { port: "R", associated_with: null },
          { port: "R", associated_with: null },
        ],
      });
      expect(await s.get("b")).toEqual({ widget_sn: "b", widget_name: "Beta", slots: [] });
      expect(await s.get("zz")).toBeNull();
      expect(s.count()).toBe(2);
    });

    test("duplicate serial number is refused and changes nothing", async () => {
      const s = await opts.make();
      await s.add({ sn: "a", name: "first", slots: ["P"] });
      const e = await refused(s.add({ sn: "a", name: "second", slots: ["Q", "Q"] }), "duplicate");
      expect(e.sn).toBe("a");
      expect(await s.get("a")).toEqual({ widget_sn: "a", widget_name: "first", slots: [{ port: "P", associated_with: null }] });
      expect(s.count()).toBe(1);
    });

    test("more than three slots is refused", async () => {
      const s = await opts.make();
      await refused(s.add({ sn: "a", name: "n", slots: ["P", "P", "P", "P"] }), "invalid_widget");
      expect(await s.get("a")).toBeNull();
      expect(s.count()).toBe(0);
    });

    test("associate occupies the first free slot of that type on both sides", async () => {
      const s = await opts.make();
      await s.add({ sn: "a", name: "A", slots: ["R", "P", "P"] });
      await s.add({ sn: "b", name: "B", slots: ["P"] });
      await s.associate("a", "b", "P");
      expect((await s.get("a"))!.slots).toEqual([
        { port: "R", associated_with: null },
        { port: "P", associated_with: "b" },
        { port: "P", associated_with: null },
      ]);
      expect((await s.get("b"))!.slots).toEqual([{ port: "P", associated_with: "a" }]);
    });

    test("a pair is associated at most once per port type, but on several types", async () => {
      const s = await opts.make();
      await s.add({ sn: "a", name: "A", slots: ["P", "P", "Q"] });
      await s.add({ sn: "b", name: "B", slots: ["P", "P", "Q"] });
      await s.associate("a", "b", "P");
      await refused(s.associate("a", "b", "P"), "already_associated");
      await refused(s.associate("b", "a", "P"), "already_associated");
      await s.associate("b", "a", "Q");
      expect((await s.get("a"))!.slots.map((x) => x.associated_with)).toEqual(["b", null, "b"]);
      expect((await s.get("b"))!.slots.map((x) => x.associated_with)).toEqual(["a", null, "a"]);
    });

    test("no free slot, unknown widget and self-association are refused without change", async () => {
      const s = await opts.make();
      await s.add({ sn: "a", name: "A", slots: ["P"] });
      await s.add({ sn: "b", name: "B", slots: ["P"] });
      await s.add({ sn: "c", name: "C", slots: ["P", "R"] });
      await s.associate("a", "b", "P");
      expect((await refused(s.associate("c", "a", "P"), "no_free_slot")).sn).toBe("a");
      expect((await refused(s.associate("c", "b", "R"), "no_free_slot")).sn).toBe("b");
      expect((await refused(s.associate("a", "zz", "P"), "widget_not_found")).sn).toBe("zz");
      await refused(s.associate("c", "c", "P"), "self_association");
      expect((await s.get("c"))!.slots).toEqual([
        { port: "P", associated_with: null },
        { port: "R", associated_with: null },
      ]);
    });

    test("dissociate works in either order and only once", async () => {
      const s = await opts.make();
      await s.add({ sn: "a", name: "A", slots: ["P"] });
      await s.add({ sn: "b", name: "B", slots: ["P"] });
      await s.associate("a", "b", "P");
      await refused(s.dissociate("a", "b", "Q"), "association_not_found");
      await s.dissociate("b", "a", "P");
      expect((await s.get("a"))!.slots).toEqual([{ port: "P", associated_with: null }]);
      expect((await s.get("b"))!.slots).toEqual([{ port: "P", associated_with: null }]);
      await refused(s.dissociate("a", "b", "P"), "association_not_found");
      await refused(s.dissociate("a", "nope", "P"), "widget_not_found");
      // freed slots can be used again
      await s.associate("a", "b", "P");
      expect((await s.get("b"))!.slots).toEqual([{ port: "P", associated_with: "a" }]);
    });

    test("remove frees the partners' slots and the serial number", async () => {
      const s = await opts.make();
      await s.add({ sn: "a", name: "A", slots: ["P", "Q"] });
      await s.add({ sn: "b", name: "B", slots: ["P"] });
      await s.add({ sn: "c", name: "C", slots: ["Q"] });
      await s.associate("a", "b", "P");
      await s.associate("c", "a", "Q");
      await s.remove("a");
      expect(await s.get("a")).toBeNull();
      expect((await s.get("b"))!.slots).toEqual([{ port: "P", associated_with: null }]);
      expect((await s.get("c"))!.slots).toEqual([{ port: "Q", associated_with: null }]);
      expect(s.count()).toBe(2);
      await refused(s.remove("a"), "widget_not_found");
      await s.add({ sn: "a", name: "again", slots: [] });
      expect(s.count()).toBe(3);
      await s.associate("b", "c", "P").catch(() => {});
      expect((await s.get("b"))!.slots).toEqual([{ port: "P", associated_with: null }]);
    });

    test("list pages by serial number in code point order with a null next on the last page", async () => {
      const s = await opts.make();
      const sns = ["b", "a", "B", "é", "a1", "😀", "z", "Ｚ"];
      for (const sn of sns) await s.add({ sn, name: `n-${sn}`, slots: sn === "a" ? ["Q"] : [] });
      await s.add({ sn: "a0", name: "x", slots: ["Q"] });
      await s.associate("a", "a0", "Q");
      const expected = [...sns, "a0"].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      const seen: string[] = [];
      let after: string | null = null;
      let pages = 0;
      for (;;) {
        const page = await s.list(after, 2);
        pages++;
        expect(page.items.length).toBeLessThanOrEqual(2);
        seen.push(...page.items.map((w) => w.widget_sn));
        if (page.next === null) break;
        expect(page.next).toBe(page.items[page.items.length - 1]!.widget_sn);
        after = page.next;
      }
      expect(seen).toEqual(expected);
      expect(pages).toBe(5); // 9 widgets by 2: the fifth page holds one and says null
      const all = await s.list(null, 100);
      expect(all.next).toBeNull();
      expect(all.items.find((w) => w.widget_sn === "a")).toEqual({
        widget_sn: "a",
        widget_name: "n-a",
        slots: [{ port: "Q", associated_with: "a0" }],
      });
      const exact = await s.list(null, 9);
      expect(exact.items.length).toBe(9);
      expect(exact.next).toBeNull();
      expect((await s.list("😀", 10)).items).toEqual([]);
    });

    test.skipIf(!opts.reopen)("acknowledged changes survive a reopen, count included", async () => {
      const s = await opts.make();
      await s.add({ sn: "a", name: "A", slots: ["P"] });
      await s.add({ sn: "b", name: "B", slots: ["P"] });
      await s.add({ sn: "c", name: "C", slots: [] });
      await s.associate("a", "b", "P");
      await s.remove("c");
      const t = await opts.reopen!(s);
      expect(t.count()).toBe(2);
      expect((await t.get("a"))!.slots).toEqual([{ port: "P", associated_with: "b" }]);
      expect(await t.get("c")).toBeNull();
    });
  });
}
