// A separate process that times sequential GET /health requests (used by the slowloris scenario):
// measuring from the harness process itself would add its own event-loop delays (it is busy
// trickling bytes into 2,000 sockets) to pexd's latency.
//
//   bun run scripts/torture/health-probe.ts URL DURATION_MS
//
// Every request goes on a new connection (`Connection: close`), like a new client would: a server
// whose accept queue is starved shows it too. Prints one JSON line: {"latencies":[ms…],"failures":[…]}.
export {};

const [url, durationArg] = process.argv.slice(2);
const duration = Number(durationArg);
if (!url || !Number.isFinite(duration) || duration <= 0) {
  process.stderr.write("usage: health-probe.ts URL DURATION_MS\n");
  process.exit(64);
}

const latencies: number[] = [];
const failures: string[] = [];
const end = performance.now() + duration;
while (performance.now() < end) {
  const t0 = performance.now();
  try {
    const res = await fetch(`${url}/health`, { headers: { connection: "close" }, signal: AbortSignal.timeout(5000) });
    await res.arrayBuffer();
    const ms = performance.now() - t0;
    if (res.status === 200) latencies.push(ms);
    else failures.push(`status ${res.status} after ${ms.toFixed(1)} ms`);
  } catch (e) {
    failures.push(`${e instanceof Error ? e.message : String(e)} after ${(performance.now() - t0).toFixed(1)} ms`);
  }
}
process.stdout.write(`${JSON.stringify({ latencies, failures })}\n`);
