// The Bun bundle of runtime adapters: bun:sqlite stores, Bun's WebSocket client for upstreams,
// hono/bun's server-side upgrade, Bun.listen/Bun.connect, the process probe and the static assets.
import { readdirSync } from "node:fs";
import { resolve } from "node:path";
import { upgradeWebSocket } from "hono/bun";
import type { Config } from "../../config.ts";
import type { AssetSource } from "../../http/meta.routes.ts";
import type { Logger } from "../../log.ts";
import type { ProcessProbe } from "../../metrics/process.metrics.ts";
import type { RuntimeAdapters } from "../runtime.port.ts";
import { openSqliteStores } from "./sqlite.ts";
import { bunTcp } from "./tcp.ts";

const NODE_MODULES = resolve(import.meta.dir, "../../../node_modules");
/** The only files served, by name: the API reference's and the dashboard's (no path walking). */
const ASSET_FILES: Record<string, string> = {
  "swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
  "swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
  "uPlot.iife.min.js": "uplot/dist/uPlot.iife.min.js",
  "uPlot.min.css": "uplot/dist/uPlot.min.css",
};

const assets: AssetSource = async (name) => {
  const rel = ASSET_FILES[name];
  if (!rel) return null;
  const f = Bun.file(resolve(NODE_MODULES, rel));
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

export function bunRuntime(config: Config, log: Logger): RuntimeAdapters {
  return {
    openStores: () => openSqliteStores(config.dataDir, log, { synchronous: config.sync === "full" ? "FULL" : "NORMAL" }),
    // The Infura secret rides in the Authorization header, never in the URL.
    upstreamSocket: (url, headers) => new BunWebSocket(url, { headers }),
    upgradeWebSocket,
    tcp: bunTcp,
    clock: { now: () => performance.timeOrigin + performance.now(), wall: Date.now },
    assets,
    processProbe: bunProcessProbe,
    // Bun.serve passes the server as fetch's second argument (Hono's c.env).
    peerAddress: (request, env) =>
      (env as { requestIP?(r: Request): { address: string } | null } | undefined)?.requestIP?.(request)?.address ?? null,
  };
}
