// docs/ethereum.md over HTTP: the REST routes (registered per prefix and transport, so /ws/* reuses them with
// the WebSocket transport) and POST /eth, JSON-RPC 2.0 single and batch (through the dispatcher).
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { AppError, UnavailableError } from "../errors.ts";
import type { AppEnv } from "../http/context.ts";
import { requireJson } from "../http/middleware.ts";
import { errorResponse as errorDoc, errorResponses, internalErrorResponse, retryAfterHeader } from "../http/schemas.ts";
import type { Answer, EthGateway } from "./eth.gateway.ts";
import {
  BlockByNumberBodySchema,
  JsonRpcBodySchema,
  JsonRpcResponseSchema,
  toQuantity,
  TxByBlockAndIndexBodySchema,
} from "./eth.schemas.ts";
import { cacheKey } from "./eth.policy.ts";
import type { RequestLimiter } from "../limits/request-limiter.ts";
import type { JsonRpcDispatcher, RpcSession } from "./jsonrpc.dispatcher.ts";
import { parseMessage } from "./jsonrpc.ts";
import { UpstreamError, type RpcTransport } from "./transport.ts";

type App = OpenAPIHono<AppEnv>;

/**
 * Browser dapps call the gateway cross-origin: open CORS without credentials (nothing to protect).
 * Written as two header sets rather than hono/cors, whose per-request middleware frame halved the
 * throughput of a cached route.
 */
const CORS_HEADERS = { "access-control-allow-origin": "*", "access-control-expose-headers": "x-cache, x-request-id" } as const;
const PREFLIGHT_HEADERS = {
  ...CORS_HEADERS,
  "access-control-allow-methods": "GET, POST, OPTIONS",
  "access-control-allow-headers": "content-type, x-request-id",
  "access-control-max-age": "600",
} as const;
const RESPONSE_HEADERS = { "content-type": "application/json", ...CORS_HEADERS } as const;
/** The headers of each cache status, built once (a spread per answer showed in the cached path's profile). */
const ANSWER_HEADERS = {
  HIT: { ...RESPONSE_HEADERS, "x-cache": "HIT" },
  MISS: { ...RESPONSE_HEADERS, "x-cache": "MISS" },
  COALESCED: { ...RESPONSE_HEADERS, "x-cache": "COALESCED" },
} as const;

/** Answers a CORS preflight (OPTIONS) on a gateway path. */
function allowPreflight(app: App, path: string): void {
  app.on("OPTIONS", path, (c) => c.body(null, 204, PREFLIGHT_HEADERS));
}

export function notConfigured(): AppError {
  return new UnavailableError(
    "upstream_not_configured",
    "no Ethereum upstream is configured",
    null,
    "set PEXD_ETH_HTTP_URL (or INFURA_PROJECT_ID), or run `make run` for a local anvil chain",
  );
}

/** Transport failure → the documented error body: 502 upstream_error, 504 upstream_timeout, 503 not configured, 429 capped. */
export function upstreamAppError(e: UpstreamError): AppError {
  if (e.kind === "upstream_not_configured") return notConfigured();
  if (e.kind === "upstream_unavailable") {
    return new UnavailableError(
      "upstream_unavailable",
      "every Ethereum upstream is known to be down",
      e.message,
      "retry later: pexd probes them in the background",
    );
  }
  if (e.kind === "upstream_rate_limited") {
    const s = Math.max(1, Math.ceil(e.retryAfterMs / 1000));
    return new AppError(429, "upstream_rate_limited", "every upstream is at its call cap", e.message, `retry after ${s} s`, {
      "Retry-After": String(s),
    });
  }
  if (e.kind === "upstream_timeout")
    return new AppError(
      504,
      "upstream_timeout",
      "the Ethereum upstream did not answer in time",
      e.message,
      "retry later; PEXD_ETH_TIMEOUT_MS sets the limit",
    );
  return new AppError(502, "upstream_error", "the Ethereum upstream failed", e.message, "retry later");
}

const gatewayErrors = {
  429: {
    ...errorDoc(
      "Over the client's rate limit (`rate_limited`, PEXD_RATE_LIMIT) or every upstream at its call cap (`upstream_rate_limited`, PEXD_ETH_UPSTREAM_RATE); with Retry-After",
    ),
    headers: retryAfterHeader,
  },
  502: errorDoc("Every upstream failed (`upstream_error`)"),
  503: errorDoc(
    "No upstream configured (`upstream_not_configured`), or every upstream known to be down (`upstream_unavailable`, answered at once)",
  ),
  504: errorDoc("The upstream timed out (`upstream_timeout`)"),
  ...internalErrorResponse,
} as const;

