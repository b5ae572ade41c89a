// mitata: the cost of one Fibonacci step and of rendering the value, at small and large indexes,
// and of the start-up recomputation (fast doubling).
// Usage: bun run bench/fib.bench.ts [--json]
import { bench, group, run, summary } from "mitata";
import { parseCli } from "../scripts/lib/cli.ts";
import { fibPair } from "../src/fib/fib.math.ts";
import { FibService } from "../src/fib/fib.service.ts";
import { silentLogger } from "../src/log.ts";
import { MemoryFibStore } from "../src/storage/memory/fib.memory.ts";

const { values } = parseCli({
  usage: "bun run bench/fib.bench.ts [options]",
  about: "mitata: a Fibonacci step, rendering the value, and the start-up recomputation.",
  options: { json: { type: "boolean", help: "mitata's JSON output instead of its table" } },
});

class AtStore extends MemoryFibStore {
  constructor(readonly at: number) {
    super();
  }
  override async load() {
    return this.at;
  }
}

const small = await FibService.open(new AtStore(10), { flushMs: 60_000, log: silentLogger });
const large = await FibService.open(new AtStore(100_000), { flushMs: 60_000, log: silentLogger });

group("step (next+previous, value rendered)", () => {
  summary(() => {
    bench("index 10", async () => {
      await small.next();
      await small.previous();
    });
    bench("index 100,000", async () => {
      await large.next();
      await large.previous();
    });
  });
});
group("current() (value cached between changes)", () => {
  bench("index 10", () => small.current());
  bench("index 100,000", () => large.current());
});
group("start-up recomputation", () => {
  bench("fibPair(100,000)", () => fibPair(100_000));
  bench("fibPair(1,000,000)", () => fibPair(1_000_000));
});

await run({ format: values.json ? "json" : "mitata" });
await small.close();
await large.close();
