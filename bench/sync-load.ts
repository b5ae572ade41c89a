// The cost of PEXD_SYNC=full (SQLite synchronous=FULL: an fsync per commit, so an acknowledged write
// also survives a power loss) against the default normal, on the two durable write paths: the
// counter's POST /next (group commit) and POST /rpc/add_widget. wrk -c50, interleaved rounds.
// Usage: bun run bench/sync-load.ts [--duration 5] [--rounds 3]
import { parseCli } from "../scripts/lib/cli.ts";
import { haveWrk, markdownTable, median, startBaseline, startPexd, wrk } from "./lib.ts";

const { values } = parseCli({
  usage: "bun run bench/sync-load.ts [options]",
  about: "PEXD_SYNC=full against normal on POST /next and POST /rpc/add_widget (wrk -c50, interleaved rounds).",
  options: {
    duration: { type: "number", integer: true, min: 1, default: 5, arg: "S", help: "seconds per wrk run" },
    rounds: { type: "number", integer: true, min: 1, default: 3, help: "rounds, median" },
  },
});
const { duration, rounds } = values;
if (!haveWrk()) {
  console.error("wrk not found (apt-get install -y wrk)");
  process.exit(1);
}

/** A fresh serial number per request (a prefix per run): every add is a real insert. */
let runs = 0;
const add = () => `
local n = 0
local p = "r${++runs}-${Date.now().toString(36)}"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, '{"widget_sn":"' .. p .. '-' .. n .. '","widget_name":"w","slots":["P","R"]}')
end`;
const NEXT = `wrk.method = "POST"`;

const base = await startBaseline();
const normal = await startPexd({ PEXD_LOG_LEVEL: "warn", PEXD_SYNC: "normal" });
const full = await startPexd({ PEXD_LOG_LEVEL: "warn", PEXD_SYNC: "full" });
try {
  const rows: Record<string, string | number>[] = [];
  const b: number[] = [];
  const results: Record<string, { rps: number[]; p99: number[] }> = {};
  for (let r = 0; r < rounds; r++) {
    b.push((await wrk({ url: `${base.url}/`, duration: 3, connections: 50 })).rps);
    for (const path of ["/next", "/rpc/add_widget"] as const) {
      for (const [name, s] of [
        ["normal", normal],
        ["full", full],
      ] as const) {
        const lua = path === "/next" ? NEXT : add();
        const w = await wrk({ url: `${s.url}${path}`, duration, connections: 50, lua });
        if (w.non2xx || w.errors) throw new Error(`${path} ${name}: ${w.non2xx} non-2xx, ${w.errors} socket errors`);
        const k = `POST ${path}, PEXD_SYNC=${name}`;
        results[k] ??= { rps: [], p99: [] };
        results[k].rps.push(w.rps);
        results[k].p99.push(w.p99ms);
      }
    }
  }
  rows.push({ case: "bare Bun.serve baseline", "req/s": Math.round(median(b)), "p99 ms": "" });
  for (const [k, v] of Object.entries(results)) rows.push({ case: k, "req/s": Math.round(median(v.rps)), "p99 ms": median(v.p99) });
  console.log(markdownTable(rows));
  for (const path of ["/next", "/rpc/add_widget"]) {
    const n = median(results[`POST ${path}, PEXD_SYNC=normal`]!.rps);
    const f = median(results[`POST ${path}, PEXD_SYNC=full`]!.rps);
    console.log(`POST ${path}: full / normal = ${(f / n).toFixed(2)}× (median of ${rounds} interleaved rounds, wrk -c50, ${duration} s)`);
  }
} finally {
  await normal.stop();
  await full.stop();
  await base.stop();
}
