// Background WAL checkpoints (a Worker with its own connection). The serving connection keeps a
// large auto-checkpoint threshold only as a backstop should the worker fall behind or die.
import type { Database } from "bun:sqlite";
import type { Logger } from "../../log.ts";

/** The serving connection checkpoints by itself only past this many WAL pages (64 MiB). */
export const BACKSTOP_PAGES = 16384;

export interface Checkpointer {
  /** Pages copied back into the database file so far (observability). */
  readonly pages: number;
  stop(): Promise<void>;
}

export function startCheckpointer(db: Database, path: string, log: Logger, intervalMs = 200): Checkpointer {
  db.exec(`PRAGMA wal_autocheckpoint = ${BACKSTOP_PAGES}`);
  const worker = new Worker(new URL("./checkpoint.worker.ts", import.meta.url).href);
  let pages = 0;
  let stopped: (() => void) | null = null;
  worker.onmessage = (e: MessageEvent<{ pages?: number; error?: string; stopped?: boolean }>) => {
    if (e.data.stopped) return stopped?.();
    if (e.data.error) log.limited("checkpoint", "warn", "background checkpoint failed", { error: e.data.error });
    if (e.data.pages) pages += e.data.pages;
  };
  worker.onerror = (e) => log.error("checkpoint worker failed", { error: e.message });
  (worker as { unref?: () => void }).unref?.();
  worker.postMessage({ path, intervalMs });
  return {
    get pages() {
      return pages;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        const done = () => {
          worker.terminate();
          resolve();
        };
        // Keep the process alive until the worker has closed its connection (it is unref'd).
        const t = setTimeout(done, 1000);
        stopped = () => {
          clearTimeout(t);
          done();
        };
        worker.postMessage("stop");
      }),
  };
}
