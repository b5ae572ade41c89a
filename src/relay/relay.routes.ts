// docs/relay.md stats API: totals, per-client stats, the newest blocks and one stored document.
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { NotFoundError } from "../errors.ts";
import type { AppEnv } from "../http/context.ts";
import { commonResponses, errorResponse, errorResponses } from "../http/schemas.ts";
import type { RelayStore } from "../storage/relay.port.ts";
import { BlockParam, BlocksQuery, BlocksSchema, ClientsSchema, StatsSchema } from "./relay.schemas.ts";

const json = <T>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });
const { 405: methodNotAllowed } = errorResponses;
/** Every stats route: 405 on another method, 429 and 500. */
const shared = { 405: methodNotAllowed, ...commonResponses };

export function registerRelayRoutes(app: OpenAPIHono<AppEnv>, store: RelayStore): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/stats",
      operationId: "relayStats",
      tags: ["relay"],
      summary: "Relay server totals",
      responses: { 200: json(StatsSchema, "Totals since the database was created"), ...shared },
    }),
    async (c) => c.json(await store.totals(), 200),
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/stats/clients",
      operationId: "relayStatsClients",
      tags: ["relay"],
      summary: "Per-client stats, keyed by sender IP address",
      responses: { 200: json(ClientsSchema, "Every client that sent a frame, by address"), ...shared },
    }),
    async (c) => c.json({ items: await store.clients() }, 200),
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/stats/blocks",
      operationId: "relayStatsBlocks",
      tags: ["relay"],
      summary: "Stored blocks, newest first",
      request: { query: BlocksQuery },
      responses: {
        200: json(BlocksSchema, "The newest `limit` stored blocks"),
        400: errorResponse("`limit` outside 1–1000 (`invalid_request`)"),
        ...shared,
      },
    }),
    async (c) => c.json({ items: await store.blocks(c.req.valid("query").limit) }, 200),
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/stats/blocks/{number}",
      operationId: "relayStatsBlock",
      tags: ["relay"],
      summary: "The stored HTML document of one block (the first copy received)",
      request: { params: BlockParam },
      responses: {
        200: {
          description: "The document as received, with `Content-Security-Policy: sandbox` and `X-Content-Type-Options: nosniff`",
          content: { "text/html": { schema: { type: "string" } } },
        },
        400: errorResponse("`number` is not a decimal block number (`invalid_request`)"),
        404: errorResponse("No document stored for that block (`block_not_found`)"),
        ...shared,
      },
    }),
    async (c) => {
      const { number } = c.req.valid("param");
      const doc = await store.document(Number(number));
      if (!doc) throw new NotFoundError(`no document stored for block ${number}`, null, "block_not_found");
      // A stored document is whatever a sender sent: served sandboxed (no script, no same-origin
      // access to this API) and never sniffed into another type (docs/security.md).
      return c.body(doc as Uint8Array<ArrayBuffer>, 200, {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": "sandbox",
        "X-Content-Type-Options": "nosniff",
      });
    },
  );
}
