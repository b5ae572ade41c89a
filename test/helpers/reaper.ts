// Throwaway servers the test helpers start (nginx, redis-server …) die with the test process, even
// when a test fails before its afterAll: every tracked child is killed on exit.
import { onCleanup } from "./cleanup.ts";

const live = new Set<ReturnType<typeof Bun.spawn>>();
onCleanup(() => {
  for (const p of live) {
    try {
      p.kill("SIGKILL");
    } catch {}
  }
});

/** Kills `proc` when this process exits; returns a function that stops tracking it. */
export function reapOnExit(proc: ReturnType<typeof Bun.spawn>): () => void {
  live.add(proc);
  return () => live.delete(proc);
}
