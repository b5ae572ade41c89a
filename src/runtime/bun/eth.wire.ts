// Ethereum gateway wiring: the gateway and its HTTP upstreams from Config.eth, the upstream
// WebSocket multiplexer (Bun's WebSocket client) with the subscription hub and head tracker, the
// /ws/* REST routes and the client WebSockets. With no upstream configured the routes still exist
// and answer 503 upstream_not_configured (WebSockets: close 1013) (SPEC §3).
import { buildEthGateway, ethModule } from "../../eth/eth.module.ts";
import { HeadTracker } from "../../eth/ws/head.tracker.ts";
import { SubscriptionHub } from "../../eth/ws/subscription.hub.ts";
import { registerClientWebSockets, wsStats } from "../../eth/ws/ws.routes.ts";
import { WsTransport, type SocketFactory, type WebSocketLike } from "../../eth/ws/ws.transport.ts";
import type { MetricFamily } from "../../metrics/types.ts";
import { upgradeWebSocket } from "./websocket.ts";
import type { Wire } from "./wire.ts";

// Bun's client WebSocket accepts a `headers` option (the Infura secret rides in Authorization).
export const bunSocket: SocketFactory = (url, headers) =>
  new WebSocket(url, { headers } as unknown as string[]) as unknown as WebSocketLike;

export const wireEth: Wire = async (ctx) => {
  const { config, log } = ctx;
  const parts = buildEthGateway(config.eth);
  const ws = new WsTransport({
    upstreams: config.eth.ws,
    timeoutMs: config.eth.timeoutMs,
    connect: bunSocket,
    log,
    metrics: parts.metrics,
  });
  const hub = config.eth.ws.length ? new SubscriptionHub(ws) : undefined;
  const http = parts.http.upstreams.length ? parts.http : undefined;
  const configured = Boolean(hub || http);
  // Client WebSockets call through the multiplexer when there is one, else over HTTP.
  const clientTransport = hub ? ws : parts.http;
  const tracker = configured ? new HeadTracker({ log, ...(hub ? { hub } : {}), ...(http ? { poll: http } : {}) }) : undefined;
  if (tracker) {
    tracker.onHead((n) => parts.gateway.onNewHead(n));
    void tracker.start();
    ctx.shared.heads = tracker;
  }
  // Labels only: the upstream URL may carry a project id and the Authorization header a secret.
  log.info("eth gateway", {
    http_upstreams: parts.http.upstreams,
    ws_upstreams: ws.upstreams,
    cache_ttl_ms: config.eth.cacheTtlMs,
    cache_max_bytes: config.eth.cacheMaxBytes,
    finality_depth: config.eth.finalityDepth,
  });
  const gauge = (name: string, help: string, value: number): MetricFamily => ({ name, help, type: "gauge", samples: [{ value }] });
  const m = ethModule({
    ...parts,
    mounts: [{ prefix: "/ws", transport: ws, tag: "ethereum (upstream WebSocket)" }],
    extraMetrics: () => [
      gauge("pexd_ws_clients", "Client WebSocket connections open (GET /eth, /socket2socket).", wsStats.clients),
      gauge("pexd_ws_subscriptions", "Client subscriptions (eth_subscribe) open.", wsStats.subscriptions),
      gauge(
        "pexd_ws_upstream_subscriptions",
        "Upstream subscriptions held (shared by identical client subscriptions).",
        hub?.upstreamSubscriptions ?? 0,
      ),
      gauge("pexd_ws_upstream_connected", "1 while the upstream WebSocket is open.", ws.connected ? 1 : 0),
      {
        name: "pexd_ws_upstream_reconnects_total",
        help: "Upstream WebSocket reconnections.",
        type: "counter",
        samples: [{ value: ws.reconnects }],
      },
      {
        name: "pexd_ws_closed_total",
        help: "Client WebSockets closed by a limit, by reason.",
        type: "counter",
        samples: [
          { labels: { reason: "slow_consumer" }, value: wsStats.closedSlow },
          { labels: { reason: "message_too_big" }, value: wsStats.closedOversize },
        ],
      },
    ],
    onClose: async () => {
      tracker?.stop();
      await ws.close();
    },
  });
  return {
    ...m,
    ...(tracker ? { checks: [...(m.checks ?? []), tracker.check()] } : {}),
    register(app, mctx) {
      m.register(app, mctx);
      registerClientWebSockets(app, {
        gateway: parts.gateway,
        transport: clientTransport,
        ...(hub ? { hub } : {}),
        upgrade: upgradeWebSocket,
      });
    },
  };
};
