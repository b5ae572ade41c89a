// The core is portable: it runs under Deno with memory adapters, and nothing outside
// src/runtime/bun/ imports bun, bun:* or hono/bun, uses the Bun global, or reads the environment.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { ROOT } from "./helpers/pexd.ts";

const BUN_IMPORT = /(?:from\s+|import\s*\(\s*|import\s+)["'](bun|bun:[a-z]+|hono\/bun)["']/;
const BUN_GLOBAL = /\bBun\.[a-zA-Z]/;
const ENV_READ = /\bprocess\.env\b|\bBun\.env\b|\bDeno\.env\b/;

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith(".ts") ? [p] : [];
  });
}

/** Core files: everything under src/ except the Bun runtime and test files (which run on bun test). */
export function coreFiles(): string[] {
  return walk(join(ROOT, "src"))
    .map((p) => relative(ROOT, p))
    .filter((p) => !p.startsWith("src/runtime/bun/") && !p.endsWith(".test.ts"));
}

/** Lines (as "file:line: text") of core files that break portability. */
export function portabilityViolations(files: string[], read: (f: string) => string = (f) => readFileSync(join(ROOT, f), "utf8")) {
  const out: string[] = [];
  for (const f of files) {
    read(f)
      .split("\n")
      .forEach((line, i) => {
        const code = line.replace(/\/\/.*$/, "");
        if (BUN_IMPORT.test(code) || BUN_GLOBAL.test(code) || ENV_READ.test(code)) out.push(`${f}:${i + 1}: ${line.trim()}`);
      });
  }
  return out;
}

describe("portability", () => {
  test("the lint catches what it must (it can fail)", () => {
    const fake: Record<string, string> = {
      "a.ts": 'import { Database } from "bun:sqlite";',
      "b.ts": "import { upgradeWebSocket } from 'hono/bun'",
      "c.ts": "const s = Bun.serve({ fetch })",
      "d.ts": "const p = process.env.PORT",
      "e.ts": 'import { z } from "zod"; // Bun.serve is mentioned only in a comment',
      "f.ts": 'const m = await import("bun")',
    };
    expect(portabilityViolations(Object.keys(fake), (f) => fake[f]!).map((v) => v.split(":")[0])).toEqual([
      "a.ts",
      "b.ts",
      "c.ts",
      "d.ts",
      "f.ts",
    ]);
  });

  test("no core file imports bun, bun:* or hono/bun, uses Bun.*, or reads the environment", () => {
    const files = coreFiles();
    expect(files).toContain("src/app.ts");
    expect(portabilityViolations(files)).toEqual([]);
  });

  test("compose() builds every module on the in-memory bundle and serves a request of each under Deno", async () => {
    const deno = join(ROOT, "node_modules/.bin/deno");
    // No permission flags: the core needs no file, network or environment access to answer.
    const proc = Bun.spawn([deno, "run", "--no-prompt", "test/deno/smoke.ts"], {
      cwd: ROOT,
      stdout: "pipe",
      stderr: "pipe",
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect({ code, err: code === 0 ? "" : err }).toEqual({ code: 0, err: "" });
    const r = JSON.parse(out.trim().split("\n").at(-1)!) as {
      runtime: string;
      modules: string[];
      expected: string[];
      results: { method: string; path: string; status: number; body: unknown }[];
    };
    expect(r.runtime).toBe("deno");
    // Every module but the relay watcher (no PEXD_RELAY_TARGETS here).
    expect(r.modules).toEqual(r.expected.filter((m) => m !== "relay-watcher"));
    const at = (i: number) => r.results[i]!;
    expect(at(0)).toMatchObject({ path: "/health", status: 200, body: { status: "ok", version: "deno-smoke" } });
    expect(at(1).body).toEqual({ index: 0, value: "0" });
    expect(at(2).body).toEqual({ index: 1, value: "1" });
    expect(at(3).body).toEqual({ index: 2, value: "1" });
    expect(at(4).body).toEqual({ index: 2, value: "1" });
    expect(at(5).status).toBe(204);
    expect(at(6).body).toEqual({ widget_sn: "w1", widget_name: "one", slots: [{ port: "P", associated_with: null }] });
    // The gateway module is there; with no upstream configured it says so (docs/ethereum.md).
    expect(at(7)).toMatchObject({ status: 503, body: { code: "upstream_not_configured" } });
    expect(at(8)).toMatchObject({ status: 200, body: { blocks: 0, frames: 0 } });
    expect(at(9).status).toBe(200);
    expect(String(at(9).body)).toContain("pexd_fib_index 2");
    expect(at(10).status).toBe(200);
  }, 60_000);
});
