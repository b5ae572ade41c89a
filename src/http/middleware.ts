// Cross-cutting HTTP conventions of the contract ("every HTTP route", docs/protocols.md): body limits, content types, bearer
// auth for mutating routes, no-store, and the JSON access log.
import type { Context, MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import { AppError, UnauthorizedError } from "../errors.ts";
import { bearerToken, isApiToken } from "../limits/request-limiter.ts";
import type { Logger } from "../log.ts";

export const MAX_BODY_BYTES = 64 * 1024;

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/** 415 unless the request says it carries JSON; 413 when Content-Length is over the limit. */
export const requireJson: MiddlewareHandler = (c, next) => {
  const type = c.req.header("content-type");
  if (!type || !JSON_TYPE.test(type)) {
    throw new AppError(
      415,
      "unsupported_media_type",
      "request body must be application/json",
      type ? `got ${type}` : "no Content-Type header",
      "send Content-Type: application/json",
    );
  }
  // Not an async frame of its own: Hono awaits what a middleware returns.
  return next();
};

/**
 * Mutating routes: never on HEAD (docs/security.md: HEAD changes nothing; 405 with the route's Allow),
 * `Cache-Control: no-store`, and the bearer token (scheme in any case) when one is configured.
 */
export function mutating(token: string | undefined, allowed: (path: string) => string[]): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.method === "HEAD") {
      const methods = allowed(c.req.path);
      throw new AppError(
        405,
        "method_not_allowed",
        `HEAD ${c.req.path} is not allowed: this route changes state`,
        `allowed: ${methods.join(", ")}`,
        null,
        { Allow: methods.join(", ") },
      );
    }
    c.header("Cache-Control", "no-store");
    if (token !== undefined && !(await isApiToken(bearerToken(c.req.header("authorization")), token))) throw new UnauthorizedError();
    await next();
  };
}

/** Label for metrics and logs: the registered pattern, never the raw URL. */
export function routeLabel(c: Context): string {
  const p = routePath(c, -1);
  return !p || p === "*" || p === "/*" ? "unmatched" : p;
}

const REQUEST_ID_OK = /^[\w=-]{1,255}$/;

/**
 * New request ids: a random per-process prefix and a counter (unique across restarts without a
 * UUID's 122 random bits per request; randomUUID was ~3% of a small route).
 */
export function requestIds(): () => string {
  const prefix = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0")).join("");
  let n = 0;
  return () => `${prefix}-${(++n).toString(36)}`;
}

/**
 * A body whose Content-Length (and no Transfer-Encoding: the runtime then reads exactly that many
 * bytes) is within the limit: the same decision Hono's bodyLimit makes, without its middleware frame
 * (an async frame per request, ~15 % of a cached POST /eth). Anything else goes through bodyLimit,
 * which also counts a chunked body while it streams.
 */
function withinLimit(headers: Headers, max: number): boolean {
  const length = headers.get("content-length");
  if (length === null || headers.has("transfer-encoding")) return false;
  const n = Number(length);
  return Number.isSafeInteger(n) && n >= 0 && n <= max && /^\d+$/.test(length);
}

/** Told of every answered request (the HTTP metrics): method, route pattern, status, seconds. */
export type RequestObserver = (method: string, route: string, status: number, seconds: number) => void;

export interface EdgeOptions {
  log: Logger;
  /** Milliseconds, fractional where the runtime can. */
  now: () => number;
  /** The body limit of a path (a route's own, else 64 KiB), applied only when there is a body. */
  limitBody: (path: string) => MiddlewareHandler;
  /** The same limit in bytes: a Content-Length within it lets the body through without that middleware. */
  limitOf: (path: string) => number;
  /** Renders an error thrown by the edge itself (body limit, admission) as the app's onError would. */
  renderError: (err: Error, c: Context) => Response | Promise<Response>;
  /** Told of every answered request (the HTTP request metrics). */
  observe?: RequestObserver | undefined;
  /** Charges the client for one request (rejects with the 429); absent when no rate limit is set. */
  admit?: ((c: Context) => void | Promise<void>) | undefined;
  /** Paths not charged here: health checks, and routes that charge per JSON-RPC call themselves. */
  unmetered?: ReadonlySet<string>;
}

/**
 * The per-request edge, in one middleware frame (each frame of Hono's compose costs a closure and
 * an await; four separate middlewares were ~15% of a small route): the request id (the client's
 * `x-request-id` when it is safe to echo, else a new one from requestIds()), the rate limit, the
 * body limit (only when there is a body), and one access line per request. The line is built by
 * hand (the id is restricted to [A-Za-z0-9_=-]): JSON.stringify of an object plus toISOString per
 * request cost ~30% of the throughput of a small route.
 */
export function requestEdge(o: EdgeOptions): MiddlewareHandler {
  const { log, now, observe, admit, limitBody, limitOf, renderError } = o;
  const unmetered = o.unmetered ?? new Set<string>();
  // Methods and route patterns are a small closed set: quote each once, not per request.
  const quoted = new Map<string, string>();
  const q = (s: string) => {
    let v = quoted.get(s);
    if (v === undefined) {
      v = JSON.stringify(s);
      if (quoted.size < 1024) quoted.set(s, v);
    }
    return v;
  };
  const newId = requestIds();
  return async (c, next) => {
    const raw = c.req.raw;
    let id = raw.headers.get("x-request-id");
    if (id === null || !REQUEST_ID_OK.test(id)) id = newId();
    c.set("requestId", id);
    c.header("x-request-id", id);
    const inner = async (): Promise<void> => {
      try {
        if (admit && !unmetered.has(c.req.path)) {
          const waiting = admit(c);
          if (waiting) await waiting;
        }
        if (raw.body === null) await next();
        else if (withinLimit(raw.headers, limitOf(c.req.path))) await next();
        else {
          // A route's own limit may answer with a Response (JSON-RPC routes) instead of throwing.
          const refused = await limitBody(c.req.path)(c, next);
          if (refused instanceof Response) c.res = refused;
        }
      } catch (e) {
        // Thrown here (not by a route, whose errors Hono renders below): answered now so the
        // metrics and the access line see the status actually sent.
        c.res = await renderError(e instanceof Error ? e : new Error(String(e)), c);
      }
    };
    const logging = log.enabled("info");
    if (!logging && !observe) return inner();
    const start = now();
    try {
      await inner();
    } finally {
      // One clock read and one route label serve both the metrics and the access line.
      const elapsed = now() - start;
      const route = routeLabel(c);
      observe?.(raw.method, route, c.res.status, elapsed / 1000);
      if (logging) {
        log.line(
          `{"time":"${log.isoNow()}","level":"info","msg":"request","method":${q(raw.method)},"route":${q(route)},"status":${c.res.status},"duration_ms":${Math.round(elapsed * 1000) / 1000},"request_id":"${id}"}`,
        );
      }
    }
  };
}
