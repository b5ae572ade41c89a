// Throwaway PostgreSQL servers for tests and benchmarks: initdb into a temporary directory, a
// postmaster on a free 127.0.0.1 port (as the `postgres` OS user when we are root), and on stop()
// or process exit the server is killed and the directory removed. A watchdog shell beside the
// postmaster does the same if this process dies without running its exit handlers (SIGKILL).
// On a fresh Debian machine (root) the `postgresql` package is installed with apt-get when missing.
import { SQL } from "bun";
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deadPort } from "./net.ts";
import { onCleanup } from "./cleanup.ts";

export interface PgServer {
  /** postgres://postgres@127.0.0.1:<port>/postgres (trust authentication, no password). */
  url: string;
  port: number;
  /** The URL of another database on this server. */
  urlOf(database: string): string;
  /** Runs a query (several statements when no params) on the `postgres` database. */
  sql<T = Record<string, unknown>>(query: string, params?: unknown[]): Promise<T[]>;
  /** Creates an empty database (optionally a copy of `template`) and returns its URL. */
  createDatabase(template?: string): Promise<string>;
  /** Kills the server and removes its directory. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string | number>;
}

const root = process.getuid?.() === 0;
const running = new Map<string, number>(); // data dir -> postmaster pid
onCleanup(() => {
  for (const [dir, pid] of running) {
    try {
      process.kill(pid, "SIGQUIT");
    } catch {}
    rmSync(dir, { recursive: true, force: true });
  }
});

function run(cmd: string[], what: string): string {
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}): ${r.stderr || r.stdout || r.error}`);
  return r.stdout;
}

/** The newest installed server's bin directory, installing Debian's postgresql package if needed. */
function binDir(): string {
  const find = () => {
    const base = "/usr/lib/postgresql";
    const versions = existsSync(base) ? readdirSync(base).filter((v) => existsSync(join(base, v, "bin", "postgres"))) : [];
    versions.sort((a, b) => Number(b) - Number(a));
    return versions[0] ? join(base, versions[0], "bin") : null;
  };
  const haveUser = () => !root || spawnSync("id", ["-u", "postgres"]).status === 0;
  let dir = find();
  if (dir && haveUser()) return dir;
  if (!root) throw new Error("PostgreSQL server binaries are missing (install the postgresql package)");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = () => spawnSync("apt-get", ["install", "-y", "-qq", "postgresql"], { env, encoding: "utf8" });
  if (install().status !== 0) {
    spawnSync("apt-get", ["update", "-qq"], { env });
    const r = install();
    if (r.status !== 0) throw new Error(`apt-get install postgresql failed: ${r.stderr}`);
  }
  dir = find();
  if (!dir || !haveUser()) throw new Error("postgresql installed, but no server binaries or postgres user were found");
  return dir;
}

/** Runs as the postgres OS user when we are root (initdb and postgres refuse to run as root). */
const asPg = (cmd: string[]) => (root ? ["runuser", "-u", "postgres", "--", ...cmd] : cmd);

const WATCHDOG = `
"$BIN/postgres" -D "$DIR" -p "$PORT" -k "$DIR" "$@" &
pg=$!
while [ -d "/proc/$PARENT" ] && kill -0 "$pg" 2>/dev/null; do sleep 0.5; done
kill -QUIT "$pg" 2>/dev/null
wait "$pg"
rm -rf "$DIR"
`;

export async function startPostgres(opts: StartOptions = {}): Promise<PgServer> {
  const bin = binDir();
  // As root the directory must be reachable by the postgres user: /tmp is, a private TMPDIR may not be.
  const dir = mkdtempSync(join(root ? "/tmp" : tmpdir(), "pexd-pg-"));
  if (root) {
    const id = (flag: string) => Number(run(["id", flag, "postgres"], "id").trim());
    chownSync(dir, id("-u"), id("-g"));
  }
  chmodSync(dir, 0o700);
  run(asPg([join(bin, "initdb"), "-D", dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"]), "initdb");
  const settings: Record<string, string | number> = {
    listen_addresses: "127.0.0.1",
    max_connections: 200,
    shared_buffers: "128MB",
    // Many short-lived databases per test file: no need to wait for the checkpointer.
    checkpoint_timeout: "30min",
    max_wal_size: "2GB",
    log_min_messages: "fatal",
    ...opts.settings,
  };
  const args = Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`]);
  for (let attempt = 0; ; attempt++) {
    const port = await deadPort();
    const proc = Bun.spawn(
      asPg(["env", `BIN=${bin}`, `DIR=${dir}`, `PORT=${port}`, `PARENT=${process.pid}`, "sh", "-c", WATCHDOG, "sh", ...args]),
      {
        stdout: "ignore",
        stderr: "pipe",
      },
    );
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    const admin = new SQL(url, { max: 4, idleTimeout: 10 });
    const ready = await waitReady(admin, proc.exited, dir);
    if (!ready.ok) {
      await admin.close().catch(() => {});
      const err = await new Response(proc.stderr).text();
      // Someone took the port between deadPort() and bind(): try another one.
      if (attempt < 3 && /already in use|could not create listen socket/i.test(err + ready.error)) continue;
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`postgres did not start: ${ready.error} ${err}`);
    }
    const pid = Number(readFileSync(join(dir, "postmaster.pid"), "utf8").split("\n")[0]);
    running.set(dir, pid);
    let n = 0;
    const urlOf = (db: string) => `postgres://postgres@127.0.0.1:${port}/${db}`;
    const server: PgServer = {
      url,
      port,
      urlOf,
      sql: <T>(query: string, params?: unknown[]) => admin.unsafe<T[]>(query, params),
      async createDatabase(template?: string) {
        const name = `t${process.pid}_${++n}`;
        await admin.unsafe(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${template}` : ""}`);
        return urlOf(name);
      },
      async stop() {
        if (!running.has(dir)) return;
        running.delete(dir);
        await admin.close({ timeout: 0 }).catch(() => {});
        try {
          process.kill(pid, "SIGINT"); // fast shutdown
        } catch {}
        await proc.exited;
        rmSync(dir, { recursive: true, force: true });
      },
    };
    return server;
  }
}

async function waitReady(admin: SQL, exited: Promise<number>, dir: string): Promise<{ ok: boolean; error: string }> {
  let gone = false;
  void exited.then(() => (gone = true));
  let last = "";
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && !gone) {
    if (existsSync(join(dir, "postmaster.pid"))) {
      try {
        await admin.unsafe("SELECT 1");
        return { ok: true, error: "" };
      } catch (e) {
        last = e instanceof Error ? e.message : String(e);
      }
    }
    await Bun.sleep(25);
  }
  return { ok: false, error: gone ? "the server exited" : `timed out (${last})` };
}
