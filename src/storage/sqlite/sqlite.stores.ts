// Every store on one SQLite database: one writer connection whose write transaction they share
// (group commit, see committer.ts) and read-only connections so reads never see a change before its
// COMMIT. The runtime opens the handles (bun:sqlite in src/runtime/bun/sqlite.ts) and hands them in.
import type { Stores } from "../ports.ts";
import { SqliteCommitter } from "./committer.ts";
import type { SqliteDatabase } from "./db.ts";
import { SqliteFibStore } from "./fib.sqlite.ts";
import { SqliteRelayStore } from "./relay.sqlite.ts";
import { SqliteWidgetStore } from "./widget.sqlite.ts";

export interface SqliteHandles {
  /** The writer connection (WAL, migrations applied). */
  writer: SqliteDatabase;
  /** Opens another read-only connection to the same file. */
  openReader(purpose: "widgets" | "relay"): SqliteDatabase;
  /** The database file (for logs). */
  location: string;
  /** Runs after the stores flushed: checkpoints and closes the writer (the runtime's part). */
  closeWriter(): Promise<void>;
}

/** While writes fail, /ready tries one probe write at most this often. */
export const PROBE_EVERY_MS = 1000;

export function sqliteStores(h: SqliteHandles): Stores & { probeWrite(): Promise<void> } {
  const committer = new SqliteCommitter(h.writer);
  const probe = h.writer.prepare("UPDATE storage_probe SET at = ? WHERE id = 1");
  const probeWrite = () => committer.runNow(() => probe.run(new Date().toISOString()));
  let lastProbe = 0;
  // Separate readers: the widget store keeps a read snapshot open for one event-loop turn.
  const widgetReader = h.openReader("widgets");
  const relayReader = h.openReader("relay");
  const ping = h.writer.prepare("SELECT 1");
  const relay = new SqliteRelayStore(h.writer, { reader: relayReader, committer });
  const widgets = new SqliteWidgetStore(h.writer, { reader: widgetReader, committer });
  return {
    fib: new SqliteFibStore(h.writer, committer),
    widgets,
    relay,
    location: h.location,
    probeWrite,
    // Known health: the last write refused stays the answer until a write succeeds: a client's, or
    // this probe's — tried at most once a second, and only when no client write was refused in the
    // last second (a nearly full disk may take the probe's one row while clients' writes fail).
    check: async () => {
      const now = Date.now();
      if (committer.fault && now - committer.faultAt >= PROBE_EVERY_MS && now - lastProbe >= PROBE_EVERY_MS) {
        lastProbe = now;
        await probeWrite().catch(() => {});
      }
      if (committer.fault) throw new Error(committer.fault.message);
      ping.get();
    },
    close: async () => {
      await widgets.close();
      await relay.close();
      committer.flush();
      widgetReader.close();
      relayReader.close();
      await h.closeWriter();
    },
  };
}
