// Turns two scrapes of the metric families into one dashboard point: rates from counter deltas and
// p50/p99 from histogram bucket deltas (the way Prometheus' histogram_quantile reads them), so the
// live page and a Prometheus server derive their figures from the same numbers.
//
// One DashboardSampler per process takes a point every interval (1 s) whether or not a page is open,
// and keeps the last 15 minutes of them in a PointRing: preallocated typed arrays, one fixed-size
// slot per point (its time, every rate/latency/gauge figure, the presence flags and the code of each
// panel's "why empty" note), overwritten oldest first. At 1 s that is 900 slots × 179 bytes ≈ 157 KiB,
// and never more than MAX_SLOTS × 179 bytes ≈ 629 KiB whatever the interval. Point times strictly
// increase, so a time is also the point's id: GET /dashboard/history and the stream's `after` cursor
// (or Last-Event-ID) hand out exactly the points newer than a given time.
import type { MetricFamily } from "./types.ts";

/** Cumulative values read from one scrape. */
export interface Totals {
  t: number;
  requests: number;
  status: Record<StatusClass, number>;
  httpBuckets: Map<number, number>;
  upstreamBuckets: Map<number, number> | null;
  cache: { hits: number; misses: number; coalesced: number } | null;
  gauges: Record<GaugeKey, number | null>;
}

export type StatusClass = "2xx" | "3xx" | "4xx" | "5xx";
const STATUS_CLASSES: StatusClass[] = ["2xx", "3xx", "4xx", "5xx"];

/** Dashboard gauge → the metric family it reads (summed over its series). */
const GAUGES = {
  fib_index: "pexd_fib_index",
  widgets: "pexd_widgets",
  head_block: "pexd_eth_head_block",
  head_age_s: "pexd_eth_head_age_seconds",
  relay_clients: "pexd_relay_clients",
  relay_blocks: "pexd_relay_blocks",
  ws_clients: "pexd_ws_clients",
  rss_bytes: "process_resident_memory_bytes",
  heap_bytes: "pexd_process_heap_used_bytes",
  event_loop_lag_s: "pexd_event_loop_lag_seconds",
} as const;
export type GaugeKey = keyof typeof GAUGES;

/** The dashboard's panels, in page order (the page draws one chart per id). */
export const PANEL_IDS = ["rps", "latency", "status", "cache", "upstream", "head", "fib", "widgets", "relay", "memory"] as const;
export type PanelId = (typeof PANEL_IDS)[number];

/** Why a panel has nothing to draw: short, and only what the server knows for sure. */
export const NOTES = {
  httpOff: "HTTP metrics off (PEXD_HTTP_METRICS=off)",
  noRequests: "no requests yet",
  noGateway: "Ethereum gateway not running",
  noUpstream: "no upstream configured",
  noEthRequests: "no Ethereum requests yet",
  noUpstreamCalls: "no upstream calls yet",
  noHead: "no head block seen yet",
  noCounter: "Fibonacci counter not running",
  noWidgets: "widgets not running",
  noRelayServer: "relay server not running",
  relayOff: "relay not enabled",
  relayNoPort: "relay server not listening (PEXD_RELAY_PORT unset)",
} as const;
export type Note = (typeof NOTES)[keyof typeof NOTES];
const NOTE_TEXTS: readonly Note[] = Object.values(NOTES);

/**
 * What only the configuration tells: an idle relay port and a closed one both publish 0 clients.
 * Absent (a sampler without a config): no relay note beyond "relay server not running".
 */
export interface DashboardSetup {
  relayPort: number;
  relayTargets: number;
}

/** One point of the live stream; null means "no data" (module absent, or nothing happened). */
export interface DashboardPoint {
  /** Unix epoch milliseconds. */
  t: number;
  rps: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
  /** Responses per second by status class. */
  status: Record<StatusClass, number | null>;
  /** hits / (hits + misses + coalesced) over the interval. */
  cache_hit_ratio: number | null;
  upstream_p50_ms: number | null;
  upstream_p99_ms: number | null;
  gauges: Record<GaugeKey, number | null>;
  /** Which optional modules publish metrics: the page shows "n/a" for an absent one. */
  present: { eth: boolean; cache: boolean; upstream: boolean; widgets: boolean; relay: boolean };
  /** Panels with nothing to draw, and why (see NOTES); a panel not listed has data. */
  notes: Partial<Record<PanelId, Note>>;
}

