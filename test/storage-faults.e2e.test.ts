// Storage that refuses writes (docs/faults.md), on a real, small tmpfs the test mounts (root only): a full
// disk answers 507 storage_full and /ready 503 until a write succeeds again, error lines stay few,
// and every acknowledged write is there afterwards (also after kill -9); a database that can only
// be read is refused at start-up with exit 73.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pexdCommand, ROOT, startPexd, type Pexd } from "./helpers/pexd.ts";
import { until } from "./helpers/wait.ts";
import { need, skipping } from "./helpers/requirements.ts";

const root = process.getuid?.() === 0;
if (!root) console.warn("storage-faults: not root, so no tmpfs can be mounted: these tests cannot run (run the suite as root)");

const mounts: string[] = [];
const started: Pexd[] = [];
afterAll(async () => {
  for (const p of started) await p.dispose();
  for (const m of mounts) {
    await sh(`umount ${m}`);
    rmSync(m, { recursive: true, force: true });
  }
});

async function sh(cmd: string): Promise<{ code: number; out: string }> {
  const p = Bun.spawn(["bash", "-c", cmd], { stdout: "pipe", stderr: "pipe" });
  const out = (await new Response(p.stdout).text()) + (await new Response(p.stderr).text());
  return { code: await p.exited, out };
}

async function tmpfs(size: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "pexd-test-tmpfs-"));
  const r = await sh(`mount -t tmpfs -o size=${size},mode=0755 tmpfs ${dir}`);
  if (r.code !== 0) throw new Error(`mount failed: ${r.out}`);
  mounts.push(dir);
  return dir;
}

const JSON_CT = { "content-type": "application/json" };
const add = (url: string, sn: string) =>
  fetch(`${url}/rpc/add_widget`, {
    method: "POST",
    headers: JSON_CT,
    body: JSON.stringify({ widget_sn: sn, widget_name: `${sn}-${"n".repeat(240)}`, slots: ["P", "R", "Q"] }),
  });

describe.skipIf(skipping("root"))("storage faults on a real tmpfs", () => {
  beforeAll(() => need("root"));

  test("disk full: 507 storage_full, /ready 503 naming storage, few error lines; after space returns, writes and every acknowledged one are there", async () => {
    const dir = await tmpfs("1536k");
    const p = await startPexd({ dataDir: dir, env: { PEXD_LOG_LEVEL: "info" } });
    started.push(p);
    const acknowledged: string[] = [];
    let refused: Response | null = null;
    for (let i = 0; i < 100_000 && !refused; i++) {
      const batch = await Promise.all(
        Array.from({ length: 20 }, (_, k) => add(p.url, `w${i}-${k}`).then((r) => [`w${i}-${k}`, r] as const)),
      );
      for (const [sn, r] of batch) {
        if (r.status === 204) acknowledged.push(sn);
        else refused ??= r;
      }
    }
    expect(refused).not.toBeNull();
    expect(refused!.status).toBe(507);
    expect(((await refused!.json()) as { code: string }).code).toBe("storage_full");
    expect(acknowledged.length).toBeGreaterThan(100);
    // Take the last free blocks too (the database may still fit a small write in its WAL's tail).
    await sh(`dd if=/dev/zero of=${dir}/filler bs=4k 2>/dev/null; sync`);
    // A storm of writes: refused the same way, never a 500; the few that still fit (a nearly full
    // disk takes small batches) are acknowledged, and must be kept like any other.
    const started0 = Date.now();
    const storm = await Promise.all(Array.from({ length: 300 }, (_, i) => add(p.url, `storm-${i}`).then((r) => r.status)));
    expect([...new Set(storm)].every((code) => code === 204 || code === 507)).toBe(true);
    expect(storm.filter((code) => code === 507).length).toBeGreaterThan(150);
    for (const [i, code] of storm.entries()) if (code === 204) acknowledged.push(`storm-${i}`);
    const ready = await fetch(`${p.url}/ready`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { message: string }).message).toContain("storage");
    // A one-page counter step may still fit (then /ready is 200 again: a write succeeded), never a 500.
    expect([200, 507]).toContain((await fetch(`${p.url}/next`, { method: "POST" })).status);
    // The log is not flooded: one line per kind per second, with the count of the ones suppressed.
    const seconds = Math.ceil((Date.now() - started0) / 1000) + 2;
    const lines = p.logs.filter(
      (l) => l.msg === "write refused by storage" || l.msg === "fibonacci commit failed; reverting to last durable index",
    );
    expect(lines.length).toBeLessThanOrEqual(3 * seconds);
    expect(p.logs.some((l) => l.msg === "unhandled error")).toBe(false);
    // Space comes back: /ready's probe write proves it, and writes are taken again.
    expect((await sh(`mount -o remount,size=64m ${dir}`)).code).toBe(0);
    await until("/ready 200 again", async () => (await fetch(`${p.url}/ready`)).status === 200, 15_000);
    expect((await add(p.url, "after-space")).status).toBe(204);
    acknowledged.push("after-space");
    const missing = async (url: string) => {
      const out: string[] = [];
      for (const sn of acknowledged) if ((await fetch(`${url}/widgets/${sn}`)).status !== 200) out.push(sn);
      return out;
    };
    expect(await missing(p.url)).toEqual([]);
    // And after kill -9: every acknowledged write is durable.
    await p.stop("SIGKILL");
    const again = await startPexd({ dataDir: dir });
    started.push(again);
    expect(await missing(again.url)).toEqual([]);
  }, 180_000);

  test("a database that can only be read is refused at start-up with exit 73 and one line", async () => {
    const dir = await tmpfs("16m");
    const p = await startPexd({ dataDir: dir });
    expect((await add(p.url, "kept")).status).toBe(204);
    expect(await p.stop()).toBe(0);
    expect((await sh(`mount -o remount,ro ${dir}`)).code).toBe(0);
    try {
      const proc = Bun.spawn(pexdCommand(), {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? "", PEXD_PORT: "0", PEXD_DATA_DIR: dir },
        stdout: "pipe",
        stderr: "pipe",
      });
      expect(await proc.exited).toBe(73);
      const err = (await new Response(proc.stderr).text()).trim();
      expect(err.split("\n")).toHaveLength(1);
      expect(err).toMatch(/PEXD_DATA_DIR=.*(cannot be written|cannot open)/);
    } finally {
      await sh(`mount -o remount,rw ${dir}`);
    }
  }, 60_000);
});
