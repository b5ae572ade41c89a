// `bun run bench/binary-start.ts [--bin dist/pexd] [--runs 5] [--build] [--no-source]`: the compiled
// executable's start, from an empty directory with only PATH in the environment, to its first healthy
// GET /health (target: under 300 ms), as the median of several runs; also its size, and the same start
// from source (bun src/runtime/bun/cli.ts) for comparison. Every run is a new process on a new, empty
// directory (a new SQLite database, migrations applied); the file itself is in the page cache after the
// first run, as on a server that restarts the service.
import { record } from "./targets.ts";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { buildPexd } from "../scripts/build.ts";
import { parseCli } from "../scripts/lib/cli.ts";
import { CLI, ROOT } from "../test/helpers/pexd.ts";

const { values, fail } = parseCli({
  usage: "bun run bench/binary-start.ts [options]",
  about: "The executable's cold start to a healthy GET /health, from an empty directory (target < 300 ms).",
  options: {
    bin: { type: "string", arg: "PATH", help: "the executable (default: $PEXD_BIN, else dist/pexd; relative to the repository root)" },
    build: { type: "boolean", help: "build it first (scripts/build.ts) into a temporary directory" },
    runs: { type: "number", integer: true, min: 1, default: 5, help: "starts per command" },
    "no-source": { type: "boolean", help: "skip the comparison with bun running the source" },
  },
});
if (values.build && values.bin) fail("--build and --bin exclude each other");
const { runs } = values;

let buildDir: string | null = null;
let bin: string;
if (values.build) {
  buildDir = mkdtempSync(join(tmpdir(), "pexd-build-"));
  const built = await buildPexd({ outfile: join(buildDir, "pexd") });
  bin = built.outfile;
} else {
  bin = resolve(ROOT, values.bin ?? process.env.PEXD_BIN ?? "dist/pexd");
  try {
    statSync(bin);
  } catch {
    process.stderr.write(`no executable at ${bin}: run bun run scripts/build.ts first, or pass --build\n`);
    process.exit(66);
  }
}

interface Start {
  /** Spawn to the "listening" log line. */
  listening: number;
  /** Spawn to the first 200 from GET /health. */
  healthy: number;
  /** Resident memory when healthy, MiB. */
  rss: number;
  /** CPU time (user + system, all threads) spent until healthy, ms: what the load of the machine does not inflate. */
  cpu: number;
}

/** utime + stime of a process, ms (/proc/<pid>/stat, in clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function startOnce(cmd: string[]): Promise<Start> {
  const dir = mkdtempSync(join(tmpdir(), "pexd-start-"));
  const t0 = performance.now();
  const proc = Bun.spawn(cmd, {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", PEXD_PORT: "0" },
    stdout: "pipe",
    stderr: "pipe",
  });
  try {
    let text = "";
    let port = 0;
    let listening = 0;
    const dec = new TextDecoder();
    const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
    while (!port) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`${cmd.join(" ")} exited before listening:\n${text}${await new Response(proc.stderr).text()}`);
      text += dec.decode(value, { stream: true });
      const m = /"msg":"listening"[^\n]*"port":(\d+)/.exec(text);
      if (m) {
        port = Number(m[1]);
        listening = performance.now() - t0;
      }
    }
    reader.releaseLock();
    // Drain the rest of the log so the pipe never fills.
    void (async () => {
      for await (const _ of proc.stdout as ReadableStream<Uint8Array>);
    })().catch(() => {});
    for (;;) {
      const r = await fetch(`http://127.0.0.1:${port}/health`).catch(() => null);
      if (r?.ok) {
        await r.arrayBuffer();
        break;
      }
      await Bun.sleep(1);
    }
    const healthy = performance.now() - t0;
    return { listening, healthy, rss: rssMiB(proc.pid), cpu: cpuMs(proc.pid) };
  } finally {
    proc.kill("SIGTERM");
    await proc.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

async function measure(label: string, cmd: string[]) {
  const starts: Start[] = [];
  for (let i = 0; i < runs; i++) starts.push(await startOnce(cmd));
  const healthy = starts.map((s) => s.healthy);
  return {
    label,
    median: median(healthy),
    min: Math.min(...healthy),
    max: Math.max(...healthy),
    listening: median(starts.map((s) => s.listening)),
    rss: median(starts.map((s) => s.rss)),
    cpu: median(starts.map((s) => s.cpu)),
    each: healthy.map((ms) => Math.round(ms)).join(", "),
  };
}

try {
  const size = statSync(bin).size;
  const rows = [await measure(`binary ${relative(process.cwd(), bin) || bin}`, [bin])];
  if (!values["no-source"]) rows.push(await measure("source (bun cli.ts)", [process.execPath, CLI]));
  console.log(
    `pexd cold start to a healthy /health: empty directory, env PATH + PEXD_PORT=0, ${runs} runs each, ${new Date().toISOString()}`,
  );
  console.log(`binary size: ${size} bytes (${(size / 1048576).toFixed(1)} MiB)\n`);
  console.log("| command | healthy, median ms | min | max | listening, median ms | CPU ms to healthy | RSS MiB | runs (ms) |");
  console.log("|---|---:|---:|---:|---:|---:|---:|---|");
  for (const r of rows) {
    console.log(
      `| ${r.label} | ${r.median.toFixed(0)} | ${r.min.toFixed(0)} | ${r.max.toFixed(0)} | ${r.listening.toFixed(0)} | ${r.cpu.toFixed(0)} | ${r.rss.toFixed(0)} | ${r.each} |`,
    );
  }
  const binary = rows[0]!;
  record("binary-cold-start", binary.median, `median of ${runs} runs, ${(size / 1048576).toFixed(0)} MiB executable`);
  console.log(`\ntarget < 300 ms: ${binary.median < 300 ? "met" : "NOT met"} (${binary.median.toFixed(0)} ms)`);
} finally {
  if (buildDir) rmSync(buildDir, { recursive: true, force: true });
}