/**
 * The dashboard's own requests (the page, its assets, its history and its minutes-long stream) are
 * counted in /metrics but left out of the page's figures: opening the page is not traffic.
 */
const ownRoute = (route: string | undefined) => route !== undefined && (route === "/dashboard" || route.startsWith("/dashboard/"));

const sum = (f: MetricFamily | undefined, suffix?: string) => {
  let s = 0;
  for (const x of f?.samples ?? []) if (x.suffix === suffix && !ownRoute(x.labels?.route)) s += x.value;
  return s;
};

function buckets(f: MetricFamily | undefined): Map<number, number> | null {
  if (!f) return null;
  const out = new Map<number, number>();
  for (const s of f.samples) {
    if (s.suffix !== "_bucket" || ownRoute(s.labels?.route)) continue;
    const le = s.labels?.le === "+Inf" ? Infinity : Number(s.labels?.le);
    if (!Number.isNaN(le)) out.set(le, (out.get(le) ?? 0) + s.value);
  }
  return out;
}

/**
 * Which optional modules are live. The gateway publishes its cache counters even with no upstream
 * configured, so "eth" means it has called an upstream or learned a head.
 */
export function presence(families: MetricFamily[]): DashboardPoint["present"] {
  const by = new Map(families.map((f) => [f.name, f]));
  const has = (name: string) => (by.get(name)?.samples.length ?? 0) > 0;
  const eth = has("pexd_eth_upstream_requests_total") || has("pexd_eth_head_block");
  return {
    eth,
    cache: eth && has("pexd_eth_cache_hits_total"),
    upstream: eth && has("pexd_eth_upstream_request_duration_seconds"),
    widgets: has("pexd_widgets"),
    relay: has("pexd_relay_clients"),
  };
}

