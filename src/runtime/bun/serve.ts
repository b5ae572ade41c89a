// The one Bun serve path, for `pexd` and every single role: environment → Config → the Bun bundle →
// compose() → Bun.serve, with the same exit codes (78 bad configuration, 73 unusable storage), the
// same graceful stop (drain with a deadline, then close in order) and the same /metrics.
import { existsSync } from "node:fs";
import { websocket } from "hono/bun";
import pkg from "../../../package.json" with { type: "json" };
import { compose, type Role } from "../../compose.ts";
import { ConfigError, parseConfig, type Config } from "../../config.ts";
import { StorageOpenError } from "../../errors.ts";
import { MAX_BODY_BYTES } from "../../http/middleware.ts";
import { createLogger, type Logger } from "../../log.ts";
import { bunRuntime } from "./bun.runtime.ts";

export const VERSION: string = pkg.version;
export const EX_CONFIG = 78;
/** sysexits.h EX_CANTCREAT: the data directory or database cannot be opened. */
export const EX_CANTCREAT = 73;
/** In-flight requests get this long to finish on SIGTERM before their connections are closed. */
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

export interface Running {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export interface ServeOptions {
  role?: Role;
  /** false: HTTP requests are not recorded (the benchmark of the recording's own cost). */
  httpMetrics?: boolean;
}

export async function serve(config: Config, log: Logger, opts: ServeOptions = {}): Promise<Running> {
  const role = opts.role ?? "all";
  const composed = await compose(config, await bunRuntime(config, log), {
    log,
    version: VERSION,
    role,
    startedAt: Date.now(),
    httpMetrics: opts.httpMetrics ?? true,
  });
  const server = Bun.serve({
    hostname: config.host,
    port: config.port,
    fetch: composed.app.fetch,
    idleTimeout: 30,
    // Limits at the protocol edge, before anything is buffered. Bodies: each route's limit is checked
    // on Content-Length and while streaming (the app answers in the route's shape, JSON-RPC for
    // POST /eth); Bun's own cap (an empty 413) is only a backstop above the largest route limit.
    // Client WebSocket messages over the limit are refused by Bun before buffering (close 1009).
    maxRequestBodySize: 2 * Math.max(config.eth.maxBodyBytes, MAX_BODY_BYTES),
    websocket: { ...websocket, maxPayloadLength: config.eth.maxBodyBytes, idleTimeout: 120, sendPings: true },
  });
  const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${server.port}`;
  // Start-up garbage (module evaluation, the OpenAPI document build) is collected before idling.
  Bun.gc(true);
  log.notice("listening", { url, port: server.port, version: VERSION, ...composed.facts(), ...envFilesRead() });

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      log.notice("stopping: draining in-flight requests", { role });
      await composed.drain();
      // stop(false): no new connections, in-flight requests finish; then force-close the rest.
      const drained = server.stop(false);
      const deadline = new Promise<void>((r) => setTimeout(r, DRAIN_MS).unref());
      await Promise.race([drained, deadline]);
      await server.stop(true);
      await composed.close();
      log.notice("stopped", composed.facts());
      log.flush();
    })());
  return { url, port: server.port!, stop };
}

/** Runs a role until SIGTERM/SIGINT; exits 78 on bad configuration and 73 on unusable storage. */
export async function run(role: Role, env: Record<string, string | undefined> = Bun.env): Promise<void> {
  const config = configOrExit(env);
  const log = stdoutLogger(config);
  let running: Running;
  try {
    // PEXD_HTTP_METRICS=off is for the benchmark only (the recording's own cost); see docs/benchmarks.md.
    running = await serve(config, log, { role, httpMetrics: env.PEXD_HTTP_METRICS !== "off" });
  } catch (e) {
    if (e instanceof StorageOpenError) {
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

/**
 * The .env files Bun read from the working directory before pexd started (development runs from a
 * checkout; the compiled binary reads none), named in the "listening" line so that settings never
 * come from a file silently. See docs/configuration.md, "The .env file".
 */
function envFilesRead(): { env_files?: string[] } {
  if (import.meta.path.startsWith("/$bunfs/")) return {};
  const mode = process.env.NODE_ENV || "development";
  const files = [".env", `.env.${mode}`, ...(mode === "test" ? [] : [".env.local"])].filter((f) => existsSync(f));
  return files.length ? { env_files: files } : {};
}
