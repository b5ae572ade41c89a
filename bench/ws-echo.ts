// The bare WebSocket baseline: Bun.serve echoing every message back (run as its own process).
export {};
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: (req, srv) => (srv.upgrade(req) ? undefined : new Response("upgrade", { status: 426 })),
  websocket: { message: (ws, m) => void ws.send(m) },
});
console.log(JSON.stringify({ msg: "listening", port: server.port }));
process.on("SIGTERM", () => process.exit(0));
