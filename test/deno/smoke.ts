// Runs the portable core under Deno: compose() builds every module of `pexd` on the in-memory bundle
// of runtime adapters, and the app answers one request of each module (no Bun, no permissions).
import { compose, MODULES } from "../../src/compose.ts";
import { parseConfig } from "../../src/config.ts";
import { silentLogger } from "../../src/log.ts";
import { memoryRuntime } from "../../src/runtime/memory.ts";

const config = parseConfig({});
const { app, modules, close } = await compose(config, memoryRuntime(), { log: silentLogger, version: "deno-smoke" });
const results: { method: string; path: string; status: number; body: unknown }[] = [];
const requests: [string, string, unknown?][] = [
  ["GET", "/health"],
  ["GET", "/current"],
  ["POST", "/next"],
  ["POST", "/next"],
  ["GET", "/current"],
  ["POST", "/rpc/add_widget", { widget_sn: "w1", widget_name: "one", slots: ["P"] }],
  ["GET", "/widgets/w1"],
  ["GET", "/blocknumber"],
  ["GET", "/stats"],
  ["GET", "/metrics"],
  ["GET", "/openapi.json"],
];
for (const [method, path, body] of requests) {
  const r = await app.request(path, {
    method,
    ...(body ? { headers: { "content-type": "application/json" }, body: JSON.stringify(body) } : {}),
  });
  const type = r.headers.get("content-type") ?? "";
  const text = await r.text();
  results.push({ method, path, status: r.status, body: type.includes("json") && text ? JSON.parse(text) : text });
}
await close();
const runtime = typeof (globalThis as { Deno?: unknown }).Deno === "object" ? "deno" : "other";
console.log(JSON.stringify({ runtime, modules: modules.map((m) => m.name), expected: MODULES, results }));
