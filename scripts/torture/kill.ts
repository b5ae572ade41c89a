// Scenario "kill": kill -9 of pexd at random moments under mixed load, then restart on the same data
// directory and check that everything acknowledged survived:
//  - the counter: /current ≥ the highest index an acknowledged /next returned (and ≤ the /next calls
//    sent: no phantom steps), with the right F(n);
//  - widgets: each worker owns its serial numbers, so its expected graph is known exactly; the one
//    mutation in flight at the kill may or may not have happened (both states are accepted and the
//    one served is adopted);
//  - relay: every block answered `stored` or `duplicate` is served at /stats/blocks/{n} (and a
//    `stored` one serves the very document that was acknowledged);
// and at the end, with pexd killed once more: PRAGMA integrity_check and the widget invariants in SQL.
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { tempDir } from "../../test/helpers/pexd.ts";
import {
  type Ctx,
  Failures,
  type Rng,
  type ScenarioResult,
  excerpt,
  fmtMs,
  freePort,
  http,
  median,
  parseJson,
  removeDirLater,
  sleep,
  spawnPexd,
  waitHealthy,
} from "./lib.ts";
import { RelayLedger, WidgetWorker, canonical, cloneModel, diffModels, listWidgets, relayWorker, servedModel } from "./model.ts";

const FIB_WORKERS = 3;
const WIDGET_WORKERS = 4;
const WIDGET_POOL = 10;
const RELAY_WORKERS = 2;

/** F(n) mod p by fast doubling: checks the value pexd recomputed at start-up without BigInt-parsing twice. */
const P = 1_000_000_007n;
export function fibMod(n: number): bigint {
  let a = 0n; // F(k)
  let b = 1n; // F(k+1)
  for (let bit = Math.floor(Math.log2(Math.max(n, 1))); bit >= 0; bit--) {
    const c = (a * ((2n * b - a + P) % P)) % P;
    const d = (a * a + b * b) % P;
    if ((n >> bit) & 1) {
      a = d;
      b = (c + d) % P;
    } else {
      a = c;
      b = d;
    }
  }
  return n === 0 ? 0n : a;
}

interface FibTrack {
  sent: number;
  acked: number;
  maxAcked: number;
  lastSeen: number;
}

async function fibWorker(url: string, t: FibTrack, failures: Failures): Promise<void> {
  for (;;) {
    t.sent++;
    const r = await http(`${url}/next`, { method: "POST", timeoutMs: 10_000 });
    if (r.status === 0) return;
    const idx = (parseJson(r.text) as { index?: unknown } | undefined)?.index;
    if (r.status !== 200 || typeof idx !== "number") {
      failures.add(`fib: POST /next → ${r.status} ${excerpt(r.text)}`, "fib: unexpected answer");
      return;
    }
    t.acked++;
    if (idx > t.maxAcked) t.maxAcked = idx;
  }
}

