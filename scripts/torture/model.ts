// Client-side models the campaign checks pexd against: the widget graph of one worker (each
// worker owns its serial numbers, so its expected state is computable), and the relay blocks
// acknowledged to us. Both are used by the kill scenario (what must survive kill -9) and the soak.
import { type Failures, type Rng, blockDoc, http, parseJson, postJson, RelayConn, excerpt, sleep } from "./lib.ts";

export type Port = "P" | "R" | "Q";
const PORTS: readonly Port[] = ["P", "R", "Q"];

export interface WidgetState {
  name: string;
  slots: { port: Port; partner: string | null }[];
}
export type WidgetModel = Map<string, WidgetState>;

export function cloneModel(m: WidgetModel): WidgetModel {
  return new Map([...m].map(([sn, w]) => [sn, { name: w.name, slots: w.slots.map((s) => ({ ...s })) }]));
}

/**
 * A canonical text of a widget graph: widgets by serial number; each with its name, its slot types
 * in creation order and, per type, its sorted partners. Which slot of a type holds which partner is
 * left out on purpose: the check is about what was acknowledged, not the slot-picking rule.
 */
export function canonical(m: WidgetModel): string {
  return [...m.keys()]
    .sort()
    .map((sn) => {
      const w = m.get(sn)!;
      const partners = PORTS.map(
        (p) =>
          `${p}=${w.slots
            .filter((s) => s.port === p && s.partner !== null)
            .map((s) => s.partner)
            .sort()
            .join("+")}`,
      );
      return `${sn}|${w.name}|${w.slots.map((s) => s.port).join("")}|${partners.join(";")}`;
    })
    .join("\n");
}

export interface WidgetOp {
  label: string;
  route: string;
  body: Record<string, unknown>;
  /** The state after the op, if pexd acknowledges it (every op chosen is valid in the model). */
  apply(m: WidgetModel): void;
}

const NAMES = ["gear", "valve", "pump", "sprocket", "Zahnrad", "rouage-é", "齿轮", "widget ✓", "x"];

function freeSlot(w: WidgetState, port: Port, partner: string | null = null) {
  return w.slots.find((s) => s.port === port && s.partner === partner);
}

/** Picks one mutation that must succeed (204) given the model: add, associate, dissociate or remove. */
export function chooseWidgetOp(rng: Rng, model: WidgetModel, pool: readonly string[]): WidgetOp {
  const present = [...model.keys()];
  const free = pool.filter((sn) => !model.has(sn));
  const pairs: { a: string; b: string; port: Port }[] = [];
  const assocs: { a: string; b: string; port: Port }[] = [];
  for (const a of present) {
    const wa = model.get(a)!;
    for (const s of wa.slots) if (s.partner !== null && a < s.partner) assocs.push({ a, b: s.partner, port: s.port });
  }
  // A few random candidate pairs are enough to find a valid association most of the time.
  for (let i = 0; i < 8 && present.length >= 2; i++) {
    const a = rng.pick(present);
    const b = rng.pick(present);
    const port = rng.pick(PORTS);
    if (a === b) continue;
    const wa = model.get(a)!;
    const wb = model.get(b)!;
    if (freeSlot(wa, port) && freeSlot(wb, port) && !freeSlot(wa, port, b)) pairs.push({ a, b, port });
  }
  const choices: [number, string][] = [];
  if (free.length > 0) choices.push([present.length < pool.length * 0.6 ? 4 : 1, "add"]);
  if (pairs.length > 0) choices.push([4, "associate"]);
  if (assocs.length > 0) choices.push([2, "dissociate"]);
  if (present.length > 0) choices.push([1.2, "remove"]);
  const kind = rng.weighted(choices);

  if (kind === "add") {
    const sn = rng.pick(free);
    const slots = Array.from({ length: rng.int(0, 3) }, () => rng.pick(PORTS));
    const name = `${rng.pick(NAMES)}-${rng.int(0, 9999)}`;
    return {
      label: `add ${sn} [${slots.join("")}]`,
      route: "/rpc/add_widget",
      body: { widget_sn: sn, widget_name: name, slots },
      apply: (m) => m.set(sn, { name, slots: slots.map((port) => ({ port, partner: null })) }),
    };
  }
  if (kind === "associate") {
    const { a, b, port } = rng.pick(pairs);
    return {
      label: `associate ${a} ${b} ${port}`,
      route: "/rpc/associate_widgets",
      body: { widget1_sn: a, widget2_sn: b, port },
      apply: (m) => {
        freeSlot(m.get(a)!, port)!.partner = b;
        freeSlot(m.get(b)!, port)!.partner = a;
      },
    };
  }
  if (kind === "dissociate") {
    const { a, b, port } = rng.pick(assocs);
    const [x, y] = rng.chance(0.5) ? [a, b] : [b, a];
    return {
      label: `remove_association ${x} ${y} ${port}`,
      route: "/rpc/remove_association",
      body: { widget1_sn: x, widget2_sn: y, port },
      apply: (m) => {
        freeSlot(m.get(a)!, port, b)!.partner = null;
        freeSlot(m.get(b)!, port, a)!.partner = null;
      },
    };
  }
  const sn = rng.pick(present);
  return {
    label: `remove_widget ${sn}`,
    route: "/rpc/remove_widget",
    body: { widget_sn: sn },
    apply: (m) => {
      for (const s of m.get(sn)!.slots) {
        if (s.partner === null) continue;
        const partner = m.get(s.partner);
        const mirror = partner && freeSlot(partner, s.port, sn);
        if (mirror) mirror.partner = null;
      }
      m.delete(sn);
    },
  };
}

