// GET /metrics (Prometheus text), GET /dashboard (the live page), its history, its SSE stream and its
// assets. The page fetches GET /dashboard/history (the sampler's ring: the last 15 minutes), draws it,
// then opens /dashboard/stream?after=<time of the last history point>. The seam rule: a stream sends
// exactly the held points newer than its cursor (`after`, or Last-Event-ID when the browser
// reconnects; every event's id is its point time), then each new point as it is taken, so nothing is
// missed or sent twice at the seam. Without a cursor it starts with a point taken at connect time.
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { streamSSE } from "hono/streaming";
import { AppError, UnavailableError } from "../errors.ts";
import type { AppEnv } from "../http/context.ts";
import type { AssetSource } from "../http/meta.routes.ts";
import { commonResponses, errorResponse } from "../http/schemas.ts";
import { DASHBOARD_CSP, DASHBOARD_CSS, DASHBOARD_JS, dashboardHtml } from "./dashboard.page.ts";
import { NOTES, PANEL_IDS, type DashboardFeed } from "./dashboard.sampler.ts";
import { EXPOSITION_CONTENT_TYPE } from "./exposition.ts";

export interface MetricsRouteDeps {
  version: string;
  /** The whole exposition document, built at call time. */
  scrape(): string;
  /** The process's one dashboard sampler: its ring of recent points, and a signal per new point. */
  feed: DashboardFeed;
  /** uPlot's JS and CSS, read by the runtime (the core cannot read files). */
  assets?: AssetSource;
  /** Concurrent dashboard streams allowed; each holds a connection and encodes every point. */
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

const nullable = z.number().nullable();
const PointSchema = z
  .object({
    t: z.number().int().openapi({ description: "Unix epoch milliseconds; strictly increasing, and the SSE event id" }),
    rps: nullable.openapi({ description: "Requests per second (the dashboard's own requests left out)" }),
    p50_ms: nullable,
    p99_ms: nullable,
    status: z.record(z.string(), nullable).openapi({ description: "Responses per second by status class (2xx … 5xx)" }),
    cache_hit_ratio: nullable,
    upstream_p50_ms: nullable,
    upstream_p99_ms: nullable,
    gauges: z.record(z.string(), nullable),
    present: z.object({ eth: z.boolean(), cache: z.boolean(), upstream: z.boolean(), widgets: z.boolean(), relay: z.boolean() }),
    notes: z.record(z.string(), z.string()).openapi({
      description: `Panels with nothing to draw (${PANEL_IDS.join(", ")}) → why: ${Object.values(NOTES)
        .map((n) => `"${n}"`)
        .join(", ")}`,
    }),
  })
  .openapi("DashboardPoint");
const HistorySchema = z
  .object({
    interval_ms: z.number().int().openapi({ description: "Milliseconds between points" }),
    capacity: z.number().int().openapi({ description: "Points kept (15 minutes' worth)" }),
    points: z.array(PointSchema).openapi({ description: "Oldest first" }),
  })
  .openapi("DashboardHistory");
const CURSOR = /^\d{1,15}$/;
const After = z
  .string()
  .regex(CURSOR, "must be Unix epoch milliseconds")
  .optional()
  .openapi({ description: "Only points newer than this time (Unix epoch milliseconds): the `t` of the last point you have" });

/** The stream's cursor: Last-Event-ID (a browser reconnecting) wins over `after`; junk is no cursor. */
function cursorOf(lastEventId: string | undefined, after: string | undefined): number | null {
  for (const v of [lastEventId?.trim(), after]) if (v !== undefined && CURSOR.test(v)) return Number(v);
  return null;
}

export function registerMetricsRoutes(app: OpenAPIHono<AppEnv>, deps: MetricsRouteDeps): void {
  const { feed } = deps;
  const maxStreams = deps.maxStreams ?? 32;
  let streams = 0;

  app.openapi(
    createRoute({
      method: "get",
      path: "/metrics",
      operationId: "getMetrics",
      tags: ["operations"],
      summary: "Prometheus metrics (text exposition format 0.0.4)",
      responses: {
        200: { description: "Every metric family of the process and its modules", content: { "text/plain": { schema: z.string() } } },
        ...commonResponses,
      },
    }),
    (c) => c.text(deps.scrape(), 200, { "Content-Type": EXPOSITION_CONTENT_TYPE, "Cache-Control": "no-store" }),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/dashboard",
      operationId: "getDashboard",
      tags: ["operations"],
      summary: "Live dashboard (HTML; charts drawn from /dashboard/history, then fed by /dashboard/stream; assets served by pexd)",
      responses: { 200: { description: "The page", content: { "text/html": { schema: z.string() } } }, ...commonResponses },
    }),
    (c) => c.html(dashboardHtml(deps.version), 200, { "Content-Security-Policy": DASHBOARD_CSP, "Cache-Control": "no-store" }),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/dashboard/history",
      operationId: "getDashboardHistory",
      tags: ["operations"],
      summary: "The dashboard's recent points: the last 15 minutes, one per second, oldest first",
      description:
        "Kept in a fixed ring in memory from process start (lost on restart). Each point carries `notes`: the panels with nothing to draw and why. Open /dashboard/stream?after=<t of the last point> next to continue without a gap or a duplicate.",
      request: { query: z.object({ after: After }) },
      responses: {
        200: { description: "The held points", content: { "application/json": { schema: HistorySchema } } },
        ...commonResponses,
      },
    }),
    (c) => {
      const { after } = c.req.valid("query");
      const points = feed.since(after === undefined ? undefined : Number(after));
      return c.json({ interval_ms: feed.intervalMs, capacity: feed.capacity, points }, 200, { "Cache-Control": "no-store" });
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/dashboard/stream",
      operationId: "streamDashboard",
      tags: ["operations"],
      summary: "Server-sent events: one `point` event (JSON) per second with rates, latency percentiles and gauges",
      description:
        "Each event's id is its point's `t`. With `after` (or a Last-Event-ID header, sent by a reconnecting browser) the stream first replays the held points newer than it, then sends each new point; without either it starts with a point taken at connect time.",
      request: { query: z.object({ after: After }) },
      responses: {
        200: { description: "An endless text/event-stream", content: { "text/event-stream": { schema: z.string() } } },
        503: errorResponse("Too many open dashboard streams (`too_many_streams`)"),
        ...commonResponses,
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
      const cursor = cursorOf(c.req.header("last-event-id"), c.req.valid("query").after);
      streams++;
      c.header("Cache-Control", "no-store");
      return streamSSE(c, async (stream) => {
        // Woken by each new point and by the end of the stream; `pending` covers a point taken while
        // this loop was writing.
        let pending = false;
        let wake: (() => void) | null = null;
        const poke = () => {
          pending = true;
          wake?.();
        };
        const stop = () => void stream.abort();
        const unsubscribe = feed.subscribe(poke);
        stream.onAbort(poke);
        deps.closing.addEventListener("abort", stop);
        const send = (p: { t: number }) => stream.writeSSE({ event: "point", id: String(p.t), data: JSON.stringify(p) });
        const open = () => !stream.aborted && !deps.closing.aborted;
        try {
          let after: number;
          const newest = feed.newestT();
          if (cursor === null || (newest !== null && cursor > newest)) {
            // No cursor (or one from the future, e.g. another process's): a point taken now.
            const now = feed.peek();
            await send(now);
            after = now.t;
          } else after = cursor;
          while (open()) {
            pending = false;
            for (const p of feed.since(after)) {
              await send(p);
              after = p.t;
            }
            if (!pending && open()) await new Promise<void>((r) => (wake = r));
            wake = null;
          }
        } finally {
          streams--;
          unsubscribe();
          deps.closing.removeEventListener("abort", stop);
        }
      });
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/dashboard/assets/{file}",
      operationId: "getDashboardAsset",
      tags: ["operations"],
      summary: "The dashboard's script, styles and bundled uPlot",
      request: { params: z.object({ file: z.string() }) },
      responses: {
        200: { description: "The asset", content: { "text/javascript": { schema: z.string() }, "text/css": { schema: z.string() } } },
        404: errorResponse("No such asset (`not_found`)"),
        ...commonResponses,
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