export async function runKill(ctx: Ctx, rng: Rng): Promise<ScenarioResult> {
  const t0 = performance.now();
  const kills = ctx.short ? 10 : 100;
  const failures = new Failures();
  const dataDir = tempDir("pexd-torture-kill-");
  const removeDir = removeDirLater(dataDir);
  const relayPort = await freePort();
  const env = { PEXD_RELAY_PORT: String(relayPort), PEXD_LOG_LEVEL: "warn" };
  const fib: FibTrack = { sent: 0, acked: 0, maxAcked: 0, lastSeen: 0 };
  const workers = Array.from({ length: WIDGET_WORKERS }, (_, i) => new WidgetWorker(`k${i}`, WIDGET_POOL, rng.fork(`widgets${i}`)));
  const relayRngs = Array.from({ length: RELAY_WORKERS }, (_, i) => rng.fork(`relay${i}`));
  const ledger = new RelayLedger();
  const blockSpace = kills * 30;
  const restartMs: number[] = [];
  const lost = { fib: 0, widgets: 0, blocks: 0 };
  const unknown = { applied: 0, notApplied: 0 };
  let pexd = await spawnPexd({ dataDir, env });
  let killsDone = 0;

  try {
    for (let k = 1; k <= kills; k++) {
      // Mixed load on the live process, then kill -9 at a random moment of it.
      const url = pexd.url;
      const load = Promise.all([
        ...Array.from({ length: FIB_WORKERS }, () => fibWorker(url, fib, failures)),
        ...workers.map((w) => w.run(url, failures)),
        ...relayRngs.map((r) => relayWorker(relayPort, r, ledger, failures, blockSpace)),
      ]);
      await sleep(rng.int(60, 900));
      pexd.proc.kill("SIGKILL");
      await pexd.proc.exited;
      killsDone++;
      await load; // every worker ends on its first unanswered request
      await pexd.dispose();

      // Restart on the same data directory; the restart time is spawn → first GET /health 200.
      const s0 = performance.now();
      pexd = await spawnPexd({ dataDir, env, timeoutMs: 20_000 });
      await waitHealthy(pexd.url, 15_000);
      restartMs.push(performance.now() - s0);

      await checkFib(pexd.url, fib, failures, lost);
      await checkWidgets(pexd.url, workers, failures, lost, unknown);
      lost.blocks += await ledger.verify(pexd.url, failures);
      if (k % 10 === 0 || k === kills) ctx.log(`kill ${k}/${kills}: index ${fib.lastSeen}, blocks ${ledger.acknowledged}`);
    }
    // Every acknowledged block once more, then a last kill -9 and the database checked offline.
    lost.blocks += await ledger.verify(pexd.url, failures, [...ledger.stored.keys(), ...ledger.duplicates]);
    pexd.proc.kill("SIGKILL");
    await pexd.proc.exited;
    await pexd.dispose();
    checkDatabase(join(dataDir, "pexd.sqlite"), fib, workers, ledger, failures, lost);
  } finally {
    await pexd.dispose();
    await removeDir();
  }

  const widgetAcks = workers.reduce((a, w) => a + w.acked, 0);
  const totalLost = lost.fib + lost.widgets + lost.blocks;
  return {
    name: "kill",
    tried: `${killsDone} kill -9; acknowledged: ${fib.acked} /next, ${widgetAcks} widget mutations, ${ledger.acknowledged} blocks (${ledger.frames} frames)`,
    failed: `lost ${totalLost} (fib ${lost.fib}, widgets ${lost.widgets}, blocks ${lost.blocks}); failures ${failures.count}${failures.count ? `: ${failures.summary()}` : ""}`,
    measured: `restart max ${fmtMs(Math.max(...restartMs))}, median ${fmtMs(median(restartMs))}; in doubt at kill: ${unknown.applied} applied, ${unknown.notApplied} not; final index ${fib.lastSeen}`,
    pass: failures.count === 0 && totalLost === 0 && killsDone === kills,
    details: failures.items,
    seconds: (performance.now() - t0) / 1000,
  };
}

async function checkFib(url: string, fib: FibTrack, failures: Failures, lost: { fib: number }): Promise<void> {
  const r = await http(`${url}/current`);
  const body = parseJson(r.status === 200 ? r.text : "") as { index: number; value: string } | undefined;
  if (!body) {
    failures.add(`fib: GET /current after restart → ${r.status}`, "fib: unexpected answer");
    return;
  }
  if (body.index < fib.maxAcked || body.index < fib.lastSeen) {
    lost.fib++;
    failures.add(
      `fib: index ${body.index} after restart, but /next acknowledged ${fib.maxAcked} (last seen ${fib.lastSeen})`,
      "fib: acknowledged /next lost",
    );
  }
  if (body.index > fib.sent) failures.add(`fib: index ${body.index} is more than the ${fib.sent} /next ever sent`, "fib: phantom steps");
  if (!/^\d+$/.test(body.value) || BigInt(body.value) % P !== fibMod(body.index)) {
    failures.add(`fib: value at index ${body.index} is not F(${body.index}) (${excerpt(body.value, 40)})`, "fib: wrong value");
  }
  fib.lastSeen = Math.max(fib.lastSeen, body.index);
}

/** Each worker's served graph must be its acknowledged one, or that plus the op in doubt. */
async function checkWidgets(
  url: string,
  workers: WidgetWorker[],
  failures: Failures,
  lost: { widgets: number },
  unknown: { applied: number; notApplied: number },
): Promise<void> {
  const served = await listWidgets(url);
  for (const w of workers) {
    const got = servedModel(served, `${w.id}-`);
    const text = canonical(got);
    if (text === canonical(w.model)) {
      if (w.pendingAfter) unknown.notApplied++;
    } else if (w.pendingAfter && text === canonical(w.pendingAfter)) {
      unknown.applied++;
      w.model = cloneModel(got);
    } else {
      // Report the difference from the nearer of the two acceptable states.
      const diffs = [diffModels(w.model, got), ...(w.pendingAfter ? [diffModels(w.pendingAfter, got)] : [])].sort(
        (a, b) => a.length - b.length,
      );
      const diff = diffs[0]!;
      lost.widgets += Math.max(1, diff.filter((d) => d.startsWith("missing")).length);
      failures.add(
        `widgets ${w.id}: served state is neither the acknowledged one nor that plus "${w.pendingLabel}": ${diff.slice(0, 4).join(" | ")}`,
        "widgets: acknowledged state lost",
      );
      w.model = cloneModel(got); // go on from what is served, so one loss is reported once
    }
    w.pendingAfter = null;
  }
}

