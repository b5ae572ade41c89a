// A real systemd for tests: boots a cached debootstrap'd Debian bookworm root under systemd-nspawn
// on a fresh tmpfs overlay, runs commands in it, and lends it the npm registry through a bridge.
// Run as a script (`bun nspawn.ts forward PORT SOCKET`) it is the bridge's half inside the container.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, copyFileSync } from "node:fs";
import net from "node:net";
import { dirname, join } from "node:path";
import { ROOT } from "./pexd.ts";
import { need, skipping } from "./requirements.ts";

export const CACHE_DIR = "/var/cache/pexd-test";
export const ROOT_DIR = join(CACHE_DIR, "bookworm-root");
/** Written last by the build: a root without it is incomplete and rebuilt. Bump to rebuild. */
const READY_MARK = ".pexd-test-root-v2";
const CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function which(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? "").split(":").concat(["/usr/sbin", "/sbin"])) {
    const p = join(dir, cmd);
    if (dir && existsSync(p)) return p;
  }
  return null;
}

/** Runs a host command to completion; kills it (by PID) after timeoutMs. */
export async function run(
  cmd: string[],
  opts: { timeoutMs?: number; env?: Record<string, string>; stdin?: Uint8Array } = {},
): Promise<Run> {
  const proc = Bun.spawn(cmd, {
    stdin: opts.stdin ?? "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: opts.env ?? (process.env as Record<string, string>),
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** Why the container tests cannot run here, or null when they can. */
export function containerUnavailable(): string | null {
  if (process.platform !== "linux") return "not Linux";
  if (process.getuid?.() !== 0) return "not root (systemd-nspawn needs root)";
  for (const tool of ["systemd-nspawn", "nsenter", "mount"])
    if (!which(tool)) return `${tool} is not installed (apt-get install systemd-container)`;
  if (!existsSync(join(ROOT_DIR, READY_MARK)) && !which("debootstrap")) return "debootstrap is not installed and no cached root exists";
  return null;
}

/** The Debian mirror the host's apt uses (deb822 or one-line sources), for the bookworm root. */
export function hostMirror(): string {
  const files: string[] = [];
  if (existsSync("/etc/apt/sources.list")) files.push("/etc/apt/sources.list");
  if (existsSync("/etc/apt/sources.list.d"))
    for (const f of readdirSync("/etc/apt/sources.list.d")) if (/\.(list|sources)$/.test(f)) files.push(join("/etc/apt/sources.list.d", f));
  for (const f of files) {
    const text = readFileSync(f, "utf8");
    for (const stanza of text.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1] ?? "";
      if (uri && /\bbookworm\b(?!-)/.test(suites) && !/security/.test(uri)) return uri;
    }
    for (const line of text.split("\n")) {
      const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/.exec(line.trim());
      if (m?.[1] && !/security/.test(m[1])) return m[1];
    }
  }
  return "http://deb.debian.org/debian";
}

/**
 * Returns the cached root, building it once (~2.5 min): debootstrap minbase with systemd, then
 * Debian's nodejs, npm, make and curl — what a VPS with npm looks like — plus PostgreSQL, Redis and
 * nginx for the scale-out test (installed disabled: that test starts them).
 */
export async function ensureRoot(log: (s: string) => void = () => {}): Promise<string> {
  if (existsSync(join(ROOT_DIR, READY_MARK))) return ROOT_DIR;
  mkdirSync(CACHE_DIR, { recursive: true });
  // One builder at a time (parallel test runs share the cache); a lock whose PID is gone is stale.
  const lock = join(CACHE_DIR, "build.lock");
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, "pid"), String(process.pid));
      break;
    } catch {
      const holder = Number(readFileSync(join(lock, "pid"), { encoding: "utf8", flag: "a+" }) || 0);
      if (!holder || !alive(holder)) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      log(`waiting for process ${holder} to finish building the root`);
      while (existsSync(lock) && alive(holder)) await Bun.sleep(1000);
      if (existsSync(join(ROOT_DIR, READY_MARK))) return ROOT_DIR;
    }
  }
  try {
    if (existsSync(join(ROOT_DIR, READY_MARK))) return ROOT_DIR;
    await buildRoot(log);
    return ROOT_DIR;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Removes a half-built root; debootstrap may have left /proc or /sys mounted in it. */
async function removeRoot(dir: string): Promise<void> {
  for (const m of ["proc", "sys", "dev/pts"]) await run(["umount", "-l", join(dir, m)]);
  rmSync(dir, { recursive: true, force: true });
}

async function buildRoot(log: (s: string) => void): Promise<void> {
  const tmp = `${ROOT_DIR}.tmp-${process.pid}`;
  await removeRoot(tmp);
  const mirror = hostMirror();
  log(`building ${ROOT_DIR} from ${mirror} (once)`);
  const step = async (cmd: string[], what: string) => {
    const r = await run(cmd, {
      timeoutMs: 900_000,
      env: { ...(process.env as Record<string, string>), DEBIAN_FRONTEND: "noninteractive" },
    });
    if (r.code !== 0) {
      await removeRoot(tmp);
      throw new Error(`${what} failed (${r.code}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
    }
  };
  await step(["debootstrap", "--variant=minbase", "--include=systemd,systemd-sysv,dbus,procps", "bookworm", tmp, mirror], "debootstrap");
  await step(["chroot", tmp, "apt-get", "update", "-qq"], "apt-get update in the root");
  // No service may start inside the chroot while packages install.
  writeFileSync(join(tmp, "usr/sbin/policy-rc.d"), "#!/bin/sh\nexit 101\n", { mode: 0o755 });
  await step(
    [
      "chroot",
      tmp,
      "apt-get",
      "install",
      "-y",
      "-qq",
      "--no-install-recommends",
      "nodejs",
      "npm",
      "make",
      "curl",
      "ca-certificates",
      "postgresql",
      "redis-server",
      "nginx",
    ],
    "apt-get install in the root",
  );
  rmSync(join(tmp, "usr/sbin/policy-rc.d"), { force: true });
  await step(["chroot", tmp, "systemctl", "disable", "postgresql", "redis-server", "nginx"], "disabling the servers in the root");
  await step(["chroot", tmp, "apt-get", "clean"], "apt-get clean");
  writeFileSync(join(tmp, READY_MARK), `${new Date().toISOString()} ${mirror}\n`);
  // A root without the mark (an interrupted build from before the lock) is replaced.
  if (existsSync(ROOT_DIR) && !existsSync(join(ROOT_DIR, READY_MARK))) await removeRoot(ROOT_DIR);
  try {
    renameSync(tmp, ROOT_DIR);
  } catch (e) {
    // Another run finished first: use its root.
    await removeRoot(tmp);
    if (!existsSync(join(ROOT_DIR, READY_MARK))) throw e;
  }
}

/** Copies the host's CA bundle and npm settings in: HTTPS from the container goes through this host. */
function copyHostTrust(root: string): void {
  const files = [CA_BUNDLE, "/etc/npmrc"];
  for (const v of ["NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE"]) {
    const f = process.env[v];
    if (f && existsSync(f)) files.push(f);
  }
  for (const f of files) {
    if (!existsSync(f)) continue;
    mkdirSync(join(root, dirname(f)), { recursive: true });
    copyFileSync(f, join(root, f));
  }
}

export class Container {
  readonly work: string;
  readonly merged: string;
  #nspawn: ReturnType<typeof Bun.spawn> | undefined;
  #leader = 0;
  #bridge: { server: net.Server; inner: ReturnType<typeof Bun.spawn> | undefined; port: number; socket: string } | undefined;
  #mounted = false;

  private constructor(work: string) {
    this.work = work;
    this.merged = join(work, "merged");
  }

  /** Mounts a fresh overlay (tmpfs upper) over the cached root; call boot() next. */
  static async create(root: string, work: string): Promise<Container> {
    const c = new Container(work);
    mkdirSync(work, { recursive: true });
    await c.#must(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", work], "mount tmpfs");
    c.#mounted = true;
    for (const d of ["upper", "ovlwork", "merged"]) mkdirSync(join(work, d));
    await c.#must(
      ["mount", "-t", "overlay", "overlay", "-o", `lowerdir=${root},upperdir=${work}/upper,workdir=${work}/ovlwork`, c.merged],
      "mount overlay",
    );
    copyHostTrust(c.merged);
    return c;
  }

  async #must(cmd: string[], what: string): Promise<void> {
    const r = await run(cmd, { timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stderr}`);
  }

  /** PID (host namespace) of the nspawn process, for cleanup by PID. */
  get nspawnPid(): number | undefined {
    return this.#nspawn?.pid;
  }

  /** Boots systemd and waits until it reports running (or degraded). */
  async boot(timeoutMs = 60_000): Promise<void> {
    const logFile = Bun.file(join(this.work, `boot-${Date.now()}.log`));
    this.#nspawn = Bun.spawn(
      ["systemd-nspawn", "-q", "-D", this.merged, "--register=no", "--keep-unit", "--private-network", "--console=read-only", "-b"],
      {
        stdin: "ignore",
        stdout: logFile,
        stderr: logFile,
      },
    );
    const deadline = Date.now() + timeoutMs;
    this.#leader = 0;
    while (!this.#leader) {
      if (this.#nspawn.exitCode !== null) throw new Error(`systemd-nspawn exited ${this.#nspawn.exitCode}: ${await logFile.text()}`);
      if (Date.now() > deadline) throw new Error(`container did not start: ${await logFile.text()}`);
      const children = readChildren(this.#nspawn.pid);
      if (children[0]) this.#leader = children[0];
      else await Bun.sleep(50);
    }
    // is-system-running --wait needs the container's bus; retry until systemd answers at all.
    for (;;) {
      const r = await this.exec(["systemctl", "is-system-running", "--wait"], { timeoutMs: Math.max(1000, deadline - Date.now()) });
      const state = r.stdout.trim();
      if (state === "running" || state === "degraded") return;
      if (Date.now() > deadline) throw new Error(`systemd did not finish booting (state "${state}"): ${r.stderr}\n${await logFile.text()}`);
      await Bun.sleep(200);
    }
  }

  /** Runs a command inside the booted container as root, with a clean environment. */
  exec(cmd: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Run> {
    if (!this.#leader) throw new Error("container not booted");
    const env = { PATH: CONTAINER_PATH, HOME: "/root", LANG: "C.UTF-8", ...opts.env };
    const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    // setsid: a `kill 0` inside must not reach this test's process group (nsenter keeps it).
    return run(["setsid", "-w", "nsenter", "-t", String(this.#leader), "-a", "env", "-i", ...envArgs, ...cmd], {
      timeoutMs: opts.timeoutMs ?? 60_000,
    });
  }

  sh(script: string, opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Run> {
    return this.exec(["bash", "-c", script], opts);
  }

  /** Runs a command in the (not booted) tree with chroot: no systemd there. */
  chroot(cmd: string[], env: Record<string, string> = {}): Promise<Run> {
    const envArgs = Object.entries({ PATH: CONTAINER_PATH, HOME: "/root", ...env }).map(([k, v]) => `${k}=${v}`);
    return run(["chroot", this.merged, "env", "-i", ...envArgs, ...cmd], { timeoutMs: 60_000 });
  }

  /**
   * The container has no network (--private-network). To let `make all` reach the npm registry,
   * a CONNECT proxy on this host listens on a unix socket, and a forwarder inside the container's
   * network namespace serves it at 127.0.0.1:PORT. Returns the proxy environment for commands.
   */
  async startRegistryBridge(): Promise<Record<string, string>> {
    if (!this.#bridge) {
      const socket = join(this.work, "proxy.sock");
      const server = net.createServer(connectProxy);
      await new Promise<void>((res, rej) => server.once("error", rej).listen(socket, () => res()));
      this.#bridge = { server, inner: undefined, port: 3128, socket };
    }
    const b = this.#bridge;
    if (!b.inner || b.inner.exitCode !== null) {
      b.inner = Bun.spawn(
        ["nsenter", "-t", String(this.#leader), "-n", process.execPath, import.meta.path, "forward", String(b.port), b.socket],
        {
          stdin: "ignore",
          stdout: "pipe",
          stderr: "inherit",
        },
      );
      // It prints "ready" once listening.
      const reader = (b.inner.stdout as ReadableStream<Uint8Array>).getReader();
      const first = await Promise.race([reader.read(), Bun.sleep(30_000).then(() => ({ value: undefined }))]);
      reader.releaseLock();
      if (!first.value || !new TextDecoder().decode(first.value).includes("ready")) throw new Error("registry bridge did not start");
    }
    const proxy = `http://127.0.0.1:${b.port}`;
    const env: Record<string, string> = { HTTPS_PROXY: proxy, https_proxy: proxy, HTTP_PROXY: proxy, http_proxy: proxy };
    for (const v of ["NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE"]) {
      const f = process.env[v];
      if (f) env[v] = f;
    }
    return env;
  }

  #stopBridgeInner(): void {
    const inner = this.#bridge?.inner;
    if (inner && inner.exitCode === null) inner.kill("SIGKILL");
    if (this.#bridge) this.#bridge.inner = undefined;
  }

  /** Reboots from inside (systemctl reboot ends nspawn) and boots the same overlay again. */
  async reboot(): Promise<void> {
    this.#stopBridgeInner();
    const nspawn = this.#nspawn;
    await this.exec(["systemctl", "reboot"], { timeoutMs: 30_000 });
    if (nspawn) await waitExit(nspawn, 60_000);
    this.#leader = 0;
    await this.boot();
  }

  /** Powers off (or kills, by PID) the container and removes the overlay. Safe to call twice. */
  async dispose(): Promise<void> {
    this.#stopBridgeInner();
    this.#bridge?.server.close();
    const nspawn = this.#nspawn;
    if (nspawn && nspawn.exitCode === null) {
      if (this.#leader) await this.exec(["systemctl", "poweroff"], { timeoutMs: 20_000 }).catch(() => {});
      if (!(await waitExit(nspawn, 30_000))) {
        if (this.#leader) {
          try {
            process.kill(this.#leader, "SIGKILL");
          } catch {}
        }
        nspawn.kill("SIGKILL");
        await waitExit(nspawn, 10_000);
      }
    }
    this.#leader = 0;
    if (this.#mounted) {
      await unmountWork(this.work);
      this.#mounted = false;
    }
  }
}

/** Unmounts the overlay and its tmpfs; the kernel may hold them busy briefly after nspawn exits. */
async function unmountWork(work: string): Promise<void> {
  for (const target of [join(work, "merged"), work]) {
    for (let i = 0; ; i++) {
      const r = await run(["umount", target]);
      if (r.code === 0 || r.stderr.includes("not mounted") || r.stderr.includes("no mount point")) break;
      if (i >= 20) {
        await run(["umount", "-l", target]);
        break;
      }
      await Bun.sleep(250);
    }
  }
  rmSync(work, { recursive: true, force: true });
}

/** Removes work directories (overlay mounts) left by test runs that were killed: their PID is gone. */
export async function cleanupStale(parent: string, prefix: string): Promise<void> {
  for (const name of readdirSync(parent)) {
    const pid = Number(name.startsWith(prefix) ? name.slice(prefix.length) : Number.NaN);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
      continue; // still running: not ours to touch
    } catch {}
    await unmountWork(join(parent, name));
  }
}

function readChildren(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`)
      .flatMap((t) => readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").trim().split(/\s+/))
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

async function waitExit(proc: ReturnType<typeof Bun.spawn>, ms: number): Promise<boolean> {
  if (proc.exitCode !== null || proc.signalCode !== null) return true;
  return Promise.race([proc.exited.then(() => true), Bun.sleep(ms).then(() => false)]);
}

/** Minimal HTTP CONNECT proxy (ports 80 and 443 only), enough for npm and bun install. */
export function connectProxy(client: net.Socket): void {
  let head = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf("\r\n\r\n");
    if (end < 0) {
      if (head.length > 16_384) client.destroy();
      return;
    }
    client.off("data", onData);
    const m = /^CONNECT ([^\s:]+):(\d+) HTTP\/1\.[01]\r\n/.exec(head.subarray(0, end + 4).toString("latin1"));
    const port = Number(m?.[2]);
    if (!m?.[1] || (port !== 443 && port !== 80)) {
      client.end("HTTP/1.1 403 Forbidden\r\n\r\n");
      return;
    }
    const upstream = net.connect(port, m[1], () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      const rest = head.subarray(end + 4);
      if (rest.length) upstream.write(rest);
      splice(client, upstream);
    });
    upstream.on("error", () => client.destroy());
  };
  client.on("data", onData);
  client.on("error", () => {});
}

/** Copies both ways with backpressure (pause until drain), half-close passed on, errors close both. */
function splice(a: net.Socket, b: net.Socket): void {
  const oneWay = (from: net.Socket, to: net.Socket) => {
    from.on("data", (chunk: Buffer) => {
      if (!to.write(chunk)) {
        from.pause();
        to.once("drain", () => from.resume());
      }
    });
    from.on("end", () => to.end());
  };
  oneWay(a, b);
  oneWay(b, a);
  for (const [x, y] of [
    [a, b],
    [b, a],
  ] as const) {
    x.on("error", () => y.destroy());
    x.on("close", () => y.end());
  }
  a.resume();
  b.resume();
}

// The forwarder, run by startRegistryBridge() inside the container's network namespace (the host's
// file system is still visible, so it reaches the proxy's unix socket).
/** The repository as a user would clone it (tracked and new files, no node_modules) into /root/pexd. */
export async function copyRepository(c: Container): Promise<void> {
  const list = await run(["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"]);
  const files = list.stdout.split("\0").filter((f) => f && existsSync(join(ROOT, f)));
  const dest = join(c.merged, "root/pexd");
  mkdirSync(dest, { recursive: true });
  const copy = await run(["bash", "-c", `tar -C "$1" --null -T - -cf - | tar -C "$2" -xf -`, "copy", ROOT, dest], {
    stdin: new TextEncoder().encode(files.join("\0")),
  });
  if (copy.code !== 0) throw new Error(`copy failed: ${copy.stderr}`);
}

/** Why the container tests are skipped (the user opted out), or null: they run. */
export function containerOptedOut(): string | null {
  return skipping("systemd", "root") ? "opted out (PEXD_TEST_SKIP)" : null;
}

/** In beforeAll: fails, saying why and what installs it, when a container cannot run here. */
export function needContainer(): void {
  need("root", "systemd");
  const why = containerUnavailable();
  if (why) throw new Error(`systemd-nspawn cannot run here: ${why} (PEXD_TEST_SKIP=systemd skips these tests)`);
}

if (import.meta.main && process.argv[2] === "forward") {
  const port = Number(process.argv[3]);
  const socket = process.argv[4] ?? "";
  const server = net.createServer((c) => {
    const u = net.connect(socket);
    u.on("connect", () => splice(c, u));
    c.pause();
    u.on("error", () => c.destroy());
  });
  server.listen(port, "127.0.0.1", () => process.stdout.write("ready\n"));
}
