// The portable core: createApp(deps) returns the Hono app with the documented conventions (error body,
// 404/405, request ids, body limit, bearer token) and the meta routes; it knows no feature: modules
// bring their routes. compose.ts assembles the deps; runtimes (src/runtime/*) serve app.fetch.
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import { bodyLimit } from "hono/body-limit";
import { TrieRouter } from "hono/router/trie-router";
import type { Config } from "./config.ts";
import { AppError, errorBody } from "./errors.ts";
import { StorageFault } from "./storage/storage.errors.ts";
import { createRouter, type AppEnv } from "./http/context.ts";
import { registerMetaRoutes, type AssetSource, type ReadinessCheck } from "./http/meta.routes.ts";
import { BEARER_SCHEME, bearerScheme } from "./http/schemas.ts";
import { MAX_BODY_BYTES, mutating, requestEdge, type RequestObserver } from "./http/middleware.ts";
import { Clients, type RequestLimiter } from "./limits/request-limiter.ts";
import type { Logger } from "./log.ts";
import type { PexdModule } from "./module.ts";

export interface AppDeps {
  config: Config;
  log: Logger;
  version: string;
  /** Feature modules, registered in order after the meta routes. */
  modules: readonly PexdModule[];
  /** Readiness checks beyond the modules' own (storage); all must pass for /ready. */
  checks?: ReadinessCheck[];
  /** The API reference page's script and styles. */
  assets?: AssetSource;
  /** Milliseconds, fractional where the runtime can (performance.now based). */
  now?: () => number;
  /** Unix epoch milliseconds. */
  wallNow?: () => number;
  /** Unix epoch milliseconds. */
  startedAt?: number;
  /** Told of every answered request by the edge middleware (the HTTP request metrics). */
  observeRequest?: RequestObserver;
  /** Who sent a request (the runtime's peer address, X-Forwarded-For from trusted proxies). */
  clients?: Clients;
  /** The per-client rate limit (PEXD_RATE_LIMIT); absent when off. */
  limiter?: RequestLimiter;
}

export type App = OpenAPIHono<AppEnv>;