/** Offline checks on the killed process's database file (read-only connection). */
function checkDatabase(
  file: string,
  fib: FibTrack,
  workers: WidgetWorker[],
  ledger: RelayLedger,
  failures: Failures,
  lost: { fib: number; widgets: number; blocks: number },
): void {
  const db = new Database(file, { readonly: true });
  try {
    const q = <T>(sql: string) => db.query(sql).all() as T[];
    const integrity = q<{ integrity_check: string }>("PRAGMA integrity_check").map((r) => r.integrity_check);
    if (integrity.join() !== "ok") failures.add(`sqlite: integrity_check: ${integrity.slice(0, 5).join("; ")}`, "sqlite: integrity_check");
    const fk = q<unknown>("PRAGMA foreign_key_check");
    if (fk.length > 0)
      failures.add(`sqlite: foreign_key_check: ${fk.length} rows, e.g. ${JSON.stringify(fk[0])}`, "sqlite: foreign_key_check");
    const invariants: [string, string][] = [
      [
        "asymmetric association",
        `SELECT a.widget_id, a.port, a.partner_id FROM widget_slots a WHERE a.partner_id IS NOT NULL AND NOT EXISTS
           (SELECT 1 FROM widget_slots b WHERE b.widget_id = a.partner_id AND b.port = a.port AND b.partner_id = a.widget_id)`,
      ],
      [
        "more associations than slots of a type",
        `SELECT widget_id, port, COUNT(*) AS slots, COUNT(partner_id) AS assoc FROM widget_slots GROUP BY widget_id, port
           HAVING COUNT(partner_id) > COUNT(*)`,
      ],
      [
        "a pair associated twice on one type",
        `SELECT widget_id, port, partner_id, COUNT(*) AS n FROM widget_slots WHERE partner_id IS NOT NULL
           GROUP BY widget_id, port, partner_id HAVING COUNT(*) > 1`,
      ],
      [
        "partner that is not a widget",
        "SELECT widget_id, partner_id FROM widget_slots WHERE partner_id IS NOT NULL AND partner_id NOT IN (SELECT id FROM widgets)",
      ],
      ["slot of a removed widget", "SELECT widget_id FROM widget_slots WHERE widget_id NOT IN (SELECT id FROM widgets)"],
      ["more than 3 slots", "SELECT widget_id, COUNT(*) FROM widget_slots GROUP BY widget_id HAVING COUNT(*) > 3"],
      [
        "widget count",
        "SELECT count, (SELECT COUNT(*) FROM widgets) AS real FROM widget_counters WHERE count <> (SELECT COUNT(*) FROM widgets)",
      ],
    ];
    for (const [what, sql] of invariants) {
      const rows = q<unknown>(sql);
      if (rows.length > 0)
        failures.add(`sqlite: ${what}: ${rows.length} rows, e.g. ${JSON.stringify(rows[0])}`, "sqlite: widget invariant");
    }
    const idx = (db.query("SELECT idx FROM fib_state WHERE id = 1").get() as { idx: number } | null)?.idx ?? -1;
    if (idx < fib.maxAcked) {
      lost.fib++;
      failures.add(`sqlite: fib_state.idx ${idx} < acknowledged ${fib.maxAcked}`, "fib: acknowledged /next lost");
    }
    // The file holds exactly each worker's last verified graph (no load ran after the check).
    const rows = q<{ sn: string; name: string; ordinal: number; port: string | null; partner: string | null }>(
      `SELECT w.serial_number AS sn, w.name, s.ordinal, s.port, p.serial_number AS partner FROM widgets w
         LEFT JOIN widget_slots s ON s.widget_id = w.id LEFT JOIN widgets p ON p.id = s.partner_id ORDER BY w.serial_number, s.ordinal`,
    );
    for (const w of workers) {
      const m = new Map<string, { name: string; slots: { port: "P" | "R" | "Q"; partner: string | null }[] }>();
      for (const r of rows) {
        if (!r.sn.startsWith(`${w.id}-`)) continue;
        const e = m.get(r.sn) ?? { name: r.name, slots: [] };
        if (r.port) e.slots.push({ port: r.port as "P", partner: r.partner });
        m.set(r.sn, e);
      }
      if (canonical(m) !== canonical(w.model)) {
        lost.widgets++;
        failures.add(
          `sqlite: widgets of ${w.id} differ from the last verified state: ${diffModels(w.model, m).slice(0, 3).join(" | ")}`,
          "widgets: acknowledged state lost",
        );
      }
    }
    const stored = new Set(q<{ number: number }>("SELECT number FROM relay_blocks").map((r) => r.number));
    for (const n of [...ledger.stored.keys(), ...ledger.duplicates]) {
      if (!stored.has(n)) {
        lost.blocks++;
        failures.add(`sqlite: acknowledged block ${n} missing from relay_blocks`, "relay: acknowledged block lost");
      }
    }
  } finally {
    db.close();
  }
}
