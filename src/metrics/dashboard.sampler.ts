// Turns two scrapes of the metric families into one dashboard point: rates from counter deltas and
// p50/p99 from histogram bucket deltas (the way Prometheus' histogram_quantile reads them), so the
// live page and a Prometheus server derive their figures from the same numbers.
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
  rss_bytes: "pexd_process_resident_memory_bytes",
  heap_bytes: "pexd_process_heap_used_bytes",
  event_loop_lag_s: "pexd_event_loop_lag_seconds",
} as const;
export type GaugeKey = keyof typeof GAUGES;

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
}

/** The dashboard's own stream lasts minutes: counted in /metrics, left out of the page's rates. */
const STREAM_ROUTE = "/dashboard/stream";

const sum = (f: MetricFamily | undefined, suffix?: string) => {
  let s = 0;
  for (const x of f?.samples ?? []) if (x.suffix === suffix && x.labels?.route !== STREAM_ROUTE) s += x.value;
  return s;
};

function buckets(f: MetricFamily | undefined): Map<number, number> | null {
  if (!f) return null;
  const out = new Map<number, number>();
  for (const s of f.samples) {
    if (s.suffix !== "_bucket" || s.labels?.route === STREAM_ROUTE) continue;
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
    if (s.labels?.route === STREAM_ROUTE) continue;
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

export function toPoint(prev: Totals | null, cur: Totals, present: DashboardPoint["present"]): DashboardPoint {
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
  };
}
