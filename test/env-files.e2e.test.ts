// Settings never come from a file silently: run from source, Bun reads a .env in the working directory
// and pexd names it in its "listening" line; the compiled binary (PEXD_BIN) reads none. The health
// subcommand answers by exit status.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pexdBin, pexdCommand, readLogLines } from "./helpers/pexd.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Starts pexd in `cwd` with only PATH and a free port; resolves with its "listening" line, then stops it. */
async function listeningLine(cwd: string): Promise<Record<string, unknown>> {
  const proc = Bun.spawn(pexdCommand(), { cwd, env: { PATH: process.env.PATH ?? "", PEXD_PORT: "0" }, stdout: "pipe", stderr: "pipe" });
  try {
    let text = "";
    let listening: Record<string, unknown> | undefined;
    // Stops reading at the listening line: killing the process (below) ends the stream.
    const reading = readLogLines(
      proc.stdout as ReadableStream<Uint8Array>,
      (s) => (text += s),
      (o) => {
        if (o.msg === "listening" && !listening) {
          listening = o;
          proc.kill();
        }
      },
    );
    await reading;
    if (!listening) throw new Error(`no listening line: ${text}${await new Response(proc.stderr).text()}`);
    return listening;
  } finally {
    proc.kill();
    await proc.exited;
  }
}

describe("the .env file", () => {
  test("a .env in the working directory is read from source and named in the listening line; the binary reads none", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pexd-test-env-"));
    dirs.push(dir);
    writeFileSync(join(dir, ".env"), "PEXD_DATA_DIR=./from-dotenv\n");
    const line = await listeningLine(dir);
    if (pexdBin()) {
      expect(line.env_files).toBeUndefined();
      expect(String(line.database)).not.toContain("from-dotenv");
    } else {
      expect(line.env_files).toEqual([".env"]);
      expect(String(line.database)).toContain("from-dotenv");
    }
  }, 30_000);

  test("without .env files the line names none", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pexd-test-env-"));
    dirs.push(dir);
    expect((await listeningLine(dir)).env_files).toBeUndefined();
  }, 30_000);
});

describe("pexd health", () => {
  test("exit 1 for a port nobody listens on, 64 for a bad argument", async () => {
    const bad = Bun.spawnSync(pexdCommand(["health", "http://127.0.0.1:1/health"]));
    expect(bad.exitCode).toBe(1);
    expect(Bun.spawnSync(pexdCommand(["health", "not-a-url"])).exitCode).toBe(64);
  });
});