/** One worker's view: its serial numbers, what pexd acknowledged, and the op whose outcome is unknown. */
export class WidgetWorker {
  model: WidgetModel = new Map();
  /** The state if the unanswered op was applied; null when nothing is in doubt. */
  pendingAfter: WidgetModel | null = null;
  pendingLabel = "";
  acked = 0;
  readonly pool: string[];
  constructor(
    readonly id: string,
    poolSize: number,
    readonly rng: Rng,
  ) {
    this.pool = Array.from({ length: poolSize }, (_, i) => `${id}-${i}`);
  }

  /**
   * Sends ops one at a time until a request gets no answer (pexd died) or `until()` says stop. A
   * live answer other than 204 is a failure: every op is valid in the model.
   */
  async run(
    url: string,
    failures: Failures,
    until: () => boolean = () => false,
    pace: () => Promise<void> = async () => {},
  ): Promise<void> {
    while (!until()) {
      await pace();
      const op = chooseWidgetOp(this.rng, this.model, this.pool);
      const after = cloneModel(this.model);
      op.apply(after);
      this.pendingAfter = after;
      this.pendingLabel = op.label;
      const r = await postJson(url + op.route, op.body, 10_000);
      if (r.status === 204) {
        this.model = after;
        this.pendingAfter = null;
        this.acked++;
        continue;
      }
      if (r.status !== 0)
        failures.add(`widgets ${op.label}: expected 204, got ${r.status} ${excerpt(r.text)}`, "widgets: unexpected answer");
      return; // no answer (or an unexpected one): the outcome stays unknown until checked
    }
  }
}

export interface ServedWidget {
  widget_sn: string;
  widget_name: string;
  slots: { port: Port; associated_with: string | null }[];
}

/** Every widget pexd serves, through GET /widgets pages. */
export async function listWidgets(url: string): Promise<Map<string, ServedWidget>> {
  const out = new Map<string, ServedWidget>();
  let after: string | null = null;
  for (;;) {
    const q: string = after === null ? "" : `&after=${encodeURIComponent(after)}`;
    const r = await http(`${url}/widgets?limit=1000${q}`);
    if (r.status !== 200) throw new Error(`GET /widgets: ${r.status} ${"error" in r ? r.error : excerpt(r.text)}`);
    const page = parseJson(r.text) as { items: ServedWidget[]; next: string | null };
    for (const w of page.items) out.set(w.widget_sn, w);
    if (page.next === null) return out;
    after = page.next;
  }
}

export function servedModel(served: Map<string, ServedWidget>, prefix: string): WidgetModel {
  const m: WidgetModel = new Map();
  for (const [sn, w] of served) {
    if (!sn.startsWith(prefix)) continue;
    m.set(sn, { name: w.widget_name, slots: w.slots.map((s) => ({ port: s.port, partner: s.associated_with })) });
  }
  return m;
}

