// Strict command lines in every runnable script (issue 16, item 7): `--help` prints a usage naming the
// script on stdout and exits 0, an unknown option prints the error (naming it) and the usage on stderr
// and exits 64 (EX_USAGE), both at once: nothing is started. The entry points are every bench/*.ts and
// scripts/*.ts (top level; scripts/lib/ and scripts/torture/ are libraries and children) minus the
// lists below, so a new script is held to the rule from its first commit: it complies (most simply
// with scripts/lib/cli.ts) or it goes on a list with its reason.
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseCliArgs, usageText } from "../scripts/lib/cli.ts";
import { ROOT } from "./helpers/pexd.ts";

/** Not entry points: libraries, and children whose starter passes no options (never run on their own). */
const NOT_ENTRY_POINTS: Record<string, string> = {
  "bench/lib.ts": "library: the baseline, pexd and wrk helpers of the benchmarks",
  "bench/report.ts": "library: bench/run.ts's markdown and SVG rendering",
  "bench/targets.ts": "library: every benchmark target, the records of a run and the summary table",
  "bench/baseline.ts": "child of bench/lib.ts startBaseline(): takes nothing, prints its port",
  "bench/ws-echo.ts": "child of bench/ws-load.ts: takes nothing, prints its port",
  "bench/relay-echo.ts": "child of bench/relay-load.ts: takes nothing, prints its port",
};

/**
 * Entry points that do not comply yet. They are NOT run here: their `--help` runs the benchmark.
 * Convert them (scripts/lib/cli.ts) and take them off this list.
 */
const PENDING: Record<string, string> = {};

const BAD = "--definitely-not-an-option";
/** EX_USAGE of sysexits.h: the contract, written out (not imported from the helper under test). */
const EX_USAGE = 64;
/** A script that starts nothing answers in well under a second; this is for a machine under load. */
const DEADLINE_MS = 10_000;
const CONCURRENCY = 4;

function entryPoints(): string[] {
  return ["bench", "scripts"]
    .flatMap((dir) =>
      readdirSync(join(ROOT, dir), { withFileTypes: true })
        .filter((e) => e.isFile() && e.name.endsWith(".ts") && !e.name.endsWith(".d.ts"))
        .map((e) => `${dir}/${e.name}`),
    )
    .filter((f) => !(f in NOT_ENTRY_POINTS) && !(f in PENDING))
    .sort();
}

/** package.json script names that run a file (`bun run db:seed` names scripts/seed.ts). */
function aliases(file: string): string[] {
  const scripts = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;
  return Object.entries(scripts)
    .filter(([, cmd]) => cmd.split(/\s+/).includes(file))
    .map(([name]) => name);
}

interface Ran {
  code: number | null;
  out: string;
  err: string;
  ms: number;
  timedOut: boolean;
}

/** Runs `bun file ...args` from the repository root with a bare environment; its process group is killed at the deadline. */
async function run(file: string, args: string[]): Promise<Ran> {
  const t0 = performance.now();
  const env: Record<string, string> = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", NO_COLOR: "1" };
  if (process.env.TMPDIR) env.TMPDIR = process.env.TMPDIR;
  const proc = Bun.spawn([process.execPath, join(ROOT, file), ...args], {
    cwd: ROOT,
    env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    // Its own process group: if it did start something, the kill below takes its children too.
    detached: true,
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-proc.pid, "SIGKILL");
    } catch {
      proc.kill("SIGKILL");
    }
  }, DEADLINE_MS);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, out, err, ms: Math.round(performance.now() - t0), timedOut };
}

/** Runs the jobs CONCURRENCY at a time (each bun start is a few hundred ms; the machine is shared). */
async function pool<T>(jobs: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, jobs.length) }, worker));
  return results;
}

const describeRun = (r: Ran) =>
  `exit ${r.code} after ${r.ms} ms${r.timedOut ? " (killed: still running)" : ""}\n--- stdout\n${r.out.slice(0, 600)}\n--- stderr\n${r.err.slice(0, 600)}`;

describe("the lists of exceptions", () => {
  test("name files that exist (a stale entry would hide nothing, but misleads)", () => {
    for (const f of [...Object.keys(NOT_ENTRY_POINTS), ...Object.keys(PENDING)])
      expect({ f, exists: existsSync(join(ROOT, f)) }).toEqual({ f, exists: true });
  });
  test("the entry points found include the known ones", () => {
    const found = entryPoints();
    for (const f of ["bench/run.ts", "bench/load.ts", "bench/relay-senders.ts", "scripts/dev.ts", "scripts/torture.ts"])
      expect(found).toContain(f);
  });
});

