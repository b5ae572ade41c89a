// The dashboard's history: the sampler's fixed ring (unit), the "why empty" notes (unit), and against
// the real Bun entry that GET /dashboard/history hands out the recent points in order and that the
// stream continues from its last one with no gap and no duplicate (the seam).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  DashboardSampler,
  type DashboardPoint,
  type DashboardSetup,
  HISTORY_WINDOW_MS,
  MAX_SLOTS,
  NOTES,
  PointRing,
  panelNotes,
  readTotals,
  ringCapacity,
  SLOT_BYTES,
} from "../src/metrics/dashboard.sampler.ts";
import type { MetricFamily } from "../src/metrics/types.ts";
import { startPexd, type Pexd } from "./helpers/pexd.ts";
import { until } from "./helpers/wait.ts";

/** A point with every field set, distinct per `i`, so a mixed-up slot shows. */
function point(t: number, i: number): DashboardPoint {
  return {
    t,
    rps: i,
    p50_ms: i % 3 === 0 ? null : i + 0.5,
    p99_ms: i + 0.25,
    status: { "2xx": i, "3xx": null, "4xx": 2 * i, "5xx": i % 2 ? null : 1 },
    cache_hit_ratio: i % 5 === 0 ? null : 0.5,
    upstream_p50_ms: null,
    upstream_p99_ms: i,
    gauges: {
      fib_index: i,
      widgets: null,
      head_block: i * 10,
      head_age_s: null,
      relay_clients: 0,
      relay_blocks: null,
      ws_clients: 1,
      rss_bytes: 1e8 + i,
      heap_bytes: 5e7,
      event_loop_lag_s: 0.001,
    },
    present: { eth: i % 2 === 0, cache: false, upstream: true, widgets: false, relay: true },
    notes: i % 2 ? { cache: NOTES.noUpstream, relay: NOTES.relayOff } : { rps: NOTES.noRequests },
  };
}

describe("PointRing", () => {
  test("15 minutes at 1 s are 900 slots of 179 bytes, allocated once", () => {
    expect(ringCapacity(1000)).toBe(900);
    expect(ringCapacity(1000, HISTORY_WINDOW_MS)).toBe(900);
    expect(ringCapacity(1)).toBe(MAX_SLOTS);
    expect(SLOT_BYTES).toBe(179);
    expect(new PointRing(900).bytes).toBe(900 * 179);
  });

  test("more than 15 minutes of points: the size stays fixed, the oldest go, the order and values are kept", () => {
    const cap = ringCapacity(1000);
    const ring = new PointRing(cap);
    const bytes = ring.bytes;
    const pushed = 2 * cap + 137;
    for (let i = 0; i < pushed; i++) {
      ring.push(point(1_000_000 + i * 1000, i));
      expect(ring.size).toBe(Math.min(i + 1, cap));
    }
    expect(ring.bytes).toBe(bytes);
    const all = ring.since();
    expect(all).toHaveLength(cap);
    // The newest `cap` points, oldest first, each exactly as pushed.
    const first = pushed - cap;
    expect(all).toEqual(Array.from({ length: cap }, (_, k) => point(1_000_000 + (first + k) * 1000, first + k)));
    expect(ring.newestT).toBe(1_000_000 + (pushed - 1) * 1000);
    for (let k = 1; k < all.length; k++) expect(all[k]!.t).toBeGreaterThan(all[k - 1]!.t);
  });

  test("since(after) answers exactly the points newer than the cursor", () => {
    const ring = new PointRing(5);
    for (let i = 1; i <= 8; i++) ring.push(point(i * 10, i)); // keeps 40 … 80
    expect(ring.since().map((p) => p.t)).toEqual([40, 50, 60, 70, 80]);
    expect(ring.since(0).map((p) => p.t)).toEqual([40, 50, 60, 70, 80]);
    expect(ring.since(50).map((p) => p.t)).toEqual([60, 70, 80]);
    expect(ring.since(55).map((p) => p.t)).toEqual([60, 70, 80]);
    expect(ring.since(80)).toEqual([]);
    expect(new PointRing(3).since()).toEqual([]);
  });

  test("a point not newer than the newest is refused (times are ids)", () => {
    const ring = new PointRing(3);
    ring.push(point(100, 1));
    expect(() => ring.push(point(100, 2))).toThrow(RangeError);
    expect(() => ring.push(point(99, 2))).toThrow(RangeError);
    expect(ring.size).toBe(1);
    expect(() => new PointRing(0)).toThrow(RangeError);
  });
});

