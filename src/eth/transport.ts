// The seam between the gateway (policy, cache, coalescing) and the wire to an upstream node.
// HTTP (ky, failover) and WebSocket (multiplexer) upstreams both implement RpcTransport.

export type JsonRpcId = string | number | null;

export interface JsonRpcRequest {
  jsonrpc: "2.0";
  id?: JsonRpcId;
  method: string;
  params?: unknown[] | Record<string, unknown>;
}

export interface JsonRpcError {
  code: number;
  message: string;
  data?: unknown;
}

export interface JsonRpcResponse {
  jsonrpc: "2.0";
  id: JsonRpcId;
  result?: unknown;
  error?: JsonRpcError;
}

export type UpstreamErrorKind =
  | "upstream_error"
  | "upstream_timeout"
  | "upstream_unavailable"
  | "upstream_not_configured"
  | "upstream_rate_limited";

/**
 * A transport failure (not a JSON-RPC error answer): maps to 502/504 or -32603 with data.code;
 * upstream_unavailable (every upstream it could use is known to be down: failed at once) to 503 or
 * -32603; upstream_rate_limited (every upstream at its PEXD_ETH_UPSTREAM_RATE cap) to 429 or -32005.
 */
export class UpstreamError extends Error {
  override name = "UpstreamError" as const;
  constructor(
    readonly kind: UpstreamErrorKind,
    message: string,
    /** For upstream_rate_limited: when a call may go again. */
    readonly retryAfterMs = 0,
  ) {
    super(message);
  }
}

export interface RpcTransport {
  /** Sends one call upstream; resolves with the upstream's response object (its id is not the caller's). */
  call(method: string, params: unknown[] | Record<string, unknown> | undefined, opts?: { signal?: AbortSignal }): Promise<JsonRpcResponse>;
  /** Labels (credential-free) of the configured upstreams. */
  readonly upstreams: readonly string[];
  close?(): Promise<void>;
}
