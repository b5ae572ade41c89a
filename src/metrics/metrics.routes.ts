// GET /metrics (Prometheus text), GET /dashboard (the live page), its SSE stream and its assets.
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { streamSSE } from "hono/streaming";
import { AppError, UnavailableError } from "../errors.ts";
import type { AppEnv } from "../http/context.ts";
import type { AssetSource } from "../http/meta.routes.ts";
import { errorResponse } from "../http/schemas.ts";
import { DASHBOARD_CSP, DASHBOARD_CSS, DASHBOARD_JS, dashboardHtml } from "./dashboard.page.ts";
import type { DashboardPoint } from "./dashboard.sampler.ts";
import { EXPOSITION_CONTENT_TYPE } from "./exposition.ts";

export interface MetricsRouteDeps {
  version: string;
  /** The whole exposition document, built at call time. */
  scrape(): string;
  /** A fresh point source per stream: each call of the returned function yields the next point. */
  pointStream(): () => DashboardPoint;
  /** uPlot's JS and CSS, read by the runtime (the core cannot read files). */
  assets?: AssetSource;
  /** Milliseconds between stream points. */
  intervalMs?: number;
  /** Concurrent dashboard streams allowed; each costs one scrape per interval. */
  maxStreams?: number;
  /** Aborted on close(): open streams end so a graceful stop does not wait for them. */
  closing: AbortSignal;
}

const UPLOT_ASSETS: Record<string, string> = {
  "uPlot.iife.min.js": "text/javascript; charset=utf-8",
  "uPlot.min.css": "text/css; charset=utf-8",
};
const OWN_ASSETS: Record<string, [string, string]> = {
  "dashboard.js": [DASHBOARD_JS, "text/javascript; charset=utf-8"],
  "dashboard.css": [DASHBOARD_CSS, "text/css; charset=utf-8"],
};

export function registerMetricsRoutes(app: OpenAPIHono<AppEnv>, deps: MetricsRouteDeps): void {
  const intervalMs = deps.intervalMs ?? 1000;
  const maxStreams = deps.maxStreams ?? 32;
  let streams = 0;

  app.openapi(
    createRoute({
      method: "get",
      path: "/metrics",
      tags: ["operations"],
      summary: "Prometheus metrics (text exposition format 0.0.4)",
      responses: {
        200: { description: "Every metric family of the process and its modules", content: { "text/plain": { schema: z.string() } } },
      },
    }),
    (c) => c.text(deps.scrape(), 200, { "Content-Type": EXPOSITION_CONTENT_TYPE, "Cache-Control": "no-store" }),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/dashboard",
      tags: ["operations"],
      summary: "Live dashboard (HTML; charts fed by /dashboard/stream, assets served by pexd)",
      responses: { 200: { description: "The page", content: { "text/html": { schema: z.string() } } } },
    }),
    (c) => c.html(dashboardHtml(deps.version), 200, { "Content-Security-Policy": DASHBOARD_CSP, "Cache-Control": "no-store" }),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/dashboard/stream",
      tags: ["operations"],
      summary: "Server-sent events: one `point` event (JSON) per second with rates, latency percentiles and gauges",
      responses: {
        200: { description: "An endless text/event-stream", content: { "text/event-stream": { schema: z.string() } } },
        503: errorResponse("Too many open dashboard streams (`too_many_streams`)"),
      },
    }),
    (c) => {
      if (streams >= maxStreams)
        throw new UnavailableError(
          "too_many_streams",
          `at most ${maxStreams} dashboard streams at a time`,
          null,
          "close another dashboard tab",
        );
      streams++;
      const next = deps.pointStream();
      c.header("Cache-Control", "no-store");
      return streamSSE(c, async (stream) => {
        const stop = () => void stream.abort();
        deps.closing.addEventListener("abort", stop);
        try {
          while (!stream.aborted && !deps.closing.aborted) {
            await stream.writeSSE({ event: "point", data: JSON.stringify(next()) });
            await stream.sleep(intervalMs);
          }
        } finally {
          streams--;
          deps.closing.removeEventListener("abort", stop);
        }
      });
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/dashboard/assets/{file}",
      tags: ["operations"],
      summary: "The dashboard's script, styles and bundled uPlot",
      request: { params: z.object({ file: z.string() }) },
      responses: {
        200: { description: "The asset", content: { "text/javascript": { schema: z.string() }, "text/css": { schema: z.string() } } },
        404: errorResponse("No such asset (`not_found`)"),
      },
    }),
    async (c) => {
      const { file } = c.req.valid("param");
      const own = OWN_ASSETS[file];
      if (own) return c.body(own[0], 200, { "Content-Type": own[1], "Cache-Control": "no-cache" });
      const type = UPLOT_ASSETS[file];
      const asset = type && deps.assets ? await deps.assets(file) : null;
      if (!asset || !type) throw new AppError(404, "not_found", `no dashboard asset ${file}`);
      return c.body(asset.body as ArrayBuffer, 200, { "Content-Type": type, "Cache-Control": "public, max-age=86400" });
    },
  );
}
