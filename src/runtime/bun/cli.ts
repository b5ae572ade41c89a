#!/usr/bin/env bun
// Command line: `pexd` runs every configured role; `pexd relay-server` / `pexd relay-client` run one.
import { ROLES, type Role } from "../../compose.ts";
import { CONFIG_VARIABLES, DEFAULT_METHODS_DENY } from "../../config.ts";
import { run, VERSION } from "./serve.ts";

/** Defaults as in docs/configuration.md ("—": unset). */
const DEFAULTS: Record<(typeof CONFIG_VARIABLES)[number], string> = {
  PEXD_HOST: "127.0.0.1",
  PEXD_PORT: "8081",
  PEXD_DATA_DIR: "./data",
  PEXD_LOG_LEVEL: "info",
  PEXD_FIB_FLUSH_MS: "0",
  PEXD_ETH_HTTP_URL: "—",
  PEXD_ETH_WS_URL: "—",
  INFURA_PROJECT_ID: "—",
  INFURA_PROJECT_SECRET: "—",
  INFURA_NETWORK: "mainnet",
  PEXD_ETH_CACHE_TTL_MS: "2000",
  PEXD_ETH_CACHE_MAX_BYTES: "67108864",
  PEXD_ETH_FINALITY_DEPTH: "64",
  PEXD_ETH_TIMEOUT_MS: "10000",
  PEXD_RELAY_PORT: "0 (off)",
  PEXD_RELAY_TARGETS: "— (watcher off)",
  PEXD_API_TOKEN: "—",
  PEXD_RATE_LIMIT: "— (off)",
  PEXD_TRUSTED_PROXIES: "—",
  PEXD_ETH_METHODS_DENY: DEFAULT_METHODS_DENY,
  PEXD_ETH_METHODS_ALLOW: "— (eth_*, net_*, web3_*)",
  PEXD_ETH_MAX_BODY_BYTES: "5242880",
  PEXD_ETH_MAX_BATCH: "1000",
  PEXD_ETH_UPSTREAM_RATE: "— (off)",
  PEXD_ETH_MAX_UPSTREAM_SUBSCRIPTIONS: "1000",
  PEXD_WS_MAX_CONNECTIONS_PER_IP: "64",
  PEXD_RELAY_MAX_CONNECTIONS_PER_IP: "32",
  PEXD_SYNC: "normal",
  PEXD_DATABASE_URL: "— (SQLite in PEXD_DATA_DIR)",
  PEXD_REDIS_URL: "— (in-process cache and limits)",
};

const width = Math.max(...CONFIG_VARIABLES.map((v) => v.length));
const HELP = `pexd ${VERSION} — Fibonacci counter, widgets API, Ethereum gateway and block relay in one process

Usage:
  pexd                 run everything configured (HTTP on PEXD_HOST:PEXD_PORT)
  pexd relay-server    only the relay server: TCP on PEXD_RELAY_PORT + stats API and /metrics over HTTP
  pexd relay-client    only the block watcher: sends to PEXD_RELAY_TARGETS (HTTP: /health, /ready, /metrics)
  pexd health [URL]    exit 0 when GET URL (default http://127.0.0.1:PEXD_PORT/health) answers 200
                       within 2 s, else 1: for container health checks and scripts
  pexd --help          this text
  pexd --version       the version

Configuration is read from the environment (variable, default):
${CONFIG_VARIABLES.map((v) => `  ${v.padEnd(width)}  ${DEFAULTS[v]}`).join("\n")}
See docs/configuration.md for their meanings.
`;

const usageError = (message: string): never => {
  process.stderr.write(`pexd: ${message}\n\n${HELP}`);
  process.exit(64);
};

/** `pexd health [URL]`: one GET, 2 s at most; the exit status says whether it answered 200. */
async function health(url: string | undefined): Promise<never> {
  let target = url;
  if (!target) {
    const host = process.env.PEXD_HOST || "127.0.0.1";
    const local = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
    target = `http://${local}:${process.env.PEXD_PORT || "8081"}/health`;
  }
  try {
    const r = await fetch(target, { signal: AbortSignal.timeout(2000) });
    process.stdout.write(`${target}: ${r.status}\n`);
    process.exit(r.status === 200 ? 0 : 1);
  } catch (e) {
    process.stdout.write(`${target}: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
}

const [cmd, ...rest] = process.argv.slice(2);
if (cmd === "health") {
  if (rest.length > 1 || (rest[0] !== undefined && !/^https?:\/\//.test(rest[0]))) usageError("health takes at most one http(s) URL");
  await health(rest[0]);
} else if (rest.length) {
  usageError(`unexpected argument "${rest[0]}"`);
} else if (cmd === "--help" || cmd === "-h" || cmd === "help") {
  process.stdout.write(HELP);
} else if (cmd === "--version" || cmd === "-v") {
  process.stdout.write(`${VERSION}\n`);
} else if (cmd === undefined) {
  await run("all");
} else if (cmd !== "all" && cmd in ROLES) {
  await run(cmd as Role);
} else {
  usageError(`unknown command "${cmd}"`);
}
