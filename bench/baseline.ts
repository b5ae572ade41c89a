// The bare baseline every HTTP benchmark is compared with: Bun.serve answering a small JSON body.
export {};
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT ?? 0),
  fetch: () => new Response('{"ok":true}', { headers: { "content-type": "application/json" } }),
});
console.log(JSON.stringify({ msg: "listening", port: server.port }));
process.on("SIGTERM", () => process.exit(0));
