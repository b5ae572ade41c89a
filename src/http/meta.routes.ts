// Meta routes: the OpenAPI document (JSON, or an HTML reference for browsers), health, readiness.
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { html } from "hono/html";
import { AppError } from "../errors.ts";
import type { AppEnv } from "./context.ts";
import { commonResponses, errorResponse, internalErrorResponse } from "./schemas.ts";

/** What a readiness check knows now: fine, or not — and whether that makes the instance not ready (critical) or degraded. */
export type Readiness = { ok: true } | { ok: false; detail: string; critical: boolean };
export const READY: Readiness = { ok: true };

export interface ReadinessCheck {
  name: string;
  /** From what the service already knows: no network call (/ready answers within 1 s). */
  check(): Readiness | Promise<Readiness>;
}

/** A check that answers later than this is failing (and /ready still answers in time). */
export const CHECK_DEADLINE_MS = 500;

/** Serves a static asset (the API reference's script and styles); provided by the runtime. */
export type AssetSource = (name: string) => Promise<{ body: BodyInit; type: string } | null>;

export interface MetaDeps {
  version: string;
  startedAt: number;
  now: () => number;
  checks: ReadinessCheck[];
  assets?: AssetSource;
}

const HealthSchema = z
  .object({
    status: z.literal("ok"),
    version: z.string(),
    uptime_s: z.number(),
    datetime: z.string().openapi({ format: "date-time" }),
  })
  .openapi("Health");

const ReadySchema = z
  .object({
    status: z.enum(["ready", "degraded"]).openapi({ description: "degraded: ready, with a check that is not ok named under checks" }),
    checks: z.record(z.string(), z.string()).openapi({ description: 'each check: "ok", or what is wrong with it' }),
  })
  .openapi("Ready");

const OpenApiSchema = z.record(z.string(), z.unknown()).openapi("OpenAPIDocument");

const REFERENCE_ASSETS: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
};

// The page loads only same-origin scripts (no inline script), so a strict CSP could be added.
const INIT_JS = `window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#ui", deepLinking: true, validatorUrl: null });\n`;

