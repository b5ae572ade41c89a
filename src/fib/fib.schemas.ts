import { z } from "@hono/zod-openapi";

export const FibStateSchema = z
  .object({
    index: z.number().int().min(0).openapi({ example: 10 }),
    value: z.string().regex(/^\d+$/).openapi({ example: "55", description: "F(index), exact, in decimal" }),
  })
  .openapi("FibState");
