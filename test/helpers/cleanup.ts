// Last-resort cleanup of what the test helpers start and create (processes, servers, temporary
// directories), run once: after every test of the run (test/setup.ts, preloaded by bunfig.toml: a
// global afterAll, since `bun test` does not emit the process's "exit" event) or at exit when the
// helpers are used outside `bun test` (benchmarks, the torture campaign).
const tasks: (() => void)[] = [];
let ran = false;

/** Registers `fn` to run once at the end (synchronous; errors ignored). */
export function onCleanup(fn: () => void): void {
  tasks.push(fn);
}

export function runCleanup(): void {
  if (ran) return;
  ran = true;
  for (const fn of tasks.splice(0)) {
    try {
      fn();
    } catch {
      /* best effort */
    }
  }
}

process.on("exit", runCleanup);