const fam = (name: string, type: MetricFamily["type"], samples: MetricFamily["samples"]): MetricFamily => ({
  name,
  help: "",
  type,
  samples,
});
/** A scrape of a default `pexd`: counter, widgets, relay server, the gateway with `upstreams`. */
function scrape(o: { requests?: number; dashboardRequests?: number; upstreams?: number; calls?: number; head?: boolean } = {}) {
  const fams: MetricFamily[] = [
    fam("pexd_http_requests_total", "counter", [
      ...(o.requests ? [{ labels: { method: "GET", route: "/current", status: "200" }, value: o.requests }] : []),
      ...(o.dashboardRequests
        ? [
            { labels: { method: "GET", route: "/dashboard", status: "200" }, value: o.dashboardRequests },
            { labels: { method: "GET", route: "/dashboard/assets/:file", status: "200" }, value: o.dashboardRequests },
            { labels: { method: "GET", route: "/dashboard/history", status: "200" }, value: o.dashboardRequests },
          ]
        : []),
    ]),
    fam("pexd_fib_index", "gauge", [{ value: 3 }]),
    fam("pexd_widgets", "gauge", [{ value: 0 }]),
    fam("pexd_relay_clients", "gauge", [{ value: 0 }]),
    fam("pexd_eth_cache_hits_total", "counter", [{ value: o.calls ?? 0 }]),
    fam("pexd_eth_cache_misses_total", "counter", [{ value: o.calls ?? 0 }]),
    fam(
      "pexd_eth_upstream_up",
      "gauge",
      Array.from({ length: o.upstreams ?? 0 }, (_, i) => ({ labels: { upstream: `u${i}`, transport: "http" }, value: 1 })),
    ),
  ];
  if (o.calls)
    fams.push(
      fam("pexd_eth_upstream_request_duration_seconds", "histogram", [
        { suffix: "_bucket", labels: { le: "0.1" }, value: o.calls },
        { suffix: "_bucket", labels: { le: "+Inf" }, value: o.calls },
      ]),
    );
  if (o.head) fams.push(fam("pexd_eth_head_block", "gauge", [{ value: 12 }]));
  return fams;
}
const notesOf = (fams: MetricFamily[], setup?: DashboardSetup) => panelNotes(fams, readTotals(fams, 0), setup);

