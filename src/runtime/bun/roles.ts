// Single roles of the command line: `pexd relay-server` (TCP server + stats API over HTTP) and
// `pexd relay-client` (the watcher, plus /health and /ready). Same variables as the full process.
import { HTTPException } from "hono/http-exception";
import { bodyLimit } from "hono/body-limit";
import type { Config } from "../../config.ts";
import { AppError, errorBody } from "../../errors.ts";
import { createRouter } from "../../http/context.ts";
import { registerMetaRoutes } from "../../http/meta.routes.ts";
import { edge, MAX_BODY_BYTES, mutating } from "../../http/middleware.ts";
import type { PexdModule } from "../../module.ts";
import { SqliteCommitter } from "../../storage/sqlite/committer.ts";
import { startCheckpointer } from "./checkpointer.ts";
import { configOrExit, stdoutLogger, VERSION } from "./main.ts";
import { buildRelay } from "./relay.wire.ts";
import { asPort, openDatabase } from "./sqlite.ts";

export type Role = "relay-server" | "relay-client";
export const ROLES: readonly Role[] = ["relay-server", "relay-client"];

/** Runs one role until SIGTERM/SIGINT. */
export async function runRole(role: Role, env: Record<string, string | undefined> = Bun.env): Promise<void> {
  const config: Config = configOrExit(env);
  const log = stdoutLogger(config);
  const startedAt = Date.now();
  const storage = role === "relay-server" ? openDatabase(config.dataDir) : null;
  const tx = storage ? new SqliteCommitter(asPort(storage.db)) : null;
  // WAL checkpoints off the serving thread, as in the full process.
  const checkpointer = storage ? startCheckpointer(storage.db, storage.path, log) : null;
  if (role === "relay-server" && config.relay.port === 0) log.warn("relay-server: PEXD_RELAY_PORT is 0, so only the stats API runs");
  if (role === "relay-client" && !config.relay.targets.length) log.warn("relay-client: PEXD_RELAY_TARGETS is unset, nothing to do");
  const relay: PexdModule = await buildRelay(config, log, storage && tx ? { db: storage.db, tx } : null, {
    server: role === "relay-server",
    watcher: role === "relay-client",
  });

  // The same edge, error body and meta routes as the full app, without the other features' routes.
  const app = createRouter();
  const limit = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new AppError(413, "payload_too_large", `request body over ${MAX_BODY_BYTES} bytes`);
    },
  });
  app.use(edge(log, () => performance.timeOrigin + performance.now(), limit));
  app.onError((err, c) => {
    if (err instanceof AppError) return c.json(err.toBody(), err.status as 400, err.headers);
    if (err instanceof HTTPException) return c.json(errorBody("http_error", err.message || "request failed"), err.status);
    log.error("unhandled error", { route: c.req.path, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    return c.json(errorBody("internal_error", "internal server error"), 500);
  });
  app.notFound((c) => c.json(errorBody("not_found", `no route for ${c.req.method} ${c.req.path}`, null, "GET / lists every route"), 404));
  registerMetaRoutes(app, {
    version: VERSION,
    startedAt,
    now: () => Date.now(),
    checks: [
      ...(storage
        ? [
            {
              name: "storage",
              check: async () => {
                storage.db.prepare("SELECT 1").get();
              },
            },
          ]
        : []),
      ...(relay.checks ?? []),
    ],
  });
  relay.register(app, { config, log, mutating: mutating(config.apiToken) });

  const server = Bun.serve({ hostname: config.host, port: config.port, fetch: app.fetch, idleTimeout: 30 });
  log.notice("listening", { role, url: `http://${config.host}:${server.port}`, port: server.port, version: VERSION });

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    log.notice("stopping", { role });
    await server.stop(false);
    await relay.close?.().catch((e: unknown) => log.error("relay close failed", { error: String(e) }));
    tx?.flush();
    await checkpointer?.stop();
    if (storage) {
      storage.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      storage.db.close();
    }
    log.notice("stopped", { role });
    log.flush();
  };
  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    process.on(sig, () => {
      stop().then(
        () => process.exit(0),
        (e: unknown) => {
          process.stderr.write(`pexd: error while stopping: ${String(e)}\n`);
          process.exit(1);
        },
      );
    });
  }
}
