// The Bun edge of client-facing WebSockets: Hono's upgrade helper for routes, and the handler
// object Bun.serve needs (main.ts passes `websocket` to every server it starts).
export { upgradeWebSocket, websocket } from "hono/bun";