describe("why a panel is empty", () => {
  test("a default process: no requests, no upstream, relay not enabled", () => {
    expect(notesOf(scrape({ dashboardRequests: 5 }), { relayPort: 0, relayTargets: 0 })).toEqual({
      rps: NOTES.noRequests,
      latency: NOTES.noRequests,
      status: NOTES.noRequests,
      cache: NOTES.noUpstream,
      upstream: NOTES.noUpstream,
      head: NOTES.noUpstream,
      relay: NOTES.relayOff,
    });
  });

  test("notes go as the data comes; each reason names what is missing", () => {
    expect(notesOf(scrape({ requests: 1, upstreams: 1 }), { relayPort: 9000, relayTargets: 0 })).toEqual({
      cache: NOTES.noEthRequests,
      upstream: NOTES.noUpstreamCalls,
      head: NOTES.noHead,
    });
    expect(notesOf(scrape({ requests: 1, upstreams: 2, calls: 4, head: true }), { relayPort: 9000, relayTargets: 0 })).toEqual({});
    expect(notesOf(scrape({ requests: 1 }), { relayPort: 0, relayTargets: 2 }).relay).toBe(NOTES.relayNoPort);
    // Modules that are not running (a relay-only role), and HTTP metrics switched off.
    expect(notesOf([fam("process_resident_memory_bytes", "gauge", [{ value: 1 }])])).toEqual({
      rps: NOTES.httpOff,
      latency: NOTES.httpOff,
      status: NOTES.httpOff,
      cache: NOTES.noGateway,
      upstream: NOTES.noGateway,
      head: NOTES.noGateway,
      fib: NOTES.noCounter,
      widgets: NOTES.noWidgets,
      relay: NOTES.noRelayServer,
    });
  });

  test("the sampler stamps strictly increasing times, keeps notes, and peek() keeps nothing", () => {
    let requests = 0;
    const s = new DashboardSampler({
      collect: () => scrape({ requests }),
      now: () => 5000, // a clock that does not move
      setup: { relayPort: 0, relayTargets: 0 },
    });
    expect(s.capacity).toBe(900);
    const a = s.sample();
    requests = 10;
    const b = s.sample();
    const peeked = s.peek();
    const c = s.sample();
    expect([a.t, b.t, peeked.t, c.t]).toEqual([5000, 5001, 5002, 5003]);
    expect(s.since().map((p) => p.t)).toEqual([5000, 5001, 5003]);
    expect(a.notes.rps).toBe(NOTES.noRequests);
    expect(b.notes.rps).toBeUndefined();
    expect(s.since()[0]!.notes).toEqual(a.notes);
    expect(b.rps).toBe(10_000); // 10 requests in 1 ms
  });
});

// ---- Against the real process ---------------------------------------------------------------------

interface SseEvent {
  event: string | null;
  id: string | null;
  data: string;
}

/** Opens /dashboard/stream (query and headers as given), reads `n` events, then disconnects. */
async function readEvents(base: string, n: number, query = "", headers: Record<string, string> = {}): Promise<SseEvent[]> {
  const ac = new AbortController();
  const r = await fetch(`${base}/dashboard/stream${query}`, { signal: ac.signal, headers });
  expect(r.status).toBe(200);
  const reader = r.body!.getReader();
  const dec = new TextDecoder();
  const out: SseEvent[] = [];
  let buf = "";
  try {
    while (out.length < n) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`stream ended after ${out.length} events`);
      buf += dec.decode(value, { stream: true });
      let end: number;
      while (out.length < n && (end = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const ev: SseEvent = { event: null, id: null, data: "" };
        for (const line of block.split("\n")) {
          const [k, ...rest] = line.split(": ");
          if (k === "event") ev.event = rest.join(": ");
          else if (k === "id") ev.id = rest.join(": ");
          else if (k === "data") ev.data += rest.join(": ");
        }
        out.push(ev);
      }
    }
  } finally {
    ac.abort();
  }
  return out;
}

interface History {
  interval_ms: number;
  capacity: number;
  points: DashboardPoint[];
}
async function history(base: string, query = ""): Promise<History> {
  const r = await fetch(`${base}/dashboard/history${query}`);
  expect(r.status).toBe(200);
  expect(r.headers.get("content-type")).toStartWith("application/json");
  return (await r.json()) as History;
}
const increasing = (ts: number[]) => ts.every((t, i) => i === 0 || t > ts[i - 1]!);

