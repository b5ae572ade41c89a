import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../log.ts";
import { BACKSTOP_PAGES, startCheckpointer } from "./checkpointer.ts";
import { openDatabase } from "./sqlite.ts";

const dir = mkdtempSync(join(tmpdir(), "pexd-checkpoint-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("the background worker copies WAL pages into the database file; the serving connection only has a backstop", async () => {
  const { db, path } = openDatabase(dir);
  const lines: string[] = [];
  const cp = startCheckpointer(
    db,
    path,
    createLogger("info", (s) => lines.push(s)),
    20,
  );
  expect(db.prepare("PRAGMA wal_autocheckpoint").get()).toEqual({ wal_autocheckpoint: BACKSTOP_PAGES });
  const before = statSync(path).size;
  db.exec("CREATE TABLE t (x BLOB)");
  const ins = db.prepare("INSERT INTO t VALUES (randomblob(4000))");
  db.transaction(() => {
    for (let i = 0; i < 500; i++) ins.run();
  })();
  // The worker runs beside this thread: it may copy the CREATE TABLE pages first, then the rest.
  for (let i = 0; i < 400 && cp.pages <= 400; i++) await Bun.sleep(25);
  expect(cp.pages).toBeGreaterThan(400);
  expect(statSync(path).size).toBeGreaterThan(before + 400 * 4000);
  await cp.stop();
  expect(lines.filter((l) => l.includes('"level":"error"') || l.includes('"level":"warn"'))).toEqual([]);
  db.close();
});
