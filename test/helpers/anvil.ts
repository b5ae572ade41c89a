// Starts a real anvil (the platform binary, not the node shim, so kill() hits the node itself) on a
// free port for tests and benches; stop() kills it by PID, restart() brings a fresh chain back on the same port.
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { privateKeyToAccount } from "viem/accounts";
import { onCleanup } from "./cleanup.ts";

const ROOT = resolve(import.meta.dir, "../..");

/** anvil's first default account (mnemonic "test test … junk"); funded with 10000 ETH on every fresh chain. */
export const ANVIL_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80" as const;
export const ANVIL_ADDRESS_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266" as const;
export const ANVIL_CHAIN_ID = 31337;

export interface Anvil {
  /** http://127.0.0.1:PORT */
  url: string;
  /** ws://127.0.0.1:PORT (anvil serves HTTP and WebSocket on the same port). */
  wsUrl: string;
  port: number;
  /** PID of the real anvil process currently running (changes after restart()). */
  readonly pid: number;
  /** SIGKILLs the process and waits for it to exit. Idempotent. */
  stop(): Promise<void>;
  /** stop() then start again on the same port (a fresh chain: state is not kept). */
  restart(): Promise<void>;
  /** Sends one JSON-RPC call straight to anvil; throws on a JSON-RPC error. */
  rpc<T = unknown>(method: string, params?: unknown[]): Promise<T>;
  /** Raw output so far of the current process (for failure messages). */
  output(): string;
}

export interface AnvilOptions {
  /** Seconds between blocks; default: none (mine on demand / per transaction; use evm_mine). */
  blockTime?: number;
  /** Fixed port; default: a free port chosen by the OS. */
  port?: number;
  /** Extra anvil arguments. */
  args?: string[];
  /** How long to wait for "Listening on"; default 30 s (a loaded 2-core machine). */
  timeoutMs?: number;
}

export function anvilBinary(): string {
  const arch = process.arch === "arm64" ? "arm64" : "amd64";
  const os = process.platform === "darwin" ? "darwin" : "linux";
  const bin = join(ROOT, "node_modules", "@foundry-rs", `anvil-${os}-${arch}`, "bin", "anvil");
  if (!existsSync(bin)) throw new Error(`anvil binary not found at ${bin} (bun install @foundry-rs/anvil)`);
  return bin;
}

const live = new Set<ReturnType<typeof Bun.spawn>>();
// Last-resort cleanup if a test file forgets stop(): never leave a node running after the test process.
onCleanup(() => {
  for (const p of live) {
    try {
      p.kill("SIGKILL");
    } catch {
      /* already gone */
    }
  }
});

interface Spawned {
  proc: ReturnType<typeof Bun.spawn>;
  port: number;
  text: () => string;
}

async function spawnOnce(port: number, opts: AnvilOptions): Promise<Spawned> {
  const args = [anvilBinary(), "--host", "127.0.0.1", "--port", String(port)];
  if (opts.blockTime !== undefined) args.push("--block-time", String(opts.blockTime));
  args.push(...(opts.args ?? []));
  const proc = Bun.spawn(args, { stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp" } });
  live.add(proc);
  void proc.exited.then(() => live.delete(proc));
  let text = "";
  let resolveReady!: (p: number) => void;
  const ready = new Promise<number>((r) => (resolveReady = r));
  let listening = false;
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of stream) {
      text += dec.decode(chunk, { stream: true });
      if (!listening) {
        const m = /Listening on [\d.]+:(\d+)/.exec(text);
        if (m?.[1]) {
          listening = true;
          resolveReady(Number(m[1]));
        }
      } else if (text.length > 64_000) {
        // Keep only the tail: anvil logs every call, and a long bench would grow this forever.
        text = text.slice(-16_000);
      }
    }
  };
  void pump(proc.stdout as ReadableStream<Uint8Array>).catch(() => {});
  void pump(proc.stderr as ReadableStream<Uint8Array>).catch(() => {});
  const timeoutMs = opts.timeoutMs ?? 30_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const got = await Promise.race([
      ready,
      proc.exited.then((code) => {
        throw new Error(`anvil exited with ${code} before listening:\n${text}`);
      }),
      new Promise<never>((_, rej) => {
        timer = setTimeout(() => rej(new Error(`anvil did not listen within ${timeoutMs} ms:\n${text}`)), timeoutMs);
      }),
    ]);
    return { proc, port: got, text: () => text };
  } catch (e) {
    proc.kill("SIGKILL");
    await proc.exited;
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/** Polls until anvil answers eth_chainId over HTTP (the log line precedes the accept loop by a hair). */
async function waitAnswering(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}',
      });
      if (res.ok) {
        await res.arrayBuffer();
        return;
      }
      last = res.status;
    } catch (e) {
      last = e;
    }
    await Bun.sleep(50);
  }
  throw new Error(`anvil at ${url} did not answer: ${String(last)}`);
}

export async function startAnvil(opts: AnvilOptions = {}): Promise<Anvil> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  let cur = await spawnOnce(opts.port ?? 0, opts);
  const port = cur.port;
  const url = `http://127.0.0.1:${port}`;
  await waitAnswering(url, timeoutMs);
  let rpcId = 0;

  const stop = async () => {
    const p = cur.proc;
    if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    await p.exited;
  };

  const restart = async () => {
    await stop();
    // The port was just released; retry briefly in case the kernel has not let go yet.
    let lastErr: unknown;
    for (let i = 0; i < 20; i++) {
      try {
        cur = await spawnOnce(port, opts);
        await waitAnswering(url, timeoutMs);
        return;
      } catch (e) {
        lastErr = e;
        await Bun.sleep(100);
      }
    }
    throw lastErr;
  };

  const rpc = async <T>(method: string, params: unknown[] = []): Promise<T> => {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: ++rpcId, method, params }),
    });
    const body = (await res.json()) as { result?: T; error?: { code: number; message: string } };
    if (body.error) throw new Error(`anvil ${method}: ${body.error.code} ${body.error.message}`);
    return body.result as T;
  };

  return {
    url,
    wsUrl: `ws://127.0.0.1:${port}`,
    port,
    get pid() {
      return cur.proc.pid;
    },
    stop,
    restart,
    rpc,
    output: () => cur.text(),
  };
}

/**
 * A transaction signed on the client by anvil's first account at its next pending nonce (what
 * eth_sendRawTransaction takes): 1 wei to 0x…bEEF unless told otherwise.
 */
export async function signedTx(
  anvil: Anvil,
  tx: { to?: `0x${string}`; value?: bigint; data?: `0x${string}`; gas?: bigint } = {},
): Promise<`0x${string}`> {
  const account = privateKeyToAccount(ANVIL_KEY_0);
  const nonce = Number(await anvil.rpc<string>("eth_getTransactionCount", [account.address, "pending"]));
  return account.signTransaction({
    chainId: ANVIL_CHAIN_ID,
    nonce,
    to: tx.to ?? "0x000000000000000000000000000000000000bEEF",
    value: tx.value ?? 1n,
    ...(tx.data ? { data: tx.data } : {}),
    gas: tx.gas ?? 21000n,
    maxFeePerGas: 10n ** 11n,
    maxPriorityFeePerGas: 10n ** 9n,
    type: "eip1559",
  });
}