export function createApp(deps: AppDeps): App {
  const { log, config } = deps;
  const now = deps.now ?? (() => performance.timeOrigin + performance.now());
  const app = createRouter();

  const renderError = (err: Error, c: Context): Response => {
    if (err instanceof AppError) return c.json(err.toBody(), err.status as 400, err.headers);
    if (err instanceof StorageFault) {
      log.limited(`storage_${err.kind}`, "error", "write refused by storage", { kind: err.kind, code: err.driverCode, route: c.req.path });
      return err.kind === "full"
        ? c.json(
            errorBody(
              "storage_full",
              "the disk is full: the change was not stored",
              err.message,
              "free disk space; nothing acknowledged was lost",
            ),
            507,
          )
        : c.json(
            errorBody("storage_unavailable", "storage cannot take writes: the change was not stored", err.message, "retry later"),
            503,
          );
    }
    if (err instanceof HTTPException && err.status === 400) {
      // Hono's JSON validator: the body is not JSON.
      return c.json(errorBody("invalid_json", "request body is not valid JSON", err.message, null), 400);
    }
    if (err instanceof HTTPException) return c.json(errorBody("http_error", err.message || "request failed"), err.status);
    if (c.req.raw.signal.aborted || err.name === "AbortError") {
      // The body could not be read: the client sent a malformed one (the runtime already answered
      // it 400 and closed) or went away. Its fault, not ours: counted as the 400 it got, not logged
      // as an error.
      return c.json(errorBody("invalid_request", "the request body could not be read", err.message || null, null), 400);
    }
    // Rate-limited per error: a bug hit by every request must not flood the log (or the disk).
    log.limited(`unhandled ${err.message.slice(0, 120)}`, "error", "unhandled error", {
      route: c.req.path,
      request_id: c.get("requestId"),
      error: err.stack ?? err.message,
    });
    return c.json(errorBody("internal_error", "internal server error", null, `request id ${c.get("requestId")}`), 500);
  };

  // Body limits: 64 KiB, or a route's own (a module's bodyLimits), checked on Content-Length and
  // while the body streams in — never after buffering it.
  const defaultLimit = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new AppError(413, "payload_too_large", `request body over ${MAX_BODY_BYTES} bytes`, null, "send at most 64 KiB");
    },
  });
  const ownLimits = new Map<string, MiddlewareHandler>();
  const ownMax = new Map<string, number>();
  for (const m of deps.modules)
    for (const l of m.bodyLimits ?? []) {
      ownLimits.set(l.path, bodyLimit({ maxSize: l.maxBytes, onError: l.onTooLarge }));
      ownMax.set(l.path, l.maxBytes);
    }

  const { limiter } = deps;
  app.use(
    requestEdge({
      log,
      now,
      limitBody: (path) => ownLimits.get(path) ?? defaultLimit,
      limitOf: (path) => ownMax.get(path) ?? MAX_BODY_BYTES,
      renderError,
      observe: deps.observeRequest,
      admit: limiter ? (c) => limiter.admit(c) : undefined,
      // Health checks are never refused; JSON-RPC routes charge each call themselves.
      unmetered: new Set(["/health", "/ready", ...deps.modules.flatMap((m) => m.unmetered ?? [])]),
    }),
  );
  app.onError(renderError);
  // 405 is decided only once no route matched (no per-request middleware frame for it).
  const allowedMethods = methodsByPath(app, () => mut);
  app.notFound((c) => {
    const methods = allowedMethods(c.req.path);
    if (methods.length) {
      return c.json(
        errorBody("method_not_allowed", `method ${c.req.method} not allowed on ${c.req.path}`, `allowed: ${methods.join(", ")}`),
        405,
        {
          Allow: methods.join(", "),
        },
      );
    }
    return c.json(errorBody("not_found", `no route for ${c.req.method} ${c.req.path}`, null, "GET / lists every route"), 404);
  });

  const mut = mutating(config.apiToken, allowedMethods);
  const clients = deps.clients ?? new Clients(() => null, config.limits.trustedProxies);
  const wallNow = deps.wallNow ?? Date.now;
  registerMetaRoutes(app, {
    version: deps.version,
    startedAt: deps.startedAt ?? wallNow(),
    now: wallNow,
    checks: [...(deps.checks ?? []), ...deps.modules.flatMap((m) => m.checks ?? [])],
    ...(deps.assets ? { assets: deps.assets } : {}),
  });
  for (const m of deps.modules) m.register(app, { config, log, mutating: mut, clients, ...(limiter ? { limiter } : {}) });
  app.openAPIRegistry.registerComponent("securitySchemes", BEARER_SCHEME, bearerScheme);
  return app;
}

/**
 * The methods registered for a path, built on first use from the routes. GET implies HEAD, except
 * on a route with the `mutating` middleware (HEAD must not change state).
 */
function methodsByPath(app: App, mutatingMiddleware: () => MiddlewareHandler): (path: string) => string[] {
  let router: TrieRouter<string[]> | undefined;
  return (path) => {
    if (!router) {
      const mut = mutatingMiddleware();
      const unsafe = new Set(app.routes.filter((r) => r.handler === mut).map((r) => `${r.method} ${r.path}`));
      const byPath = new Map<string, Set<string>>();
      for (const r of app.routes) {
        if (r.method === "ALL" || r.method === "HEAD") continue;
        const set = byPath.get(r.path) ?? new Set<string>();
        set.add(r.method);
        if (r.method === "GET" && !unsafe.has(`GET ${r.path}`)) set.add("HEAD");
        byPath.set(r.path, set);
      }
      router = new TrieRouter<string[]>();
      for (const [p, m] of byPath) router.add("ALL", p, [...m]);
    }
    const [matches] = router.match("ALL", path);
    return [...new Set(matches.flatMap((m) => m[0]))].sort();
  };
}
