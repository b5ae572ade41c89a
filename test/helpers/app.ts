// A createApp() with memory adapters, for tests of the portable core through app.request().
import { createApp, type AppDeps } from "../../src/app.ts";
import { parseConfig } from "../../src/config.ts";
import { fibModule } from "../../src/fib/fib.module.ts";
import { FibService } from "../../src/fib/fib.service.ts";
import { createLogger, silentLogger, type Logger } from "../../src/log.ts";
import { MemoryFibStore } from "../../src/storage/memory/fib.memory.ts";

/** createApp() with the counter (memory store) plus `extra.modules`: the app's conventions under test. */
export async function memoryApp(env: Record<string, string> = {}, extra: Partial<AppDeps> = {}, log: Logger = silentLogger) {
  const config = parseConfig(env);
  const fib = await FibService.open(new MemoryFibStore(), { flushMs: 0, log });
  const app = createApp({ config, log, version: "0.0.0-test", ...extra, modules: [fibModule(fib), ...(extra.modules ?? [])] });
  return { app, fib, config };
}

/** A logger that keeps its lines in memory. */
export function memoryLogger(level: "debug" | "info" | "warn" | "error" = "info") {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger(level, (chunk) => {
    for (const l of chunk.split("\n")) if (l) lines.push(JSON.parse(l));
  });
  return { log, lines };
}