describe("GET /dashboard/history and the stream's seam (real pexd, no upstream configured)", () => {
  let p: Pexd;
  beforeAll(async () => {
    p = await startPexd();
  }, 60_000);
  afterAll(async () => {
    await p?.dispose();
  });

  test("after some samples, a freshly opened dashboard gets the history in order, with the reasons", async () => {
    // The sampler runs from start, page or not: wait for a few of its points.
    await until("3 history points", async () => (await history(p.url)).points.length >= 3, 30_000);
    const h = await history(p.url);
    expect(h.interval_ms).toBe(1000);
    expect(h.capacity).toBe(900);
    expect(h.points.length).toBeGreaterThanOrEqual(3);
    expect(h.points.length).toBeLessThanOrEqual(h.capacity);
    expect(increasing(h.points.map((x) => x.t))).toBe(true);
    const newest = h.points.at(-1)!;
    // No PEXD_ETH_* upstream and no relay port here; the dashboard's own requests are not traffic.
    expect(newest.notes).toEqual({
      rps: "no requests yet",
      latency: "no requests yet",
      status: "no requests yet",
      cache: "no upstream configured",
      upstream: "no upstream configured",
      head: "no upstream configured",
      relay: "relay not enabled",
    });
    expect(newest.gauges.fib_index).toBe(0);
    // The page says so: the page's script shows each note in its panel.
    const js = await (await fetch(`${p.url}/dashboard/assets/dashboard.js`)).text();
    expect(js).toContain('fetch("/dashboard/history"');
    expect(js).toContain("p.notes[panel.id]");
  }, 60_000);

  test("the stream opened after the history continues with the next point: no gap, no duplicate", async () => {
    const h = await history(p.url);
    const last = h.points.at(-1)!;
    const [ev] = await readEvents(p.url, 1, `?after=${last.t}`);
    expect(ev!.event).toBe("point");
    const next = JSON.parse(ev!.data) as DashboardPoint;
    expect(ev!.id).toBe(String(next.t));
    expect(next.t).toBeGreaterThan(last.t);
    // It is the ring's very next point: nothing skipped between the history and the stream.
    const later = await history(p.url, `?after=${last.t}`);
    expect(later.points[0]).toEqual(next);
  }, 30_000);

  test("a reconnect (Last-Event-ID, which wins over ?after) replays exactly the points it missed", async () => {
    const h = await history(p.url);
    const n = h.points.length;
    expect(n).toBeGreaterThanOrEqual(3);
    const from = h.points[n - 3]!;
    const evs = await readEvents(p.url, 3, `?after=${h.points[n - 1]!.t}`, { "Last-Event-ID": String(from.t) });
    const got = evs.map((e) => JSON.parse(e.data) as DashboardPoint);
    expect(got.slice(0, 2)).toEqual(h.points.slice(n - 2));
    expect(evs.map((e) => e.id)).toEqual(got.map((x) => String(x.t)));
    const ts = [from.t, ...got.map((x) => x.t)];
    expect(increasing(ts)).toBe(true);
    expect(new Set(ts).size).toBe(ts.length);
  }, 30_000);

  test("without a cursor the stream starts with a point taken now, then newer ones", async () => {
    const before = (await history(p.url)).points.at(-1)!;
    expect((await fetch(`${p.url}/next`, { method: "POST" })).status).toBe(200);
    const evs = await readEvents(p.url, 2);
    const [a, b] = evs.map((e) => JSON.parse(e.data) as DashboardPoint);
    expect(a!.t).toBeGreaterThan(before.t);
    expect(a!.gauges.fib_index).toBe(1); // taken at connect time, not the last ring point
    expect(a!.notes.rps).toBeUndefined(); // a request has now been answered
    expect(b!.t).toBeGreaterThan(a!.t);
  }, 30_000);

  test("a malformed cursor is refused; the route is in the OpenAPI document", async () => {
    expect((await fetch(`${p.url}/dashboard/history?after=soon`)).status).toBe(400);
    expect((await fetch(`${p.url}/dashboard/stream?after=-1`)).status).toBe(400);
    const doc = (await (await fetch(`${p.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { operationId?: string }>>;
    };
    expect(doc.paths["/dashboard/history"]?.get?.operationId).toBe("getDashboardHistory");
  });
});
