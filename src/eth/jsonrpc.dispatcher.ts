// The one JSON-RPC dispatcher: POST /eth and the client WebSockets (GET /eth, /socket2socket) hand it
// a decoded body and a session; it answers single calls and batches (order and ids kept, no answer
// for notifications) through the gateway's policy, cache and coalescing, and subscriptions through
// the session. Every refusal or failure becomes a JSON-RPC error object here, never elsewhere.
import type { CacheStatus, EthGateway } from "./eth.gateway.ts";
import { checkRequest, INVALID_REQUEST, MAX_BATCH, METHOD_NOT_FOUND, parseMessage, RpcFault, errorResponse } from "./jsonrpc.ts";
import { UpstreamError, type JsonRpcRequest, type RpcTransport } from "./transport.ts";

/** eth_subscribe / eth_unsubscribe over a persistent connection. */
export interface SessionSubscriptions {
  /** Resolves with the client's subscription id; rejects with an RpcFault or UpstreamError. */
  subscribe(params: unknown[]): Promise<string>;
  /** False when the id is not one of this session's subscriptions. */
  unsubscribe(id: string): Promise<boolean>;
}

export interface RpcSession {
  /** Where upstream calls go (the HTTP transport, or the upstream WebSocket multiplexer). */
  transport: RpcTransport;
  /** Present on a client WebSocket; over HTTP eth_subscribe/eth_unsubscribe are refused. */
  subscriptions?: SessionSubscriptions;
}

export interface Reply {
  /** The serialized answer (one object, or an array for a batch); null when nothing is answered (notifications only). */
  text: string | null;
  /** The batch's weakest cache status: MISS if anything missed, else COALESCED if anything waited, else HIT. */
  cache: CacheStatus;
  /** Set when every answered call failed in transport: upstream_timeout or upstream_unavailable if all failed so, else upstream_error. */
  failed?: "upstream_error" | "upstream_timeout" | "upstream_unavailable";
  /** Set when every answered call was refused by a rate limit (the client's or the upstreams' cap): the shortest wait, in ms. */
  limitedMs?: number;
}

/** How many calls of a body the client's rate limit lets through, and the answer for the rest. */
export interface Allowance {
  granted: number;
  /** The -32005 each call beyond `granted` gets. */
  refused: RpcFault;
}

interface Item {
  text: string | null;
  cache: CacheStatus;
  failed?: UpstreamError["kind"];
  /** Refused by a rate limit (the client's, or every upstream's call cap). */
  limited?: boolean;
  retryAfterMs?: number;
}

const SUBSCRIPTION_METHODS = new Set(["eth_subscribe", "eth_unsubscribe"]);

export interface DispatcherOptions {
  maxBatch?: number;
  /** Named in the refusal of eth_subscribe over HTTP. */
  webSocketPath?: string;
}

export class JsonRpcDispatcher {
  readonly maxBatch: number;
  readonly #gateway: EthGateway;
  readonly #wsPath: string;

  constructor(gateway: EthGateway, opts: DispatcherOptions = {}) {
    this.#gateway = gateway;
    this.maxBatch = opts.maxBatch ?? MAX_BATCH;
    this.#wsPath = opts.webSocketPath ?? "/eth";
  }

  /** Parses and dispatches one message (HTTP body or WebSocket text frame). */
  dispatchText(text: string, session: RpcSession): Promise<Reply> {
    const parsed = parseMessage(text);
    if (!parsed.ok) return Promise.resolve({ text: JSON.stringify(parsed.response), cache: "MISS" });
    return this.dispatch(parsed.value, session);
  }

  /**
   * A single call answered from the cache at once (no promise: the hot path of a cached POST /eth),
   * or undefined when it needs dispatch(): a batch, a notification, a refused or uncached call.
   */
  peek(body: unknown): { text: string } | undefined {
    if (body === null || typeof body !== "object" || Array.isArray(body)) return undefined;
    const checked = checkRequest(body);
    if (!checked.ok || !checked.hasId || SUBSCRIPTION_METHODS.has(checked.request.method)) return undefined;
    const hit = this.#gateway.cached(checked.request);
    return hit && { text: hit.text() };
  }

  /** What a decoded body costs against a rate limit: one per call; a batch refused whole costs one. */
  calls(body: unknown): number {
    return Array.isArray(body) && body.length > 1 && body.length <= this.maxBatch ? body.length : 1;
  }

