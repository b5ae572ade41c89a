// Client-facing JSON-RPC over WebSocket at GET /eth and GET /socket2socket: every allowed method and
// batches through the gateway (same policy and cache), eth_subscribe/eth_unsubscribe through the
// shared hub, with per-connection limits so one client cannot hold unbounded memory.
import type { Context } from "hono";
import type { UpgradeWebSocket, WSContext } from "hono/ws";
import type { App } from "../../app.ts";
import { AppError } from "../../errors.ts";
import { errorResponse as httpError } from "../../http/schemas.ts";
import {
  checkRequest,
  errorResponse,
  INTERNAL_ERROR,
  INVALID_PARAMS,
  INVALID_REQUEST,
  MAX_BATCH,
  METHOD_NOT_FOUND,
  parseMessage,
  upstreamErrorResponse,
} from "../jsonrpc.ts";
import type { EthGateway } from "../eth.service.ts";
import { UpstreamError, type JsonRpcResponse, type RpcTransport } from "../transport.ts";
import { SUBSCRIPTION_KINDS, type SubscriptionHub } from "./subscription.hub.ts";

export const WS_LIMITS = {
  /** Bytes per client message; a larger one closes the connection with 1009. */
  maxMessageBytes: 64 * 1024,
  /** Requests of one connection waiting for the upstream; more get a JSON-RPC error. */
  maxPending: 100,
  /** Subscriptions per connection. */
  maxSubscriptions: 32,
  /** Unsent bytes queued for a client; a slower consumer is closed with 1008. */
  maxBufferedBytes: 1024 * 1024,
};

export interface ClientWsDeps {
  gateway: EthGateway;
  /** Calls go through this transport (the WebSocket multiplexer, else the HTTP one). */
  transport: RpcTransport;
  /** Subscriptions (needs an upstream WebSocket); absent = eth_subscribe refused. */
  hub?: SubscriptionHub;
  upgrade: UpgradeWebSocket;
  limits?: Partial<typeof WS_LIMITS>;
}

/** Live client connections (for /metrics). */
export const wsStats = { clients: 0, subscriptions: 0, closedSlow: 0, closedOversize: 0 };

type Sendable = { send(s: string): void; close(code?: number, reason?: string): void; readonly raw?: unknown };

const bufferedOf = (ws: Sendable): number => {
  const raw = ws.raw as { getBufferedAmount?: () => number; bufferedAmount?: number } | undefined;
  return raw?.getBufferedAmount?.() ?? raw?.bufferedAmount ?? 0;
};

