// One binary (issue 16): scripts/build.ts compiles pexd into one executable that runs from an empty
// directory with nothing but PATH in its environment and without the source tree or node_modules (when
// the machine lets us, the repository is hidden from it under a tmpfs in a private mount namespace).
// Everything it reads at run time is inside: SQLite and PostgreSQL migrations, web assets, the
// checkpoint worker. The start-up time is measured by bench/binary-start.ts, not asserted here.
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrationProblems, workerEntrypoints } from "../scripts/build.ts";
import { loadPgMigrations, PG_MIGRATIONS_DIR } from "../src/runtime/bun/postgres.ts";
import { loadMigrations, MIGRATIONS_DIR } from "../src/runtime/bun/sqlite.ts";
import { readLogLines, ROOT } from "./helpers/pexd.ts";
import { startPostgres, type PgServer } from "./helpers/postgres.ts";

const BUILD = join(ROOT, "scripts/build.ts");
const temps: string[] = [];
const temp = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  temps.push(d);
  return d;
};

/** The migration files of a directory as the service would see them, read straight from disk. */
const filesOf = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith(".sql"))
    .sort()
    .map((name) => ({ name, sql: readFileSync(join(dir, name), "utf8") }));

async function run(cmd: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const p = Bun.spawn(cmd, { cwd: opts.cwd ?? ROOT, env: opts.env ?? { PATH: process.env.PATH ?? "" }, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { out, err, code };
}

describe("what the executable embeds", () => {
  test("every migration of db/sqlite and db/postgres, with the same text, in name order", () => {
    expect(loadMigrations()).toEqual(filesOf(MIGRATIONS_DIR));
    expect(loadPgMigrations()).toEqual(filesOf(PG_MIGRATIONS_DIR));
    expect(loadMigrations().length).toBeGreaterThan(0);
    expect(loadPgMigrations().length).toBeGreaterThan(0);
    expect(migrationProblems()).toEqual([]);
  });

  test("the check fails for a migration added to a directory but not to the embedded list (it can fail)", () => {
    const fake = temp("pexd-mig-check-");
    for (const [sub, from] of [
      ["db/sqlite", MIGRATIONS_DIR],
      ["db/postgres", PG_MIGRATIONS_DIR],
    ] as const) {
      mkdirSync(join(fake, sub), { recursive: true });
      for (const f of readdirSync(from)) copyFileSync(join(from, f), join(fake, sub, f));
    }
    expect(migrationProblems(fake)).toEqual([]);
    writeFileSync(join(fake, "db/sqlite/9999_forgotten.sql"), "CREATE TABLE forgotten (x INTEGER);");
    writeFileSync(join(fake, "db/postgres/9999_forgotten.sql"), "CREATE TABLE forgotten (x integer);");
    const [first] = readdirSync(join(fake, "db/postgres")).sort();
    writeFileSync(join(fake, "db/postgres", first!), "-- edited after embedding\n");
    const problems = migrationProblems(fake).join("\n");
    expect(problems).toContain("db/sqlite/9999_forgotten.sql is not embedded");
    expect(problems).toContain("db/postgres/9999_forgotten.sql is not embedded");
    rmSync(join(fake, "db/sqlite/9999_forgotten.sql"));
    rmSync(join(fake, "db/postgres/9999_forgotten.sql"));
    expect(migrationProblems(fake)).toEqual([`db/postgres/${first}: the embedded text differs from the file`]);
  });

  test("every Worker started under src/ is an entry point of the executable", () => {
    const { entrypoints, problems } = workerEntrypoints();
    expect(problems).toEqual([]);
    expect(entrypoints).toContain(join(ROOT, "src/runtime/bun/checkpoint.worker.ts"));
  });

  test("the Worker check fails for a script the executable could not start (it can fail)", () => {
    const src = temp("pexd-worker-check-");
    mkdirSync(join(src, "deep"));
    writeFileSync(join(src, "deep/w.ts"), "postMessage(1);\n");
    writeFileSync(join(src, "deep/a.ts"), 'const w = new Worker(new URL("./w.ts", import.meta.url).href);\n');
    writeFileSync(join(src, "b.ts"), "// new Worker(url) in a comment does not count\nconst w = new Worker(process.argv[2]!);\n");
    writeFileSync(join(src, "c.ts"), 'const w = new Worker(new URL("./missing.worker.ts", import.meta.url));\n');
    const problems = workerEntrypoints(src).problems.join("\n");
    expect(problems).toMatch(/a\.ts: new URL\("\.\/w\.ts", import\.meta\.url\) would not find the Worker inside the executable/);
    expect(problems).toMatch(/b\.ts: a Worker is started from a script the build cannot find/);
    expect(problems).toMatch(/c\.ts: the Worker script .*missing\.worker\.ts does not exist/);
  });
});

describe("scripts/build.ts arguments", () => {
  test("--help prints the usage and exits 0", async () => {
    const r = await run([process.execPath, BUILD, "--help"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("--outfile");
    expect(r.out).toContain("--target");
  });

  for (const args of [["--bogus"], ["--outfile"], ["--target", "bun-plan9-mips"], ["extra-positional"]]) {
    test(`${args.join(" ")} exits 64 with the usage`, async () => {
      const r = await run([process.execPath, BUILD, ...args]);
      expect(r.code).toBe(64);
      expect(r.err).toContain("usage:");
    });
  }
});

describe("the executable", () => {
  let bin = "";
  /** Hides the repository from the executable (a tmpfs over it, in a private mount namespace) when possible. */
  let hide: string[] = [];

  beforeAll(async () => {
    const out = temp("pexd-bin-");
    bin = join(out, "pexd");
    const r = await run([process.execPath, BUILD, "--outfile", bin]);
    if (r.code !== 0) throw new Error(`scripts/build.ts failed (${r.code}):\n${r.out}${r.err}`);
    expect(readdirSync(out)).toEqual(["pexd"]); // no source maps beside it: they are inside
    const probe = await run(["unshare", "-m", "sh", "-c", 'mount -t tmpfs none "$1" && ! test -e "$1/package.json"', "sh", ROOT]).catch(
      () => ({ code: -1 }),
    );
    if (probe.code === 0) hide = ["unshare", "-m", "sh", "-c", 'mount -t tmpfs none "$1" && shift && exec "$@"', "sh", ROOT];
    else console.log("binary.test: cannot hide the repository (unshare -m / mount not permitted): the executable runs beside it");
  }, 120_000);

  /** Starts `bin args` in `cwd` with PATH, PEXD_PORT=0 and `env` only; resolves once it listens. */
  async function start(cwd: string, env: Record<string, string> = {}, args: string[] = []) {
    const proc = Bun.spawn([...hide, bin, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? "", PEXD_PORT: "0", ...env },
      stdout: "pipe",
      stderr: "pipe",
    });
    let text = "";
    const lines: Record<string, unknown>[] = [];
    let resolveUrl!: (url: string) => void;
    const listening = new Promise<string>((r) => (resolveUrl = r));
    const drained = readLogLines(
      proc.stdout as ReadableStream<Uint8Array>,
      (s) => (text += s),
      (o) => {
        lines.push(o);
        if (o.msg === "listening") resolveUrl(`http://127.0.0.1:${o.port}`);
      },
    );
    const stderr = new Response(proc.stderr).text();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let url: string;
    try {
      url = await Promise.race([
        listening,
        proc.exited.then(async (code) => {
          throw new Error(`pexd exited ${code} before listening:\n${text}${await stderr}`);
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`pexd did not listen in 30 s:\n${text}`)), 30_000);
        }),
      ]);
    } catch (e) {
      proc.kill("SIGKILL");
      throw e;
    } finally {
      clearTimeout(timer);
    }
    return {
      url,
      lines,
      stop: async () => {
        proc.kill("SIGTERM");
        const code = await proc.exited;
        await drained;
        return { code, stderr: await stderr };
      },
    };
  }

  const body = async (url: string) => {
    const r = await fetch(url);
    return { status: r.status, type: r.headers.get("content-type") ?? "", bytes: new Uint8Array(await r.arrayBuffer()) };
  };
  const nodeModule = (rel: string) => new Uint8Array(readFileSync(join(ROOT, "node_modules", rel)));

  test("--help and --version answer without starting anything", async () => {
    const cwd = temp("pexd-bin-cwd-");
    const help = await run([...hide, bin, "--help"], { cwd });
    expect(help.code).toBe(0);
    expect(help.out).toContain("relay-server");
    expect(help.out).toMatch(/PEXD_PORT\s+8081/);
    const version = await run([...hide, bin, "--version"], { cwd });
    expect(version.code).toBe(0);
    expect(version.out.trim()).toBe((JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version);
    const bad = await run([...hide, bin, "no-such-command"], { cwd });
    expect(bad.code).toBe(64);
    expect(readdirSync(cwd)).toEqual([]);
  });

  test("from an empty directory: healthy, SQLite migrated in ./data, API reference and dashboard with their assets", async () => {
    const cwd = temp("pexd-bin-cwd-");
    const p = await start(cwd);
    try {
      const health = await fetch(`${p.url}/health`);
      expect(health.status).toBe(200);
      expect(((await health.json()) as { status: string }).status).toBe("ok");

      const spec = (await (await fetch(`${p.url}/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
      expect(spec.openapi).toStartWith("3.");
      expect(Object.keys(spec.paths)).toContain("/next");

      const docs = await fetch(`${p.url}/`, { headers: { accept: "text/html" } }); // the API reference
      expect(docs.status).toBe(200);
      expect(await docs.text()).toContain("/docs/assets/swagger-ui-bundle.js");
      const dashboard = await fetch(`${p.url}/dashboard`);
      expect(dashboard.status).toBe(200);
      expect(await dashboard.text()).toContain("/dashboard/assets/uPlot.iife.min.js");
      for (const [route, file, type] of [
        ["/docs/assets/swagger-ui-bundle.js", "swagger-ui-dist/swagger-ui-bundle.js", "javascript"],
        ["/docs/assets/swagger-ui.css", "swagger-ui-dist/swagger-ui.css", "text/css"],
        ["/dashboard/assets/uPlot.iife.min.js", "uplot/dist/uPlot.iife.min.js", "javascript"],
        ["/dashboard/assets/uPlot.min.css", "uplot/dist/uPlot.min.css", "text/css"],
      ] as const) {
        const a = await body(`${p.url}${route}`);
        expect([route, a.status]).toEqual([route, 200]);
        expect(a.type).toContain(type);
        expect(a.bytes.length).toBe(nodeModule(file).length);
        expect(Buffer.from(a.bytes).equals(Buffer.from(nodeModule(file)))).toBe(true);
      }

      // The counter writes through the migrated SQLite database in ./data.
      expect(((await (await fetch(`${p.url}/next`, { method: "POST" })).json()) as { value: string }).value).toBe("1");
      expect(((await (await fetch(`${p.url}/next`, { method: "POST" })).json()) as { value: string }).value).toBe("1");
      expect(((await (await fetch(`${p.url}/current`)).json()) as { value: string }).value).toBe("1");
      const file = join(cwd, "data", "pexd.sqlite");
      expect(existsSync(file)).toBe(true);
      const db = new Database(file, { readonly: true });
      const applied = db.prepare("SELECT name FROM schema_migrations ORDER BY name").all() as { name: string }[];
      db.close();
      expect(applied.map((r) => r.name)).toEqual(filesOf(MIGRATIONS_DIR).map((m) => m.name));

      // The checkpoint worker runs inside the executable: the database file alone (its WAL left
      // behind) soon holds the migrations; the serving connection would not checkpoint this early.
      const alone = join(temp("pexd-bin-copy-"), "pexd.sqlite");
      let copied: string[] = [];
      for (let i = 0; i < 100 && copied.length === 0; i++) {
        copyFileSync(file, alone);
        try {
          const c = new Database(alone, { readonly: true });
          copied = (c.prepare("SELECT name FROM schema_migrations").all() as { name: string }[]).map((r) => r.name);
          c.close();
        } catch {
          await Bun.sleep(50);
        }
      }
      expect(copied.length).toBe(applied.length);
      expect(p.lines.filter((l) => l.level === "error")).toEqual([]);
    } finally {
      const { code, stderr } = await p.stop();
      expect(stderr).toBe("");
      expect(code).toBe(0);
    }
    // Nothing but the data directory was written (no .env or bunfig.toml read, no cache).
    expect(readdirSync(cwd)).toEqual(["data"]);
  });

  describe("on PostgreSQL", () => {
    let pg: PgServer | undefined;
    afterAll(async () => {
      await pg?.stop();
    });

    test("PEXD_DATABASE_URL: the embedded PostgreSQL migrations are applied and serve the counter and widgets", async () => {
      pg = await startPostgres();
      const url = await pg.createDatabase();
      const cwd = temp("pexd-bin-cwd-");
      const p = await start(cwd, { PEXD_DATABASE_URL: url });
      try {
        expect((await fetch(`${p.url}/health`)).status).toBe(200);
        expect((await fetch(`${p.url}/ready`)).status).toBe(200);
        const applied = p.lines.find((l) => l.msg === "migrations applied")?.applied;
        expect(applied).toEqual(filesOf(PG_MIGRATIONS_DIR).map((m) => m.name));
        expect(((await (await fetch(`${p.url}/next`, { method: "POST" })).json()) as { value: string }).value).toBe("1");
        const add = await fetch(`${p.url}/rpc/add_widget`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ widget_sn: "bin-1", widget_name: "from the binary", slots: ["P", "R"] }),
        });
        expect(add.status).toBe(204);
        expect(((await (await fetch(`${p.url}/widgets/bin-1`)).json()) as { widget_name: string }).widget_name).toBe("from the binary");
      } finally {
        expect((await p.stop()).code).toBe(0);
      }
      const db = pg.urlOf(new URL(url).pathname.slice(1));
      const client = new Bun.SQL(db, { max: 1 });
      try {
        const rows = (await client.unsafe("SELECT name FROM schema_migrations ORDER BY name")) as { name: string }[];
        expect(rows.map((r) => r.name)).toEqual(filesOf(PG_MIGRATIONS_DIR).map((m) => m.name));
      } finally {
        await client.close();
      }
      expect(readdirSync(cwd)).toEqual([]); // no ./data: the database is PostgreSQL
    }, 120_000);
  });
});

afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});
