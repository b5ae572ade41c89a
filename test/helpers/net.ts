// Small socket helpers shared by the end-to-end tests.
import { createServer } from "node:net";

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
