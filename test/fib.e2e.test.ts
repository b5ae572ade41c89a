// The Fibonacci counter through the real Bun entry: linearizability, SIGKILL durability, graceful
// stop, recovery at a large index, and start-up refusal of bad configuration.
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fib } from "../src/fib/fib.math.ts";
import { pexdCommand, ROOT, startPexd, tempDir, type Pexd } from "./helpers/pexd.ts";

const started: Pexd[] = [];
afterAll(async () => {
  for (const p of started) await p.dispose();
});
async function start(opts: Parameters<typeof startPexd>[0] = {}) {
  const p = await startPexd(opts);
  started.push(p);
  return p;
}
const get = async (p: Pexd, path: string, init?: RequestInit) => {
  const r = await fetch(p.url + path, init);
  expect(r.status).toBe(200);
  return (await r.json()) as { index: number; value: string };
};

describe("fibonacci end to end", () => {
  test("N concurrent /next from 0 answer 1..N, each exactly once", async () => {
    const p = await start();
    const N = 300;
    const answers = await Promise.all(Array.from({ length: N }, (_, i) => get(p, "/next", i % 2 ? { method: "POST" } : undefined)));
    const indexes = answers.map((a) => a.index).sort((a, b) => a - b);
    expect(indexes).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    for (const a of answers) expect(a.value).toBe(fib(a.index).toString());
    expect(await get(p, "/current")).toEqual({ index: N, value: fib(N).toString() });
  });

  test("an acknowledged step survives kill -9 (default group commit)", async () => {
    const dataDir = tempDir();
    const p = await start({ dataDir });
    for (let i = 0; i < 25; i++) await get(p, "/next");
    await get(p, "/previous");
    const burst = await Promise.all(Array.from({ length: 50 }, () => get(p, "/next")));
    const acknowledged = Math.max(...burst.map((b) => b.index));
    expect(acknowledged).toBe(74);
    await p.stop("SIGKILL");
    const q = await start({ dataDir });
    const cur = await get(q, "/current");
    expect(cur.index).toBeGreaterThanOrEqual(acknowledged);
    expect(cur).toEqual({ index: 74, value: fib(74).toString() });
  });

  test("SIGTERM exits 0 and flushes state with PEXD_FIB_FLUSH_MS > 0", async () => {
    const dataDir = tempDir();
    const p = await start({ dataDir, env: { PEXD_FIB_FLUSH_MS: "60000" } });
    for (let i = 0; i < 7; i++) await get(p, "/next");
    expect(await p.stop("SIGTERM")).toBe(0);
    expect(p.logs.some((l) => l.msg === "stopped")).toBe(true);
    const q = await start({ dataDir, env: { PEXD_FIB_FLUSH_MS: "60000" } });
    expect((await get(q, "/current")).index).toBe(7);
  });

  test("SIGTERM during a burst: in-flight requests are answered, every acknowledged step is kept", async () => {
    const dataDir = tempDir();
    const p = await start({ dataDir });
    // Open the connections first so the requests are in flight when the signal arrives.
    await Promise.all(Array.from({ length: 20 }, () => get(p, "/current")));
    const burst = Array.from({ length: 400 }, () =>
      fetch(p.url + "/next", { method: "POST" }).then(
        async (r) => ({ status: r.status, body: r.status === 200 ? ((await r.json()) as { index: number }) : null }),
        () => ({ status: 0, body: null }),
      ),
    );
    const code = p.stop("SIGTERM");
    const results = await Promise.all(burst);
    expect(await code).toBe(0);
    const ok = results.filter((r) => r.status === 200).map((r) => r.body!.index);
    // Nothing in between: a request is either answered 200 or never accepted (connection refused/closed).
    expect(results.filter((r) => r.status !== 200 && r.status !== 0)).toEqual([]);
    const q = await start({ dataDir });
    const cur = await get(q, "/current");
    expect(cur.index).toBe(ok.length ? Math.max(...ok) : 0);
    expect(new Set(ok).size).toBe(ok.length);
  });

  test("recovery at index 100,000 gives the exact value", async () => {
    const dataDir = tempDir();
    const p = await start({ dataDir });
    await get(p, "/reset");
    await p.stop();
    const db = new Database(join(dataDir, "pexd.sqlite"));
    db.exec("UPDATE fib_state SET idx = 100000 WHERE id = 1");
    db.close();
    const q = await start({ dataDir });
    const cur = await get(q, "/current");
    expect(cur.index).toBe(100_000);
    expect(cur.value).toBe(fib(100_000).toString());
    expect((await get(q, "/next")).value).toBe(fib(100_001).toString());
  });

  test.each([
    ["PEXD_PORT", "not-a-port"],
    ["PEXD_LOG_LEVEL", "loud"],
    ["PEXD_FIB_FLUSH_MS", "soon"],
  ])("invalid %s stops start-up with exit 78 and one line naming it", async (variable, value) => {
    const proc = Bun.spawn(pexdCommand(), {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", PEXD_DATA_DIR: tempDir(), [variable]: value },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(await proc.exited).toBe(78);
    const err = (await new Response(proc.stderr).text()).trim();
    expect(err.split("\n")).toHaveLength(1);
    expect(err).toContain(variable);
  });

  for (const [what, prepare, expected] of [
    [
      "a data dir that is a regular file",
      (dir: string) => {
        writeFileSync(join(dir, "not-a-dir"), "x");
        return join(dir, "not-a-dir");
      },
      /PEXD_DATA_DIR=.*not-a-dir.*directory the service user can write/,
    ],
    [
      "a corrupt database file",
      (dir: string) => {
        writeFileSync(join(dir, "pexd.sqlite"), Buffer.alloc(8192, 0x5a));
        return dir;
      },
      /not a database.*restore it from a backup/,
    ],
  ] as const) {
    test(`${what} stops start-up with exit 73, one clear line, and the file untouched`, async () => {
      const dir = tempDir();
      const dataDir = prepare(dir);
      const before = readdirSync(dir).map((f) => [f, readFileSync(join(dir, f)).length]);
      const proc = Bun.spawn(pexdCommand(), {
        cwd: ROOT,
        env: { ...process.env, PEXD_PORT: "0", PEXD_DATA_DIR: dataDir },
        stdout: "pipe",
        stderr: "pipe",
      });
      expect(await proc.exited).toBe(73);
      const err = (await new Response(proc.stderr).text()).trim();
      expect(err.split("\n")).toHaveLength(1);
      expect(err).toMatch(expected);
      expect(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f)).length])).toEqual(before);
    });
  }

  test("pexd --help lists every variable", async () => {
    const proc = Bun.spawn(pexdCommand(["--help"]), { cwd: ROOT, stdout: "pipe" });
    const out = await new Response(proc.stdout).text();
    expect(await proc.exited).toBe(0);
    for (const v of ["PEXD_PORT", "PEXD_FIB_FLUSH_MS", "PEXD_API_TOKEN", "INFURA_PROJECT_SECRET", "PEXD_RELAY_TARGETS"])
      expect(out).toContain(v);
  });
});