const rpcOk = (description: string) => ({
  200: {
    description: `${description}. The upstream's JSON-RPC response object with id 1 (an upstream JSON-RPC error is passed through unchanged); \`x-cache: HIT|MISS|COALESCED\`.`,
    headers: {
      "x-cache": { description: "HIT, MISS or COALESCED", schema: { type: "string" as const, enum: ["HIT", "MISS", "COALESCED"] } },
    },
    content: { "application/json": { schema: JsonRpcResponseSchema } },
  },
});

export interface RestRouteOptions {
  /** "" for the HTTP routes, "/ws" for the WebSocket-backed ones. */
  prefix?: string;
  /** Transport the upstream calls go through (default: the gateway's). */
  transport?: RpcTransport;
  /** OpenAPI tag. */
  tag?: string;
}

/** Registers docs/ethereum.md's REST routes under `prefix`, calling upstream through `transport`. */
export function registerEthRestRoutes(app: App, gateway: EthGateway, opts: RestRouteOptions = {}): void {
  const prefix = opts.prefix ?? "";
  const transport = opts.transport ?? gateway.transport;
  const tags = [opts.tag ?? "ethereum"];
  const via = transport === gateway.transport ? "" : " (served through the upstream WebSocket)";
  // operationIds: the HTTP routes' own, prefixed for the others ("/ws": getBlockNumber → wsGetBlockNumber).
  const opId = (id: string) => (prefix ? `${prefix.replace(/\W/g, "")}${id[0]!.toUpperCase()}${id.slice(1)}` : id);

  // A hit is answered synchronously: no promise, no microtask (the cached routes' hot path).
  const answer = (c: Context, method: string, params: unknown[]) => {
    if (transport.upstreams.length === 0) throw notConfigured();
    const hit = gateway.peek(cacheKey(method, params), 1);
    if (hit) return c.body(hit.text(), 200, ANSWER_HEADERS.HIT);
    return viaGateway(c, method, params);
  };
  const viaGateway = async (c: Context, method: string, params: unknown[]) => {
    let a: Answer;
    try {
      a = await gateway.handle({ jsonrpc: "2.0", id: 1, method, params }, transport);
    } catch (e) {
      if (e instanceof UpstreamError) throw upstreamAppError(e);
      throw e;
    }
    return c.body(a.text(), 200, ANSWER_HEADERS[a.cache]);
  };

  // [path, operationId, JSON-RPC method, summary]
  const simple: [string, string, string, string][] = [
    ["/blocknumber", "getBlockNumber", "eth_blockNumber", "Current block number"],
    ["/gasprice", "getGasPrice", "eth_gasPrice", "Current gas price"],
    ["/eth_blockNumber", "ethBlockNumber", "eth_blockNumber", "eth_blockNumber"],
    ["/eth_gasPrice", "ethGasPrice", "eth_gasPrice", "eth_gasPrice"],
    ["/eth_coinbase", "ethCoinbase", "eth_coinbase", "eth_coinbase"],
    ["/eth_chainId", "ethChainId", "eth_chainId", "eth_chainId"],
  ];
  for (const [path, id, method, summary] of simple) {
    allowPreflight(app, prefix + path);
    app.openapi(
      createRoute({
        method: "get",
        path: prefix + path,
        operationId: opId(id),
        tags,
        summary: `${summary}${via}`,
        description: `Calls \`${method}\` with no params.`,
        responses: { ...rpcOk(summary), ...gatewayErrors },
      }),
      (c) => answer(c, method, []) as never,
    );
  }

  allowPreflight(app, `${prefix}/blockbynumber`);
  app.openapi(
    createRoute({
      method: "post",
      path: `${prefix}/blockbynumber`,
      operationId: opId("getBlockByNumber"),
      tags,
      summary: `A block by number or tag${via}`,
      description: "Calls `eth_getBlockByNumber(block, txdetails)`.",
      middleware: [requireJson] as const,
      request: { body: { required: true, content: { "application/json": { schema: BlockByNumberBodySchema } } } },
      responses: { ...rpcOk("The block, or null"), ...errorResponses, ...gatewayErrors },
    }),
    (c) => {
      const { block, txdetails } = c.req.valid("json");
      return answer(c, "eth_getBlockByNumber", [toQuantity(block), txdetails]) as never;
    },
  );

  allowPreflight(app, `${prefix}/txbyblockandindex`);
  app.openapi(
    createRoute({
      method: "post",
      path: `${prefix}/txbyblockandindex`,
      operationId: opId("getTxByBlockAndIndex"),
      tags,
      summary: `A transaction by block and index${via}`,
      description: "Calls `eth_getTransactionByBlockNumberAndIndex(block, index)`.",
      middleware: [requireJson] as const,
      request: { body: { required: true, content: { "application/json": { schema: TxByBlockAndIndexBodySchema } } } },
      responses: { ...rpcOk("The transaction, or null"), ...errorResponses, ...gatewayErrors },
    }),
    (c) => {
      const { block, index } = c.req.valid("json");
      return answer(c, "eth_getTransactionByBlockNumberAndIndex", [toQuantity(block), toQuantity(index)]) as never;
    },
  );
}

