// Client-facing JSON-RPC over WebSocket at GET /eth and GET /socket2socket: every call and batch
// through the shared dispatcher (same policy and cache as POST /eth), eth_subscribe/eth_unsubscribe
// through the shared hub, with per-connection limits so one client cannot hold unbounded memory.
import type { Context } from "hono";
import type { UpgradeWebSocket, WSContext } from "hono/ws";
import type { App } from "../../app.ts";
import { AppError } from "../../errors.ts";
import { errorResponse as httpError, internalErrorResponse } from "../../http/schemas.ts";
import type { Clients, RequestLimiter } from "../../limits/request-limiter.ts";
import type { JsonRpcDispatcher, RpcSession, SessionSubscriptions } from "../jsonrpc.dispatcher.ts";
import { errorResponse, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, parseMessage, RpcFault } from "../jsonrpc.ts";
import type { RpcTransport } from "../transport.ts";
import { SUBSCRIPTION_KINDS, type SubscriptionHub } from "./subscription.hub.ts";

export const WS_LIMITS = {
  /** Bytes per client message (PEXD_ETH_MAX_BODY_BYTES); a larger one closes the connection with 1009. */
  maxMessageBytes: 5 * 1024 * 1024,
  /** Open connections per client address (PEXD_WS_MAX_CONNECTIONS_PER_IP). */
  maxConnectionsPerIp: 64,
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
  /** Upgrades refused (or connections closed at once) at the per-address cap. */
  refusedPerIp = 0;
}

export interface ClientWsDeps {
  dispatcher: JsonRpcDispatcher;
  /** Calls go through this transport (the WebSocket multiplexer, else the HTTP one). */
  transport: RpcTransport;
  /** Subscriptions (needs an upstream WebSocket); absent = eth_subscribe refused. */
  hub?: SubscriptionHub;
  upgrade: UpgradeWebSocket;
  stats: ClientWsStats;
  clients: Clients;
  /** Each call of a message counts against the client's rate limit (absent: no limit). */
  limiter?: RequestLimiter | undefined;
  limits?: Partial<typeof WS_LIMITS>;
}

type Sendable = { send(s: string): void; close(code?: number, reason?: string): void; readonly raw?: unknown };

const bufferedOf = (ws: Sendable): number => {
  const raw = ws.raw as { getBufferedAmount?: () => number; bufferedAmount?: number } | undefined;
  return raw?.getBufferedAmount?.() ?? raw?.bufferedAmount ?? 0;
};

export function registerClientWebSockets(app: App, deps: ClientWsDeps, paths: readonly string[] = ["/eth", "/socket2socket"]): void {
  const limits = { ...WS_LIMITS, ...deps.limits };
  const { dispatcher, transport, hub, stats, limiter } = deps;
  /** Open connections by client address key. */
  const perIp = new Map<string, number>();

  const connection = (ws: () => Sendable | null, client: string) => {
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
      // Second line of defence: the runtime refuses longer frames before buffering them (Bun's
      // maxPayloadLength); onClose counts either as message_too_big.
      if (text.length > limits.maxMessageBytes) {
        closed = true;
        ws()?.close(1009, `message over ${limits.maxMessageBytes} bytes`);
        return;
      }
      const parsed = parseMessage(text);
      const n = parsed.ok ? dispatcher.calls(parsed.value) : 1;
      // Every message counts against the client's rate limit (each call of a batch); over it, the
      // calls answer -32005 and the connection stays open (docs/security.md).
      const allowance = limiter ? await limiter.allowance(client, n, "ws") : undefined;
      if (!parsed.ok)
        return send(JSON.stringify(allowance && allowance.granted < 1 ? allowance.refused.toResponse(null) : parsed.response));
      if (pending + n > limits.maxPending) {
        return send(
          JSON.stringify(errorResponse(null, INVALID_REQUEST, `more than ${limits.maxPending} requests waiting on this connection`)),
        );
      }
      pending += n;
      try {
        const reply = await dispatcher.dispatch(parsed.value, session, allowance);
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

  const tooMany = (ip: string) =>
    new AppError(
      429,
      "too_many_connections",
      `at most ${limits.maxConnectionsPerIp} WebSocket connections per client address`,
      `address ${ip}`,
      "close idle connections; PEXD_WS_MAX_CONNECTIONS_PER_IP sets the limit",
    );

  for (const path of paths) {
    const upgrade = deps.upgrade(async (c) => {
      const ip = deps.clients.key(c);
      const client = limiter ? await limiter.client(c) : ip;
      let sock: WSContext | null = null;
      let counted = false;
      const conn = connection(() => sock, client);
      return {
        onOpen: (_e: Event, ws: WSContext) => {
          sock = ws;
          stats.clients++;
          // Upgrades racing past the check below are closed here: the cap holds exactly.
          const open = (perIp.get(ip) ?? 0) + 1;
          if (open > limits.maxConnectionsPerIp) {
            stats.refusedPerIp++;
            ws.close(1008, "too many connections from this address");
            return;
          }
          perIp.set(ip, open);
          counted = true;
          // the contract: no upstream configured → close 1013 (try again later).
          if (transport.upstreams.length === 0) ws.close(1013, "upstream_not_configured");
        },
        onMessage: (e: MessageEvent, ws: WSContext) => {
          sock = ws;
          conn.onMessage(e.data).catch(() => ws.close(1011, "internal error"));
        },
        onClose: (e: CloseEvent) => {
          // The runtime refused a message over its payload limit before buffering it (the client
          // sees 1009; Bun's server side reports 1006 "Received too big message").
          if (e.code === 1009 || /too big/i.test(e.reason)) stats.closedOversize++;
          if (counted) {
            const left = (perIp.get(ip) ?? 1) - 1;
            if (left > 0) perIp.set(ip, left);
            else perIp.delete(ip);
          }
          void conn.onClose();
        },
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
      const ip = deps.clients.key(c);
      if ((perIp.get(ip) ?? 0) >= limits.maxConnectionsPerIp) {
        stats.refusedPerIp++;
        throw tooMany(ip);
      }
      return upgrade(c, next);
    });
    app.openAPIRegistry.registerPath({
      method: "get",
      path,
      // GET /eth → ethWebSocket, GET /socket2socket → socket2socketWebSocket
      operationId: `${path.replace(/\W/g, "")}WebSocket`,
      tags: ["ethereum"],
      summary: "JSON-RPC 2.0 over WebSocket (eth_subscribe included)",
      description: `Upgrade: websocket. Any allowed method or batch (same policy, cache and rate limit as POST /eth: each call counts, -32005 over the limit, the connection stays open); eth_subscribe (newHeads, logs, newPendingTransactions, syncing) shares one upstream subscription among identical ones. Limits: ${limits.maxMessageBytes} bytes per message (PEXD_ETH_MAX_BODY_BYTES, refused before it is buffered: close 1009), ${limits.maxConnectionsPerIp} connections per client address (PEXD_WS_MAX_CONNECTIONS_PER_IP: 429 too_many_connections), ${limits.maxPending} requests waiting, ${limits.maxSubscriptions} subscriptions per connection, ${limits.maxBufferedBytes} unsent bytes (else close 1008). No upstream configured: close 1013.`,
      responses: {
        101: { description: "Switching Protocols" },
        426: httpError("Not a WebSocket upgrade (`upgrade_required`)"),
        429: httpError("Too many connections from this address (`too_many_connections`)"),
        ...internalErrorResponse,
      },
    });
  }
}
