// A feature module (counter, widgets, eth gateway, relay, metrics) plugs into the app through this
// seam: routes, readiness checks, metric families read at scrape time, and lifecycle hooks.
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
  /** Fields for the lifecycle log lines (`listening`, `stopped`), e.g. the counter's index. */
  facts?(): Record<string, unknown>;
  /** On SIGTERM/SIGINT, before the HTTP server drains: ends long-lived responses (event streams). */
  drain?(): Promise<void>;
  /** After the HTTP server stopped: flushes and releases what the module holds. */
  close?(): Promise<void>;
}