export function registerMetaRoutes(app: OpenAPIHono<AppEnv>, deps: MetaDeps) {
  // Generated once (all routes are registered before the first request) and served from one Blob:
  // stringifying the whole document per request halved the throughput of /, and a Blob body is sent
  // without encoding the 80 KiB string again (~1.4× a string body under `ab -c 10`, measured).
  let doc: Blob | undefined;
  const document = () =>
    (doc ??= new Blob([
      JSON.stringify(
        app.getOpenAPI31Document({
          openapi: "3.1.0",
          info: {
            title: "pexd",
            version: deps.version,
            license: { name: "MIT", url: "https://opensource.org/license/mit" },
            description:
              "Durable Fibonacci counter, widgets graph, Ethereum JSON-RPC gateway and block relay in one process. Errors use the body {code, message, details, hint}. Routes are open unless they list the `bearer` security scheme: the mutating routes, which require `Authorization: Bearer <token>` only when the server has `PEXD_API_TOKEN` set.",
          },
          // Relative: the server that served this document.
          servers: [{ url: "/", description: "This pexd instance" }],
          // No security by default; the mutating operations set their own.
          security: [],
        }),
      ),
    ]));
  const JSON_TYPE = { "Content-Type": "application/json" };

  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      operationId: "getRoot",
      tags: ["meta"],
      summary: "This OpenAPI 3.1 document (an HTML API reference with Accept: text/html)",
      responses: {
        200: {
          description: "The document",
          content: { "application/json": { schema: OpenApiSchema }, "text/html": { schema: z.string() } },
        },
        ...commonResponses,
      },
    }),
    (c) => {
      const accept = c.req.header("accept") ?? "";
      if (/\btext\/html\b/.test(accept)) return c.html(referencePage(deps.version), 200);
      return c.body(document() as never, 200, JSON_TYPE) as never;
    },
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/openapi.json",
      operationId: "getOpenApiDocument",
      tags: ["meta"],
      summary: "The OpenAPI 3.1 document",
      responses: {
        200: { description: "The document", content: { "application/json": { schema: OpenApiSchema } } },
        ...commonResponses,
      },
    }),
    (c) => c.body(document() as never, 200, JSON_TYPE) as never,
  );
  app.get("/docs/assets/:file", async (c) => {
    const file = c.req.param("file");
    if (file === "init.js") return c.body(INIT_JS, 200, { "Content-Type": "text/javascript; charset=utf-8" });
    const type = REFERENCE_ASSETS[file];
    const asset = type && deps.assets ? await deps.assets(file) : null;
    if (!asset) throw new AppError(404, "not_found", `no asset ${file}`);
    return c.body(asset.body as ArrayBuffer, 200, { "Content-Type": type!, "Cache-Control": "public, max-age=86400" });
  });
  app.openapi(
    createRoute({
      method: "get",
      path: "/health",
      operationId: "getHealth",
      tags: ["meta"],
      summary: "Liveness",
      responses: {
        200: { description: "The process runs", content: { "application/json": { schema: HealthSchema } } },
        ...internalErrorResponse,
      },
    }),
    (c) => {
      const now = deps.now();
      return c.json(
        {
          status: "ok" as const,
          version: deps.version,
          uptime_s: Math.round((now - deps.startedAt) / 10) / 100,
          datetime: new Date(now).toISOString(),
        },
        200,
      );
    },
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/ready",
      operationId: "getReadiness",
      tags: ["meta"],
      summary: "Readiness, from known health: storage works and at least one upstream of each configured kind (HTTP, WebSocket) is healthy",
      description:
        "Answers within 1 s from what the service already knows (no upstream call). 200 `ready`, or 200 `degraded` with the unhealthy parts named under `checks` while one upstream of each kind works; 503 otherwise.",
      responses: {
        200: { description: "Ready (or degraded)", content: { "application/json": { schema: ReadySchema } } },
        503: errorResponse("Not ready (`not_ready`); `details` names each failing check"),
        ...internalErrorResponse,
      },
    }),
    async (c) => {
      const results = await Promise.all(deps.checks.map(async (ch) => [ch.name, await bounded(ch)] as const));
      const failing = results.filter(([, r]) => !r.ok && r.critical);
      if (failing.length) {
        throw new AppError(
          503,
          "not_ready",
          `failing checks: ${failing.map(([n]) => n).join(", ")}`,
          results
            .filter(([, r]) => !r.ok)
            .map(([n, r]) => `${n}: ${(r as { detail: string }).detail}`)
            .join("; "),
        );
      }
      const checks = Object.fromEntries(results.map(([n, r]) => [n, r.ok ? "ok" : r.detail]));
      return c.json({ status: results.every(([, r]) => r.ok) ? ("ready" as const) : ("degraded" as const), checks }, 200);
    },
  );
}

/** A check's answer, or failing when it takes longer than CHECK_DEADLINE_MS or throws. */
async function bounded(ch: ReadinessCheck): Promise<Readiness> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<Readiness>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, detail: `no answer within ${CHECK_DEADLINE_MS} ms`, critical: true }), CHECK_DEADLINE_MS);
  });
  try {
    return await Promise.race([Promise.resolve().then(() => ch.check()), late]);
  } catch (e) {
    return { ok: false, detail: e instanceof Error ? e.message : String(e), critical: true };
  } finally {
    clearTimeout(timer);
  }
}

const referencePage = (version: string) => html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>pexd ${version} API reference</title>
    <link rel="stylesheet" href="/docs/assets/swagger-ui.css" />
  </head>
  <body>
    <div id="ui"></div>
    <script src="/docs/assets/swagger-ui-bundle.js"></script>
    <script src="/docs/assets/init.js"></script>
  </body>
</html>`;
