import { Database } from "bun:sqlite";
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadMigrations, openDatabase } from "../../runtime/bun/sqlite.ts";
import { migrate } from "./db.ts";

test("migrations apply in order once, are recorded, and the database is in WAL", () => {
  const dir = mkdtempSync(join(tmpdir(), "pexd-mig-"));
  try {
    const first = openDatabase(join(dir, "nested", "data"));
    const names = loadMigrations().map((m) => m.name);
    expect(first.applied).toEqual(names);
    expect(first.db.prepare("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
    const recorded = first.db.prepare("SELECT name FROM schema_migrations ORDER BY name").all() as { name: string }[];
    expect(recorded.map((r) => r.name)).toEqual(names);
    first.db.close();
    const second = openDatabase(join(dir, "nested", "data"));
    expect(second.applied).toEqual([]);
    second.db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a failing migration rolls back and leaves earlier ones recorded", () => {
  const db = new Database(":memory:");
  const port = db;
  expect(() =>
    migrate(port, [
      { name: "0001_a.sql", sql: "CREATE TABLE a (x INTEGER);" },
      { name: "0002_b.sql", sql: "CREATE TABLE b (x INTEGER); THIS IS NOT SQL;" },
    ]),
  ).toThrow();
  expect(db.prepare("SELECT name FROM schema_migrations").all()).toEqual([{ name: "0001_a.sql" }]);
  expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'b'").all()).toEqual([]);
});
