// Zod/OpenAPI schemas of the stats API (docs/relay.md): the exact JSON shapes of /stats*.
import { z } from "@hono/zod-openapi";

export const StatsSchema = z
  .object({
    blocks: z.number().int().openapi({ description: "Blocks stored (first copies)" }),
    frames: z.number().int().openapi({ description: "Frames received" }),
    duplicates: z.number().int().openapi({ description: "Frames for a block already stored" }),
    rejected: z.number().int().openapi({ description: "Frames without a valid `block-number` meta tag" }),
    bytes: z.number().int().openapi({ description: "Payload bytes received" }),
    clients: z.number().int().openapi({ description: "Distinct sender IP addresses" }),
  })
  .openapi("RelayStats");

export const ClientSchema = z
  .object({
    address: z.string().openapi({ example: "203.0.113.7" }),
    frames: z.number().int(),
    bytes: z.number().int(),
    duplicates: z.number().int(),
    rejected: z.number().int(),
    first_seen: z.string().openapi({ example: "2026-01-01T00:00:00.000Z" }),
    last_seen: z.string().openapi({ example: "2026-01-01T00:00:12.000Z" }),
  })
  .openapi("RelayClient");

export const ClientsSchema = z.object({ items: z.array(ClientSchema) }).openapi("RelayClients");

export const BlockInfoSchema = z
  .object({
    number: z.number().int(),
    hash: z.string().nullable().openapi({ example: "0x3f…", description: "From the `block-hash` meta tag (null if absent)" }),
    bytes: z.number().int(),
    received_at: z.string(),
    from: z.string().openapi({ description: "IP address of the client whose copy was stored" }),
  })
  .openapi("RelayBlock");

export const BlocksSchema = z.object({ items: z.array(BlockInfoSchema) }).openapi("RelayBlocks");

export const BlocksQuery = z.object({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(100)
    .openapi({ param: { name: "limit", in: "query" }, description: "1–1000, default 100", example: 100 }),
});

export const BlockParam = z.object({
  number: z
    .string()
    .regex(/^\d{1,16}$/, "must be a decimal block number")
    .openapi({ param: { name: "number", in: "path" }, example: "19000000" }),
});
