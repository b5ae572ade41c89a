// `bun run db:seed --widgets N [--seed S]`: bulk-loads N reproducible random widgets (0–3 slots,
// ~2 on average, a share of them associated) into $PEXD_DATA_DIR/pexd.sqlite, the service's file.
// Fast path: journal off and synchronous off during the load, serial numbers and ids generated in
// ascending order so every index is appended to, multi-row INSERTs in large transactions.
// With PEXD_DATABASE_URL set, the same widgets go to PostgreSQL instead (scripts/seed-postgres.ts, COPY).
import { configOrExit } from "../src/runtime/bun/serve.ts";
import { holderOf } from "../src/runtime/bun/data-dir.ts";
import { openDatabase } from "../src/runtime/bun/sqlite.ts";
import { progressBar, seedPrefix, seedWidgets } from "./lib/seed-widgets.ts";
import { parseCli } from "./lib/cli.ts";

if (Bun.env.PEXD_DATABASE_URL) {
  await import("./seed-postgres.ts");
  process.exit(process.exitCode ?? 0);
}

const { values, fail } = parseCli({
  usage: "bun run db:seed --widgets N [options]   (scripts/seed.ts)",
  about: "bulk-loads N reproducible random widgets into $PEXD_DATA_DIR/pexd.sqlite (default ./data)",
  options: {
    widgets: { type: "number", integer: true, help: "widgets to add (serial numbers s<S>-<index>); required" },
    seed: { type: "number", integer: true, default: 1, arg: "S", help: "random seed (the same widgets on SQLite and PostgreSQL)" },
  },
  notes: "With PEXD_DATABASE_URL set, the same widgets go to PostgreSQL (scripts/seed-postgres.ts, COPY).",
});
if (values.widgets === undefined) fail("--widgets N is required");
const total = values.widgets as number;
const seed = values.seed;

const config = configOrExit(Bun.env);
// A running pexd serves from state it cached at start (the widget count): never write under it.
const holder = holderOf(config.dataDir);
if (holder !== null) {
  process.stderr.write(`db:seed: PEXD_DATA_DIR=${config.dataDir} is in use by a running pexd (pid ${holder}): stop it first\n`);
  process.exit(1);
}
const { db, path } = openDatabase(config.dataDir);
const prefix = seedPrefix(seed);
if (db.prepare("SELECT 1 FROM widgets WHERE serial_number >= ? AND serial_number < ? LIMIT 1").get(prefix, `s${seed}.`)) {
  process.stderr.write(`seed: ${path} already holds widgets of seed ${seed} (${prefix}…); use another --seed or a fresh PEXD_DATA_DIR\n`);
  process.exit(65);
}
const firstId = ((db.prepare("SELECT max(id) AS m FROM widgets").get() as { m: number | null }).m ?? 0) + 1;

// Bulk mode: nothing to recover if the load is interrupted (start again on a fresh directory).
db.exec("PRAGMA journal_mode = OFF");
db.exec("PRAGMA synchronous = OFF");
db.exec("PRAGMA foreign_keys = OFF");
db.exec("PRAGMA cache_size = -262144"); // 256 MiB: the right-most index pages stay hot

const W_ROWS = 100;
const S_ROWS = 200;
const wSql = (n: number) => `INSERT INTO widgets (id, serial_number, name) VALUES ${Array(n).fill("(?,?,?)").join(",")}`;
const sSql = (n: number) =>
  `INSERT INTO widget_slots (widget_id, ordinal, port, partner_id) VALUES ${Array(n).fill("(?,?,?,?)").join(",")}`;
const wFull = db.prepare(wSql(W_ROWS));
const sFull = db.prepare(sSql(S_ROWS));
let wBuf: (string | number)[] = [];
let sBuf: (string | number | null)[] = [];
const flushW = (force: boolean) => {
  if (wBuf.length === W_ROWS * 3) wFull.run(...wBuf);
  else if (force && wBuf.length) db.prepare(wSql(wBuf.length / 3)).run(...wBuf);
  else return;
  wBuf = [];
};
const flushS = (force: boolean) => {
  if (sBuf.length === S_ROWS * 4) sFull.run(...sBuf);
  else if (force && sBuf.length) db.prepare(sSql(sBuf.length / 4)).run(...sBuf);
  else return;
  sBuf = [];
};

const started = performance.now();
const source = seedWidgets({ seed, total, firstId });
const bar = progressBar(total, started);

const TX = 200_000;
db.exec("BEGIN");
for (let i = 0; i < total; i += 2) {
  const ws = source.pair(i);
  for (const w of ws) wBuf.push(w.id, w.sn, w.name);
  // foreign_keys is off during the load, so widget and slot batches need no ordering between them.
  flushW(false);
  for (const w of ws) {
    for (let j = 0; j < w.ports.length; j++) {
      sBuf.push(w.id, j, w.ports[j]!, w.partners[j]!);
      if (sBuf.length === S_ROWS * 4) flushS(false);
    }
  }
  if ((i + 2) % TX === 0) {
    flushW(true);
    flushS(true);
    db.exec("COMMIT; BEGIN");
    bar(i + 2);
  }
}
flushW(true);
flushS(true);
db.prepare("UPDATE widget_counters SET count = count + ? WHERE id = 1").run(total);
db.exec("COMMIT");
bar(total);
process.stderr.write("\n");

// Back to the service's durable mode, with planner statistics (sampled, so it stays quick).
db.exec("PRAGMA journal_mode = WAL");
db.exec("PRAGMA analysis_limit = 1000");
db.exec("ANALYZE");
db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
db.close();
const secs = (performance.now() - started) / 1000;
const size = Bun.file(path).size;
console.log(
  JSON.stringify({
    msg: "seeded",
    database: path,
    widgets: total,
    slots: source.counts.slots,
    associations: source.counts.associations,
    seed,
    seconds: Math.round(secs * 10) / 10,
    bytes: size,
  }),
);