/** POST `path` (default /eth): JSON-RPC 2.0, single or batch, through the dispatcher. */
export function registerJsonRpcRoute(
  app: App,
  dispatcher: JsonRpcDispatcher,
  transport: RpcTransport,
  opts: { path?: string; limiter?: RequestLimiter | undefined; maxBodyBytes: number; maxBatch: number },
): void {
  const path = opts.path ?? "/eth";
  const { limiter } = opts;
  const session: RpcSession = { transport };
  allowPreflight(app, path);
  app.openAPIRegistry.register("JsonRpcBody", JsonRpcBodySchema);
  app.openapi(
    createRoute({
      method: "post",
      path,
      operationId: "ethRpc",
      tags: ["ethereum"],
      summary: "JSON-RPC 2.0 (single or batch)",
      description: `Usable as the RPC URL of any Ethereum client library. Bodies up to ${opts.maxBodyBytes} bytes (PEXD_ETH_MAX_BODY_BYTES; larger: 413 with a -32600 answer); batches of up to ${opts.maxBatch} calls (PEXD_ETH_MAX_BATCH); order and ids preserved; notifications (no id) get no answer (204 if nothing is left). Method policy: PEXD_ETH_METHODS_DENY (by default the methods that make the node sign with its own keys) and PEXD_ETH_METHODS_ALLOW, else eth_*, net_*, web3_* (-32601 otherwise). With PEXD_RATE_LIMIT each call counts; a call over the limit answers -32005 with data.retry_after_ms (HTTP 429 and Retry-After when every call was refused). Transport failures answer -32603 with data.code upstream_error|upstream_timeout|upstream_unavailable (every upstream known to be down: at once) (HTTP 502/504/503 when every answer failed so).`,
      middleware: [requireJson] as const,
      // A reference, not the zod schema: the route validates each message itself (malformed JSON is
      // -32700 and a bad message -32600, not a 400) and skips a second parse by the validator.
      request: { body: { required: true, content: { "application/json": { schema: { $ref: "#/components/schemas/JsonRpcBody" } } } } },
      responses: {
        200: {
          description: "The JSON-RPC response (an array for a batch); `x-cache` is the batch's weakest status",
          content: { "application/json": { schema: JsonRpcResponseSchema } },
        },
        204: { description: "Only notifications were sent" },
        ...errorResponses,
        ...gatewayErrors,
      },
    }),
    async (c) => {
      if (transport.upstreams.length === 0) throw notConfigured();
      const parsed = parseMessage(await c.req.text());
      // A single cached call, with no rate limit to charge: answered at once.
      const hit = parsed.ok && !limiter ? dispatcher.peek(parsed.value) : undefined;
      if (hit) return c.body(hit.text, 200, ANSWER_HEADERS.HIT) as never;
      // Each call of a batch counts against the client's rate limit (docs/security.md).
      const allowance = limiter
        ? await limiter.allowance(await limiter.client(c), parsed.ok ? dispatcher.calls(parsed.value) : 1, "rpc")
        : undefined;
      const reply = parsed.ok
        ? await dispatcher.dispatch(parsed.value, session, allowance)
        : allowance && allowance.granted < 1
          ? {
              text: JSON.stringify(allowance.refused.toResponse(null)),
              cache: "MISS" as const,
              limitedMs: (allowance.refused.data as { retry_after_ms: number }).retry_after_ms,
            }
          : { text: JSON.stringify(parsed.response), cache: "MISS" as const };
      if (reply.text === null) return c.body(null, 204, CORS_HEADERS) as never;
      // Every answer refused by the limit: 429 and Retry-After too, so HTTP clients back off.
      if (reply.limitedMs !== undefined) {
        await limiter?.tarpit(reply.limitedMs);
        return c.body(reply.text, 429, {
          ...RESPONSE_HEADERS,
          "Retry-After": String(Math.max(1, Math.ceil(reply.limitedMs / 1000))),
        }) as never;
      }
      // Every answer a transport failure: say so in the status too (the contract: 502, 504 on timeout, 503
      // when every upstream is known to be down).
      const status = reply.failed === "upstream_timeout" ? 504 : reply.failed === "upstream_unavailable" ? 503 : reply.failed ? 502 : 200;
      return c.body(reply.text, status, ANSWER_HEADERS[reply.cache]) as never;
    },
  );
}