  /**
   * Answers a decoded body. With an allowance, calls beyond `granted` (in batch order) are answered
   * with its -32005 and never reach the upstream.
   */
  async dispatch(body: unknown, session: RpcSession, allowance?: Allowance): Promise<Reply> {
    if (body === null || typeof body !== "object") return refusal("invalid request: not an object or array");
    if (!Array.isArray(body)) return summarize([await this.#one(body, session, allowance, 0)], false);
    if (body.length === 0) return refusal("invalid request: empty batch");
    if (body.length > this.maxBatch) return refusal(`invalid request: batch of ${body.length} exceeds the limit of ${this.maxBatch}`);
    return summarize(await Promise.all(body.map((m, i) => this.#one(m, session, allowance, i))), true);
  }

  async #one(msg: unknown, session: RpcSession, allowance: Allowance | undefined, index: number): Promise<Item> {
    const checked = checkRequest(msg);
    if (!checked.ok) return { text: JSON.stringify(checked.response), cache: "MISS" };
    const req: JsonRpcRequest = checked.request;
    const id = req.id ?? null;
    const keep = (text: string) => (checked.hasId ? text : null);
    if (allowance && index >= allowance.granted) {
      const retryAfterMs = (allowance.refused.data as { retry_after_ms: number }).retry_after_ms;
      return { text: keep(JSON.stringify(allowance.refused.toResponse(id))), cache: "MISS", limited: true, retryAfterMs };
    }
    try {
      if (SUBSCRIPTION_METHODS.has(req.method)) {
        const result = await this.#subscription(req, session);
        return { text: keep(JSON.stringify({ jsonrpc: "2.0", id, result })), cache: "MISS" };
      }
      const a = await this.#gateway.handle(req, session.transport);
      return { text: keep(a.text()), cache: a.cache };
    } catch (e) {
      if (e instanceof RpcFault) return { text: keep(JSON.stringify(e.toResponse(id))), cache: "MISS" };
      if (e instanceof UpstreamError) {
        const text = keep(JSON.stringify(RpcFault.upstream(e).toResponse(id)));
        if (e.kind === "upstream_rate_limited") return { text, cache: "MISS", limited: true, retryAfterMs: e.retryAfterMs };
        return { text, cache: "MISS", failed: e.kind };
      }
      throw e;
    }
  }

  #subscription(req: JsonRpcRequest, session: RpcSession): Promise<string | boolean> {
    const subs = session.subscriptions;
    if (!subs) {
      throw new RpcFault(METHOD_NOT_FOUND, `${req.method} needs a WebSocket: connect to GET ${this.#wsPath} with Upgrade: websocket`);
    }
    const params = Array.isArray(req.params) ? req.params : [];
    if (req.method === "eth_subscribe") {
      this.#gateway.assertAllowed(req.method);
      return subs.subscribe(params);
    }
    return typeof params[0] === "string" ? subs.unsubscribe(params[0]) : Promise.resolve(false);
  }
}

function summarize(items: Item[], batch: boolean): Reply {
  const answered = items.filter((i) => i.text !== null);
  const cache = batchStatus(items);
  if (answered.length === 0) return { text: null, cache };
  const failed = answered.every((i) => i.failed) ? worst(answered) : undefined;
  const limited = answered.every((i) => i.limited) ? Math.min(...answered.map((i) => i.retryAfterMs ?? 1000)) : undefined;
  const text = batch ? `[${answered.map((i) => i.text).join(",")}]` : answered[0]!.text;
  return { text, cache, ...(failed ? { failed } : {}), ...(limited !== undefined ? { limitedMs: limited } : {}) };
}

function refusal(message: string): Reply {
  return { text: JSON.stringify(errorResponse(null, INVALID_REQUEST, message)), cache: "MISS" };
}

function batchStatus(items: Item[]): CacheStatus {
  if (items.some((i) => i.cache === "MISS")) return "MISS";
  return items.some((i) => i.cache === "COALESCED") ? "COALESCED" : "HIT";
}

function worst(items: Item[]): NonNullable<Reply["failed"]> {
  if (items.every((i) => i.failed === "upstream_timeout")) return "upstream_timeout";
  return items.every((i) => i.failed === "upstream_unavailable") ? "upstream_unavailable" : "upstream_error";
}
