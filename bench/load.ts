// HTTP load, one entry for every suite: wrk -t1 -c50 keep-alive against the real entry, each table
// next to a bare Bun.serve baseline measured in the same run (the machines are shared and noisy).
// Usage: bun run bench/load.ts [core] [widgets] [--data-dir DIR --widgets N] [--duration S] [--rounds R] [--cases a,b]
// With no suite named, all run. Suite-specific flags are read by the suites themselves.
import { coreLoad } from "./core-load.ts";
import { markdownTable } from "./lib.ts";
import { widgetsLoad } from "./widgets-load.ts";

export const SUITES: Record<string, () => Promise<Record<string, string | number>[]>> = {
  core: coreLoad,
  widgets: widgetsLoad,
};

export async function runLoad(names: string[]): Promise<{ suite: string; rows: Record<string, string | number>[] }[]> {
  const out = [];
  for (const suite of names) {
    const run = SUITES[suite];
    if (!run) throw new Error(`unknown suite ${suite} (have: ${Object.keys(SUITES).join(", ")})`);
    out.push({ suite, rows: await run() });
  }
  return out;
}

if (import.meta.main) {
  const asked = process.argv.slice(2).filter((a, i, all) => !a.startsWith("--") && !all[i - 1]?.startsWith("--"));
  for (const { suite, rows } of await runLoad(asked.length ? asked : Object.keys(SUITES))) {
    console.log(`\n### ${suite}\n\n${markdownTable(rows)}`);
  }
}
