// the contract ("Conventions for every HTTP route", docs/protocols.md), through the portable core with memory adapters.
import { createRoute, z } from "@hono/zod-openapi";
import { describe, expect, test } from "bun:test";
import { requireJson } from "../src/http/middleware.ts";
import type { PexdModule } from "../src/module.ts";
import { READY, type Readiness, type ReadinessCheck } from "../src/http/meta.routes.ts";
import { memoryApp, memoryLogger } from "./helpers/app.ts";

const ERROR_KEYS = ["code", "details", "hint", "message"];

/** A module with a JSON-body mutating route, to exercise 400/413/415/401 without other features. */
const echoModule: PexdModule = {
  name: "echo",
  register(app, ctx) {
    app.openapi(
      createRoute({
        method: "post",
        path: "/test/echo",
        middleware: [ctx.mutating, requireJson] as const,
        request: { body: { required: true, content: { "application/json": { schema: z.object({ name: z.string().min(1) }) } } } },
        responses: { 200: { description: "echo", content: { "application/json": { schema: z.object({ name: z.string() }) } } } },
      }),
      (c) => c.json({ name: c.req.valid("json").name }, 200),
    );
  },
};

const post = (body: string, headers: Record<string, string> = { "content-type": "application/json" }) => ({
  method: "POST",
  body,
  headers,
});

describe("HTTP conventions", async () => {
  const { app } = await memoryApp({}, { modules: [echoModule] });

  test("unknown path: 404 with the error body", async () => {
    const r = await app.request("/no/such/path");
    expect(r.status).toBe(404);
    const b = await r.json();
    expect(Object.keys(b).sort()).toEqual(ERROR_KEYS);
    expect(b.code).toBe("not_found");
  });

  test("known path, wrong method: 405 with Allow", async () => {
    const r = await app.request("/current", { method: "DELETE" });
    expect(r.status).toBe(405);
    expect(r.headers.get("allow")).toBe("GET, HEAD");
    expect((await r.json()).code).toBe("method_not_allowed");
    // HEAD changes nothing: it is not allowed on a route that changes state (docs/security.md).
    const r2 = await app.request("/next", { method: "PUT" });
    expect(r2.status).toBe(405);
    expect(r2.headers.get("allow")).toBe("GET, POST");
  });

  test("malformed JSON: 400 invalid_json; failing validation: 400 invalid_request", async () => {
    const r = await app.request("/test/echo", post("{nope"));
    expect(r.status).toBe(400);
    expect((await r.json()).code).toBe("invalid_json");
    const r2 = await app.request("/test/echo", post('{"name": 5}'));
    expect(r2.status).toBe(400);
    const b = await r2.json();
    expect(b.code).toBe("invalid_request");
    expect(b.message).toContain("name");
  });

  test("wrong content type: 415; over 64 KiB: 413", async () => {
    const r = await app.request("/test/echo", post('{"name":"a"}', { "content-type": "text/plain" }));
    expect(r.status).toBe(415);
    expect((await r.json()).code).toBe("unsupported_media_type");
    const big = JSON.stringify({ name: "x".repeat(70 * 1024) });
    const r2 = await app.request("/test/echo", post(big));
    expect(r2.status).toBe(413);
    expect((await r2.json()).code).toBe("payload_too_large");
    const ok = await app.request("/test/echo", post(JSON.stringify({ name: "x".repeat(60 * 1024) })));
    expect(ok.status).toBe(200);
  });

  test("x-request-id: echoed when sent, generated otherwise (also on errors)", async () => {
    const r = await app.request("/current", { headers: { "x-request-id": "abc-123" } });
    expect(r.headers.get("x-request-id")).toBe("abc-123");
    const r2 = await app.request("/nope");
    const r3 = await app.request("/current", { headers: { "x-request-id": "bad id with spaces" } });
    expect(r2.headers.get("x-request-id")).toMatch(/^[0-9a-f]{16}-[0-9a-z]+$/);
    // An unsafe client id is replaced, never echoed; generated ids differ.
    expect(r3.headers.get("x-request-id")).toMatch(/^[0-9a-f]{16}-[0-9a-z]+$/);
    expect(r3.headers.get("x-request-id")).not.toBe(r2.headers.get("x-request-id"));
  });

  test("mutating routes answer Cache-Control: no-store; reads do not", async () => {
    expect((await app.request("/next")).headers.get("cache-control")).toBe("no-store");
    expect((await app.request("/reset", { method: "POST" })).headers.get("cache-control")).toBe("no-store");
    expect((await app.request("/current")).headers.get("cache-control")).toBeNull();
  });
});

