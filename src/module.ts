// A feature module (counter, widgets, eth gateway, relay, metrics) plugs into the app through this
// seam: routes, readiness checks, metric families read at scrape time, and lifecycle hooks.
import type { Context, MiddlewareHandler } from "hono";
import type { App } from "./app.ts";
import type { Config } from "./config.ts";
import type { ReadinessCheck } from "./http/meta.routes.ts";
import type { Clients, RequestLimiter } from "./limits/request-limiter.ts";
import type { Logger } from "./log.ts";
import type { MetricFamily } from "./metrics/types.ts";

export interface ModuleContext {
  config: Config;
  log: Logger;
  /** Cache-Control: no-store, the bearer-token check, and no HEAD; put it on every mutating route. */
  mutating: MiddlewareHandler;
  /** Who sent a request (per-address connection caps). */
  clients: Clients;
  /** The per-client rate limit, when PEXD_RATE_LIMIT is set (JSON-RPC routes charge per call). */
  limiter?: RequestLimiter;
}

/** A route's own body limit, enforced by the app's edge instead of the 64 KiB default. */
export interface BodyLimit {
  path: string;
  maxBytes: number;
  /** The answer to a body over the limit (JSON-RPC routes answer JSON-RPC). */
  onTooLarge(c: Context): Response | Promise<Response>;
}

export interface PexdModule {
  readonly name: string;
  register(app: App, ctx: ModuleContext): void;
  checks?: ReadinessCheck[];
  bodyLimits?: readonly BodyLimit[];
  /** Paths the app's edge does not charge to the rate limit (their routes charge per JSON-RPC call). */
  unmetered?: readonly string[];
  /** Metric families read at scrape time by /metrics (recording stays a plain increment). */
  metrics?(): MetricFamily[];
  /** Fields for the lifecycle log lines (`listening`, `stopped`), e.g. the counter's index. */
  facts?(): Record<string, unknown>;
  /** On SIGTERM/SIGINT, before the HTTP server drains: ends long-lived responses (event streams). */
  drain?(): Promise<void>;
  /** After the HTTP server stopped: flushes and releases what the module holds. */
  close?(): Promise<void>;
}
