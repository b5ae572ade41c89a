// The portable composition on the in-memory bundle: two apps in one process share nothing, and every
// role gets the same conventions (404/405 with Allow, the error body, request ids, /metrics).
import { describe, expect, test } from "bun:test";
import { compose, type Role } from "../src/compose.ts";
import { parseConfig } from "../src/config.ts";
import { silentLogger } from "../src/log.ts";
import { memoryRuntime } from "../src/runtime/memory.ts";

const build = (role: Role = "all", env: Record<string, string> = {}) =>
  compose(parseConfig(env), memoryRuntime(), { log: silentLogger, version: "t", role });

const metric = async (app: { request(p: string): Response | Promise<Response> }, line: RegExp) => {
  const text = await (await app.request("/metrics")).text();
  return Number(line.exec(text)?.[1] ?? Number.NaN);
};

describe("two apps in one process", () => {
  test("have their own counter, widgets, cache counters and request metrics", async () => {
    const a = await build();
    const b = await build();
    try {
      for (let i = 0; i < 3; i++) expect((await a.app.request("/next", { method: "POST" })).status).toBe(200);
      expect(await (await b.app.request("/current")).json()).toEqual({ index: 0, value: "0" });
      const add = {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ widget_sn: "x", widget_name: "x", slots: [] }),
      };
      expect((await a.app.request("/rpc/add_widget", add)).status).toBe(204);
      expect((await b.app.request("/widgets/x")).status).toBe(404);
      expect((await b.app.request("/rpc/add_widget", add)).status).toBe(204);
      expect(await metric(a.app, /^pexd_fib_index (\d+)$/m)).toBe(3);
      expect(await metric(b.app, /^pexd_fib_index (\d+)$/m)).toBe(0);
      expect(await metric(a.app, /^pexd_http_requests_total\{method="POST",route="\/next",status="200"\} (\d+)$/m)).toBe(3);
      expect(await metric(b.app, /^pexd_http_requests_total\{method="POST",route="\/next",status="200"\} (\d+)$/m)).toBeNaN();
      expect(await metric(a.app, /^pexd_widgets (\d+)$/m)).toBe(1);
      expect(await metric(b.app, /^pexd_widgets (\d+)$/m)).toBe(1);
      // Both documents list the JSON-RPC route and its body schema (no process-wide "already documented").
      for (const c of [a, b]) {
        const doc = (await (await c.app.request("/openapi.json")).json()) as {
          paths: Record<string, unknown>;
          components: { schemas: Record<string, unknown> };
        };
        expect(Object.keys(doc.paths)).toContain("/eth");
        expect(Object.keys(doc.components.schemas)).toContain("JsonRpcBody");
      }
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe("roles share the app's conventions", () => {
  test("relay-server: stats routes and /metrics; no counter or gateway; 405 with Allow; request ids", async () => {
    const c = await build("relay-server");
    try {
      expect(c.modules.map((m) => m.name)).toEqual(["relay-server", "metrics"]);
      expect((await c.app.request("/stats")).status).toBe(200);
      expect((await c.app.request("/current")).status).toBe(404);
      expect((await c.app.request("/blocknumber")).status).toBe(404);
      const r = await c.app.request("/stats", { method: "POST" });
      expect(r.status).toBe(405);
      expect(r.headers.get("allow")).toBe("GET, HEAD");
      expect(((await r.json()) as { code: string }).code).toBe("method_not_allowed");
      expect(r.headers.get("x-request-id")).toBeTruthy();
      const bad = await c.app.request("/stats/blocks?limit=0");
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { code: string }).code).toBe("invalid_request");
      expect(await (await c.app.request("/metrics")).text()).toContain("pexd_relay_frames_total");
      expect((await c.app.request("/ready")).status).toBe(200);
    } finally {
      await c.close();
    }
  });

  test("relay-client: /health, /ready and /metrics; no stats routes; no storage opened", async () => {
    let opened = 0;
    const runtime = memoryRuntime();
    const c = await compose(
      parseConfig({}),
      {
        ...runtime,
        openStores: () => {
          opened++;
          return runtime.openStores();
        },
      },
      {
        log: silentLogger,
        version: "t",
        role: "relay-client",
      },
    );
    try {
      expect(opened).toBe(0);
      expect(c.modules.map((m) => m.name)).toEqual(["metrics"]);
      expect((await c.app.request("/health")).status).toBe(200);
      expect((await c.app.request("/ready")).status).toBe(200);
      expect((await c.app.request("/metrics")).status).toBe(200);
      expect((await c.app.request("/stats")).status).toBe(404);
    } finally {
      await c.close();
    }
  });
});
