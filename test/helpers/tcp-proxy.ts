// A TCP proxy in front of a real server, to fail the network between pexd and it on purpose:
// cut() drops every connection and refuses new ones (a server gone), freeze() keeps connections
// open but forwards nothing (a frozen server, a dropped route), restore() heals both.
import type { Socket, TCPSocketListener } from "bun";
import { deadPort } from "./net.ts";

export interface TcpProxy {
  port: number;
  cut(): void;
  freeze(): void;
  restore(): void;
  stop(): void;
}

interface Pair {
  upstream?: Socket<Pair>;
  client?: Socket<Pair>;
  pending: Uint8Array[];
}

export async function startTcpProxy(target: number): Promise<TcpProxy> {
  const port = await deadPort();
  const pairs = new Set<Pair>();
  let frozen = false;
  let listener: TCPSocketListener<Pair> | null = null;
  const listen = () => {
    listener = Bun.listen<Pair>({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(client) {
          const pair: Pair = { client, pending: [] };
          client.data = pair;
          pairs.add(pair);
          void Bun.connect<Pair>({
            hostname: "127.0.0.1",
            port: target,
            socket: {
              open(up) {
                up.data = pair;
                pair.upstream = up;
                for (const c of pair.pending) up.write(c);
                pair.pending = [];
              },
              data(_up, chunk) {
                if (!frozen) pair.client?.write(chunk);
              },
              close() {
                pair.client?.end();
                pairs.delete(pair);
              },
              error() {},
            },
          }).catch(() => client.end());
        },
        data(client, chunk) {
          if (frozen) return;
          const up = client.data.upstream;
          if (up) up.write(chunk);
          else client.data.pending.push(new Uint8Array(chunk));
        },
        close(client) {
          client.data.upstream?.end();
          pairs.delete(client.data);
        },
        error() {},
      },
    });
  };
  const dropAll = () => {
    for (const p of pairs) {
      p.client?.terminate();
      p.upstream?.terminate();
    }
    pairs.clear();
  };
  listen();
  return {
    port,
    cut() {
      listener?.stop(true);
      listener = null;
      dropAll();
    },
    freeze() {
      frozen = true;
    },
    restore() {
      // Bytes dropped while frozen leave those connections out of step: reset them, as a network
      // that comes back after a long outage would.
      if (frozen) dropAll();
      frozen = false;
      if (!listener) listen();
    },
    stop() {
      listener?.stop(true);
      listener = null;
      dropAll();
    },
  };
}
