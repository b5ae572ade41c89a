// The benchmark summary (bench/targets.ts): what a script records reaches the table of the run, each
// target is met, missed or not run by its own goal, and several runs combine into counts of misses.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { combinedTable, readRecords, record, recordBaseline, summaryTable, TARGETS } from "../bench/targets.ts";

const dir = mkdtempSync(join(tmpdir(), "pexd-targets-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const row = (markdown: string, id: string) => {
  const t = TARGETS.find((t) => t.id === id)!;
  return markdown.split("\n").find((l) => l.includes(`| ${t.what} |`))!;
};

test("records of a run reach its summary: met, missed and not run by each target's goal", () => {
  const file = join(dir, "run.jsonl");
  const before = process.env.PEXD_BENCH_RESULTS;
  process.env.PEXD_BENCH_RESULTS = file;
  try {
    record("current", 0.61, "one");
    record("idle-rss", 2.4);
    record("relay-delay-p99", 50); // "≤ 50 ms": the bound itself is met
    record("flood-fairness", 2); // "< 2×": the bound itself is missed
    recordBaseline("bare Bun.serve", 80_000, "req/s");
    expect(() => record("no-such-target", 1)).toThrow("no target");
  } finally {
    if (before === undefined) delete process.env.PEXD_BENCH_RESULTS;
    else process.env.PEXD_BENCH_RESULTS = before;
  }
  const { records, baselines } = readRecords(file);
  expect(records.map((r) => r.id)).toEqual(["current", "idle-rss", "relay-delay-p99", "flood-fairness"]);
  expect(baselines).toEqual([{ baseline: "bare Bun.serve", value: 80_000, unit: "req/s" }]);
  const s = summaryTable(records);
  expect([s.met, s.missed, s.notRun]).toEqual([2, 2, TARGETS.length - 4]);
  expect(row(s.markdown, "current")).toEndWith("| 0.61× (one) | met |");
  expect(row(s.markdown, "idle-rss")).toEndWith("| **missed** |");
  expect(row(s.markdown, "relay-delay-p99")).toEndWith("| met |");
  expect(row(s.markdown, "flood-fairness")).toEndWith("| **missed** |");
  expect(row(s.markdown, "eth-cached")).toContain("not run: eth-load");
  // A later record of the same target in one run replaces the earlier one.
  expect(summaryTable([...records, { id: "idle-rss", value: 1.2 }]).met).toBe(3);
});

test("several runs: each run's result, the median, and in how many runs a target was missed", () => {
  const t = combinedTable(
    [
      [
        { id: "current", value: 0.62 },
        { id: "eth-cached", value: 0.41 },
      ],
      [
        { id: "current", value: 0.58 },
        { id: "eth-cached", value: 0.45 },
      ],
      [{ id: "current", value: 0.63 }],
    ],
    ["a", "b", "c"],
  );
  expect(t.split("\n")[0]).toBe("| issue | target | goal | a | b | c | median | status |");
  expect(row(t, "current")).toEndWith("| 0.62× | 0.58× | 0.63× | 0.62× | **missed in 1 of 3** (median met) |");
  expect(row(t, "eth-cached")).toEndWith("| 0.41× | 0.45× | — | 0.43× | met in 2 of 2 |");
  expect(row(t, "idle-rss")).toEndWith("| — | — | — | — | not run |");
});
