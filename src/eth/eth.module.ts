// The Ethereum gateway as a PexdModule: builds gateway + HTTP transport from Config.eth, registers
// the REST and JSON-RPC routes, a readiness check per upstream, and the pexd_eth_* metric families.
import type { Config } from "../config.ts";
import type { ReadinessCheck } from "../http/meta.routes.ts";
import type { MetricFamily } from "../metrics/types.ts";
import type { PexdModule } from "../module.ts";
import { UpstreamMetrics } from "./eth.metrics.ts";
import { registerEthRestRoutes, registerJsonRpcRoute } from "./eth.routes.ts";
import { EthGateway } from "./eth.service.ts";
import { HttpTransport, type FetchLike } from "./http.transport.ts";
import { UpstreamError, type RpcTransport } from "./transport.ts";

/** A readiness probe is skipped when the upstream answered this recently (no polling of paid upstreams). */
const READY_FRESH_MS = 10_000;

export interface EthParts {
  gateway: EthGateway;
  http: HttpTransport;
  metrics: UpstreamMetrics;
}

export function buildEthGateway(eth: Config["eth"], opts: { fetch?: FetchLike } = {}): EthParts {
  const metrics = new UpstreamMetrics();
  const http = new HttpTransport({ upstreams: eth.http, timeoutMs: eth.timeoutMs, metrics, ...(opts.fetch ? { fetch: opts.fetch } : {}) });
  const gateway = new EthGateway({
    transport: http,
    cacheTtlMs: eth.cacheTtlMs,
    cacheMaxBytes: eth.cacheMaxBytes,
    finalityDepth: eth.finalityDepth,
  });
  return { gateway, http, metrics };
}

export interface EthModuleOptions extends EthParts {
  /** More REST mounts, e.g. { prefix: "/ws", transport: wsTransport } from the WebSocket half. */
  mounts?: { prefix: string; transport: RpcTransport; tag?: string }[];
  /** Extra metric families and close hooks of parts built elsewhere (the WebSocket half). */
  extraMetrics?: () => MetricFamily[];
  onClose?: () => Promise<void>;
}

export function ethModule(o: EthModuleOptions): PexdModule {
  const { gateway, http, metrics } = o;
  const checks: ReadinessCheck[] = http.upstreams.map((label) => ({
    name: `eth_upstream ${label}`,
    check: async () => {
      if (http.sinceOk(label) < READY_FRESH_MS) return;
      try {
        await http.probe(label); // a JSON-RPC error answer still proves the upstream reachable
      } catch (e) {
        throw new Error(e instanceof UpstreamError ? e.message : `upstream ${label} failed`);
      }
    },
  }));
  return {
    name: "eth",
    checks,
    register(app) {
      registerEthRestRoutes(app, gateway);
      registerJsonRpcRoute(app, gateway);
      for (const m of o.mounts ?? []) registerEthRestRoutes(app, gateway, m);
    },
    metrics: () => {
      const s = gateway.stats();
      const counter = (name: string, help: string, value: number): MetricFamily => ({ name, help, type: "counter", samples: [{ value }] });
      const gauge = (name: string, help: string, value: number): MetricFamily => ({ name, help, type: "gauge", samples: [{ value }] });
      return [
        counter("pexd_eth_cache_hits_total", "Gateway reads answered from the cache.", s.hits),
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
                Math.max(0, (Date.now() - s.headChangedAt) / 1000),
              ),
            ]
          : []),
        ...metrics.families(),
        ...(o.extraMetrics?.() ?? []),
      ];
    },
    close: async () => {
      await o.onClose?.();
      await http.close();
    },
  };
}