export function readTotals(families: MetricFamily[], t: number): Totals {
  const by = new Map(families.map((f) => [f.name, f]));
  const http = by.get("pexd_http_requests_total");
  const status = { "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0 } as Record<StatusClass, number>;
  for (const s of http?.samples ?? []) {
    if (ownRoute(s.labels?.route)) continue;
    const cls = `${(s.labels?.status ?? "")[0]}xx` as StatusClass;
    if (cls in status) status[cls] += s.value;
  }
  const hits = by.get("pexd_eth_cache_hits_total");
  const misses = by.get("pexd_eth_cache_misses_total");
  const gauges = {} as Record<GaugeKey, number | null>;
  for (const [k, name] of Object.entries(GAUGES) as [GaugeKey, string][]) {
    const f = by.get(name);
    gauges[k] = f?.samples.length ? sum(f) : null;
  }
  return {
    t,
    requests: sum(http),
    status,
    httpBuckets: buckets(by.get("pexd_http_request_duration_seconds")) ?? new Map(),
    upstreamBuckets: buckets(by.get("pexd_eth_upstream_request_duration_seconds")),
    cache: hits || misses ? { hits: sum(hits), misses: sum(misses), coalesced: sum(by.get("pexd_eth_cache_coalesced_total")) } : null,
    gauges,
  };
}

/**
 * The q-quantile (seconds) of the observations between two cumulative bucket maps, linearly
 * interpolated inside the bucket that holds it; null when nothing was observed.
 */
export function quantileDelta(q: number, prev: Map<number, number> | null, cur: Map<number, number>): number | null {
  const les = [...cur.keys()].sort((a, b) => a - b);
  const delta = les.map((le) => Math.max(0, (cur.get(le) ?? 0) - (prev?.get(le) ?? 0)));
  const total = delta[delta.length - 1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (let i = 0; i < les.length; i++) {
    const le = les[i]!;
    const cum = delta[i]!;
    if (cum >= rank) {
      // Past the last finite bound nothing is known but "slower than that bound".
      if (le === Infinity) return lower;
      const inBucket = cum - below;
      return inBucket > 0 ? lower + ((le - lower) * (rank - below)) / inBucket : le;
    }
    lower = le;
    below = cum;
  }
  return lower;
}

const ms = (s: number | null) => (s === null ? null : Math.round(s * 1e6) / 1e3);

export function toPoint(
  prev: Totals | null,
  cur: Totals,
  present: DashboardPoint["present"],
  notes: DashboardPoint["notes"] = {},
): DashboardPoint {
  const dt = prev ? (cur.t - prev.t) / 1000 : 0;
  const rate = (a: number, b: number | undefined) => (prev && dt > 0 && b !== undefined ? Math.max(0, a - b) / dt : null);
  let ratio: number | null = null;
  if (cur.cache && prev?.cache) {
    const h = cur.cache.hits - prev.cache.hits;
    const all = h + (cur.cache.misses - prev.cache.misses) + (cur.cache.coalesced - prev.cache.coalesced);
    ratio = all > 0 ? h / all : null;
  }
  const up = cur.upstreamBuckets;
  return {
    t: cur.t,
    rps: rate(cur.requests, prev?.requests),
    p50_ms: prev ? ms(quantileDelta(0.5, prev.httpBuckets, cur.httpBuckets)) : null,
    p99_ms: prev ? ms(quantileDelta(0.99, prev.httpBuckets, cur.httpBuckets)) : null,
    status: Object.fromEntries(STATUS_CLASSES.map((k) => [k, rate(cur.status[k], prev?.status[k])])) as Record<StatusClass, number | null>,
    cache_hit_ratio: ratio,
    upstream_p50_ms: up && prev ? ms(quantileDelta(0.5, prev.upstreamBuckets, up)) : null,
    upstream_p99_ms: up && prev ? ms(quantileDelta(0.99, prev.upstreamBuckets, up)) : null,
    gauges: cur.gauges,
    present,
    notes,
  };
}

/**
 * Why each empty panel is empty, from the scrape (which modules publish what) and the setup (what
 * only the configuration knows). A panel with data gets no note.
 */
export function panelNotes(families: MetricFamily[], cur: Totals, setup?: DashboardSetup): DashboardPoint["notes"] {
  const by = new Map(families.map((f) => [f.name, f]));
  const notes: DashboardPoint["notes"] = {};
  const http = !by.has("pexd_http_requests_total") ? NOTES.httpOff : cur.requests === 0 ? NOTES.noRequests : null;
  if (http) notes.rps = notes.latency = notes.status = http;

  // The gateway publishes pexd_eth_upstream_up with one series per configured upstream (none: none).
  const eth = !by.has("pexd_eth_cache_hits_total")
    ? NOTES.noGateway
    : (by.get("pexd_eth_upstream_up")?.samples.length ?? 0) === 0
      ? NOTES.noUpstream
      : null;
  const c = cur.cache;
  const upstreamCalls = cur.upstreamBuckets?.get(Infinity) ?? 0;
  notes.cache = eth ?? (!c || c.hits + c.misses + c.coalesced === 0 ? NOTES.noEthRequests : undefined);
  notes.upstream = eth ?? (upstreamCalls === 0 ? NOTES.noUpstreamCalls : undefined);
  notes.head = eth ?? (cur.gauges.head_block === null ? NOTES.noHead : undefined);

  if (cur.gauges.fib_index === null) notes.fib = NOTES.noCounter;
  if (cur.gauges.widgets === null) notes.widgets = NOTES.noWidgets;
  if (cur.gauges.relay_clients === null) notes.relay = NOTES.noRelayServer;
  else if (setup && setup.relayPort === 0) notes.relay = setup.relayTargets > 0 ? NOTES.relayNoPort : NOTES.relayOff;
  for (const k of PANEL_IDS) if (notes[k] === undefined) delete notes[k];
  return notes;
}

// ---- The ring -------------------------------------------------------------------------------------

const TOP = ["rps", "p50_ms", "p99_ms", "cache_hit_ratio", "upstream_p50_ms", "upstream_p99_ms"] as const;
const GAUGE_KEYS = Object.keys(GAUGES) as GaugeKey[];
const PRESENT_KEYS = ["eth", "cache", "upstream", "widgets", "relay"] as const;
/** Float64 columns of a slot: t, the top-level figures, the status rates, the gauges (null = NaN). */
const NUMS = 1 + TOP.length + STATUS_CLASSES.length + GAUGE_KEYS.length;
/** Byte columns of a slot: the presence bits, then one note code per panel (0 = no note). */
const BYTES = 1 + PANEL_IDS.length;
/** Bytes one point takes in the ring: 21 × 8 + 11 = 179. */
export const SLOT_BYTES = NUMS * 8 + BYTES;
/** What the ring keeps: the last 15 minutes. */
export const HISTORY_WINDOW_MS = 15 * 60_000;
/** Slots at most, whatever the interval (a sub-second test interval keeps a shorter window). */
export const MAX_SLOTS = 3600;

/** Slots for `windowMs` of points taken every `intervalMs` (900 for 15 min at 1 s). */
export const ringCapacity = (intervalMs: number, windowMs = HISTORY_WINDOW_MS) =>
  Math.min(MAX_SLOTS, Math.max(2, Math.ceil(windowMs / Math.max(1, intervalMs))));

const num = (v: number) => (Number.isNaN(v) ? null : v);

/**
 * The last `capacity` points, oldest overwritten first, in preallocated typed arrays: memory is
 * capacity × SLOT_BYTES from construction on, however many points are pushed. Times must strictly
 * increase (push throws otherwise), which keeps the ring sorted for since().
 */
export class PointRing {
  readonly capacity: number;
  readonly #nums: Float64Array;
  readonly #bytes: Uint8Array;
  /** Slot the next push writes. */
  #next = 0;
  #size = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring capacity must be a positive integer, not ${capacity}`);
    this.capacity = capacity;
    this.#nums = new Float64Array(capacity * NUMS);
    this.#bytes = new Uint8Array(capacity * BYTES);
  }

  get size(): number {
    return this.#size;
  }

  /** Bytes held by the slots (fixed at construction). */
  get bytes(): number {
    return this.#nums.byteLength + this.#bytes.byteLength;
  }

  /** Time of the newest point, or null while empty. */
  get newestT(): number | null {
    return this.#size ? this.#t(this.#size - 1) : null;
  }

  push(p: DashboardPoint): void {
    const newest = this.newestT;
    if (newest !== null && !(p.t > newest)) throw new RangeError(`point time ${p.t} is not after the newest ${newest}`);
    const n = this.#next * NUMS;
    const nums = this.#nums;
    let i = n;
    nums[i++] = p.t;
    for (const k of TOP) nums[i++] = p[k] ?? Number.NaN;
    for (const k of STATUS_CLASSES) nums[i++] = p.status[k] ?? Number.NaN;
    for (const k of GAUGE_KEYS) nums[i++] = p.gauges[k] ?? Number.NaN;
    const b = this.#next * BYTES;
    let bits = 0;
    PRESENT_KEYS.forEach((k, j) => {
      if (p.present[k]) bits |= 1 << j;
    });
    this.#bytes[b] = bits;
    PANEL_IDS.forEach((id, j) => {
      const note = p.notes[id];
      this.#bytes[b + 1 + j] = note === undefined ? 0 : NOTE_TEXTS.indexOf(note) + 1;
    });
    this.#next = (this.#next + 1) % this.capacity;
    if (this.#size < this.capacity) this.#size++;
  }

  /** Slot of the i-th oldest point. */
  #slot(i: number): number {
    return (this.#next - this.#size + i + this.capacity) % this.capacity;
  }

  #t(i: number): number {
    return this.#nums[this.#slot(i) * NUMS]!;
  }

  /** The i-th oldest point (0 = oldest), rebuilt from its slot. */
  at(i: number): DashboardPoint {
    if (!(i >= 0 && i < this.#size)) throw new RangeError(`no point ${i} in a ring of ${this.#size}`);
    const s = this.#slot(i);
    const nums = this.#nums;
    let k = s * NUMS;
    const t = nums[k++]!;
    const top = {} as Record<(typeof TOP)[number], number | null>;
    for (const f of TOP) top[f] = num(nums[k++]!);
    const status = {} as Record<StatusClass, number | null>;
    for (const c of STATUS_CLASSES) status[c] = num(nums[k++]!);
    const gauges = {} as Record<GaugeKey, number | null>;
    for (const g of GAUGE_KEYS) gauges[g] = num(nums[k++]!);
    const b = s * BYTES;
    const bits = this.#bytes[b]!;
    const present = {} as DashboardPoint["present"];
    PRESENT_KEYS.forEach((key, j) => {
      present[key] = (bits & (1 << j)) !== 0;
    });
    const notes: DashboardPoint["notes"] = {};
    PANEL_IDS.forEach((id, j) => {
      const code = this.#bytes[b + 1 + j]!;
      if (code) notes[id] = NOTE_TEXTS[code - 1]!;
    });
    return { t, ...top, status, gauges, present, notes };
  }

  /** The points newer than `after` (all when absent), oldest first. */
  since(after = Number.NEGATIVE_INFINITY): DashboardPoint[] {
    // Times are sorted: binary search for the first one after the cursor.
    let lo = 0;
    let hi = this.#size;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#t(mid) > after) hi = mid;
      else lo = mid + 1;
    }
    const out: DashboardPoint[] = [];
    for (let i = lo; i < this.#size; i++) out.push(this.at(i));
    return out;
  }
}

// ---- The sampler ----------------------------------------------------------------------------------

/** What the routes read: the ring, a point taken on demand, and a signal per new point. */
export interface DashboardFeed {
  /** Milliseconds between points. */
  readonly intervalMs: number;
  /** Points kept (the history's length once the process has run for the whole window). */
  readonly capacity: number;
  /** Held points newer than `after` (Unix ms; all when absent), oldest first. */
  since(after?: number): DashboardPoint[];
  /** Time of the newest held point, or null before the first. */
  newestT(): number | null;
  /** A point taken now against the last sample, not kept: the first event of a stream with no cursor. */
  peek(): DashboardPoint;
  /** `fn` runs after each new point; returns the unsubscribe. */
  subscribe(fn: () => void): () => void;
}

export interface DashboardSamplerOptions {
  /** Every metric family of the process (what /metrics renders). */
  collect(): MetricFamily[];
  /** Unix epoch milliseconds. */
  now(): number;
  intervalMs?: number;
  windowMs?: number;
  setup?: DashboardSetup;
}

/** Takes a point every interval into its PointRing and tells the open streams. */
export class DashboardSampler implements DashboardFeed {
  readonly intervalMs: number;
  readonly ring: PointRing;
  #prev: Totals | null = null;
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #listeners = new Set<() => void>();

  constructor(readonly opts: DashboardSamplerOptions) {
    this.intervalMs = opts.intervalMs ?? 1000;
    this.ring = new PointRing(ringCapacity(this.intervalMs, opts.windowMs));
  }

  get capacity(): number {
    return this.ring.capacity;
  }

  /** Time of the last point handed out (kept or peeked). */
  #issued: number | null = null;

  /** Strictly after every point handed out so far, even if the wall clock stepped back. */
  #time(): number {
    const now = Math.round(this.opts.now());
    this.#issued = this.#issued === null ? now : Math.max(now, this.#issued + 1);
    return this.#issued;
  }

  #take(): { point: DashboardPoint; totals: Totals } {
    const families = this.opts.collect();
    const totals = readTotals(families, this.#time());
    const point = toPoint(this.#prev, totals, presence(families), panelNotes(families, totals, this.opts.setup));
    return { point, totals };
  }

  /** Takes one point into the ring and wakes the streams. */
  sample(): DashboardPoint {
    const { point, totals } = this.#take();
    this.ring.push(point);
    this.#prev = totals;
    for (const fn of this.#listeners) fn();
    return point;
  }

  peek(): DashboardPoint {
    return this.#take().point;
  }

  since(after?: number): DashboardPoint[] {
    return this.ring.since(after);
  }

  newestT(): number | null {
    return this.ring.newestT;
  }

  subscribe(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => void this.#listeners.delete(fn);
  }

  /** First point now, then one per interval; the timer never keeps the process alive. */
  start(): this {
    if (this.#timer) return this;
    const tick = () => {
      try {
        this.sample();
      } catch {
        /* a failed scrape is a missing point, never a crash */
      }
    };
    tick();
    this.#timer = setInterval(tick, this.intervalMs);
    (this.#timer as { unref?: () => void }).unref?.();
    return this;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
