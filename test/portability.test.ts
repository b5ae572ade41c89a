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

  test("createApp with memory adapters serves /health, /current and /next under Deno", async () => {
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
    const r = JSON.parse(out.trim().split("\n").at(-1)!);
    expect(r.runtime).toBe("deno");
    expect(r["/health#1"].status).toBe(200);
    expect(r["/health#1"].body.status).toBe("ok");
    expect(r["/current#2"].body).toEqual({ index: 0, value: "0" });
    expect(r["/next#3"].body).toEqual({ index: 1, value: "1" });
    expect(r["/next#4"].body).toEqual({ index: 2, value: "1" });
    expect(r["/current#5"].body).toEqual({ index: 2, value: "1" });
  }, 60_000);
});
