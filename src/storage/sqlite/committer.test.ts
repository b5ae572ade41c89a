import { afterAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../runtime/bun/sqlite.ts";
import { SqliteCommitter } from "./committer.ts";
import { SqliteFibStore } from "./fib.sqlite.ts";
import { SqliteWidgetStore } from "./widget.sqlite.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function fresh() {
  const dir = mkdtempSync(join(tmpdir(), "pexd-committer-"));
  dirs.push(dir);
  const { db, path } = openDatabase(dir);
  return { db, path, tx: new SqliteCommitter(db) };
}

/** What another connection (another process after a crash) can see: only committed rows. */
const committedIndex = (path: string) => {
  const other = new Database(path, { readonly: true });
  try {
    return (other.prepare("SELECT idx FROM fib_state WHERE id = 1").get() as { idx: number } | null)?.idx ?? 0;
  } finally {
    other.close();
  }
};
const committedWidgets = (path: string) => {
  const other = new Database(path, { readonly: true });
  try {
    return (other.prepare("SELECT count(*) AS n FROM widgets").get() as { n: number }).n;
  } finally {
    other.close();
  }
};

describe("SqliteCommitter: stores sharing one connection", () => {
  test("a fib save during an open widgets batch is committed before it resolves, with the batch", async () => {
    const { db, path, tx } = fresh();
    const widgets = new SqliteWidgetStore(db, { committer: tx });
    const fib = new SqliteFibStore(db, tx);
    const added = widgets.add({ sn: "w1", name: "one", slots: ["P"] });
    // The widgets batch is open (its commit is scheduled for the next turn) …
    expect(committedWidgets(path)).toBe(0);
    await fib.apply([7]);
    // … and the acknowledged fib step is durable: it did not wait inside that open transaction.
    expect(committedIndex(path)).toBe(7);
    expect(committedWidgets(path)).toBe(1);
    await added;
    expect(tx.commits).toBe(1);
    db.close();
  });

  test("callers settle only after the commit; refusals are rejected, the rest of the batch commits", async () => {
    const { db, path, tx } = fresh();
    const widgets = new SqliteWidgetStore(db, { committer: tx });
    const a = widgets.add({ sn: "a", name: "A", slots: [] });
    const dup = widgets.add({ sn: "a", name: "A again", slots: [] });
    const b = widgets.add({ sn: "b", name: "B", slots: [] });
    let settled = false;
    void a.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    expect(committedWidgets(path)).toBe(0);
    await a;
    await b;
    await expect(dup).rejects.toMatchObject({ reason: "duplicate" });
    expect(committedWidgets(path)).toBe(2);
    expect(widgets.count()).toBe(2);
    expect(tx.commits).toBe(1);
    db.close();
  });

  test("a failing commit rejects every caller of the batch and reverts the in-memory count", async () => {
    const { db, path, tx } = fresh();
    const widgets = new SqliteWidgetStore(db, { committer: tx });
    await widgets.add({ sn: "keep", name: "K", slots: [] });
    // A one-sided association violates the deferred symmetric foreign key only at COMMIT.
    const bad = tx.run(() =>
      db.exec(
        "INSERT INTO widgets (id, serial_number, name) VALUES (100, 'x', 'X'); INSERT INTO widget_slots (widget_id, ordinal, port, partner_id) VALUES (100, 0, 'P', 1)",
      ),
    );
    const other = widgets.add({ sn: "lost", name: "L", slots: [] });
    const [r1, r2] = await Promise.allSettled([bad, other]);
    expect(r1.status === "rejected" && String(r1.reason)).toMatch(/FOREIGN KEY/);
    expect(r2.status === "rejected" && String(r2.reason)).toMatch(/FOREIGN KEY/);
    expect(widgets.count()).toBe(1);
    expect(committedWidgets(path)).toBe(1);
    // The connection is usable again.
    await widgets.add({ sn: "after", name: "A", slots: [] });
    expect(committedWidgets(path)).toBe(2);
    db.close();
  });
});
