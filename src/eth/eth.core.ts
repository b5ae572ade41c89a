// The Ethereum side every role shares, built once from Config.eth and the runtime's socket factory:
// the HTTP transport (ky, failover), the upstream WebSocket multiplexer with its subscription hub,
// the gateway (policy, cache, coalescing) and the head tracker that feeds the gateway's cache and the
// relay watcher. The eth module serves it over HTTP; the relay watcher fetches blocks through it.
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { SharedCache } from "./eth.cache.ts";
import { UpstreamMetrics } from "./eth.metrics.ts";
import { EthGateway } from "./eth.gateway.ts";
import { MethodPolicy } from "./eth.policy.ts";
import { HttpTransport, type FetchLike } from "./http.transport.ts";
import { RpcFault } from "./jsonrpc.ts";
import type { RpcTransport } from "./transport.ts";
import { HeadTracker } from "./ws/head.tracker.ts";
import { SubscriptionHub } from "./ws/subscription.hub.ts";
import type { SocketFactory } from "./ws/upstream.socket.ts";
import { WsTransport } from "./ws/ws.transport.ts";

/** eth_blockNumber polling period without newHeads (a 5 s safety net beside it: an Infura free plan allows ~100k requests a day). */
export const POLL_MS = 1000;

export interface EthCore {
  readonly gateway: EthGateway;
  readonly http: HttpTransport;
  readonly ws: WsTransport;
  /** Present with an upstream WebSocket: identical client subscriptions share one upstream one. */
  readonly hub: SubscriptionHub | undefined;
  /** Present when any upstream is configured. */
  readonly tracker: HeadTracker | undefined;
  readonly metrics: UpstreamMetrics;
  /** The transport for calls that are not tied to one: HTTP when configured, else the WebSocket. */
  readonly preferred: RpcTransport;
  /** Starts following the head; never waits for the upstream (a dead one must not hold start-up). */
  start(): void;
  /** One call through the gateway (cache, coalescing, failover, metrics): its result, or a thrown RpcFault/UpstreamError. */
  rpc(method: string, params: unknown[]): Promise<unknown>;
  close(): Promise<void>;
}

export function buildEthCore(
  eth: Config["eth"],
  deps: { log: Logger; connect: SocketFactory; fetch?: FetchLike; shared?: SharedCache | undefined },
): EthCore {
  const { log } = deps;
  const metrics = new UpstreamMetrics();
  const rate = eth.upstreamRate;
  const http = new HttpTransport({
    upstreams: eth.http,
    timeoutMs: eth.timeoutMs,
    metrics,
    rate,
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
  });
  const ws = new WsTransport({ upstreams: eth.ws, timeoutMs: eth.timeoutMs, connect: deps.connect, log, metrics, rate });
  const gateway = new EthGateway({
    transport: http,
    cacheTtlMs: eth.cacheTtlMs,
    cacheMaxBytes: eth.cacheMaxBytes,
    finalityDepth: eth.finalityDepth,
    policy: new MethodPolicy(eth.methods),
    shared: deps.shared,
  });
  const fetchBlock = async (n: bigint) => {
    const r = await ws.call("eth_getBlockByNumber", [`0x${n.toString(16)}`, false]);
    return r.result && typeof r.result === "object" ? (r.result as Record<string, unknown>) : null;
  };
  const hub = eth.ws.length
    ? new SubscriptionHub(ws.subscriptions, { maxUpstream: eth.maxUpstreamSubscriptions, fetchBlock, log })
    : undefined;
  const hasHttp = eth.http.length > 0;
  const preferred: RpcTransport = hasHttp ? http : ws;
  const tracker =
    hasHttp || hub ? new HeadTracker({ log, pollMs: POLL_MS, ...(hub ? { hub } : {}), ...(hasHttp ? { poll: http } : {}) }) : undefined;
  tracker?.onHead((n) => gateway.onNewHead(n));
  // Labels only: the upstream URL may carry a project id and the Authorization header a secret.
  log.info("eth gateway", {
    http_upstreams: http.upstreams,
    ws_upstreams: ws.upstreams,
    cache_ttl_ms: eth.cacheTtlMs,
    cache_max_bytes: eth.cacheMaxBytes,
    finality_depth: eth.finalityDepth,
  });
  return {
    gateway,
    http,
    ws,
    hub,
    tracker,
    metrics,
    preferred,
    start() {
      void tracker?.start();
    },
    async rpc(method, params) {
      const a = await gateway.handle({ jsonrpc: "2.0", id: 1, method, params }, preferred);
      if (a.outcome.error) throw RpcFault.fromError(a.outcome.error);
      return JSON.parse(a.outcome.raw) as unknown;
    },
    async close() {
      tracker?.stop();
      await ws.close();
      await http.close();
    },
  };
}
