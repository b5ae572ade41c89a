// `make run` / `make dev`: the service with its embedded defaults (SQLite in ./data). With no
// Ethereum upstream in the environment it starts a local anvil chain (a block every second) on a
// free port, points PEXD_ETH_HTTP_URL/PEXD_ETH_WS_URL at it, and stops it (by PID) on exit.
// Usage: bun run scripts/dev.ts [--no-watch]
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseCli } from "./lib/cli.ts";

const { values } = parseCli({
  usage: "bun run scripts/dev.ts [options]",
  about: "`make dev` / `make run`: the service with its embedded defaults, and a local anvil chain when no upstream is set.",
  options: { "no-watch": { type: "boolean", help: "do not restart on source changes (bun --watch)" } },
  notes:
    "Environment: PEXD_* as for the service; with none of PEXD_ETH_HTTP_URL, PEXD_ETH_WS_URL and INFURA_PROJECT_ID set,\na local anvil (a block every second) is started and stopped with the service.",
});
const ROOT = resolve(import.meta.dir, "..");
const watch = !values["no-watch"];
const set = (k: string) => (Bun.env[k] ?? "").trim() !== "";
const env: Record<string, string | undefined> = { ...Bun.env };

function anvilBinary(): string | null {
  const arch = process.arch === "arm64" ? "arm64" : "amd64";
  const os = process.platform === "darwin" ? "darwin" : "linux";
  // The platform binary, not node_modules/.bin/anvil (a node wrapper): killing it stops the chain.
  const bin = join(ROOT, "node_modules", "@foundry-rs", `anvil-${os}-${arch}`, "bin", "anvil");
  return existsSync(bin) ? bin : null;
}

async function startAnvil(bin: string): Promise<{ proc: ReturnType<typeof Bun.spawn>; port: number }> {
  const proc = Bun.spawn([bin, "--host", "127.0.0.1", "--port", "0", "--block-time", "1"], { stdout: "pipe", stderr: "inherit" });
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  const dec = new TextDecoder();
  let text = "";
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    text += dec.decode(value, { stream: true });
    const m = /Listening on [\d.]+:(\d+)/.exec(text);
    if (m?.[1]) {
      // Keep draining anvil's per-call log so its pipe never fills; it is not shown (pexd logs calls).
      void (async () => {
        while (!(await reader.read()).done);
      })().catch(() => {});
      return { proc, port: Number(m[1]) };
    }
  }
  proc.kill("SIGKILL");
  throw new Error(`anvil did not start:\n${text}`);
}

let anvil: ReturnType<typeof Bun.spawn> | undefined;
if (!set("PEXD_ETH_HTTP_URL") && !set("PEXD_ETH_WS_URL") && !set("INFURA_PROJECT_ID")) {
  const bin = anvilBinary();
  if (bin) {
    const a = await startAnvil(bin);
    anvil = a.proc;
    env.PEXD_ETH_HTTP_URL = `http://127.0.0.1:${a.port}`;
    env.PEXD_ETH_WS_URL = `ws://127.0.0.1:${a.port}`;
    process.stderr.write(
      `dev: no Ethereum upstream configured; local anvil chain (block time 1 s) at ${env.PEXD_ETH_HTTP_URL} (pid ${a.proc.pid})\n`,
    );
  } else {
    process.stderr.write("dev: no Ethereum upstream configured and no anvil binary (bun install): gateway routes answer 503\n");
  }
}

const stopAnvil = async () => {
  if (anvil && anvil.exitCode === null && anvil.signalCode === null) {
    anvil.kill("SIGTERM");
    await anvil.exited;
  }
};

const args = watch ? ["--watch", "src/runtime/bun/cli.ts"] : ["src/runtime/bun/cli.ts"];
const child = Bun.spawn([process.execPath, ...args], { stdio: ["inherit", "inherit", "inherit"], env, cwd: ROOT });
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => child.kill(sig));
const code = await child.exited;
await stopAnvil();
process.exit(code);
