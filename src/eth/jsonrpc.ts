// JSON-RPC 2.0 codec for the gateway: validating client messages (single and batch), the typed
// error every JSON-RPC path answers with (RpcFault), and the standard error objects.
import type { JsonRpcError, JsonRpcId, JsonRpcRequest, JsonRpcResponse, UpstreamError } from "./transport.ts";

export const PARSE_ERROR = -32700;
export const INVALID_REQUEST = -32600;
export const METHOD_NOT_FOUND = -32601;
export const INVALID_PARAMS = -32602;
export const INTERNAL_ERROR = -32603;
/** EIP-1474's "limit exceeded": rate limits and caps. */
export const LIMIT_EXCEEDED = -32005;

/** Largest batch accepted by default (larger batches get one -32600 answer). */
export const MAX_BATCH = 100;

export function errorResponse(id: JsonRpcId, code: number, message: string, data?: unknown): JsonRpcResponse {
  const error: JsonRpcError = data === undefined ? { code, message } : { code, message, data };
  return { jsonrpc: "2.0", id, error };
}

/** A refused or failed call, answered as a JSON-RPC error object on every path (HTTP and WebSocket). */
export class RpcFault extends Error {
  override name = "RpcFault" as const;
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }

  toResponse(id: JsonRpcId): JsonRpcResponse {
    return errorResponse(id, this.code, this.message, this.data);
  }

  /** An upstream's own error object, passed through unchanged. */
  static fromError(e: JsonRpcError): RpcFault {
    return new RpcFault(e.code, e.message, e.data);
  }

  /** A transport failure as docs/ethereum.md says: -32603 with data.code upstream_error|upstream_timeout|…; a capped upstream -32005. */
  static upstream(e: UpstreamError): RpcFault {
    if (e.kind === "upstream_rate_limited")
      return new RpcFault(LIMIT_EXCEEDED, e.message, { code: e.kind, retry_after_ms: Math.max(1, e.retryAfterMs) });
    return new RpcFault(INTERNAL_ERROR, e.message, { code: e.kind });
  }
}

export type Checked =
  | { ok: true; request: JsonRpcRequest /** false for a notification (no id member) */; hasId: boolean }
  | { ok: false; response: JsonRpcResponse };

const validId = (id: unknown): id is JsonRpcId => id === null || typeof id === "string" || (typeof id === "number" && Number.isFinite(id));

/** Validates one element of a request (JSON-RPC 2.0 §4): anything else is -32600 Invalid Request. */
export function checkRequest(msg: unknown): Checked {
  if (msg === null || typeof msg !== "object" || Array.isArray(msg)) {
    return { ok: false, response: errorResponse(null, INVALID_REQUEST, "invalid request: not an object") };
  }
  const m = msg as Record<string, unknown>;
  const hasId = "id" in m;
  const id = hasId && validId(m.id) ? m.id : null;
  if (hasId && !validId(m.id))
    return { ok: false, response: errorResponse(null, INVALID_REQUEST, "invalid request: id must be a string, number or null") };
  if (m.jsonrpc !== "2.0") return { ok: false, response: errorResponse(id, INVALID_REQUEST, 'invalid request: jsonrpc must be "2.0"') };
  if (typeof m.method !== "string" || m.method === "")
    return { ok: false, response: errorResponse(id, INVALID_REQUEST, "invalid request: method must be a non-empty string") };
  if (m.params !== undefined && (m.params === null || typeof m.params !== "object")) {
    return { ok: false, response: errorResponse(id, INVALID_REQUEST, "invalid request: params must be an array or an object") };
  }
  const request: JsonRpcRequest = {
    jsonrpc: "2.0",
    method: m.method,
    ...(hasId ? { id } : {}),
    ...(m.params !== undefined ? { params: m.params as unknown[] | Record<string, unknown> } : {}),
  };
  return { ok: true, request, hasId };
}

/** Parses a request body; a parse failure is the -32700 response. */
export function parseMessage(text: string): { ok: true; value: unknown } | { ok: false; response: JsonRpcResponse } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, response: errorResponse(null, PARSE_ERROR, "parse error: body is not valid JSON") };
  }
}
