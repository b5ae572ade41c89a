// One pexd per data directory: a second process on the same PEXD_DATA_DIR exits 73 naming the first,
// db:seed refuses to write under a running pexd, and a killed pexd's stale claim is taken over.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pexdCommand, ROOT, startPexd, tempDir, type Pexd } from "./helpers/pexd.ts";

const started: Pexd[] = [];
afterAll(async () => {
  for (const p of started) await p.dispose();
});

const second = (dir: string) =>
  Bun.spawnSync(pexdCommand(), { cwd: ROOT, env: { PATH: process.env.PATH ?? "", PEXD_PORT: "0", PEXD_DATA_DIR: dir }, timeout: 30_000 });
const seed = (dir: string) =>
  Bun.spawnSync([process.execPath, join(ROOT, "scripts/seed.ts"), "--widgets", "10"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", PEXD_DATA_DIR: dir },
    timeout: 30_000,
  });

describe("one pexd per data directory", () => {
  test("a second pexd on the same directory exits 73 naming the first; db:seed refuses; both work once it stops", async () => {
    const dir = tempDir();
    const first = await startPexd({ dataDir: dir });
    started.push(first);
    expect(existsSync(join(dir, "pexd.pid"))).toBe(true);
    const r = second(dir);
    expect(r.exitCode).toBe(73);
    expect(r.stderr.toString() + r.stdout.toString()).toContain(`in use by another pexd (pid ${first.pid})`);
    const s = seed(dir);
    expect(s.exitCode).toBe(1);
    expect(s.stderr.toString()).toContain(`in use by a running pexd (pid ${first.pid})`);
    // The first one is untouched by both attempts.
    expect((await fetch(`${first.url}/next`, { method: "POST" })).status).toBe(200);
    expect(await first.stop()).toBe(0);
    expect(existsSync(join(dir, "pexd.pid"))).toBe(false);
    expect(seed(dir).exitCode).toBe(0);
  }, 60_000);

  test("after kill -9 the stale claim is taken over", async () => {
    const dir = tempDir();
    const a = await startPexd({ dataDir: dir });
    started.push(a);
    await a.stop("SIGKILL");
    expect(existsSync(join(dir, "pexd.pid"))).toBe(true);
    const b = await startPexd({ dataDir: dir });
    started.push(b);
    expect((await (await fetch(`${b.url}/health`)).json()).status).toBe("ok");
  }, 60_000);
});

describe("backups of the SQLite file (docs/operations.md)", () => {
  test("an online backup taken with sqlite3 .backup while pexd serves restores into a working pexd", async () => {
    const dir = tempDir();
    const live = await startPexd({ dataDir: dir });
    started.push(live);
    for (let i = 0; i < 5; i++) await fetch(`${live.url}/next`, { method: "POST" });
    const add = await fetch(`${live.url}/rpc/add_widget`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ widget_sn: "backed-up", widget_name: "w", slots: ["P"] }),
    });
    expect(add.status).toBe(204);
    const restored = tempDir();
    const backup = Bun.spawnSync(["sqlite3", join(dir, "pexd.sqlite"), `.backup '${join(restored, "pexd.sqlite")}'`]);
    expect(backup.exitCode).toBe(0);
    // Writes go on during and after the backup; the copy holds what was committed when it was taken.
    expect((await fetch(`${live.url}/next`, { method: "POST" })).status).toBe(200);
    const copy = await startPexd({ dataDir: restored });
    started.push(copy);
    expect(await (await fetch(`${copy.url}/current`)).json()).toEqual({ index: 5, value: "5" });
    expect((await fetch(`${copy.url}/widgets/backed-up`)).status).toBe(200);
  }, 60_000);
});
