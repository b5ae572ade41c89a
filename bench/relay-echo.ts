// The bare baseline of the relay ingest benchmark: a Bun.listen TCP echo server (no parsing, no
// storage), with write backpressure handled so no byte is lost.
export {};
interface Out {
  pending: Uint8Array[];
}
const server = Bun.listen<Out>({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT ?? 0),
  socket: {
    open(s) {
      s.data = { pending: [] };
    },
    data(s, chunk) {
      if (s.data.pending.length) {
        s.data.pending.push(chunk.slice());
        return;
      }
      const n = s.write(chunk);
      if (n < chunk.length) s.data.pending.push(chunk.slice(Math.max(n, 0)));
    },
    drain(s) {
      const q = s.data.pending;
      while (q.length) {
        const c = q[0]!;
        const n = s.write(c);
        if (n < c.length) {
          q[0] = c.slice(Math.max(n, 0));
          return;
        }
        q.shift();
      }
    },
    end(s) {
      s.end();
    },
  },
});
console.log(JSON.stringify({ msg: "listening", port: server.port }));
process.on("SIGTERM", () => process.exit(0));