describe("bearer token", async () => {
  const { app, fib } = await memoryApp({ PEXD_API_TOKEN: "t0ken-xyz" }, { modules: [echoModule] });

  test("mutating routes need the token; state is unchanged without it", async () => {
    for (const [path, init] of [
      ["/next", {}],
      ["/previous", { method: "POST" }],
      ["/reset", {}],
      ["/test/echo", post('{"name":"a"}')],
    ] as const) {
      const r = await app.request(path, init);
      expect(r.status).toBe(401);
      const b = await r.json();
      expect(b).toEqual({ code: "unauthorized", message: expect.any(String), details: null, hint: expect.any(String) });
      expect(JSON.stringify(b)).not.toContain("t0ken-xyz");
    }
    expect((await fib.current()).index).toBe(0);
    expect((await app.request("/next", { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    expect((await app.request("/next", { headers: { authorization: "Bearer t0ken-xyz" } })).status).toBe(200);
    expect((await fib.current()).index).toBe(1);
  });

  test("read routes stay open", async () => {
    expect((await app.request("/current")).status).toBe(200);
    expect((await app.request("/health")).status).toBe(200);
  });
});

describe("meta routes", async () => {
  let upstreamUp = true;
  let standbyUp = false;
  const checks: ReadinessCheck[] = [
    { name: "storage", check: () => READY },
    {
      name: "upstream",
      check: () => (upstreamUp ? READY : { ok: false, critical: !standbyUp, detail: "connection refused" }),
    },
    // A check that never answers: /ready must still answer in time, naming it.
    { name: "slow", check: () => (slowHangs ? new Promise<Readiness>(() => {}) : READY) },
  ];
  let slowHangs = false;
  const { app } = await memoryApp({}, { checks });

  test("/health", async () => {
    const r = await app.request("/health");
    const b = await r.json();
    expect(Object.keys(b).sort()).toEqual(["datetime", "status", "uptime_s", "version"]);
    expect(b.status).toBe("ok");
    expect(b.version).toBe("0.0.0-test");
    expect(typeof b.uptime_s).toBe("number");
    expect(new Date(b.datetime).toISOString()).toBe(b.datetime);
  });

  test("/ready: 200 when every check passes, 200 degraded naming a non-critical failure, 503 naming the failing ones", async () => {
    const ok = await app.request("/ready");
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ status: "ready", checks: { storage: "ok", upstream: "ok", slow: "ok" } });
    upstreamUp = false;
    standbyUp = true;
    const degraded = await app.request("/ready");
    expect(degraded.status).toBe(200);
    expect(await degraded.json()).toEqual({ status: "degraded", checks: { storage: "ok", upstream: "connection refused", slow: "ok" } });
    standbyUp = false;
    const r = await app.request("/ready");
    expect(r.status).toBe(503);
    const b = await r.json();
    expect(b.code).toBe("not_ready");
    expect(b.message).toContain("upstream");
    expect(b.message).not.toContain("storage");
    expect(b.details).toContain("connection refused");
    upstreamUp = true;
    slowHangs = true;
    const late = await app.request("/ready");
    expect(late.status).toBe(503);
    expect((await late.json()).details).toContain("slow: no answer within");
    slowHangs = false;
  });

  test("GET / and /openapi.json: one generated OpenAPI 3.1 document covering every route", async () => {
    const doc = await (await app.request("/")).json();
    expect(doc.openapi).toBe("3.1.0");
    expect(await (await app.request("/openapi.json")).json()).toEqual(doc);
    for (const p of ["/current", "/next", "/previous", "/reset", "/health", "/ready", "/openapi.json", "/"])
      expect(doc.paths[p]).toBeDefined();
    expect(Object.keys(doc.paths["/next"]).sort()).toEqual(["get", "post"]);
    expect(doc.components.schemas.FibState.properties.value.type).toBe("string");
  });

  test("Accept: text/html gives the API reference with same-origin assets only", async () => {
    const r = await app.request("/", { headers: { accept: "text/html" } });
    expect(r.headers.get("content-type")).toContain("text/html");
    const html = await r.text();
    const srcs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(srcs.length).toBeGreaterThan(0);
    for (const s of srcs) expect(s.startsWith("/")).toBe(true);
    const init = await app.request("/docs/assets/init.js");
    expect(init.status).toBe(200);
    expect(await init.text()).toContain("/openapi.json");
  });
});

describe("access log", () => {
  test("one JSON line per request with method, route pattern, status, duration and request id", async () => {
    const { log, lines } = memoryLogger("info");
    const { app } = await memoryApp({}, {}, log);
    await app.request("/current", { headers: { "x-request-id": "rid-1" } });
    await app.request("/nope");
    log.flush();
    const reqs = lines.filter((l) => l.msg === "request");
    expect(reqs).toHaveLength(2);
    expect(reqs[0]).toMatchObject({ level: "info", method: "GET", route: "/current", status: 200, request_id: "rid-1" });
    expect(typeof reqs[0]!.duration_ms).toBe("number");
    expect(reqs[1]).toMatchObject({ route: "unmatched", status: 404 });
  });

  test("at warn level no access line is written", async () => {
    const { log, lines } = memoryLogger("warn");
    const { app } = await memoryApp({}, {}, log);
    await app.request("/current");
    log.flush();
    expect(lines).toEqual([]);
  });
});

test("lifecycle lines are written at every level", async () => {
  const { log, lines } = memoryLogger("error");
  log.info("hidden");
  log.notice("listening", { port: 1 });
  log.flush();
  expect(lines).toEqual([{ time: expect.any(String), level: "notice", msg: "listening", port: 1 }]);
});
