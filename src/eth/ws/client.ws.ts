// Client-facing JSON-RPC over WebSocket at GET /eth and GET /socket2socket: every call and batch
// through the shared dispatcher (same policy and cache as POST /eth), eth_subscribe/eth_unsubscribe
// through the shared hub, with per-connection limits so one client cannot hold unbounded memory.
import type { Context } from "hono";
import type { UpgradeWebSocket, WSContext } from "hono/ws";
import type { App } from "../../app.ts";
import { AppError } from "../../errors.ts";
import { errorResponse as httpError } from "../../http/schemas.ts";
import { JsonRpcDispatcher, type RpcSession, type SessionSubscriptions } from "../jsonrpc.dispatcher.ts";
import { errorResponse, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, parseMessage, RpcFault } from "../jsonrpc.ts";
import type { RpcTransport } from "../transport.ts";
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

/** Client connections of one app (read by /metrics). */
export class ClientWsStats {
  clients = 0;
  subscriptions = 0;
  closedSlow = 0;
  closedOversize = 0;
}

export interface ClientWsDeps {
  dispatcher: JsonRpcDispatcher;
  /** Calls go through this transport (the WebSocket multiplexer, else the HTTP one). */
  transport: RpcTransport;
  /** Subscriptions (needs an upstream WebSocket); absent = eth_subscribe refused. */
  hub?: SubscriptionHub;
  upgrade: UpgradeWebSocket;
  stats: ClientWsStats;
  limits?: Partial<typeof WS_LIMITS>;
}

type Sendable = { send(s: string): void; close(code?: number, reason?: string): void; readonly raw?: unknown };

const bufferedOf = (ws: Sendable): number => {
  const raw = ws.raw as { getBufferedAmount?: () => number; bufferedAmount?: number } | undefined;
  return raw?.getBufferedAmount?.() ?? raw?.bufferedAmount ?? 0;
};

export function registerClientWebSockets(app: App, deps: ClientWsDeps, paths: readonly string[] = ["/eth", "/socket2socket"]): void {
  const limits = { ...WS_LIMITS, ...deps.limits };
  const { dispatcher, transport, hub, stats } = deps;

  const connection = (ws: () => Sendable | null) => {
    const subs = new Set<string>();
    let pending = 0;
    let closed = false;
    const send = (text: string) => {
      const sock = ws();
      if (closed || !sock) return;
      if (bufferedOf(sock) > limits.maxBufferedBytes) {
        closed = true;
        stats.closedSlow++;
        sock.close(1008, "client too slow: send buffer over its bound");
        return;
      }
      sock.send(text);
    };

    const subscriptions: SessionSubscriptions = {
      async subscribe(params) {
        if (!hub) throw new RpcFault(METHOD_NOT_FOUND, "eth_subscribe needs an upstream WebSocket (PEXD_ETH_WS_URL)");
        if (typeof params[0] !== "string" || !SUBSCRIPTION_KINDS.has(params[0])) {
          throw new RpcFault(INVALID_PARAMS, `unknown subscription kind; one of ${[...SUBSCRIPTION_KINDS].join(", ")}`);
        }
        if (subs.size >= limits.maxSubscriptions)
          throw new RpcFault(INVALID_REQUEST, `at most ${limits.maxSubscriptions} subscriptions per connection`);
        const id = await hub.subscribe(params, (sid, result) =>
          send(JSON.stringify({ jsonrpc: "2.0", method: "eth_subscription", params: { subscription: sid, result } })),
        );
        // The client left while the upstream subscription was being made: nobody to tell.
        if (closed) await hub.unsubscribe(id);
        else {
          subs.add(id);
          stats.subscriptions++;
        }
        return id;
      },
      async unsubscribe(id) {
        if (!subs.delete(id)) return false;
        stats.subscriptions--;
        await hub?.unsubscribe(id);
        return true;
      },
    };
    const session: RpcSession = { transport, subscriptions };

    const onMessage = async (data: unknown) => {
      const text = typeof data === "string" ? data : new TextDecoder().decode(data as ArrayBuffer);
      if (text.length > limits.maxMessageBytes) {
        closed = true;
        stats.closedOversize++;
        ws()?.close(1009, `message over ${limits.maxMessageBytes} bytes`);
        return;
      }
      const parsed = parseMessage(text);
      if (!parsed.ok) return send(JSON.stringify(parsed.response));
      const n = JsonRpcDispatcher.calls(parsed.value);
      if (pending + n > limits.maxPending) {
        return send(
          JSON.stringify(errorResponse(null, INVALID_REQUEST, `more than ${limits.maxPending} requests waiting on this connection`)),
        );
      }
      pending += n;
      try {
        const reply = await dispatcher.dispatch(parsed.value, session);
        if (reply.text !== null) send(reply.text);
      } finally {
        pending -= n;
      }
    };

    const onClose = async () => {
      closed = true;
      stats.clients--;
      for (const s of subs) {
        stats.subscriptions--;
        await hub?.unsubscribe(s).catch(() => {});
      }
      subs.clear();
    };
    return { onMessage, onClose };
  };

  for (const path of paths) {
    const upgrade = deps.upgrade(() => {
      let sock: WSContext | null = null;
      const conn = connection(() => sock);
      return {
        onOpen: (_e: Event, ws: WSContext) => {
          sock = ws;
          stats.clients++;
          // SPEC: no upstream configured → close 1013 (try again later).
          if (transport.upstreams.length === 0) ws.close(1013, "upstream_not_configured");
        },
        onMessage: (e: MessageEvent, ws: WSContext) => {
          sock = ws;
          conn.onMessage(e.data).catch(() => ws.close(1011, "internal error"));
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
