// What the SQLite widgets adapter adds to the shared contract (test/contracts): the schema itself
// enforces the invariants, reads never see an uncommitted change, one commit per turn, no table scans.
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadMigrations, openDatabase } from "../../runtime/bun/sqlite.ts";
import { FOREIGN_KEYS_OFF, migrate } from "./db.ts";
import { SqliteWidgetStore } from "./widget.sqlite.ts";

const dirs: string[] = [];
const dbs: Database[] = [];
afterAll(() => {
  for (const d of dbs) d.close(false);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function fresh(groupCommit: boolean) {
  const dir = mkdtempSync(join(tmpdir(), "pexd-test-widgets-"));
  dirs.push(dir);
  const { db, path } = openDatabase(dir);
  const reader = new Database(path, { readonly: true, strict: true });
  dbs.push(reader, db);
  return { store: new SqliteWidgetStore(db, { groupCommit, reader }), db };
}

describe("SQLite widgets schema", () => {
  test("the database itself refuses a one-sided association, a second one per pair and port, and a 4th slot", () => {
    const { db } = fresh(true);
    db.exec("INSERT INTO widgets (id, serial_number, name) VALUES (1,'a','A'),(2,'b','B'),(3,'c','C')");
    db.exec("INSERT INTO widget_slots (widget_id, ordinal, port) VALUES (1,0,'P'),(1,1,'P'),(2,0,'P'),(3,0,'P')");
    expect(() => db.exec("BEGIN; UPDATE widget_slots SET partner_id = 2 WHERE widget_id = 1 AND ordinal = 0; COMMIT")).toThrow(
      /FOREIGN KEY/,
    );
    db.exec("ROLLBACK");
    db.exec(
      "BEGIN; UPDATE widget_slots SET partner_id = 2 WHERE widget_id = 1 AND ordinal = 0; UPDATE widget_slots SET partner_id = 1 WHERE widget_id = 2; COMMIT",
    );
    expect(() => db.exec("UPDATE widget_slots SET partner_id = 2 WHERE widget_id = 1 AND ordinal = 1")).toThrow(/UNIQUE/);
    expect(() => db.exec("INSERT INTO widget_slots (widget_id, ordinal, port) VALUES (3, 3, 'P')")).toThrow(/CHECK/);
    expect(() => db.exec("INSERT INTO widget_slots (widget_id, ordinal, port) VALUES (3, 1, 'X')")).toThrow(/CHECK/);
    expect(() => db.exec("UPDATE widget_slots SET partner_id = 3 WHERE widget_id = 3")).toThrow(/CHECK/);
    // a slot of no widget, a duplicate serial number or id
    expect(() => db.exec("INSERT INTO widget_slots (widget_id, ordinal, port) VALUES (9, 0, 'P')")).toThrow(/FOREIGN KEY/);
    expect(() => db.exec("INSERT INTO widgets (id, serial_number, name) VALUES (4, 'a', 'again')")).toThrow(
      /UNIQUE constraint failed: widgets\.serial_number/,
    );
    expect(() => db.exec("INSERT INTO widgets (id, serial_number, name) VALUES (3, 'd', 'D')")).toThrow(
      /UNIQUE constraint failed: widgets\.id/,
    );
    // cascade: removing a frees b's slot
    db.exec("DELETE FROM widgets WHERE id = 1");
    expect(db.prepare("SELECT widget_id, partner_id FROM widget_slots ORDER BY widget_id").all()).toEqual([
      { widget_id: 2, partner_id: null },
      { widget_id: 3, partner_id: null },
    ]);
  });

  test("the migration to serial-number order carries widgets, slots and associations over, invariants kept", () => {
    const dir = mkdtempSync(join(tmpdir(), "pexd-test-widgets-mig-"));
    dirs.push(dir);
    const old = openDatabase(dir, { migrations: loadMigrations().filter((m) => m.name < "0005") }).db;
    old.exec("INSERT INTO widgets (id, serial_number, name) VALUES (1,'b','B'),(2,'a','A'),(3,'c','C')");
    old.exec(
      "INSERT INTO widget_slots (widget_id, ordinal, port, partner_id) VALUES (1,0,'R',NULL),(1,1,'P',2),(2,0,'P',1),(2,1,'Q',NULL),(3,0,'Q',NULL)",
    );
    old.exec("UPDATE widget_counters SET count = 3");
    old.close();
    const { db, applied } = openDatabase(dir);
    dbs.push(db);
    expect(applied).toEqual(["0005_widgets_by_serial_number.sql"]);
    expect(db.prepare("SELECT serial_number, id, name FROM widgets").all()).toEqual([
      { serial_number: "a", id: 2, name: "A" },
      { serial_number: "b", id: 1, name: "B" },
      { serial_number: "c", id: 3, name: "C" },
    ]);
    expect(db.prepare("SELECT count(*) AS n FROM widget_slots").get()).toEqual({ n: 5 });
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name LIKE 'widgets_by%'").all()).toEqual([]);
    expect(db.prepare("PRAGMA foreign_keys").get()).toEqual({ foreign_keys: 1 });
    // The slots' foreign key now resolves to the rebuilt table: removing b cascades to its slots and
    // the trigger frees a's slot.
    db.exec("DELETE FROM widgets WHERE serial_number = 'b'");
    expect(db.prepare("SELECT widget_id, ordinal, partner_id FROM widget_slots ORDER BY widget_id, ordinal").all()).toEqual([
      { widget_id: 2, ordinal: 0, partner_id: null },
      { widget_id: 2, ordinal: 1, partner_id: null },
      { widget_id: 3, ordinal: 0, partner_id: null },
    ]);
    expect(() => db.exec("INSERT INTO widget_slots (widget_id, ordinal, port) VALUES (1, 0, 'P')")).toThrow(/FOREIGN KEY/);
  });

  test("a rebuild migration that would break a foreign key is rolled back", () => {
    const dir = mkdtempSync(join(tmpdir(), "pexd-test-widgets-mig-"));
    dirs.push(dir);
    const { db } = openDatabase(dir);
    dbs.push(db);
    const broken = {
      name: "0099_broken.sql",
      sql: `${FOREIGN_KEYS_OFF}\nINSERT INTO widget_slots (widget_id, ordinal, port) VALUES (42, 0, 'P');`,
    };
    expect(() => migrate(db, [broken])).toThrow(/breaks 1 foreign key/);
    expect(db.prepare("SELECT count(*) AS n FROM widget_slots").get()).toEqual({ n: 0 });
    expect(db.prepare("SELECT count(*) AS n FROM schema_migrations WHERE name = '0099_broken.sql'").get()).toEqual({ n: 0 });
    expect(db.prepare("PRAGMA foreign_keys").get()).toEqual({ foreign_keys: 1 });
  });

  test("reads through the reader connection do not see a change before its commit", async () => {
    const { store } = fresh(true);
    const pending = store.add({ sn: "x", name: "X", slots: [] });
    expect(await store.get("x")).toBeNull();
    await pending;
    expect((await store.get("x"))!.widget_name).toBe("X");
  });

  test("mutations of one turn share one commit; a refusal inside the batch leaves the others applied", async () => {
    const { store } = fresh(true);
    const before = store.commits;
    const results = await Promise.allSettled([
      store.add({ sn: "a", name: "A", slots: ["P"] }),
      store.add({ sn: "a", name: "dup", slots: [] }),
      store.add({ sn: "b", name: "B", slots: ["P"] }),
      store.associate("a", "b", "P"),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled", "fulfilled"]);
    expect(store.commits - before).toBe(1);
    expect((await store.get("a"))!).toEqual({ widget_sn: "a", widget_name: "A", slots: [{ port: "P", associated_with: "b" }] });
    expect(store.count()).toBe(2);
  });

  test("indexes serve every query (EXPLAIN QUERY PLAN has no table scan)", () => {
    const { db } = fresh(true);
    const plans = [
      "SELECT id FROM widgets WHERE serial_number = 'x'",
      "SELECT serial_number FROM widgets WHERE id = 1",
      "SELECT coalesce(max(id), 0) + 1 FROM widgets",
      "DELETE FROM widgets WHERE serial_number = 'x'",
      "SELECT ordinal FROM widget_slots WHERE widget_id = 1 AND port = 'P' AND partner_id IS NULL",
      "SELECT ordinal, port, partner_id FROM widget_slots WHERE widget_id = 1",
      "SELECT id, name FROM widgets WHERE serial_number = 'x'",
      "SELECT id, serial_number, name FROM widgets WHERE serial_number > '' ORDER BY serial_number LIMIT 101",
      "UPDATE widget_slots SET partner_id = NULL WHERE widget_id = 1 AND port = 'P' AND partner_id = 2",
    ].flatMap((q) => (db.prepare(`EXPLAIN QUERY PLAN ${q}`).all() as { detail: string }[]).map((r) => r.detail));
    expect(plans.filter((d) => /^SCAN (widgets|widget_slots)\b/.test(d) || /TEMP B-TREE/.test(d))).toEqual([]);
  });
});
