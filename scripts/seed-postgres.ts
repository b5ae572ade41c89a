// `bun run scripts/seed-postgres.ts --widgets N [--seed S]` with PEXD_DATABASE_URL set: bulk-loads
// N reproducible random widgets into PostgreSQL, the same ones scripts/seed.ts puts in SQLite for
// that seed (0–3 slots, ~2 on average, pairs (2k, 2k+1) associated on each shared port type with
// probability 1/2, serial numbers s<seed>-<zero-padded index>).
// Fast path: COPY FROM STDIN in chunks of CHUNK widgets, each chunk one transaction (widgets, their
// slots and the count), two chunks loading at once on two connections. Ids are reserved up front
// so every row is known before it is written. As a superuser the load runs with
// session_replication_role = replica, which skips the foreign-key triggers (the generator keeps
// every invariant by construction: --verify checks them after the load); otherwise the triggers
// run and the load is slower.
import type { SQL } from "bun";
import { openPostgres, pgLocation } from "../src/runtime/bun/postgres.ts";
import { progressBar, seedPrefix, seedWidgets } from "./lib/seed-widgets.ts";
import { parseCli } from "./lib/cli.ts";

const { values, fail } = parseCli({
  usage: "PEXD_DATABASE_URL=postgres://… bun run scripts/seed-postgres.ts --widgets N [options]",
  about: "bulk-loads N reproducible random widgets into PostgreSQL with COPY",
  options: {
    widgets: { type: "number", integer: true, help: "widgets to add (serial numbers s<S>-<index>); required" },
    seed: { type: "number", integer: true, default: 1, arg: "S", help: "random seed (the same widgets as scripts/seed.ts --seed S)" },
    verify: { type: "boolean", help: "check every widget invariant with SQL after the load" },
  },
});
const url = Bun.env.PEXD_DATABASE_URL ?? "";
if (values.widgets === undefined) fail("--widgets N is required");
if (!url) fail("PEXD_DATABASE_URL is not set");
const total = values.widgets as number;
const seed = values.seed;

const started = performance.now();
const where = pgLocation(url);
const sql = await openPostgres(url, { max: 3 }).catch((e: unknown) => {
  process.stderr.write(`seed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(69);
});
const prefix = seedPrefix(seed);
if ((await sql.unsafe("SELECT 1 FROM widgets WHERE serial_number >= $1 AND serial_number < $2 LIMIT 1", [prefix, `s${seed}.`])).length) {
  process.stderr.write(`seed: ${where} already holds widgets of seed ${seed} (${prefix}…); use another --seed or a fresh database\n`);
  process.exit(65);
}
const [{ superuser }] = (await sql.unsafe("SELECT rolsuper AS superuser FROM pg_roles WHERE rolname = current_user")) as [
  { superuser: boolean },
];

// Reserve ids [firstId, firstId + total): writers that start meanwhile wait for the table lock,
// then take ids after the range.
const firstId = await sql.begin(async (tx) => {
  await tx.unsafe("LOCK TABLE widgets IN EXCLUSIVE MODE");
  const [{ id }] = (await tx.unsafe(
    "SELECT greatest(nextval(pg_get_serial_sequence('widgets', 'id')), coalesce(max(id), 0) + 1)::float8 AS id FROM widgets",
  )) as [{ id: number }];
  if (total > 0) await tx.unsafe("SELECT setval(pg_get_serial_sequence('widgets', 'id'), $1::bigint)", [id + total - 1]);
  return id;
});

const source = seedWidgets({ seed, total, firstId });

interface Chunk {
  widgets: string;
  slots: string;
  n: number;
}

/** Widgets [from, to) as COPY text (from is even: pairs never straddle chunks). */
function generate(from: number, to: number): Chunk {
  const w: string[] = [];
  const s: string[] = [];
  for (let i = from; i < to; i += 2) {
    for (const x of source.pair(i)) {
      w.push(`${x.id}\t${x.sn}\t${x.name}\n`);
      for (let j = 0; j < x.ports.length; j++) s.push(`${x.id}\t${j}\t${x.ports[j]}\t${x.partners[j] ?? "\\N"}\n`);
    }
  }
  return { widgets: w.join(""), slots: s.join(""), n: to - from };
}

/** Streams COPY text to the server in 1 MiB pieces (the writer applies backpressure). */
async function copy(query: SQL.Query<unknown>, text: string): Promise<void> {
  const writer = query.writable().getWriter();
  const STEP = 1 << 20;
  for (let i = 0; i < text.length; i += STEP) await writer.write(text.slice(i, i + STEP));
  await writer.close();
  await query;
}

let done = 0;
const drawBar = progressBar(total, started);
const bar = () => drawBar(done);

async function load(c: Chunk): Promise<void> {
  await sql.begin(async (tx) => {
    if (superuser) await tx.unsafe("SET LOCAL session_replication_role = replica");
    // Nothing to lose here: an interrupted load is rolled back chunk by chunk.
    await tx.unsafe("SET LOCAL synchronous_commit = off");
    await copy(tx`COPY widgets (id, serial_number, name) FROM STDIN`, c.widgets);
    await copy(tx`COPY widget_slots (widget_id, ordinal, port, partner_id) FROM STDIN`, c.slots);
    await tx.unsafe("UPDATE widget_counts SET n = n + $1 WHERE shard = 0", [c.n]);
  });
  done += c.n;
  bar();
}

const CHUNK = 250_000;
const inFlight = new Set<Promise<void>>();
for (let from = 0; from < total; from += CHUNK) {
  const c = generate(from, Math.min(total, from + CHUNK));
  const p = load(c).finally(() => inFlight.delete(p));
  inFlight.add(p);
  if (inFlight.size >= 2) await Promise.race(inFlight);
}
await Promise.all(inFlight);
bar();
process.stderr.write("\n");
const loadedSecs = (performance.now() - started) / 1000;

// Planner statistics (sampled, quick), so the first queries get index plans.
await sql.unsafe("ANALYZE widgets");
await sql.unsafe("ANALYZE widget_slots");

let verified: boolean | undefined;
if (values.verify) {
  const [bad] = (await sql.unsafe(`SELECT
    (SELECT count(*) FROM widget_slots s WHERE s.partner_id IS NOT NULL AND NOT EXISTS (
       SELECT 1 FROM widget_slots t WHERE t.widget_id = s.partner_id AND t.port = s.port AND t.partner_id = s.widget_id))
    + (SELECT count(*) FROM widget_slots s WHERE NOT EXISTS (SELECT 1 FROM widgets w WHERE w.id = s.widget_id))
    + (SELECT count(*) FROM widget_slots s WHERE s.partner_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM widgets w WHERE w.id = s.partner_id))
    + (SELECT count(*) FROM widgets) - widget_count() AS n`)) as [{ n: string }];
  verified = Number(bad.n) === 0;
}
const [{ bytes }] = (await sql.unsafe("SELECT pg_database_size(current_database())::float8 AS bytes")) as [{ bytes: number }];
await sql.close();
console.log(
  JSON.stringify({
    msg: "seeded",
    database: where,
    widgets: total,
    slots: source.counts.slots,
    associations: source.counts.associations,
    seed,
    triggers: superuser ? "skipped (superuser, replica role)" : "on",
    seconds: Math.round(((performance.now() - started) / 1000) * 10) / 10,
    load_seconds: Math.round(loadedSecs * 10) / 10,
    bytes,
    ...(verified === undefined ? {} : { verified }),
  }),
);
if (verified === false) process.exit(1);
