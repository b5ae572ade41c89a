// Runs WAL checkpoints on its own thread and connection, so the copy of WAL pages into the database
// file and its fsync never stall the event loop (they were the p99 of writes at 10M widgets).
import { Database } from "bun:sqlite";

declare const self: Worker;

interface Start {
  path: string;
  intervalMs: number;
}

let db: Database | null = null;
let timer: ReturnType<typeof setInterval> | null = null;

self.onmessage = (e: MessageEvent<Start | "stop">) => {
  if (e.data === "stop") {
    if (timer) clearInterval(timer);
    db?.close();
    db = null;
    postMessage({ stopped: true });
    return;
  }
  const { path, intervalMs } = e.data;
  db = new Database(path, { strict: true });
  db.exec("PRAGMA busy_timeout = 1000");
  const checkpoint = db.prepare<{ busy: number; log: number; checkpointed: number }, []>("PRAGMA wal_checkpoint(PASSIVE)");
  timer = setInterval(() => {
    try {
      const r = checkpoint.get();
      if (r && r.log > 0) postMessage({ pages: r.checkpointed, wal: r.log, busy: r.busy });
    } catch (err) {
      postMessage({ error: String(err) });
    }
  }, intervalMs);
};
