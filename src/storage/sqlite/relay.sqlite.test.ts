import { afterAll } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { asPort, openDatabase } from "../../runtime/bun/sqlite.ts";
import { relayStoreContract } from "../../../test/contracts/relay.contract.ts";
import type { RelayStore } from "../relay.port.ts";
import { SqliteRelayStore } from "./relay.sqlite.ts";

const dirs: string[] = [];
const open = new Map<RelayStore, { dir: string; dbs: Database[] }>();
afterAll(() => {
  for (const { dbs } of open.values()) for (const d of dbs) d.close(false);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function store(dir: string, groupCommit: boolean): RelayStore {
  const { db, path } = openDatabase(dir);
  const reader = new Database(path, { readonly: true, strict: true });
  const s = new SqliteRelayStore(asPort(db), { groupCommit, reader: asPort(reader) });
  open.set(s, { dir, dbs: [reader, db] });
  return s;
}

for (const groupCommit of [true, false]) {
  relayStoreContract(
    `sqlite (group commit ${groupCommit ? "on" : "off"})`,
    () => {
      const dir = mkdtempSync(join(tmpdir(), "pexd-relaystore-"));
      dirs.push(dir);
      return store(dir, groupCommit);
    },
    async (s) => {
      const { dir, dbs } = open.get(s)!;
      await s.close();
      for (const d of dbs) d.close();
      open.delete(s);
      return store(dir, groupCommit);
    },
  );
}
