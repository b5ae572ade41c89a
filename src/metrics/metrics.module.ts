// The metrics feature as a PexdModule: the HTTP metrics middleware, process and Fibonacci metrics,
// every other module's families read at scrape time, /metrics and the live /dashboard.
import type { MiddlewareHandler } from "hono";
import type { AssetSource } from "../http/meta.routes.ts";
import type { PexdModule } from "../module.ts";
import { presence, readTotals, toPoint, type DashboardPoint, type Totals } from "./dashboard.sampler.ts";
import { formatExposition, mergeFamilies } from "./exposition.ts";
import { HttpMetrics } from "./http.metrics.ts";
import { registerMetricsRoutes } from "./metrics.routes.ts";
import { EventLoopLag, processFamilies, type ProcessProbe } from "./process.metrics.ts";
import type { MetricFamily } from "./types.ts";

export interface MetricsDeps {
  /** The Fibonacci service, typed by what is read. */
  fib: { readonly index: number; readonly commits?: number };
  /** Every other module, read at scrape time (so modules built later are included). */
  modules: () => readonly PexdModule[];
  processProbe: ProcessProbe;
  /** Serves uPlot.iife.min.js and uPlot.min.css. */
  assets?: AssetSource;
  version: string;
  /** Unix epoch milliseconds. */
  startedAt?: number;
  /**
   * false: no HTTP request middleware (pexd_http_* stay empty). Only for measuring the middleware's
   * own cost in the benchmark; see README.md, "Observability".
   */
  httpMetrics?: boolean;
  /** Dashboard stream interval (tests may shorten it). */
  streamIntervalMs?: number;
}

export interface MetricsModule extends PexdModule {
  /**
   * Records one answered request. The app's edge middleware calls it (it already times the request
   * and labels the route for the access log, so metrics add no middleware frame); null when
   * httpMetrics is false.
   */
  readonly observeRequest: ((method: string, route: string, status: number, seconds: number) => void) | null;
  /** The same recording as a standalone middleware, for apps without that edge (install first). */
  readonly middleware: MiddlewareHandler | null;
  /** Every family of the process, merged (what /metrics renders). */
  collect(): MetricFamily[];
  /** Ends open dashboard streams and the lag timer; safe to call more than once. */
  close(): Promise<void>;
}

export function metricsModule(deps: MetricsDeps): MetricsModule {
  const http = deps.httpMetrics === false ? null : new HttpMetrics();
  const lag = new EventLoopLag().start();
  const startedAt = deps.startedAt ?? Date.now();
  const closing = new AbortController();

  const own = (): MetricFamily[] => {
    const fams: MetricFamily[] = [
      ...(http?.families() ?? []),
      { name: "pexd_fib_index", help: "Current index of the Fibonacci counter.", type: "gauge", samples: [{ value: deps.fib.index }] },
    ];
    if (deps.fib.commits !== undefined)
      fams.push({
        name: "pexd_fib_commits_total",
        help: "Commits of the Fibonacci index to storage (one per group).",
        type: "counter",
        samples: [{ value: deps.fib.commits }],
      });
    return [
      ...fams,
      ...processFamilies({ probe: deps.processProbe, lag, version: deps.version, startedAtMs: startedAt, nowMs: Date.now() }),
    ];
  };

  const self: MetricsModule = {
    name: "metrics",
    observeRequest: http ? (method, route, status, seconds) => http.record(method, route, status, seconds) : null,
    middleware: http?.middleware ?? null,
    metrics: own,
    collect() {
      const families = own();
      for (const m of deps.modules()) {
        if (m === self || !m.metrics) continue;
        // One broken module must not take the whole scrape down.
        try {
          families.push(...m.metrics());
        } catch {
          /* its families are missing from this scrape */
        }
      }
      return mergeFamilies(families);
    },
    register(app) {
      registerMetricsRoutes(app, {
        version: deps.version,
        scrape: () => formatExposition(self.collect()),
        pointStream: () => {
          let prev: Totals | null = null;
          return (): DashboardPoint => {
            const families = self.collect();
            const cur = readTotals(families, Date.now());
            const point = toPoint(prev, cur, presence(families));
            prev = cur;
            return point;
          };
        },
        closing: closing.signal,
        ...(deps.assets ? { assets: deps.assets } : {}),
        ...(deps.streamIntervalMs ? { intervalMs: deps.streamIntervalMs } : {}),
      });
    },
    async close() {
      closing.abort();
      lag.stop();
    },
  };
  return self;
}
