// A feature module (widgets, eth gateway, relay, metrics) plugs into the app through this seam:
// routes, readiness checks, a stats snapshot for /metrics, and a close hook for graceful stop.
import type { MiddlewareHandler } from "hono";
import type { App } from "./app.ts";
import type { Config } from "./config.ts";
import type { ReadinessCheck } from "./http/meta.routes.ts";
import type { Logger } from "./log.ts";
import type { MetricFamily } from "./metrics/types.ts";

export interface ModuleContext {
  config: Config;
  log: Logger;
  /** Cache-Control: no-store plus the bearer-token check; put it on every mutating route. */
  mutating: MiddlewareHandler;
}

export interface PexdModule {
  readonly name: string;
  register(app: App, ctx: ModuleContext): void;
  checks?: ReadinessCheck[];
  /** Metric families read at scrape time by /metrics (recording stays a plain increment). */
  metrics?(): MetricFamily[];
  /** Called on SIGTERM/SIGINT after the HTTP server stopped accepting. */
  close?(): Promise<void>;
}
