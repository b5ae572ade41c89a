// Shared HTTP benchmark tooling: a bare Bun.serve baseline, the real pexd entry, and wrk runs
// parsed into numbers. Every figure is reported next to the baseline measured in the same run.
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startPexd as startPexdProcess, type Pexd } from "../test/helpers/pexd.ts";

export const BENCH_DIR = import.meta.dir;

export interface Server {
  url: string;
  pid: number;
  stop(): Promise<void>;
  rssKiB(): number;
}

export function rssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export async function startBaseline(): Promise<Server> {
  const proc = Bun.spawn([process.execPath, resolve(BENCH_DIR, "baseline.ts")], { stdout: "pipe", stderr: "inherit" });
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  const { value } = await reader.read();
  const port = JSON.parse(new TextDecoder().decode(value).split("\n")[0]!).port as number;
  reader.releaseLock();
  return {
    url: `http://127.0.0.1:${port}`,
    pid: proc.pid,
    rssKiB: () => rssKiB(proc.pid),
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}

export async function startPexd(env: Record<string, string> = {}, dataDir?: string): Promise<Server & { pexd: Pexd }> {
  const pexd = await startPexdProcess({ env: { PEXD_LOG_LEVEL: "info", ...env }, ...(dataDir ? { dataDir } : {}), timeoutMs: 120_000 });
  return {
    url: pexd.url,
    pid: pexd.pid,
    pexd,
    rssKiB: () => rssKiB(pexd.pid),
    stop: async () => {
      await pexd.stop("SIGTERM");
      await pexd.dispose();
    },
  };
}

export interface WrkResult {
  rps: number;
  p50ms: number;
  p99ms: number;
  requests: number;
  errors: number;
  non2xx: number;
}

const toMs = (v: string, unit: string) => Number(v) * (unit === "us" ? 0.001 : unit === "s" ? 1000 : unit === "m" ? 60000 : 1);

/** A Lua script for wrk that sends one fixed request (method, path, JSON body). */
export function luaRequest(method: string, body?: string, headers: Record<string, string> = {}): string {
  const hs = { ...(body ? { "Content-Type": "application/json" } : {}), ...headers };
  return [
    `wrk.method = ${JSON.stringify(method)}`,
    ...(body ? [`wrk.body = ${JSON.stringify(body)}`] : []),
    ...Object.entries(hs).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`),
  ].join("\n");
}

export async function wrk(opts: {
  url: string;
  duration?: number;
  connections?: number;
  threads?: number;
  /** Lua source for wrk -s (e.g. from luaRequest, or a generator of unique bodies). */
  lua?: string;
}): Promise<WrkResult> {
  const args = ["wrk", `-t${opts.threads ?? 1}`, `-c${opts.connections ?? 50}`, `-d${opts.duration ?? 5}s`, "--latency"];
  if (opts.lua) {
    const f = join(mkdtempSync(join(tmpdir(), "wrk-")), "script.lua");
    writeFileSync(f, opts.lua);
    args.push("-s", f);
  }
  args.push(opts.url);
  const proc = Bun.spawn(args, { stdout: "pipe", stderr: "pipe" });
  const out = await new Response(proc.stdout).text();
  const code = await proc.exited;
  if (code !== 0) throw new Error(`wrk failed (${code}): ${await new Response(proc.stderr).text()}\n${out}`);
  const num = (re: RegExp) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : 0;
  };
  const pct = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, "m").exec(out);
    return m ? toMs(m[1]!, m[2]!) : NaN;
  };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    p50ms: pct("50"),
    p99ms: pct("99"),
    requests: num(/(\d+) requests in/),
    errors: sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
  };
}

/** CPU time (user + system, all threads) of a process in clock ticks (100/s on Linux). */
export function cpuTicks(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return NaN;
  }
}

/**
 * A wrk run against one server, with the server's CPU per request (µs, from /proc: steadier than
 * req/s when other work shares the cores).
 */
export async function wrkCpu(srv: { pid: number; url: string }, opts: Omit<Parameters<typeof wrk>[0], "url"> & { path: string }) {
  const t0 = cpuTicks(srv.pid);
  const { path, ...rest } = opts;
  const res = await wrk({ url: srv.url + path, ...rest });
  const cpuUs = res.requests ? ((cpuTicks(srv.pid) - t0) * 10_000) / res.requests : NaN;
  return { ...res, cpuUs };
}

export function haveWrk(): boolean {
  return Bun.which("wrk") !== null;
}

export function markdownTable(rows: Record<string, string | number>[]): string {
  if (!rows.length) return "";
  const cols = Object.keys(rows[0]!);
  const fmt = (v: string | number) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : v);
  return [
    `| ${cols.join(" | ")} |`,
    `| ${cols.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${cols.map((c) => fmt(r[c] ?? "")).join(" | ")} |`),
  ].join("\n");
}

/** Median of several alternating runs, to damp this shared machine's noise. */
export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  // Even counts: the mean of the two middle values (the lower one alone understated 2-round runs).
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export interface AbResult {
  rps: number;
  p50ms: number;
  p99ms: number;
  failed: number;
}

/** `ab -c C -n N url` (HTTP/1.0, a new connection per request: Bun closes HTTP/1.0 ones anyway). */
export async function ab(url: string, opts: { concurrency?: number; requests?: number } = {}): Promise<AbResult> {
  const proc = Bun.spawn(["ab", "-q", "-c", String(opts.concurrency ?? 10), "-n", String(opts.requests ?? 10000), url], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const out = await new Response(proc.stdout).text();
  if ((await proc.exited) !== 0) throw new Error(`ab failed: ${await new Response(proc.stderr).text()}`);
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  return {
    rps: num(/Requests per second:\s+([\d.]+)/),
    p50ms: num(/^\s+50%\s+(\d+)/m),
    p99ms: num(/^\s+99%\s+(\d+)/m),
    failed: num(/Failed requests:\s+(\d+)/),
  };
}

export const haveAb = () => Bun.which("ab") !== null;
