// bun:sqlite: the database file with its pragmas, the migrations of db/sqlite/ (embedded: see
// migrations.ts), background checkpoints, and the stores on top (src/storage/sqlite/sqlite.stores.ts).
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { StorageOpenError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import type { Stores } from "../../storage/ports.ts";
import { migrate, type Migration } from "../../storage/sqlite/db.ts";
import { sqliteStores } from "../../storage/sqlite/sqlite.stores.ts";
import { startCheckpointer } from "./checkpointer.ts";
import { claimDataDir, DataDirHeld } from "./data-dir.ts";
import { readMigrationDir, SQLITE_MIGRATIONS } from "./migrations.ts";

/** The source tree's migrations directory (tests and tools; the service applies the embedded list). */
export const MIGRATIONS_DIR = resolve(import.meta.dir, "../../../db/sqlite");
export const DATABASE_FILE = "pexd.sqlite";

/** The migrations of db/sqlite/ embedded at build time; with `dir`, the files of that directory instead. */
export function loadMigrations(dir?: string): Migration[] {
  return dir === undefined ? SQLITE_MIGRATIONS.map((m) => ({ ...m })) : readMigrationDir(dir);
}

export interface OpenOptions {
  /** Durability of a commit: NORMAL survives a process crash (SIGKILL), FULL also a power loss. */
  synchronous?: "NORMAL" | "FULL";
  migrations?: Migration[];
}

export function openDatabase(dataDir: string, opts: OpenOptions = {}): { db: Database; path: string; applied: string[] } {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, DATABASE_FILE);
  const db = new Database(path, { create: true, strict: true });
  db.exec("PRAGMA journal_mode = WAL");
  db.exec(`PRAGMA synchronous = ${opts.synchronous ?? "NORMAL"}`);
  db.exec("PRAGMA busy_timeout = 5000");
  db.exec("PRAGMA foreign_keys = ON");
  db.exec("PRAGMA temp_store = MEMORY");
  db.exec("PRAGMA cache_size = -65536"); // 64 MiB page cache
  db.exec("PRAGMA mmap_size = 268435456"); // 256 MiB of reads through mmap
  const applied = migrate(db, opts.migrations ?? loadMigrations());
  return { db, path, applied };
}

/** Every store on $PEXD_DATA_DIR/pexd.sqlite; a directory or file that cannot be used is a StorageOpenError. */
export async function openSqliteStores(dataDir: string, log: Logger, opts: OpenOptions = {}): Promise<Stores> {
  let opened: ReturnType<typeof openDatabase>;
  let release: () => void = () => {};
  try {
    mkdirSync(dataDir, { recursive: true });
    release = claimDataDir(dataDir);
    opened = openDatabase(dataDir, opts);
  } catch (e) {
    release();
    if (e instanceof DataDirHeld) throw new StorageOpenError(e.message);
    const reason = e instanceof Error ? e.message : String(e);
    const hint = /not a database|malformed|corrupt/i.test(reason)
      ? "the file is not a usable SQLite database: restore it from a backup or move it away"
      : "check that PEXD_DATA_DIR is a directory the service user can write";
    throw new StorageOpenError(`cannot open the database in PEXD_DATA_DIR=${dataDir}: ${reason} (${hint})`);
  }
  const { db, path, applied } = opened;
  if (applied.length) log.info("migrations applied", { applied });
  // WAL checkpoints run off the serving thread.
  const checkpointer = startCheckpointer(db, path, log);
  const stores = sqliteStores({
    writer: db,
    location: path,
    openReader: (purpose) => {
      const reader = new Database(path, { readonly: true, strict: true });
      if (purpose === "widgets") {
        reader.exec("PRAGMA cache_size = -65536");
        // Map the whole file (SQLite caps this at its compile-time limit, 2 GiB by default): random
        // lookups over 10M widgets went from ~15 to ~10 µs with the file mapped instead of read().
        reader.exec("PRAGMA mmap_size = 8589934592");
      }
      return reader;
    },
    closeWriter: async () => {
      await checkpointer.stop();
      try {
        db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      } catch {
        /* a full or read-only disk: the WAL stays, and is replayed at the next start */
      }
      db.close();
      release();
    },
  });
  // A database that opens but cannot be written (a read-only file or mount: SQLite then opens it
  // read-only without a word) is refused now, not at the first client's write.
  try {
    await stores.probeWrite();
  } catch (e) {
    await stores.close().catch(() => {});
    throw new StorageOpenError(
      `the database in PEXD_DATA_DIR=${dataDir} cannot be written: ${e instanceof Error ? e.message : String(e)} (check that the file and its directory are writable by the service user and the disk is not full or mounted read-only)`,
    );
  }
  return stores;
}
