#!/usr/bin/env bun
// Command line: `pexd` runs every configured role; later issues add single roles.
import { CONFIG_VARIABLES } from "../../config.ts";
import { main, VERSION } from "./main.ts";

const HELP = `pexd ${VERSION} — Fibonacci counter, widgets API, Ethereum gateway and block relay in one process

Usage:
  pexd                 run everything configured (HTTP on PEXD_HOST:PEXD_PORT)
  pexd --help          this text
  pexd --version       the version

Configuration is read from the environment:
${CONFIG_VARIABLES.map((v) => `  ${v}`).join("\n")}
See README.md for defaults and meanings.
`;

const [cmd] = process.argv.slice(2);
if (cmd === "--help" || cmd === "-h" || cmd === "help") {
  process.stdout.write(HELP);
} else if (cmd === "--version" || cmd === "-v") {
  process.stdout.write(`${VERSION}\n`);
} else if (cmd === undefined) {
  await main();
} else {
  process.stderr.write(`pexd: unknown command "${cmd}"\n\n${HELP}`);
  process.exit(64);
}
