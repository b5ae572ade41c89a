// Every storage adapter against the same contract suites: memory, and SQLite with group commit on
// and off (a new adapter, e.g. PostgreSQL, proves itself by joining this list).
import { MemoryFibStore } from "../../src/storage/memory/fib.memory.ts";
import { MemoryRelayStore } from "../../src/storage/memory/relay.memory.ts";
import { MemoryWidgetStore } from "../../src/storage/memory/widget.memory.ts";
import type { FibStore, RelayStore, WidgetStore } from "../../src/storage/ports.ts";
import { SqliteFibStore } from "../../src/storage/sqlite/fib.sqlite.ts";
import { SqliteRelayStore } from "../../src/storage/sqlite/relay.sqlite.ts";
import { SqliteWidgetStore } from "../../src/storage/sqlite/widget.sqlite.ts";
import { tempDb, type TempDb } from "../helpers/sqlite.ts";
import { fibStoreContract } from "./fib.contract.ts";
import { relayStoreContract } from "./relay.contract.ts";
import { widgetStoreContract } from "./widget.contract.ts";

fibStoreContract("memory", { make: () => new MemoryFibStore() });
widgetStoreContract("memory", { make: () => new MemoryWidgetStore() });
relayStoreContract("memory", { make: () => new MemoryRelayStore() });

/** The database behind each SQLite store, so reopen() can restart it. */
const dbOf = new WeakMap<object, TempDb>();
const track = <T extends object>(store: T, db: TempDb): T => {
  dbOf.set(store, db);
  return store;
};

fibStoreContract("sqlite", {
  make: () => {
    const t = tempDb();
    return track(new SqliteFibStore(t.db), t);
  },
  reopen: async (s: FibStore) => {
    const t = dbOf.get(s)!.reopen();
    return track(new SqliteFibStore(t.db), t);
  },
});

for (const groupCommit of [true, false]) {
  const widgets = (t: TempDb) => track(new SqliteWidgetStore(t.db, { groupCommit, reader: t.reader() }), t);
  widgetStoreContract(`sqlite (group commit ${groupCommit ? "on" : "off"})`, {
    make: () => widgets(tempDb()),
    reopen: async (s: WidgetStore) => {
      await s.close();
      return widgets(dbOf.get(s)!.reopen());
    },
  });
  const relay = (t: TempDb) => track(new SqliteRelayStore(t.db, { groupCommit, reader: t.reader() }), t);
  relayStoreContract(`sqlite (group commit ${groupCommit ? "on" : "off"})`, {
    make: () => relay(tempDb()),
    reopen: async (s: RelayStore) => {
      await s.close();
      return relay(dbOf.get(s)!.reopen());
    },
  });
}