describe("every entry point of bench/ and scripts/", () => {
  const files = entryPoints();
  const help = new Map<string, Ran>();
  const bad = new Map<string, Ran>();

  beforeAll(async () => {
    const jobs = files.flatMap((f) => [async () => help.set(f, await run(f, ["--help"])), async () => bad.set(f, await run(f, [BAD]))]);
    await pool(jobs);
  }, 180_000);

  for (const file of files) {
    test(`${file} --help: usage naming it on stdout, exit 0, nothing started`, () => {
      const r = help.get(file)!;
      const names = [file, ...aliases(file)];
      const ok = !r.timedOut && r.code === 0 && /usage/i.test(r.out) && names.some((n) => r.out.includes(n));
      if (!ok) throw new Error(`${file} --help: want exit 0 and a usage naming ${names.join(" or ")} on stdout; got ${describeRun(r)}`);
    });
    test(`${file} ${BAD}: the error and the usage on stderr, exit ${EX_USAGE}`, () => {
      const r = bad.get(file)!;
      const ok = !r.timedOut && r.code === EX_USAGE && r.err.includes(BAD) && /usage/i.test(r.err);
      if (!ok) throw new Error(`${file} ${BAD}: want exit ${EX_USAGE} and the error naming the option on stderr; got ${describeRun(r)}`);
    });
  }
});

describe("child-process and suite contracts", () => {
  test("bench/relay-senders.ts takes bench/relay-load.ts's positional arguments (0 senders: connects nowhere)", async () => {
    const r = await run("bench/relay-senders.ts", ["127.0.0.1", "9", "0", "0", "echo", "0", "5"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out.trim())).toMatchObject({ frames: 0 });
    const wrong = await run("bench/relay-senders.ts", ["127.0.0.1", "9", "0", "0", "sideways"]);
    expect(wrong.code).toBe(EX_USAGE);
    expect(wrong.err).toContain("MODE");
  });

  test("bench/load.ts refuses an unknown suite before running any", async () => {
    const r = await run("bench/load.ts", ["core", "nosuch"]);
    expect(r.code).toBe(EX_USAGE);
    expect(r.err).toContain("nosuch");
  });
});

describe("scripts/lib/cli.ts", () => {
  const spec = {
    usage: "bun run bench/x.ts [options] [NAME…]",
    about: "A test script.",
    options: {
      duration: { type: "number", integer: true, min: 1, default: 5, arg: "S", help: "seconds per run" },
      ratio: { type: "number", help: "a fraction" },
      offset: { type: "number", min: Number.NEGATIVE_INFINITY, help: "may be negative" },
      only: { type: "string", arg: "LIST", help: "cases" },
      json: { type: "boolean", help: "JSON output" },
    },
    positionals: { name: "NAME…", help: "names", max: 2 },
  } as const;
  const parse = (...argv: string[]) => parseCliArgs(spec, argv);
  const error = (...argv: string[]) => {
    const r = parse(...argv);
    return r.kind === "error" ? r.message : `not an error: ${JSON.stringify(r)}`;
  };

  test("typed values, defaults, both --name value and --name=value", () => {
    expect(parse()).toEqual({
      kind: "ok",
      values: { duration: 5, ratio: undefined, offset: undefined, only: undefined, json: false },
      positionals: [],
    });
    expect(parse("--duration", "7", "--ratio=0.25", "--offset=-3", "--only", "a,b", "--json", "n1")).toEqual({
      kind: "ok",
      values: { duration: 7, ratio: 0.25, offset: -3, only: "a,b", json: true },
      positionals: ["n1"],
    });
  });

  test("--help and -h: the usage text, even beside a bad value", () => {
    for (const argv of [["--help"], ["-h"], ["--duration", "abc", "--help"]])
      expect(parse(...argv)).toEqual({ kind: "help", text: usageText(spec) });
  });

  test("refused: unknown options, missing or empty values, wrong types, out of range, too many arguments", () => {
    expect(error("--nope")).toContain("--nope");
    expect(error("-x")).toContain("-x");
    expect(error("--duration")).toContain("--duration");
    expect(error("--only=")).toContain("--only needs a value");
    expect(error("--duration", "abc")).toContain("not a number");
    expect(error("--duration", "5s")).toContain("not a number");
    expect(error("--duration", "0x10")).toContain("not a number");
    expect(error("--duration", "1.5")).toContain("not a whole number");
    expect(error("--duration", "0")).toContain("at least 1");
    expect(error("--duration", "-5")).toContain("--duration"); // a dash value needs --duration=-5
    expect(error("--duration=-5")).toContain("at least 1");
    expect(error("--ratio=-0.5")).toContain("at least 0"); // no negatives unless the spec says so
    expect(error("--ratio", "Infinity")).toContain("not a number");
    expect(error("--json=yes")).toContain("--json");
    expect(error("a", "b", "c")).toContain("at most 2");
  });

  test("positionals are refused unless the spec names them", () => {
    const r = parseCliArgs({ usage: "u", about: "a", options: {} }, ["extra"]);
    expect(r.kind).toBe("error");
  });

  test("the usage lists every option with its default, the arguments and --help", () => {
    const text = usageText(spec);
    expect(text.startsWith("usage: bun run bench/x.ts")).toBe(true);
    expect(text).toMatch(/--duration S\s+seconds per run \(default 5\)/);
    expect(text).toMatch(/--only LIST\s+cases$/m);
    expect(text).toMatch(/NAME…\s+names/);
    expect(text).toMatch(/-h, --help\s+this text/);
  });
});
