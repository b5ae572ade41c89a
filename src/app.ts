// The portable core: createApp(deps) returns the Hono app with the SPEC conventions (error body,
// 404/405, request ids, body limit, bearer token) and the meta routes; it knows no feature: modules
// bring their routes. compose.ts assembles the deps; runtimes (src/runtime/*) serve app.fetch.
import type { OpenAPIHono } from "@hono/zod-openapi";
import { HTTPException } from "hono/http-exception";
import { bodyLimit } from "hono/body-limit";
import { TrieRouter } from "hono/router/trie-router";
import type { Config } from "./config.ts";
import { AppError, errorBody } from "./errors.ts";
import { createRouter, type AppEnv } from "./http/context.ts";
import { registerMetaRoutes, type AssetSource, type ReadinessCheck } from "./http/meta.routes.ts";
import { MAX_BODY_BYTES, mutating, requestEdge, type RequestObserver } from "./http/middleware.ts";
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
}

export type App = OpenAPIHono<AppEnv>;

export function createApp(deps: AppDeps): App {
  const { log, config } = deps;
  const now = deps.now ?? (() => performance.timeOrigin + performance.now());
  const app = createRouter();

  const limitBody = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new AppError(413, "payload_too_large", `request body over ${MAX_BODY_BYTES} bytes`, null, "send at most 64 KiB");
    },
  });
  app.use(requestEdge(log, now, limitBody, deps.observeRequest));

  app.onError((err, c) => {
    if (err instanceof AppError) {
      return c.json(err.toBody(), err.status as 400, err.headers);
    }
    if (err instanceof HTTPException && err.status === 400) {
      // Hono's JSON validator: the body is not JSON.
      return c.json(errorBody("invalid_json", "request body is not valid JSON", err.message, null), 400);
    }
    if (err instanceof HTTPException) {
      return c.json(errorBody("http_error", err.message || "request failed"), err.status);
    }
    log.error("unhandled error", {
      route: c.req.path,
      request_id: c.get("requestId"),
      error: err instanceof Error ? (err.stack ?? err.message) : String(err),
    });
    return c.json(errorBody("internal_error", "internal server error", null, `request id ${c.get("requestId")}`), 500);
  });
  // 405 is decided only once no route matched (no per-request middleware frame for it).
  const allowedMethods = methodsByPath(app);
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

  const mut = mutating(config.apiToken);
  const wallNow = deps.wallNow ?? Date.now;
  registerMetaRoutes(app, {
    version: deps.version,
    startedAt: deps.startedAt ?? wallNow(),
    now: wallNow,
    checks: [...(deps.checks ?? []), ...deps.modules.flatMap((m) => m.checks ?? [])],
    ...(deps.assets ? { assets: deps.assets } : {}),
  });
  for (const m of deps.modules) m.register(app, { config, log, mutating: mut });
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });
  return app;
}

/** The methods registered for a path (GET implies HEAD), built on first use from the routes. */
function methodsByPath(app: App): (path: string) => string[] {
  let router: TrieRouter<string[]> | undefined;
  return (path) => {
    if (!router) {
      const byPath = new Map<string, Set<string>>();
      for (const r of app.routes) {
        if (r.method === "ALL" || r.method === "HEAD") continue;
        const set = byPath.get(r.path) ?? new Set<string>();
        set.add(r.method);
        if (r.method === "GET") set.add("HEAD");
        byPath.set(r.path, set);
      }
      router = new TrieRouter<string[]>();
      for (const [p, m] of byPath) router.add("ALL", p, [...m]);
    }
    const [matches] = router.match("ALL", path);
    return [...new Set(matches.flatMap((m) => m[0]))].sort();
  };
}
