// The Bun bundle of runtime adapters: bun:sqlite stores, Bun's WebSocket client for upstreams,
// hono/bun's server-side upgrade, Bun.listen/Bun.connect, the process probe and the static assets.
import { readdirSync } from "node:fs";
import { upgradeWebSocket } from "hono/bun";
import swaggerUiBundle from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "file" };
import swaggerUiCss from "swagger-ui-dist/swagger-ui.css" with { type: "file" };
import uPlotJs from "uplot/dist/uPlot.iife.min.js" with { type: "file" };
import uPlotCss from "uplot/dist/uPlot.min.css" with { type: "file" };
import type { Config } from "../../config.ts";
import type { AssetSource } from "../../http/meta.routes.ts";
import type { Logger } from "../../log.ts";
import type { ProcessProbe } from "../../metrics/process.metrics.ts";
import type { RuntimeAdapters } from "../runtime.port.ts";
import { openSqliteStores } from "./sqlite.ts";
import { bunTcp } from "./tcp.ts";

/**
 * The only files served, by name: the API reference's and the dashboard's (no path walking). Imported
 * as files: paths into node_modules from source, embedded in the executable by `bun build --compile`.
 */
const ASSET_FILES = new Map<string, string>([
  ["swagger-ui.css", swaggerUiCss],
  ["swagger-ui-bundle.js", swaggerUiBundle],
  ["uPlot.iife.min.js", uPlotJs],
  ["uPlot.min.css", uPlotCss],
]);

const assets: AssetSource = async (name) => {
  const path = ASSET_FILES.get(name);
  if (!path) return null;
  const f = Bun.file(path);
  return (await f.exists()) ? { body: f, type: f.type } : null;
};

export const bunProcessProbe: ProcessProbe = {
  memory: () => {
    const m = process.memoryUsage();
    return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal };
  },
  cpuSeconds: () => {
    const u = process.cpuUsage();
    return { user: u.user / 1e6, system: u.system / 1e6 };
  },
  openFds: () => {
    try {
      // The listing's own descriptor is closed again before it returns; Linux only.
      return readdirSync("/proc/self/fd").length;
    } catch {
      return null;
    }
  },
};

/** Bun's WebSocket takes `{ headers }` (Bun.WebSocketOptions); the DOM lib's constructor type hides it. */
const BunWebSocket = WebSocket as unknown as new (url: string, options: Bun.WebSocketOptions) => WebSocket;

/**
 * The Bun adapters for a configuration. The PostgreSQL and Redis adapters are imported only when
 * configured: the embedded default (SQLite) does not load their code (~1 MiB of idle RSS, measured).
 */
export async function bunRuntime(config: Config, log: Logger): Promise<RuntimeAdapters> {
  const redis = config.redisUrl ? (await import("./redis.ts")).openRedis(config.redisUrl, log) : null;
  const databaseUrl = config.databaseUrl;
  return {
    openStores: databaseUrl
      ? async () => {
          const [{ openPostgres, pgLocation }, { postgresStores }] = await Promise.all([
            import("./postgres.ts"),
            import("../../storage/postgres/postgres.stores.ts"),
          ]);
          const pool = await openPostgres(databaseUrl, { log });
          return postgresStores(pool, pgLocation(databaseUrl));
        }
      : () => openSqliteStores(config.dataDir, log, { synchronous: config.sync === "full" ? "FULL" : "NORMAL" }),
    // The Infura secret rides in the Authorization header, never in the URL.
    upstreamSocket: (url, headers) => new BunWebSocket(url, { headers }),
    upgradeWebSocket,
    tcp: bunTcp,
    clock: { now: () => performance.timeOrigin + performance.now(), wall: Date.now },
    assets,
    processProbe: bunProcessProbe,
    ...(redis
      ? {
          start: redis.start,
          sharedCache: redis.sharedCache,
          rateLimitStore: redis.rateLimitStore,
          checks: [redis.check],
          metrics: redis.metrics,
          close: redis.close,
        }
      : {}),
    // Bun.serve passes the server as fetch's second argument (Hono's c.env).
    peerAddress: (request, env) =>
      (env as { requestIP?(r: Request): { address: string } | null } | undefined)?.requestIP?.(request)?.address ?? null,
  };
}
