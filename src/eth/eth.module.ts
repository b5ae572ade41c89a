// The Ethereum gateway as a PexdModule: the REST routes (direct and under /ws), POST /eth and the
// client WebSockets over the shared EthCore; a readiness check per HTTP upstream and for the head;
// the pexd_eth_* and pexd_ws_* metric families. With no upstream configured the routes still exist
// and answer 503 upstream_not_configured (WebSockets: close 1013) (docs/ethereum.md).
import type { UpgradeWebSocket } from "hono/ws";
import { READY, type Readiness, type ReadinessCheck } from "../http/meta.routes.ts";
import type { MetricFamily } from "../metrics/types.ts";
import type { PexdModule } from "../module.ts";
import type { EthCore } from "./eth.core.ts";
import { registerEthRestRoutes, registerJsonRpcRoute } from "./eth.routes.ts";
import { JsonRpcDispatcher } from "./jsonrpc.dispatcher.ts";
import { errorResponse, INVALID_REQUEST } from "./jsonrpc.ts";
import { ClientWsStats, registerClientWebSockets } from "./ws/client.ws.ts";

const CORS = { "access-control-allow-origin": "*" };
const counter = (name: string, help: string, value: number): MetricFamily => ({ name, help, type: "counter", samples: [{ value }] });
const gauge = (name: string, help: string, value: number): MetricFamily => ({ name, help, type: "gauge", samples: [{ value }] });

export interface EthModuleDeps {
  upgrade: UpgradeWebSocket;
  /** Config.eth's client-facing limits. */
  limits: { maxBodyBytes: number; maxBatch: number };
  wallNow?: () => number;
}

