// Throwaway SQLite databases for store tests: a fresh data directory per call (migrations applied),
// every handle closed and every directory removed after the file's tests.
import { Database } from "bun:sqlite";
import { afterAll } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../src/runtime/bun/sqlite.ts";

const dirs: string[] = [];
const handles = new Set<Database>();
afterAll(() => {
  for (const h of handles) h.close(false);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

export interface TempDb {
  dir: string;
  path: string;
  db: Database;
  /** Another read-only connection to the same file. */
  reader(): Database;
  /** Closes every connection of this database and opens the writer again (a restart). */
  reopen(): TempDb;
}

function open(dir: string): TempDb {
  const { db, path } = openDatabase(dir);
  handles.add(db);
  const own: Database[] = [db];
  return {
    dir,
    path,
    db,
    reader: () => {
      const r = new Database(path, { readonly: true, strict: true });
      handles.add(r);
      own.push(r);
      return r;
    },
    reopen: () => {
      for (const h of own) {
        h.close(false);
        handles.delete(h);
      }
      return open(dir);
    },
  };
}

export function tempDb(prefix = "pexd-test-db-"): TempDb {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return open(dir);
}
