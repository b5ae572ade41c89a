// Throwaway Redis servers for tests and benchmarks: redis-server on a free 127.0.0.1 port with no
// persistence, killed on stop() or process exit. On a fresh Debian machine (root) the redis-server
// package is installed with apt-get when missing.
import { spawnSync } from "node:child_process";
import { deadPort } from "./net.ts";
import { until } from "./wait.ts";
import { reapOnExit } from "./reaper.ts";

export interface RedisServer {
  url: string;
  port: number;
  /** SIGSTOP / SIGCONT: a server that holds its connections but answers nothing. */
  pause(): void;
  resume(): void;
  /** Runs one command with redis-cli and returns its output. */
  cli(...args: string[]): string;
  stop(): Promise<void>;
}

/** Installs a Debian package when `binary` is missing (root only), or fails with the command that does. */
export function ensurePackage(binary: string, pkg: string): string {
  let path = Bun.which(binary) ?? Bun.which(binary, { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" });
  if (path) return path;
  if (process.getuid?.() !== 0) throw new Error(`${binary} is missing: apt-get install -y ${pkg}`);
  const r = spawnSync(
    "bash",
    ["-c", `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${pkg}`],
    {
      encoding: "utf8",
    },
  );
  path = Bun.which(binary, { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" });
  if (!path) throw new Error(`${binary} is missing and apt-get install ${pkg} failed: ${r.stderr}`);
  // The package may have started a system-wide server (not under systemd here it does not, but be sure).
  spawnSync("bash", ["-c", `pkill -x ${binary} || true`]);
  return path;
}

export interface RedisOptions {
  /** Listen here (e.g. to restart a stopped server on the same address); a free port otherwise. */
  port?: number;
  /** requirepass: clients must authenticate (the URL carries it). */
  password?: string;
}

export async function startRedis(opts: RedisOptions = {}): Promise<RedisServer> {
  const bin = ensurePackage("redis-server", "redis-server");
  const cliBin = Bun.which("redis-cli", { PATH: "/usr/bin:/bin" }) ?? "redis-cli";
  const port = opts.port ?? (await deadPort());
  const auth = opts.password ? ["--requirepass", opts.password] : [];
  const proc = Bun.spawn(
    [bin, "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", ...auth],
    { stdout: "pipe", stderr: "pipe" },
  );
  const untrack = reapOnExit(proc);
  const cli = (...args: string[]) => {
    const r = spawnSync(cliBin, ["-p", String(port), ...(opts.password ? ["--no-auth-warning", "-a", opts.password] : []), ...args], {
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`redis-cli ${args.join(" ")}: ${r.stderr}`);
    return r.stdout.trim();
  };
  await until(
    "redis to answer",
    () => {
      try {
        return cli("PING") === "PONG";
      } catch {
        return false;
      }
    },
    15_000,
  );
  return {
    url: opts.password ? `redis://:${encodeURIComponent(opts.password)}@127.0.0.1:${port}` : `redis://127.0.0.1:${port}`,
    port,
    cli,
    pause: () => proc.kill("SIGSTOP"),
    resume: () => proc.kill("SIGCONT"),
    stop: async () => {
      proc.kill("SIGCONT");
      proc.kill("SIGKILL");
      await proc.exited;
      untrack();
    },
  };
}
