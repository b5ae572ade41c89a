// Small socket helpers shared by the end-to-end tests and benchmarks.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";

/** A port nothing listens on (bound, then released). */
export async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Resolves once the kernel reports the process stopped (SIGSTOP is delivered asynchronously). */
export async function stopped(pid: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const stat = await Bun.file(`/proc/${pid}/stat`).text();
    // Field 3, after the parenthesised command name: T = stopped.
    if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("T")) return;
    await Bun.sleep(10);
  }
  throw new Error(`process ${pid} did not stop`);
}

/** A TCP server that accepts connections and never answers: a black-holed upstream. */
export async function blackHole(): Promise<{ url: string; stop(): Promise<void> }> {
  const sockets: Socket[] = [];
  const srv: Server = createServer((s) => sockets.push(s));
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(srv.address() as { port: number }).port}`,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

/**
 * ESTABLISHED TCP connections to `port` (the client side), from /proc/net; only those of process
 * `pid` when given (its socket inodes in /proc/<pid>/fd).
 */
export function connectionsTo(port: number, pid?: number): number {
  let inodes: Set<string> | null = null;
  if (pid !== undefined) {
    inodes = new Set<string>();
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]!);
      } catch {
        /* closed meanwhile */
      }
    }
  }
  let n = 0;
  for (const f of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(f, "utf8").split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      const remotePort = Number.parseInt(cols[2]!.split(":")[1] ?? "", 16);
      if (remotePort === port && cols[3] === "01" && (!inodes || inodes.has(cols[9]!))) n++;
    }
  }
  return n;
}
