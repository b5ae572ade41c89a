// End to end against the real Bun entry: hundreds of concurrent associate / remove_widget /
// remove_association calls competing for few slots, then every docs/widgets.md invariant checked through
// the read routes; then SIGKILL and restart: what was acknowledged is still there.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { startPexd, tempDir, type Pexd } from "./helpers/pexd.ts";

interface Slot {
  port: "P" | "R" | "Q";
  associated_with: string | null;
}
interface W {
  widget_sn: string;
  widget_name: string;
  slots: Slot[];
}

let pexd: Pexd | undefined;
const dataDir = tempDir("pexd-widgets-e2e-");

beforeAll(async () => {
  pexd = await startPexd({ dataDir, env: { PEXD_LOG_LEVEL: "warn" }, timeoutMs: 60_000 });
}, 90_000);

afterAll(async () => {
  await pexd?.dispose();
  rmSync(dataDir, { recursive: true, force: true });
});

const post = (path: string, body: unknown) =>
  fetch(`${pexd!.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

/** The widget gauge on /metrics (checked when the metrics module is wired; widgets.test.ts covers the module). */
async function expectGauge(n: number) {
  const r = await fetch(`${pexd!.url}/metrics`);
  if (r.status === 404) return;
  expect(r.status).toBe(200);
  expect(await r.text()).toMatch(new RegExp(`^pexd_widgets ${n}$`, "m"));
}

async function readAll(pageSize: number): Promise<W[]> {
  const out: W[] = [];
  let after: string | null = null;
  for (let guard = 0; guard < 10_000; guard++) {
    const r = await fetch(`${pexd!.url}/widgets?limit=${pageSize}${after === null ? "" : `&after=${encodeURIComponent(after)}`}`);
    expect(r.status).toBe(200);
    const page = (await r.json()) as { items: W[]; next: string | null };
    out.push(...page.items);
    if (page.next === null) return out;
    after = page.next;
  }
  throw new Error("pagination did not end");
}

// A small deterministic PRNG so a failure can be replayed.
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("widgets end to end", () => {
  const created = new Map<string, Slot["port"][]>();
  const removedOk = new Set<string>();
  let snapshot: W[] = [];

  test("hundreds of concurrent competing mutations keep every invariant", async () => {
    const rand = rng(42);
    const ports = ["P", "R"] as const;
    const sns = Array.from({ length: 24 }, (_, i) => `w${String(i).padStart(2, "0")}`);
    await Promise.all(
      sns.map(async (sn) => {
        const slots = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => ports[Math.floor(rand() * 2)]!);
        created.set(sn, slots);
        const r = await post("/rpc/add_widget", { widget_sn: sn, widget_name: `name ${sn}`, slots });
        expect(r.status).toBe(204);
      }),
    );

    const calls: { kind: string; sn?: string; p: Promise<Response> }[] = [];
    const pick = () => sns[Math.floor(rand() * sns.length)]!;
    for (let i = 0; i < 600; i++) {
      const x = rand();
      const a = pick();
      let b = pick();
      while (b === a) b = pick();
      const port = ports[Math.floor(rand() * 2)]!;
      if (x < 0.6) calls.push({ kind: "associate", p: post("/rpc/associate_widgets", { widget1_sn: a, widget2_sn: b, port }) });
      else if (x < 0.9) calls.push({ kind: "dissociate", p: post("/rpc/remove_association", { widget1_sn: b, widget2_sn: a, port }) });
      // removals target a third of the widgets so that most stay to compete for slots
      else if (i > 150) {
        const victim = sns[Math.floor(rand() * 8)]!;
        calls.push({ kind: "remove", sn: victim, p: post("/rpc/remove_widget", { widget_sn: victim }) });
      } else calls.push({ kind: "associate", p: post("/rpc/associate_widgets", { widget1_sn: a, widget2_sn: b, port }) });
    }
    const allowed: Record<string, number[]> = { associate: [204, 404, 409], dissociate: [204, 404], remove: [204, 404] };
    const statuses: Record<string, Record<number, number>> = {};
    for (const c of calls) {
      const r = await c.p;
      const body = r.status === 204 ? "" : await r.text();
      expect(allowed[c.kind]).toContain(r.status);
      if (r.status !== 204)
        expect(JSON.parse(body).code).toMatch(/^(widget_not_found|association_not_found|already_associated|no_free_slot)$/);
      (statuses[c.kind] ??= {})[r.status] = ((statuses[c.kind] ??= {})[r.status] ?? 0) + 1;
      if (c.kind === "remove" && r.status === 204) {
        expect(removedOk.has(c.sn!)).toBe(false); // a widget is removed successfully only once
        removedOk.add(c.sn!);
      }
    }
    // The burst did contend: some associations succeeded and some were refused for lack of slots.
    expect(statuses.associate?.[204] ?? 0).toBeGreaterThan(0);
    expect(statuses.associate?.[409] ?? 0).toBeGreaterThan(0);

    const all = await readAll(5);
    snapshot = all;
    const bySn = new Map(all.map((w) => [w.widget_sn, w]));
    // Exactly the widgets created and not removed, in serial-number order, slots unchanged in type and order.
    expect(all.map((w) => w.widget_sn)).toEqual(sns.filter((s) => !removedOk.has(s)));
    for (const w of all) {
      expect(w.widget_name).toBe(`name ${w.widget_sn}`);
      expect(w.slots.map((s) => s.port)).toEqual(created.get(w.widget_sn)!);
      // GET /widgets/{sn} agrees with the page
      const one = await fetch(`${pexd!.url}/widgets/${w.widget_sn}`);
      expect(one.status).toBe(200);
      expect(await one.json()).toEqual(w);
      const seen = new Set<string>();
      for (const s of w.slots) {
        if (s.associated_with === null) continue;
        // no pair twice on one type
        const key = `${s.port}:${s.associated_with}`;
        expect(seen.has(key)).toBe(false);
        seen.add(key);
        // symmetric: the partner exists and holds exactly one matching slot back
        const partner = bySn.get(s.associated_with);
        expect(partner).toBeDefined();
        expect(partner!.slots.filter((o) => o.port === s.port && o.associated_with === w.widget_sn).length).toBe(1);
      }
    }
    for (const sn of removedOk) expect((await fetch(`${pexd!.url}/widgets/${sn}`)).status).toBe(404);
    await expectGauge(all.length);
  }, 120_000);

  test("acknowledged state survives SIGKILL and a restart", async () => {
    expect(snapshot.length).toBeGreaterThan(0);
    // one more acknowledged change right before the kill
    const last = await post("/rpc/add_widget", { widget_sn: "zz-last", name: "last", slots: ["Q"] });
    expect(last.status).toBe(204);
    await pexd!.stop("SIGKILL");
    pexd = await startPexd({ dataDir, env: { PEXD_LOG_LEVEL: "warn" }, timeoutMs: 60_000 });
    const after = await readAll(1000);
    expect(after).toEqual([...snapshot, { widget_sn: "zz-last", widget_name: "last", slots: [{ port: "Q", associated_with: null }] }]);
    await expectGauge(after.length);
  }, 120_000);
});
