// Upstream call metrics shared by every transport (HTTP here, WebSocket in src/eth/ws): counts by
// upstream label, method and outcome, and a latency histogram per upstream. Labels are credential-free.
import { Histogram, type MetricFamily, type Sample } from "../metrics/types.ts";
import { methodAllowed } from "./eth.policy.ts";

/** cancelled: a hedged read whose other copy answered first. */
export type UpstreamOutcome = "ok" | "rpc_error" | "upstream_error" | "upstream_timeout" | "cancelled";

/** Methods named in labels; any other method is "other" so clients cannot grow the label set. */
const KNOWN_METHODS = new Set([
  "eth_blockNumber",
  "eth_gasPrice",
  "eth_chainId",
  "net_version",
  "eth_coinbase",
  "eth_getBlockByNumber",
  "eth_getBlockByHash",
  "eth_getTransactionByHash",
  "eth_getTransactionReceipt",
  "eth_getTransactionByBlockNumberAndIndex",
  "eth_getBalance",
  "eth_getCode",
  "eth_getTransactionCount",
  "eth_getStorageAt",
  "eth_call",
  "eth_estimateGas",
  "eth_getLogs",
  "eth_feeHistory",
  "eth_maxPriorityFeePerGas",
  "eth_sendRawTransaction",
  "eth_subscribe",
  "eth_unsubscribe",
  "eth_getBlockReceipts",
  "eth_syncing",
  "web3_clientVersion",
]);

export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) && methodAllowed(method) ? method : "other";
}

export class UpstreamMetrics {
  #counts = new Map<string, { labels: Record<string, string>; value: number }>();
  #latency = new Map<string, Histogram>();
  #capped = new Map<string, number>();

  /** A call not sent to `upstream` because it was at its PEXD_ETH_UPSTREAM_RATE cap. */
  capped(upstream: string): void {
    this.#capped.set(upstream, (this.#capped.get(upstream) ?? 0) + 1);
  }

  record(upstream: string, method: string, outcome: UpstreamOutcome, seconds: number): void {
    const m = methodLabel(method);
    const key = `${upstream}\u0000${m}\u0000${outcome}`;
    const c = this.#counts.get(key);
    if (c) c.value++;
    else this.#counts.set(key, { labels: { upstream, method: m, outcome }, value: 1 });
    let h = this.#latency.get(upstream);
    if (!h) this.#latency.set(upstream, (h = new Histogram()));
    h.observe(seconds);
  }

  /** Total calls with this outcome (all upstreams and methods), or all calls. */
  total(outcome?: UpstreamOutcome): number {
    let n = 0;
    for (const c of this.#counts.values()) if (!outcome || c.labels.outcome === outcome) n += c.value;
    return n;
  }

  families(): MetricFamily[] {
    const latency: Sample[] = [];
    for (const [upstream, h] of this.#latency) latency.push(...h.samples({ upstream }));
    return [
      {
        name: "pexd_eth_upstream_requests_total",
        help: "Calls sent to an Ethereum upstream, by upstream, method and outcome.",
        type: "counter",
        samples: [...this.#counts.values()].map((c) => ({ labels: c.labels, value: c.value })),
      },
      {
        name: "pexd_eth_upstream_capped_total",
        help: "Calls not sent to an upstream because it was at its call cap (PEXD_ETH_UPSTREAM_RATE), by upstream.",
        type: "counter",
        samples: [...this.#capped].map(([upstream, value]) => ({ labels: { upstream }, value })),
      },
      {
        name: "pexd_eth_upstream_request_duration_seconds",
        help: "Latency of calls to an Ethereum upstream (one attempt), by upstream.",
        type: "histogram",
        samples: latency,
      },
    ];
  }
}
