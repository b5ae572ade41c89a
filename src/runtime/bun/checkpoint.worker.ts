// Runs WAL checkpoints on its own thread and connection, so the copy of WAL pages into the database
// file and its fsync never stall the event loop (they were the p99 of writes at 10M widgets).
import { Database } from "bun:sqlite";

declare const self: Worker;

interface Start {
  path: string;
  intervalMs: number;
}

/**
 * Between checkpoints while writes keep coming: soon enough that the WAL stays far below the
 * serving connection's backstop (50k relay frames/s write ~1,200 pages in 20 ms), yet not a
 * checkpoint (and its fsync) per millisecond.
 */
const BUSY_MS = 20;

let db: Database | null = null;
let timer: ReturnType<typeof setTimeout> | null = null;

self.onmessage = (e: MessageEvent<Start | "stop">) => {
  if (e.data === "stop") {
    if (timer) clearTimeout(timer);
    timer = null;
    db?.close();
    db = null;
    postMessage({ stopped: true });
    return;
  }
  const { path, intervalMs } = e.data;
  db = new Database(path, { strict: true });
  db.exec("PRAGMA busy_timeout = 1000");
  const checkpoint = db.prepare<{ busy: number; log: number; checkpointed: number }, []>("PRAGMA wal_checkpoint(PASSIVE)");
  let last = { log: 0, checkpointed: 0 };
  const tick = () => {
    let copied = false;
    try {
      const r = checkpoint.get();
      if (r && r.log > 0) {
        // New frames were copied since the last call (or the WAL restarted): go again after BUSY_MS. A
        // writer that fills the WAL faster than one checkpoint per interval would otherwise push it
        // past the serving connection's backstop, which then checkpoints on the event loop (a stall).
        copied = r.checkpointed !== last.checkpointed || r.log !== last.log;
        // Counts are of the current WAL: smaller ones mean it restarted from its beginning.
        const sameWal = r.log >= last.log && r.checkpointed >= last.checkpointed;
        const pages = sameWal ? r.checkpointed - last.checkpointed : r.checkpointed;
        last = { log: r.log, checkpointed: r.checkpointed };
        if (copied) postMessage({ pages, wal: r.log, busy: r.busy });
      }
    } catch (err) {
      postMessage({ error: String(err) });
    }
    if (db) timer = setTimeout(tick, copied ? Math.min(BUSY_MS, intervalMs) : intervalMs);
  };
  timer = setTimeout(tick, intervalMs);
};
