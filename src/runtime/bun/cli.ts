#!/usr/bin/env bun
// Command line: `pexd` runs every configured role; `pexd relay-server` / `pexd relay-client` run one.
import { ROLES, type Role } from "../../compose.ts";
import { CONFIG_VARIABLES, DEFAULT_METHODS_DENY } from "../../config.ts";
import { run, VERSION } from "./serve.ts";

/** Defaults as in SPEC.md's configuration table ("—": unset). */
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
};

const width = Math.max(...CONFIG_VARIABLES.map((v) => v.length));
const HELP = `pexd ${VERSION} — Fibonacci counter, widgets API, Ethereum gateway and block relay in one process

Usage:
  pexd                 run everything configured (HTTP on PEXD_HOST:PEXD_PORT)
  pexd relay-server    only the relay server: TCP on PEXD_RELAY_PORT + stats API and /metrics over HTTP
  pexd relay-client    only the block watcher: sends to PEXD_RELAY_TARGETS (HTTP: /health, /ready, /metrics)
  pexd --help          this text
  pexd --version       the version

Configuration is read from the environment (variable, default):
${CONFIG_VARIABLES.map((v) => `  ${v.padEnd(width)}  ${DEFAULTS[v]}`).join("\n")}
See README.md for their meanings.
`;

const [cmd] = process.argv.slice(2);
if (cmd === "--help" || cmd === "-h" || cmd === "help") {
  process.stdout.write(HELP);
} else if (cmd === "--version" || cmd === "-v") {
  process.stdout.write(`${VERSION}\n`);
} else if (cmd === undefined) {
  await run("all");
} else if (cmd !== "all" && cmd in ROLES) {
  await run(cmd as Role);
} else {
  process.stderr.write(`pexd: unknown command "${cmd}"\n\n${HELP}`);
  process.exit(64);
}
