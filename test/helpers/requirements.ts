// What some tests need from the machine (a browser, promtool, root, a container runtime, database
// servers), and the one rule for when it is missing: the test FAILS with the command that installs
// it — `make test` installs all of it on Debian or Ubuntu as root — unless the user opted out by
// name with PEXD_TEST_SKIP (comma-separated names, or `all`), in which case those tests are skipped
// and the run's summary says so (scripts/test.sh).
import { existsSync } from "node:fs";
import { spawnSync } from "node:child_process";

export interface Requirement {
  /** What the tests use it for (the summary line). */
  what: string;
  /** Whether this machine has it. */
  present(): boolean;
  /** How to get it. */
  install: string;
}

const which = (bin: string) => Bun.which(bin) ?? Bun.which(bin, { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" });

export const REQUIREMENTS = {
  root: {
    what: "tests that mount a tmpfs, boot systemd in a container or start servers as their own users",
    present: () => process.getuid?.() === 0,
    install: "run the tests as root (sudo make test)",
  },
  chromium: {
    what: "the dashboard driven by headless Chromium",
    present: () => existsSync("/usr/bin/chromium"),
    install: "apt-get install -y chromium",
  },
  promtool: {
    what: "the metrics exposition and the Grafana queries checked by Prometheus' promtool",
    present: () => which("promtool") !== null,
    install: "apt-get install -y prometheus",
  },
  "prometheus-client": {
    what: "/metrics parsed by the Prometheus Python client",
    present: () => spawnSync("/usr/bin/python3", ["-c", "import prometheus_client"]).status === 0,
    install: "apt-get install -y python3-prometheus-client",
  },
  systemd: {
    what: "the unit checked by systemd-analyze and `make all` under a real systemd (systemd-nspawn)",
    present: () => ["systemd-analyze", "systemd-nspawn", "debootstrap"].every((b) => which(b) !== null),
    install: "apt-get install -y systemd systemd-container debootstrap",
  },
  postgres: {
    what: "the PostgreSQL adapters and scale-out against a real PostgreSQL server",
    present: () => existsSync("/usr/lib/postgresql"),
    install: "apt-get install -y postgresql",
  },
  redis: {
    what: "the shared cache and rate limits against a real Redis server",
    present: () => which("redis-server") !== null,
    install: "apt-get install -y redis-server",
  },
  nginx: {
    what: "two instances behind the shipped nginx configuration",
    present: () => which("nginx") !== null,
    install: "apt-get install -y nginx",
  },
} satisfies Record<string, Requirement>;

export type RequirementName = keyof typeof REQUIREMENTS;

/** The names in PEXD_TEST_SKIP (`all` opts out of every requirement). */
export function optedOut(env: Record<string, string | undefined> = process.env): Set<string> {
  const names = (env.PEXD_TEST_SKIP ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  return new Set(names.includes("all") ? Object.keys(REQUIREMENTS) : names);
}

/** True when tests needing `names` must be skipped: the user opted out of one of them. */
export function skipping(...names: RequirementName[]): boolean {
  const out = optedOut();
  return names.some((n) => out.has(n));
}

/**
 * Throws (failing the tests that call it, typically in beforeAll) when one of `names` is missing and
 * the user did not opt out: the message names the install command and the opt-out.
 */
export function need(...names: RequirementName[]): void {
  const missing = names.filter((n) => !REQUIREMENTS[n].present());
  if (!missing.length) return;
  throw new Error(
    missing.map((n) => `${n} is missing (${REQUIREMENTS[n].what}): ${REQUIREMENTS[n].install}`).join("\n") +
      `\n\`make test\` installs it as root; to skip these tests instead: PEXD_TEST_SKIP=${missing.join(",")}`,
  );
}

/** Names PEXD_TEST_SKIP holds that are not requirements (a typo would silently skip nothing). */
export function unknownOptOuts(env: Record<string, string | undefined> = process.env): string[] {
  return [...optedOut(env)].filter((n) => !(n in REQUIREMENTS));
}
