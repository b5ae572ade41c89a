// Meta routes: the OpenAPI document (JSON, or an HTML reference for browsers), health, readiness.
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { html } from "hono/html";
import { AppError } from "../errors.ts";
import type { AppEnv } from "./context.ts";
import { errorResponse } from "./schemas.ts";

export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

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

const ReadySchema = z.object({ status: z.literal("ready"), checks: z.record(z.string(), z.literal("ok")) }).openapi("Ready");

const OpenApiSchema = z.record(z.string(), z.unknown()).openapi("OpenAPIDocument");

const REFERENCE_ASSETS: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
};

// The page loads only same-origin scripts (no inline script), so a strict CSP could be added.
const INIT_JS = `window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#ui", deepLinking: true, validatorUrl: null });\n`;

export function registerMetaRoutes(app: OpenAPIHono<AppEnv>, deps: MetaDeps) {
  // Generated once (all routes are registered before the first request) and served as a
  // pre-serialized string: stringifying the whole document per request halved the throughput of /.
  let doc: string | undefined;
  const document = () =>
    (doc ??= JSON.stringify(
      app.getOpenAPI31Document({
        openapi: "3.1.0",
        info: {
          title: "pexd",
          version: deps.version,
          description:
            "Durable Fibonacci counter, widgets graph, Ethereum JSON-RPC gateway and block relay in one process. Errors use the body {code, message, details, hint}.",
        },
      }),
    ));
  const JSON_TYPE = { "Content-Type": "application/json" };

  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      tags: ["meta"],
      summary: "This OpenAPI 3.1 document (an HTML API reference with Accept: text/html)",
      responses: {
        200: {
          description: "The document",
          content: { "application/json": { schema: OpenApiSchema }, "text/html": { schema: z.string() } },
        },
      },
    }),
    (c) => {
      const accept = c.req.header("accept") ?? "";
      if (/\btext\/html\b/.test(accept)) return c.html(referencePage(deps.version), 200);
      return c.body(document(), 200, JSON_TYPE) as never;
    },
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/openapi.json",
      tags: ["meta"],
      summary: "The OpenAPI 3.1 document",
      responses: { 200: { description: "The document", content: { "application/json": { schema: OpenApiSchema } } } },
    }),
    (c) => c.body(document(), 200, JSON_TYPE) as never,
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
      tags: ["meta"],
      summary: "Liveness",
      responses: { 200: { description: "The process runs", content: { "application/json": { schema: HealthSchema } } } },
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
      tags: ["meta"],
      summary: "Readiness: storage open and every configured upstream reachable",
      responses: {
        200: { description: "Ready", content: { "application/json": { schema: ReadySchema } } },
        503: errorResponse("Not ready (`not_ready`); `details` names each failing check"),
      },
    }),
    async (c) => {
      const results = await Promise.all(
        deps.checks.map(async (ch) => {
          try {
            await ch.check();
            return [ch.name, null] as const;
          } catch (e) {
            return [ch.name, e instanceof Error ? e.message : String(e)] as const;
          }
        }),
      );
      const failing = results.filter(([, e]) => e !== null);
      if (failing.length) {
        throw new AppError(
          503,
          "not_ready",
          `failing checks: ${failing.map(([n]) => n).join(", ")}`,
          failing.map(([n, e]) => `${n}: ${e}`).join("; "),
        );
      }
      return c.json({ status: "ready" as const, checks: Object.fromEntries(results.map(([n]) => [n, "ok" as const])) }, 200);
    },
  );
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
