// In-memory adapter of the widgets port (tests, edge runtimes): the same rules as the SQLite
// schema, checked before any change so each call is all-or-nothing.
import { WidgetStoreError, type NewWidget, type PortType, type Widget, type WidgetPage, type WidgetStore } from "../widget.port.ts";

interface Slot {
  port: PortType;
  partner: string | null;
}

interface Row {
  name: string;
  slots: Slot[];
}

/** Code point order, the order SQLite's BINARY collation gives UTF-8 text. */
export function compareSn(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; ) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(i)!;
    if (ca !== cb) return ca - cb;
    i += ca > 0xffff ? 2 : 1;
  }
  return a.length - b.length;
}

export class MemoryWidgetStore implements WidgetStore {
  #rows = new Map<string, Row>();
  /** Sorted serial numbers, rebuilt lazily after adds/removes. */
  #sorted: string[] | null = [];

  count(): number {
    return this.#rows.size;
  }

  async add(w: NewWidget): Promise<void> {
    if (this.#rows.has(w.sn)) throw new WidgetStoreError("duplicate", `widget ${w.sn} already exists`, w.sn);
    if (w.slots.length > 3 || w.sn.length === 0 || w.name.length === 0)
      throw new WidgetStoreError("invalid_widget", "invalid widget", w.sn);
    this.#rows.set(w.sn, { name: w.name, slots: w.slots.map((port) => ({ port, partner: null })) });
    this.#sorted = null;
  }

  async remove(sn: string): Promise<void> {
    const row = this.#rows.get(sn);
    if (!row) throw new WidgetStoreError("widget_not_found", `no widget ${sn}`, sn);
    for (const s of row.slots) {
      if (s.partner === null) continue;
      const other = this.#rows.get(s.partner);
      const back = other?.slots.find((o) => o.port === s.port && o.partner === sn);
      if (back) back.partner = null;
    }
    this.#rows.delete(sn);
    this.#sorted = null;
  }

  async associate(sn1: string, sn2: string, port: PortType): Promise<void> {
    const [a, b] = this.#pair(sn1, sn2);
    if (a.slots.some((s) => s.port === port && s.partner === sn2)) {
      throw new WidgetStoreError("already_associated", `${sn1} and ${sn2} are already associated on port ${port}`, sn1);
    }
    const fa = a.slots.find((s) => s.port === port && s.partner === null);
    if (!fa) throw new WidgetStoreError("no_free_slot", `widget ${sn1} has no free ${port} slot`, sn1);
    const fb = b.slots.find((s) => s.port === port && s.partner === null);
    if (!fb) throw new WidgetStoreError("no_free_slot", `widget ${sn2} has no free ${port} slot`, sn2);
    fa.partner = sn2;
    fb.partner = sn1;
  }

  async dissociate(sn1: string, sn2: string, port: PortType): Promise<void> {
    const [a, b] = this.#pair(sn1, sn2);
    const sa = a.slots.find((s) => s.port === port && s.partner === sn2);
    const sb = b.slots.find((s) => s.port === port && s.partner === sn1);
    if (!sa || !sb) throw new WidgetStoreError("association_not_found", `${sn1} and ${sn2} are not associated on port ${port}`, sn1);
    sa.partner = null;
    sb.partner = null;
  }

  async get(sn: string): Promise<Widget | null> {
    const row = this.#rows.get(sn);
    return row ? view(sn, row) : null;
  }

  async list(after: string | null, limit: number): Promise<WidgetPage> {
    const sorted = (this.#sorted ??= [...this.#rows.keys()].sort(compareSn));
    // First index whose serial number sorts after `after` (binary search).
    let lo = 0;
    let hi = sorted.length;
    if (after !== null) {
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (compareSn(sorted[mid]!, after) <= 0) lo = mid + 1;
        else hi = mid;
      }
    }
    const page = sorted.slice(lo, lo + limit);
    const items = page.map((sn) => view(sn, this.#rows.get(sn)!));
    const more = lo + limit < sorted.length;
    return { items, next: more ? (page[page.length - 1] ?? null) : null };
  }

  async close(): Promise<void> {}

  #pair(sn1: string, sn2: string): [Row, Row] {
    if (sn1 === sn2) throw new WidgetStoreError("self_association", "a widget cannot be associated with itself", sn1);
    const a = this.#rows.get(sn1);
    if (!a) throw new WidgetStoreError("widget_not_found", `no widget ${sn1}`, sn1);
    const b = this.#rows.get(sn2);
    if (!b) throw new WidgetStoreError("widget_not_found", `no widget ${sn2}`, sn2);
    return [a, b];
  }
}

const view = (sn: string, row: Row): Widget => ({
  widget_sn: sn,
  widget_name: row.name,
  slots: row.slots.map((s) => ({ port: s.port, associated_with: s.partner })),
});
