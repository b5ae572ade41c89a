// The Fibonacci counter as a PexdModule: its routes, the index and commit metrics, and a close hook
// that writes the index if it is not durable yet (PEXD_FIB_FLUSH_MS > 0).
import type { PexdModule } from "../module.ts";
import { registerFibRoutes } from "./fib.routes.ts";
import type { FibService } from "./fib.service.ts";

export function fibModule(fib: FibService): PexdModule {
  return {
    name: "fib",
    register(app, ctx) {
      registerFibRoutes(app, fib, ctx.mutating);
    },
    metrics: () => [
      { name: "pexd_fib_index", help: "Current index of the Fibonacci counter.", type: "gauge", samples: [{ value: fib.index }] },
      {
        name: "pexd_fib_commits_total",
        help: "Commits of the Fibonacci index to storage (one per group).",
        type: "counter",
        samples: [{ value: fib.commits }],
      },
    ],
    facts: () => ({ fib_index: fib.index }),
    close: () => fib.close(),
  };
}
