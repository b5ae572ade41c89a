// The cost of the per-request HTTP metrics, in process: no sockets, so none of the shared machine's
// network noise, and a smaller denominator than a served request (the ratio is pessimistic).
// GET /current through the real createApp with and without the metrics' request observer, at log
// level warn (the metrics pay for the clock reads and the route label alone) and info (the access
// line already pays for them; its lines go to a no-op sink here). Interleaved batches of 10,000
// requests in rotating order, medians of 15 rounds, beside an A/A control: single mitata samples of a
// whole request are dominated by GC pauses.
// The recording itself (one counter, one histogram observation) is measured with mitata.
import { bench, run } from "mitata";
import { createLogger } from "../src/log.ts";
import { HttpMetrics } from "../src/metrics/http.metrics.ts";
import { memoryApp } from "../test/helpers/app.ts";
import { parseCli } from "../scripts/lib/cli.ts";

parseCli({
  usage: "bun run bench/metrics.bench.ts [options]",
  about: "the cost of the per-request HTTP metrics, in process (GET /current with and without the observer)",
  options: {},
});

const metrics = new HttpMetrics();
const observeRequest = (m: string, r: string, s: number, sec: number) => metrics.record(m, r, s, sec);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

type App = Awaited<ReturnType<typeof memoryApp>>["app"];
async function batch(app: App, n: number): Promise<number> {
  const t = Bun.nanoseconds();
  for (let i = 0; i < n; i++) await (await app.fetch(new Request("http://pexd.local/current"))).text();
  return (Bun.nanoseconds() - t) / n;
}

console.log("GET /current in process (createApp.fetch), ns per request, median of 15 rounds of 10,000-request batches");
console.log("(order rotated each round; the A/A row compares two identical apps without metrics: the noise floor)");
console.log("| log level | metrics off | metrics on | added | on/off throughput | A/A control |");
console.log("| --- | --- | --- | --- | --- | --- |");
for (const level of ["warn", "info"] as const) {
  const log = createLogger(level, () => {});
  const apps: App[] = [
    (await memoryApp({}, {}, log)).app,
    (await memoryApp({}, { observeRequest }, log)).app,
    (await memoryApp({}, {}, log)).app,
  ];
  for (const app of apps) await batch(app, 20_000); // warm-up: JIT every path
  const ns: number[][] = [[], [], []];
  for (let r = 0; r < 15; r++) {
    for (let k = 0; k < 3; k++) {
      const i = (r + k) % 3;
      ns[i]!.push(await batch(apps[i]!, 10_000));
    }
  }
  const [off, on, control] = ns as [number[], number[], number[]];
  const ratio = median(off.map((x, i) => x / on[i]!));
  const aa = median(off.map((x, i) => x / control[i]!));
  const a = median(off);
  const b = median(on);
  console.log(`| ${level} | ${a.toFixed(0)} | ${b.toFixed(0)} | ${(b - a).toFixed(0)} | ${ratio.toFixed(3)}× | ${aa.toFixed(3)}× |`);
}
console.log("");

bench("HttpMetrics.record (one counter, one histogram observation)", () => metrics.record("GET", "/current", 200, 0.0004));
await run();
