// Starts the real Bun entry (src/runtime/bun/cli.ts) as a subprocess on a free port with a temp
// data directory, and waits for its "listening" log line. With PEXD_BIN set (e.g. PEXD_BIN=dist/pexd,
// relative to the repository root; built by scripts/build.ts), the compiled executable runs instead.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { onCleanup } from "./cleanup.ts";

export const ROOT = resolve(import.meta.dir, "../..");
export const CLI = join(ROOT, "src/runtime/bun/cli.ts");

/** The compiled executable named by $PEXD_BIN (absolute), or null: bun runs the source. */
export function pexdBin(): string | null {
  const bin = process.env.PEXD_BIN;
  if (!bin) return null;
  const path = resolve(ROOT, bin);
  if (!existsSync(path)) throw new Error(`PEXD_BIN=${bin}: no such file (${path}); build it with bun run scripts/build.ts`);
  return path;
}

/** The command line that runs pexd with `args`: `$PEXD_BIN args…`, or `bun src/runtime/bun/cli.ts args…`. */
export function pexdCommand(args: string[] = []): string[] {
  const bin = pexdBin();
  return bin ? [bin, ...args] : [process.execPath, CLI, ...args];
}

export interface Pexd {
  url: string;
  port: number;
  pid: number;
  dataDir: string;
  /** Every stdout line parsed as JSON so far (log lines). */
  logs: Record<string, unknown>[];
  /** Raw stdout + stderr text so far. */
  output(): string;
  proc: ReturnType<typeof Bun.spawn>;
  /** SIGTERM and wait; returns the exit code. */
  stop(signal?: NodeJS.Signals | number): Promise<number>;
  /** Removes the data directory too (unless it was passed in). */
  dispose(): Promise<void>;
}

/**
 * Reads a process's output to its end: every chunk to `onText`, and (with `onLine`) every line that is
 * a JSON object — pexd's log lines — to `onLine`.
 */
export async function readLogLines(
  stream: ReadableStream<Uint8Array>,
  onText: (s: string) => void,
  onLine?: (obj: Record<string, unknown>) => void,
): Promise<void> {
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    const s = dec.decode(chunk, { stream: true });
    onText(s);
    if (!onLine) continue;
    buf += s;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let obj: unknown;
      try {
        obj = JSON.parse(line);
      } catch {
        continue; // not a log line
      }
      if (obj && typeof obj === "object") onLine(obj as Record<string, unknown>);
    }
  }
}

/** Temporary directories made by tempDir(), and pexd processes still running, at the end of the run. */
const temporary = new Set<string>();
const running = new Set<ReturnType<typeof Bun.spawn>>();
onCleanup(() => {
  for (const p of running) {
    try {
      p.kill("SIGKILL");
    } catch {}
  }
  for (const dir of temporary) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {}
  }
});

/** A fresh temporary directory, removed at exit at the latest (tests leave nothing behind). */
export function tempDir(prefix = "pexd-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temporary.add(dir);
  return dir;
}

export async function startPexd(
  opts: { env?: Record<string, string>; dataDir?: string; args?: string[]; timeoutMs?: number } = {},
): Promise<Pexd> {
  const ownDir = !opts.dataDir;
  const dataDir = opts.dataDir ?? tempDir();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "/tmp",
    PEXD_HOST: "127.0.0.1",
    PEXD_PORT: "0",
    PEXD_DATA_DIR: dataDir,
    PEXD_LOG_LEVEL: "info",
    ...opts.env,
  };
  const proc = Bun.spawn(pexdCommand(opts.args), { env, stdout: "pipe", stderr: "pipe", cwd: ROOT });
  running.add(proc);
  void proc.exited.then(() => running.delete(proc));
  const logs: Record<string, unknown>[] = [];
  let text = "";
  let port = 0;
  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => (resolveReady = r));
  const onLine = (obj: Record<string, unknown>) => {
    logs.push(obj);
    if (obj.msg === "listening" && typeof obj.port === "number") {
      port = obj.port;
      resolveReady();
    }
  };
  // Both pipes drained (EOF): stop() waits for it, so every line the process wrote is in `logs`.
  const drained = Promise.all([
    readLogLines(proc.stdout as ReadableStream<Uint8Array>, (s) => (text += s), onLine),
    readLogLines(proc.stderr as ReadableStream<Uint8Array>, (s) => (text += s)),
  ]).catch(() => {});
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const exited = proc.exited.then((code) => {
    throw new Error(`pexd exited with ${code} before listening:\n${text}`);
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`pexd did not listen within ${timeoutMs} ms:\n${text}`)), timeoutMs);
  });
  try {
    await Promise.race([ready, exited, timeout]);
  } catch (e) {
    proc.kill("SIGKILL");
    throw e;
  } finally {
    clearTimeout(timer);
  }
  exited.catch(() => {});
  const stop = async (signal: NodeJS.Signals | number = "SIGTERM") => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    const code = await proc.exited;
    await drained;
    return code;
  };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: proc.pid,
    dataDir,
    logs,
    output: () => text,
    proc,
    stop,
    dispose: async () => {
      await stop("SIGKILL").catch(() => {});
      if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
