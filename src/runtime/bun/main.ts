// The Bun entry: environment → config → SQLite → services → app → Bun.serve, and a graceful stop.
import { resolve } from "node:path";
import { createApp } from "../../app.ts";
import { ConfigError, parseConfig, type Config } from "../../config.ts";
import { FibService } from "../../fib/fib.service.ts";
import type { AssetSource } from "../../http/meta.routes.ts";
import { createLogger, type Logger } from "../../log.ts";
import { SqliteCommitter } from "../../storage/sqlite/committer.ts";
import { SqliteFibStore } from "../../storage/sqlite/fib.sqlite.ts";
import pkg from "../../../package.json" with { type: "json" };
import { startCheckpointer } from "./checkpointer.ts";
import { asPort, openDatabase } from "./sqlite.ts";
import { websocket } from "./websocket.ts";
import type { WireContext } from "./wire.ts";
import type { PexdModule } from "../../module.ts";
import { wireWidgets } from "./widgets.wire.ts";
import { wireEth } from "./eth.wire.ts";
import { wireRelay } from "./relay.wire.ts";
import { wireMetrics } from "./metrics.wire.ts";

export const VERSION: string = pkg.version;
export const EX_CONFIG = 78;
/** sysexits.h EX_CANTCREAT: the data directory or database cannot be opened. */
export const EX_CANTCREAT = 73;
const DRAIN_MS = 8000;

/** Parses the environment or exits 78 with one line naming the variable. */
export function configOrExit(env: Record<string, string | undefined>): Config {
  try {
    return parseConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`pexd: invalid configuration: ${e.message}\n`);
      process.exit(EX_CONFIG);
    }
    throw e;
  }
}

export function stdoutLogger(config: Config): Logger {
  const sink = Bun.stdout.writer();
  return createLogger(config.logLevel, (chunk) => {
    sink.write(chunk);
    sink.flush();
  });
}

const swaggerDir = resolve(import.meta.dir, "../../../node_modules/swagger-ui-dist");
const assets: AssetSource = async (name) => {
  const f = Bun.file(resolve(swaggerDir, name));
  return (await f.exists()) ? { body: f, type: f.type } : null;
};

/** The data directory or database cannot be used: start-up stops with one clear line. */
export class StorageStartupError extends Error {
  override name = "StorageStartupError" as const;
}

function openOrExplain(dataDir: string): ReturnType<typeof openDatabase> {
  try {
    return openDatabase(dataDir);
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    const hint = /not a database|malformed|corrupt/i.test(reason)
      ? "the file is not a usable SQLite database: restore it from a backup or move it away"
      : "check that PEXD_DATA_DIR is a directory the service user can write";
    throw new StorageStartupError(`cannot open the database in PEXD_DATA_DIR=${dataDir}: ${reason} (${hint})`);
  }
}

export interface Running {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export async function serve(config: Config, log: Logger = stdoutLogger(config), opts: { httpMetrics?: boolean } = {}): Promise<Running> {
  const startedAt = Date.now();
  const { db, path, applied } = openOrExplain(config.dataDir);
  if (applied.length) log.info("migrations applied", { applied });
  const checkpointer = startCheckpointer(db, path, log);
  // Every store writes through this one transaction batcher (see committer.ts).
  const tx = new SqliteCommitter(asPort(db));
  const fib = await FibService.open(new SqliteFibStore(asPort(db), tx), { flushMs: config.fibFlushMs, log });

  const wctx: WireContext = { config, log, db, tx, shared: {} };
  const modules: PexdModule[] = [];
  for (const wire of [wireWidgets, wireEth, wireRelay]) {
    const m = await wire(wctx);
    if (m) modules.push(m);
  }
  const metrics = wireMetrics({ fib, modules: () => modules, version: VERSION, startedAt, httpMetrics: opts.httpMetrics ?? true });
  modules.push(metrics);

  const app = createApp({
    config,
    log,
    version: VERSION,
    fib,
    modules,
    ...(metrics.observeRequest ? { observeRequest: metrics.observeRequest } : {}),
    assets,
    startedAt,
    checks: [
      {
        name: "storage",
        check: async () => {
          db.prepare("SELECT 1").get();
        },
      },
    ],
  });

  const server = Bun.serve({ hostname: config.host, port: config.port, fetch: app.fetch, websocket, idleTimeout: 30 });
  const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${server.port}`;
  // Start-up garbage (module evaluation, the OpenAPI document build) is collected before idling.
  Bun.gc(true);
  log.notice("listening", { url, port: server.port, database: path, fib_index: fib.index, version: VERSION });

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      log.notice("stopping: draining in-flight requests");
      // Ends open /dashboard/stream responses, which would otherwise hold the drain until DRAIN_MS.
      await metrics.close();
      // stop(false): no new connections, in-flight requests finish; then force-close the rest.
      const drained = server.stop(false);
      const timeout = new Promise<void>((r) => setTimeout(r, DRAIN_MS).unref());
      await Promise.race([drained, timeout]);
      await server.stop(true);
      for (const m of [...modules].reverse())
        await m.close?.().catch((e) => log.error("module close failed", { module: m.name, error: String(e) }));
      await fib.close();
      tx.flush();
      await checkpointer.stop();
      db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      db.close();
      log.notice("stopped", { fib_index: fib.index });
      log.flush();
    })());
  return { url, port: server.port!, stop };
}

export async function main(env: Record<string, string | undefined> = Bun.env): Promise<void> {
  const config = configOrExit(env);
  const log = stdoutLogger(config);
  let running: Running;
  try {
    // PEXD_HTTP_METRICS=off is for the benchmark only (the metrics' own cost); see README.md, "Observability".
    running = await serve(config, log, { httpMetrics: env.PEXD_HTTP_METRICS !== "off" });
  } catch (e) {
    if (e instanceof StorageStartupError) {
      log.flush();
      process.stderr.write(`pexd: ${e.message}\n`);
      process.exit(EX_CANTCREAT);
    }
    throw e;
  }
  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    process.on(sig, () => {
      running.stop().then(
        () => process.exit(0),
        (e) => {
          process.stderr.write(`pexd: error while stopping: ${e}\n`);
          process.exit(1);
        },
      );
    });
  }
}
