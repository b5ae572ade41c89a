// Runs the portable core under Deno with memory adapters: createApp + FibService + MemoryFibStore.
import { createApp } from "../../src/app.ts";
import { parseConfig } from "../../src/config.ts";
import { FibService } from "../../src/fib/fib.service.ts";
import { silentLogger } from "../../src/log.ts";
import { MemoryFibStore } from "../../src/storage/memory/fib.memory.ts";

const fib = await FibService.open(new MemoryFibStore(), { flushMs: 0, log: silentLogger });
const app = createApp({ config: parseConfig({}), log: silentLogger, version: "deno-smoke", fib });
const out: Record<string, unknown> = { runtime: typeof (globalThis as { Deno?: unknown }).Deno === "object" ? "deno" : "other" };
for (const path of ["/health", "/current", "/next", "/next", "/current"]) {
  const r = await app.request(path);
  out[`${path}#${Object.keys(out).length}`] = { status: r.status, body: await r.json() };
}
console.log(JSON.stringify(out));
