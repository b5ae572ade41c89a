// bun:sqlite: opening the database file with its pragmas, and the migrations from db/sqlite/.
import { Database } from "bun:sqlite";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { migrate, type Migration, type SqliteDatabase } from "../../storage/sqlite/db.ts";

export const MIGRATIONS_DIR = resolve(import.meta.dir, "../../../db/sqlite");

export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f))
    .sort()
    .map((name) => ({ name, sql: readFileSync(join(dir, name), "utf8") }));
}

export interface OpenOptions {
  /** Durability of a commit: NORMAL survives a process crash (SIGKILL), FULL also a power loss. */
  synchronous?: "NORMAL" | "FULL";
  migrations?: Migration[];
}

export function openDatabase(
  dataDir: string,
  file = "pexd.sqlite",
  opts: OpenOptions = {},
): { db: Database; path: string; applied: string[] } {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, file);
  const db = new Database(path, { create: true, strict: true });
  db.exec("PRAGMA journal_mode = WAL");
  db.exec(`PRAGMA synchronous = ${opts.synchronous ?? "NORMAL"}`);
  db.exec("PRAGMA busy_timeout = 5000");
  db.exec("PRAGMA foreign_keys = ON");
  db.exec("PRAGMA temp_store = MEMORY");
  db.exec("PRAGMA cache_size = -65536"); // 64 MiB page cache
  db.exec("PRAGMA mmap_size = 268435456"); // 256 MiB of reads through mmap
  const applied = migrate(db as unknown as SqliteDatabase, opts.migrations ?? loadMigrations());
  return { db, path, applied };
}

export const asPort = (db: Database): SqliteDatabase => db as unknown as SqliteDatabase;
