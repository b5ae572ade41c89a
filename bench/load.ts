// HTTP load, one entry for every suite: wrk -t1 -c50 keep-alive against the real entry, each table
// next to a bare Bun.serve baseline measured in the same run (the machines are shared and noisy).
// Usage: bun run bench/load.ts [core] [widgets] [--data-dir DIR --widgets N [--skip-small]] [--duration S] [--rounds R] [--cases a,b]
// With no suite named, all run. The options are the suites' own (bench/core-load.ts, bench/widgets-load.ts),
// passed through to each suite that takes them; --duration and --rounds default to each suite's own.
import { parseCli } from "../scripts/lib/cli.ts";
import { CORE_OPTIONS, type CoreLoadOptions, coreLoad } from "./core-load.ts";
import { markdownTable } from "./lib.ts";
import { WIDGETS_OPTIONS, type WidgetsLoadOptions, widgetsLoad, widgetsOptionsFrom, widgetsOptionsProblem } from "./widgets-load.ts";

/** Options of every suite, by their command-line meaning; each suite reads the ones it has. */
export type SuiteOptions = CoreLoadOptions & WidgetsLoadOptions;

export const SUITES: Record<string, (opts?: SuiteOptions) => Promise<Record<string, string | number>[]>> = {
  core: coreLoad,
  widgets: widgetsLoad,
};

/**
 * The suites' command-line options merged (bench/run.ts takes them too): --duration and --rounds
 * without a default, so that each suite keeps its own when they are not given.
 */
export const SUITE_OPTIONS = {
  ...WIDGETS_OPTIONS,
  duration: { type: "number", integer: true, min: 1, arg: "S", help: "seconds per wrk run (default: each suite's own, 5)" },
  rounds: {
    type: "number",
    integer: true,
    min: 1,
    help: `rounds, median (default: each suite's own: core ${CORE_OPTIONS.rounds.default}, widgets ${WIDGETS_OPTIONS.rounds.default})`,
  },
} as const;

/** SuiteOptions from values parsed with SUITE_OPTIONS, or a usage problem for the suites named. */
export function suiteOptionsFrom(values: Parameters<typeof widgetsOptionsFrom>[0], names: string[]): SuiteOptions | string {
  const opts = widgetsOptionsFrom(values);
  const problem = names.includes("widgets") ? widgetsOptionsProblem(opts) : null;
  return problem ?? opts;
}

export async function runLoad(
  names: string[],
  opts: SuiteOptions = {},
): Promise<{ suite: string; rows: Record<string, string | number>[] }[]> {
  const out = [];
  for (const suite of names) {
    const run = SUITES[suite];
    if (!run) throw new Error(`unknown suite ${suite} (have: ${Object.keys(SUITES).join(", ")})`);
    out.push({ suite, rows: await run(opts) });
  }
  return out;
}

if (import.meta.main) {
  const { values, positionals, fail } = parseCli({
    usage: "bun run bench/load.ts [options] [SUITE…]",
    about: "The HTTP load suites (wrk -t1 -c50), each beside a bare Bun.serve baseline measured in the same run.",
    options: SUITE_OPTIONS,
    positionals: { name: "SUITE…", help: `suites to run: ${Object.keys(SUITES).join(", ")} (default: all)` },
    notes: "--data-dir, --widgets, --skip-small and --cases are the widgets suite's (bench/widgets-load.ts).",
  });
  const unknown = positionals.filter((s) => !Object.hasOwn(SUITES, s));
  if (unknown.length) fail(`unknown suite(s) ${unknown.join(", ")}; have: ${Object.keys(SUITES).join(", ")}`);
  const names = positionals.length ? positionals : Object.keys(SUITES);
  const opts = suiteOptionsFrom(values, names);
  if (typeof opts === "string") fail(opts);
  else for (const { suite, rows } of await runLoad(names, opts)) console.log(`\n### ${suite}\n\n${markdownTable(rows)}`);
}
