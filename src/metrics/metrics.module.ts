// The metrics feature as a PexdModule: HTTP request metrics (recorded by the app's request edge),
// process metrics, every other module's families read at scrape time, /metrics and the /dashboard.
import type { AssetSource } from "../http/meta.routes.ts";
import type { PexdModule } from "../module.ts";
import { DashboardSampler } from "./dashboard.sampler.ts";
import { formatExposition, mergeFamilies } from "./exposition.ts";
import { HttpMetrics } from "./http.metrics.ts";
import { registerMetricsRoutes } from "./metrics.routes.ts";
import { EventLoopLag, processFamilies, type ProcessProbe } from "./process.metrics.ts";
import type { MetricFamily } from "./types.ts";

export interface MetricsDeps {
  /** Every other module, read at scrape time (so modules built later are included). */
  modules: () => readonly PexdModule[];
  processProbe: ProcessProbe;
  /** Serves uPlot.iife.min.js and uPlot.min.css. */
  assets?: AssetSource;
  version: string;
  /** Unix epoch milliseconds. */
  startedAt?: number;
  /** Unix epoch milliseconds. */
  wallNow?: () => number;
  /**
   * false: HTTP requests are not recorded (pexd_http_* stay empty). Only for measuring the middleware's
   * own cost in the benchmark; see docs/observability.md.
   */
  httpMetrics?: boolean;
  /** Dashboard sampling interval (tests may shorten it); the sampler keeps 15 minutes of points. */
  streamIntervalMs?: number;
}

export interface MetricsModule extends PexdModule {
  /**
   * Records one answered request. The app's edge middleware calls it (it already times the request
   * and labels the route for the access log, so metrics add no middleware frame); null when
   * httpMetrics is false.
   */
  readonly observeRequest: ((method: string, route: string, status: number, seconds: number) => void) | null;
  /** Every family of the process, merged (what /metrics renders). */
  collect(): MetricFamily[];
  /** Ends open dashboard streams, the dashboard sampler and the lag timer; safe to call more than once. */
  close(): Promise<void>;
}

export function metricsModule(deps: MetricsDeps): MetricsModule {
  const http = deps.httpMetrics === false ? null : new HttpMetrics();
  const lag = new EventLoopLag().start();
  const wallNow = deps.wallNow ?? Date.now;
  const startedAt = deps.startedAt ?? wallNow();
  const closing = new AbortController();
  let sampler: DashboardSampler | null = null;

  const own = (): MetricFamily[] => [
    ...(http?.families() ?? []),
    ...processFamilies({ probe: deps.processProbe, lag, version: deps.version, startedAtMs: startedAt, nowMs: wallNow() }),
  ];

  const self: MetricsModule = {
    name: "metrics",
    observeRequest: http ? (method, route, status, seconds) => http.record(method, route, status, seconds) : null,
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
    register(app, ctx) {
      // One sampler for the process, from registration on: the dashboard opens with its history.
      sampler?.stop();
      sampler = new DashboardSampler({
        collect: () => self.collect(),
        now: wallNow,
        ...(deps.streamIntervalMs ? { intervalMs: deps.streamIntervalMs } : {}),
        setup: { relayPort: ctx.config.relay.port, relayTargets: ctx.config.relay.targets.length },
      });
      if (!closing.signal.aborted) sampler.start();
      registerMetricsRoutes(app, {
        version: deps.version,
        scrape: () => formatExposition(self.collect()),
        feed: sampler,
        closing: closing.signal,
        ...(deps.assets ? { assets: deps.assets } : {}),
      });
    },
    // Open dashboard streams end before the HTTP server drains (they would hold it until its timeout).
    async drain() {
      closing.abort();
      sampler?.stop();
    },
    async close() {
      closing.abort();
      sampler?.stop();
      lag.stop();
    },
  };
  return self;
}
