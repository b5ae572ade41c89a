// A minimal JSON-RPC-over-HTTP caller for the watcher (plain fetch, failover in priority order), until
// the gateway's RpcTransport is wired in. Credentials travel only in the Authorization header.
import type { Upstream } from "../config.ts";
import type { Rpc } from "./watcher.ts";

export function httpRpc(upstreams: readonly Upstream[], timeoutMs: number, fetchFn: typeof fetch = fetch): Rpc {
  let id = 0;
  return async (method, params) => {
    let last: unknown = new Error("no upstream configured");
    for (const u of upstreams) {
      try {
        const res = await fetchFn(u.url, {
          method: "POST",
          headers: { "content-type": "application/json", ...(u.authorization ? { authorization: u.authorization } : {}) },
          body: JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params }),
          signal: AbortSignal.timeout(timeoutMs),
        });
        if (!res.ok) throw new Error(`${u.label}: HTTP ${res.status}`);
        const body = (await res.json()) as { result?: unknown; error?: { code: number; message: string } };
        // A JSON-RPC error is the node's answer, not a transport failure: no failover.
        if (body.error) throw Object.assign(new Error(`${u.label}: ${method}: ${body.error.code} ${body.error.message}`), { rpc: true });
        return body.result ?? null;
      } catch (e) {
        if (e instanceof Error && (e as Error & { rpc?: boolean }).rpc) throw e;
        // fetch errors can echo the URL (and an Infura key in its path): report the label only.
        last = new Error(
          `${u.label}: ${e instanceof Error && e.name === "TimeoutError" ? `timed out after ${timeoutMs} ms` : e instanceof Error && e.message.startsWith(u.label) ? e.message.slice(u.label.length + 2) : "request failed"}`,
        );
      }
    }
    throw last;
  };
}