export function registerClientWebSockets(app: App, deps: ClientWsDeps, paths: readonly string[] = ["/eth", "/socket2socket"]): void {
  const limits = { ...WS_LIMITS, ...deps.limits };
  const { gateway, transport, hub } = deps;

  const connection = () => {
    const subs = new Set<string>();
    let pending = 0;
    let closed = false;
    const send = (ws: Sendable, text: string) => {
      if (closed) return;
      if (bufferedOf(ws) > limits.maxBufferedBytes) {
        closed = true;
        wsStats.closedSlow++;
        ws.close(1008, "client too slow: send buffer over its bound");
        return;
      }
      ws.send(text);
    };

    const one = async (ws: Sendable, msg: unknown): Promise<JsonRpcResponse | null> => {
      const checked = checkRequest(msg);
      if (!checked.ok) return checked.response;
      const req = checked.request;
      const id = req.id ?? null;
      const answer = (r: JsonRpcResponse) => (checked.hasId ? r : null);
      if (req.method === "eth_subscribe") {
        if (!hub) return answer(errorResponse(id, METHOD_NOT_FOUND, "eth_subscribe needs an upstream WebSocket (PEXD_ETH_WS_URL)"));
        const params = Array.isArray(req.params) ? req.params : [];
        if (typeof params[0] !== "string" || !SUBSCRIPTION_KINDS.has(params[0])) {
          return answer(errorResponse(id, INVALID_PARAMS, `unknown subscription kind; one of ${[...SUBSCRIPTION_KINDS].join(", ")}`));
        }
        if (subs.size >= limits.maxSubscriptions)
          return answer(errorResponse(id, INVALID_REQUEST, `at most ${limits.maxSubscriptions} subscriptions per connection`));
        try {
          const subId = await hub.subscribe(params, (sid, result) =>
            send(ws, JSON.stringify({ jsonrpc: "2.0", method: "eth_subscription", params: { subscription: sid, result } })),
          );
          if (closed) {
            await hub.unsubscribe(subId);
            return null;
          }
          subs.add(subId);
          wsStats.subscriptions++;
          return answer({ jsonrpc: "2.0", id, result: subId });
        } catch (e) {
          if (e instanceof UpstreamError) return answer(upstreamErrorResponse(id, e));
          const rpc = (e as { rpcError?: { code: number; message: string } }).rpcError;
          return answer(rpc ? { jsonrpc: "2.0", id, error: rpc } : errorResponse(id, INTERNAL_ERROR, "subscription failed"));
        }
      }
      if (req.method === "eth_unsubscribe") {
        const subId = Array.isArray(req.params) ? req.params[0] : undefined;
        const mine = typeof subId === "string" && subs.delete(subId);
        if (mine) {
          wsStats.subscriptions--;
          await hub?.unsubscribe(subId);
        }
        return answer({ jsonrpc: "2.0", id, result: mine });
      }
      try {
        const a = await gateway.handle(req, transport);
        return answer(a.response);
      } catch (e) {
        if (e instanceof UpstreamError) return answer(upstreamErrorResponse(id, e));
        throw e;
      }
    };

    const onMessage = async (data: unknown, ws: Sendable) => {
      const text = typeof data === "string" ? data : new TextDecoder().decode(data as ArrayBuffer);
      if (text.length > limits.maxMessageBytes) {
        closed = true;
        wsStats.closedOversize++;
        ws.close(1009, `message over ${limits.maxMessageBytes} bytes`);
        return;
      }
      const parsed = parseMessage(text);
      if (!parsed.ok) return send(ws, JSON.stringify(parsed.response));
      const body = parsed.value;
      const n = Array.isArray(body) ? body.length : 1;
      if (pending + n > limits.maxPending) {
        return send(
          ws,
          JSON.stringify(errorResponse(null, INVALID_REQUEST, `more than ${limits.maxPending} requests waiting on this connection`)),
        );
      }
      pending += n;
      try {
        if (!Array.isArray(body)) {
          const r = await one(ws, body);
          if (r) send(ws, JSON.stringify(r));
          return;
        }
        if (body.length === 0) return send(ws, JSON.stringify(errorResponse(null, INVALID_REQUEST, "invalid request: empty batch")));
        if (body.length > MAX_BATCH) {
          return send(
            ws,
            JSON.stringify(
              errorResponse(null, INVALID_REQUEST, `invalid request: batch of ${body.length} exceeds the limit of ${MAX_BATCH}`),
            ),
          );
        }
        const rs = (await Promise.all(body.map((m) => one(ws, m)))).filter((r): r is JsonRpcResponse => r !== null);
        if (rs.length) send(ws, JSON.stringify(rs));
      } finally {
        pending -= n;
      }
    };

    const onClose = async () => {
      closed = true;
      wsStats.clients--;
      for (const s of subs) {
        wsStats.subscriptions--;
        await hub?.unsubscribe(s).catch(() => {});
      }
      subs.clear();
    };
    return { onMessage, onClose };
  };

  for (const path of paths) {
    const upgrade = deps.upgrade(() => {
      const conn = connection();
      return {
        onOpen: (_e: Event, ws: WSContext) => {
          wsStats.clients++;
          // SPEC: no upstream configured → close 1013 (try again later).
          if (transport.upstreams.length === 0) ws.close(1013, "upstream_not_configured");
        },
        onMessage: (e: MessageEvent, ws: WSContext) => {
          conn.onMessage(e.data, ws).catch(() => ws.close(1011, "internal error"));
        },
        onClose: () => void conn.onClose(),
      };
    });
    app.get(path, async (c: Context, next) => {
      if ((c.req.header("upgrade") ?? "").toLowerCase() !== "websocket") {
        throw new AppError(
          426,
          "upgrade_required",
          `GET ${path} is a WebSocket endpoint`,
          null,
          `connect with Upgrade: websocket, or POST JSON-RPC to /eth`,
        );
      }
      return upgrade(c, next);
    });
    app.openAPIRegistry.registerPath({
      method: "get",
      path,
      tags: ["ethereum"],
      summary: "JSON-RPC 2.0 over WebSocket (eth_subscribe included)",
      description: `Upgrade: websocket. Any allowed method or batch (same policy and cache as POST /eth); eth_subscribe (newHeads, logs, newPendingTransactions, syncing) shares one upstream subscription among identical ones. Limits: ${limits.maxMessageBytes} bytes per message (else close 1009), ${limits.maxPending} requests waiting, ${limits.maxSubscriptions} subscriptions per connection, ${limits.maxBufferedBytes} unsent bytes (else close 1008). No upstream configured: close 1013.`,
      responses: { 101: { description: "Switching Protocols" }, 426: httpError("Not a WebSocket upgrade (`upgrade_required`)") },
    });
  }
}
