// mitata: each WidgetStore operation on the SQLite adapter, one commit per operation (group
// commit off, so the figure is the transaction cost), on the 10M database made by scripts/seed.ts.
// Usage: PEXD_DATA_DIR=/var/tmp/pexd-10m bun run bench/widgets.bench.ts [--widgets 10000000]
// Mutations are paired (add+remove, associate+dissociate) so the database is left as it was.
import { Database } from "bun:sqlite";
import { bench, group, run } from "mitata";
import { parseCli } from "../scripts/lib/cli.ts";
import { openDatabase } from "../src/runtime/bun/sqlite.ts";
import { SqliteWidgetStore } from "../src/storage/sqlite/widget.sqlite.ts";

const DEFAULT_DIR = "/var/tmp/pexd-10m";
const { values } = parseCli({
  usage: "PEXD_DATA_DIR=DIR bun run bench/widgets.bench.ts [options]",
  about: "mitata: each WidgetStore operation on the SQLite adapter, one commit each, on a seeded database.",
  options: {
    widgets: {
      type: "number",
      integer: true,
      min: 1,
      default: 10_000_000,
      help: "widgets seeded in the database (scripts/seed.ts --seed 1)",
    },
  },
  notes: `PEXD_DATA_DIR: the seeded data dir (default ${DEFAULT_DIR}); it is left as it was.`,
});
const dir = Bun.env.PEXD_DATA_DIR ?? DEFAULT_DIR;
const n = values.widgets;
const digits = String(n - 1).length;
const seeded = (k: number) => `s1-${String(k % n).padStart(digits, "0")}`;

const { db } = openDatabase(dir);
const reader = new Database(db.filename, { readonly: true, strict: true });
const store = new SqliteWidgetStore(db, { groupCommit: false, reader: reader });
const grouped = new SqliteWidgetStore(db, { groupCommit: true, reader: reader });
const tag = `mb${Date.now().toString(36)}-`;
await store.add({ sn: `${tag}a`, name: "a", slots: ["P", "R", "Q"] });
await store.add({ sn: `${tag}b`, name: "b", slots: ["P", "R", "Q"] });
let k = 0;
const next = () => (k = (k * 1103515245 + 12345) % 2147483648);

group(`reads at ${n.toLocaleString("en")} widgets (random serial numbers)`, () => {
  bench("get(sn)", async () => {
    await store.get(seeded(next()));
  });
  bench("list(after, 100)", async () => {
    await store.list(seeded(next()), 100);
  });
});
group("mutations, one commit each", () => {
  let j = 0;
  bench("add(3 slots) + remove", async () => {
    const sn = `${tag}x${j++}`;
    await store.add({ sn, name: "x", slots: ["P", "R", "Q"] });
    await store.remove(sn);
  });
  bench("associate + dissociate", async () => {
    await store.associate(`${tag}a`, `${tag}b`, "P");
    await store.dissociate(`${tag}a`, `${tag}b`, "P");
  });
  bench("refused associate (no_free_slot / already_associated on seeded pair)", async () => {
    await store.associate(seeded(next()), seeded(next()), "P").catch(() => {});
  });
});
group("group commit: 50 add+remove pairs per commit (per pair)", () => {
  let j = 0;
  bench("50 × (add + remove), one commit", async () => {
    const ps: Promise<void>[] = [];
    for (let x = 0; x < 50; x++) {
      const sn = `${tag}g${j++}`;
      ps.push(grouped.add({ sn, name: "g", slots: ["P", "R", "Q"] }), grouped.remove(sn));
    }
    await Promise.all(ps);
  });
});

await run();
await store.remove(`${tag}a`);
await store.remove(`${tag}b`);
reader.close();
db.close();