export function ethModule(core: EthCore, deps: EthModuleDeps): PexdModule {
  const { gateway, http, ws, hub, tracker } = core;
  const wallNow = deps.wallNow ?? Date.now;
  const { maxBodyBytes, maxBatch } = deps.limits;
  const dispatcher = new JsonRpcDispatcher(gateway, { maxBatch });
  const clients = new ClientWsStats();
  // One check per upstream, from what the transports know (no call is made for /ready): a down one
  // only degrades readiness while another upstream of its kind is healthy.
  const perUpstream = (kind: string, views: () => { upstream: string; status: "up" | "down" | "unknown"; reason: string | null }[]) =>
    views().map(
      (v, i): ReadinessCheck => ({
        name: `eth_upstream ${v.upstream}`,
        check: (): Readiness => {
          const all = views();
          const me = all[i]!;
          if (me.status === "up") return READY;
          const anyUp = all.some((x) => x.status === "up");
          if (me.status === "unknown" && anyUp) return READY; // a standby nobody needed yet
          const detail = me.status === "unknown" ? `no ${kind} upstream has answered yet` : `down: ${me.reason ?? "unreachable"}`;
          return { ok: false, critical: !anyUp, detail };
        },
      }),
    );
  const checks: ReadinessCheck[] = [...perUpstream("HTTP", () => http.health()), ...perUpstream("WebSocket", () => ws.health())];
  if (tracker) checks.push(tracker.check());

  return {
    name: "eth",
    checks,
    // A JSON-RPC body may be large (contract deployments, blob transactions, viem's batches): its own
    // limit, answered in JSON-RPC; and each call is charged to the rate limit, not the request.
    bodyLimits: [
      {
        path: "/eth",
        maxBytes: maxBodyBytes,
        onTooLarge: (c) =>
          c.json(errorResponse(null, INVALID_REQUEST, `request body over ${maxBodyBytes} bytes (PEXD_ETH_MAX_BODY_BYTES)`), 413, CORS),
      },
    ],
    unmetered: ["/eth", "/socket2socket"],
    register(app, ctx) {
      registerEthRestRoutes(app, gateway);
      registerJsonRpcRoute(app, dispatcher, http, { limiter: ctx.limiter, maxBodyBytes, maxBatch });
      registerEthRestRoutes(app, gateway, { prefix: "/ws", transport: ws, tag: "ethereum (upstream WebSocket)" });
      registerClientWebSockets(app, {
        dispatcher,
        // Client WebSockets call through the multiplexer when there is one, else over HTTP.
        transport: hub ? ws : http,
        ...(hub ? { hub } : {}),
        upgrade: deps.upgrade,
        stats: clients,
        clients: ctx.clients,
        limiter: ctx.limiter,
        limits: { maxMessageBytes: maxBodyBytes, maxConnectionsPerIp: ctx.config.limits.wsConnectionsPerIp },
      });
    },
    metrics: () => {
      const s = gateway.stats();
      return [
        counter("pexd_eth_cache_hits_total", "Gateway reads answered from the cache.", s.hits),
        counter(
          "pexd_eth_cache_shared_hits_total",
          "Gateway reads answered from the cache shared with other instances (Redis) after a miss here.",
          s.sharedHits,
        ),
        counter(
          "pexd_eth_cache_misses_total",
          "Gateway requests that called the upstream (reads that missed, writes, uncacheable calls).",
          s.misses,
        ),
        counter("pexd_eth_cache_coalesced_total", "Gateway reads that joined an identical in-flight upstream call.", s.coalesced),
        counter("pexd_eth_cache_evictions_total", "Cache entries evicted to stay under PEXD_ETH_CACHE_MAX_BYTES.", s.evictions),
        gauge("pexd_eth_cache_bytes", "Bytes held by the response cache (results, keys and per-entry overhead).", s.bytes),
        gauge("pexd_eth_cache_entries", "Entries in the response cache.", s.entries),
        ...(s.head !== undefined
          ? [
              gauge("pexd_eth_head_block", "Latest block number the gateway has seen.", Number(s.head)),
              gauge(
                "pexd_eth_head_age_seconds",
                "Seconds since the head last changed (as seen by the gateway).",
                Math.max(0, (wallNow() - s.headChangedAt) / 1000),
              ),
            ]
          : []),
        ...core.metrics.families(),
        {
          name: "pexd_eth_upstream_up",
          help: "1 while an upstream is usable (HTTP: circuit closed; WebSocket: connected), 0 while it is known to be down or not tried yet.",
          type: "gauge",
          samples: [
            ...http.health().map((h) => ({ labels: { upstream: h.upstream, transport: "http" }, value: h.state === "closed" ? 1 : 0 })),
            ...ws.health().map((h) => ({ labels: { upstream: h.upstream, transport: "ws" }, value: h.status === "up" ? 1 : 0 })),
          ],
        },
        {
          name: "pexd_eth_upstream_in_flight",
          help: "HTTP calls in flight to an upstream (bounded by its pool), by upstream.",
          type: "gauge",
          samples: http.health().map((h) => ({ labels: { upstream: h.upstream }, value: h.inFlight })),
        },
        counter("pexd_eth_upstream_hedged_total", "Reads also sent to a second upstream after the hedge delay.", http.hedged),
        counter(
          "pexd_ws_heads_backfilled_total",
          "newHeads fetched to fill a gap after a reconnect of the upstream WebSocket.",
          hub?.backfilled ?? 0,
        ),
        gauge("pexd_ws_clients", "Client WebSocket connections open (GET /eth, /socket2socket).", clients.clients),
        gauge("pexd_ws_subscriptions", "Client subscriptions (eth_subscribe) open.", clients.subscriptions),
        gauge(
          "pexd_ws_upstream_subscriptions",
          "Upstream subscriptions held (shared by identical client subscriptions).",
          hub?.upstreamSubscriptions ?? 0,
        ),
        gauge("pexd_ws_upstream_connected", "1 while the upstream WebSocket is open.", ws.connected ? 1 : 0),
        counter("pexd_ws_upstream_reconnects_total", "Upstream WebSocket reconnections.", ws.reconnects),
        {
          name: "pexd_ws_closed_total",
          help: "Client WebSockets closed by a limit, by reason.",
          type: "counter",
          samples: [
            { labels: { reason: "slow_consumer" }, value: clients.closedSlow },
            { labels: { reason: "message_too_big" }, value: clients.closedOversize },
          ],
        },
      ];
    },
  };
}
