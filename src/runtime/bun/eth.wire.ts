// Ethereum gateway wiring: the gateway and its HTTP upstreams from Config.eth. With no upstream
// configured the routes still exist and answer 503 upstream_not_configured (SPEC §3).
import { buildEthGateway, ethModule } from "../../eth/eth.module.ts";
import type { Wire } from "./wire.ts";

export const wireEth: Wire = async ({ config, log }) => {
  const parts = buildEthGateway(config.eth);
  // Labels only: the upstream URL may carry a project id and the Authorization header a secret.
  log.info("eth gateway", {
    http_upstreams: parts.http.upstreams,
    cache_ttl_ms: config.eth.cacheTtlMs,
    cache_max_bytes: config.eth.cacheMaxBytes,
    finality_depth: config.eth.finalityDepth,
  });
  return ethModule(parts);
};