/** Ranks widget-level differences between two models (for the report). */
export function diffModels(expected: WidgetModel, got: WidgetModel): string[] {
  const a = canonical(expected).split("\n");
  const b = new Set(canonical(got).split("\n"));
  const bArr = canonical(got).split("\n");
  const aSet = new Set(a);
  return [
    ...a.filter((l) => l && !b.has(l)).map((l) => `missing/changed: ${l}`),
    ...bArr.filter((l) => l && !aSet.has(l)).map((l) => `served: ${l}`),
  ];
}

// ---------------------------------------------------------------------------------------------
// Relay blocks acknowledged to us

export class RelayLedger {
  /** Block → the exact document that was answered `stored` (what /stats/blocks/n must serve). */
  readonly stored = new Map<number, string>();
  /** Blocks answered `duplicate` (some copy must be served). */
  readonly duplicates = new Set<number>();
  /** Acknowledged since the last check. */
  fresh = new Set<number>();
  frames = 0;
  unanswered = 0;
  busy = 0;
  rejectedAsExpected = 0;

  record(n: number | null, html: string, answer: string | null, failures: Failures): void {
    if (answer === null) {
      this.unanswered++;
      return;
    }
    if (answer === "busy") {
      this.busy++;
      return;
    }
    if (n === null) {
      if (answer === "rejected") this.rejectedAsExpected++;
      else
        failures.add(
          `relay: frame without a block-number tag answered ${JSON.stringify(answer)} (expected rejected)`,
          "relay: unexpected answer",
        );
      return;
    }
    if (answer === "stored") {
      // A second `stored` means the first acknowledged copy is gone; the new one is what counts from now on.
      if (this.stored.has(n))
        failures.add(`relay: block ${n} answered "stored" twice: the first acknowledged copy was lost`, "relay: acknowledged block lost");
      this.stored.set(n, html);
      this.fresh.add(n);
    } else if (answer === "duplicate") {
      this.duplicates.add(n);
      this.fresh.add(n);
    } else {
      failures.add(`relay: block ${n} answered ${JSON.stringify(answer)} (expected stored or duplicate)`, "relay: unexpected answer");
    }
  }

  get acknowledged(): number {
    return new Set([...this.stored.keys(), ...this.duplicates]).size;
  }

  /** Checks blocks (the fresh ones by default) at GET /stats/blocks/{n}; returns how many are lost. */
  async verify(url: string, failures: Failures, which: Iterable<number> = this.fresh): Promise<number> {
    const list = [...which];
    let lost = 0;
    let next = 0;
    const one = async () => {
      while (next < list.length) {
        const n = list[next++]!;
        const r = await http(`${url}/stats/blocks/${n}`);
        const want = this.stored.get(n);
        if (r.status !== 200) {
          lost++;
          failures.add(`relay: acknowledged block ${n} not served: GET /stats/blocks/${n} → ${r.status}`, "relay: acknowledged block lost");
        } else if (want !== undefined && "text" in r && r.text !== want) {
          lost++;
          failures.add(
            `relay: block ${n} serves another document than the one acknowledged "stored": ${excerpt(r.text, 80)}`,
            "relay: acknowledged block lost",
          );
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, one));
    if (which === this.fresh) this.fresh = new Set();
    return lost;
  }
}

/**
 * Sends frames (a few pipelined) until the connection dies or `until()`; block numbers come from
 * [0, space), so later frames hit earlier blocks (duplicates). One frame in 12 has no tag.
 */
export async function relayWorker(
  port: number,
  rng: Rng,
  ledger: RelayLedger,
  failures: Failures,
  space: number,
  until: () => boolean = () => false,
  pace: () => Promise<void> = async () => {},
): Promise<void> {
  while (!until()) {
    const conn = new RelayConn(port);
    if (!(await conn.opened)) return;
    try {
      while (!until() && !conn.isClosed) {
        await pace();
        const batch = Array.from({ length: rng.int(1, 4) }, () => {
          const n = rng.chance(1 / 12) ? null : rng.int(0, space - 1);
          const html = n === null ? `<html><body>no tag ${rng.int(0, 1e9)}</body></html>` : blockDoc(n, `torture ${rng.int(0, 1e9)}`);
          ledger.frames++;
          return conn.send(html).then((answer) => ledger.record(n, html, answer, failures));
        });
        await Promise.all(batch);
      }
    } finally {
      conn.destroy();
    }
    if (!until()) await sleep(50); // busy or a drop: try a new connection (a dead pexd ends it)
  }
}
