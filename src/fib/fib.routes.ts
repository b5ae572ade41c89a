// docs/fibonacci.md: the Fibonacci counter routes. Mutations answer only after their commit (group commit).
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../http/context.ts";
import { authResponses, bearerSecurity, commonResponses, storageResponses } from "../http/schemas.ts";
import { FibStateSchema } from "./fib.schemas.ts";
import type { FibService, FibState } from "./fib.service.ts";

const ok = (description: string) => ({ 200: { description, content: { "application/json": { schema: FibStateSchema } } } });

const JSON_TYPE = { "Content-Type": "application/json" };

/**
 * The state as JSON, the bytes JSON.stringify(state) gives (an integer and a string of digits need
 * no escaping), without scanning a value of thousands of digits for characters to escape.
 */
export const stateJson = (st: FibState): string => `{"index":${st.index},"value":"${st.value}"}`;

export function registerFibRoutes(app: OpenAPIHono<AppEnv>, fib: FibService, mutating: MiddlewareHandler) {
  // The serialized state is reused while the index stays (at index 100,000 the value has 20,899
  // digits; stringifying it per request was most of the route's cost).
  let cachedIndex = -1;
  let cachedJson = "";
  const serialize = (st: FibState) => {
    if (st.index !== cachedIndex) {
      cachedIndex = st.index;
      cachedJson = stateJson(st);
    }
    return cachedJson;
  };
  app.openapi(
    createRoute({
      method: "get",
      path: "/current",
      operationId: "getCurrent",
      tags: ["fibonacci"],
      summary: "Current index and exact value",
      responses: { ...ok("The current state"), ...commonResponses },
    }),
    (c) => {
      // The hot path: one process owns the index and it has not moved since the last answer.
      if (!fib.shared && fib.index === cachedIndex) return c.body(cachedJson, 200, JSON_TYPE) as never;
      const state = fib.current();
      if (state instanceof Promise) return state.then((st) => c.body(serialize(st), 200, JSON_TYPE)) as never;
      // Same bytes as c.json(state); the cast tells the typed route so.
      return c.body(serialize(state), 200, JSON_TYPE) as never;
    },
  );
  // [path, operationId of the POST (the GET's adds "ViaGet"), summary, step]
  const steps: [string, string, string, () => Promise<FibState>][] = [
    ["/next", "next", "Advance to index + 1", () => fib.next()],
    ["/previous", "previous", "Step back to index − 1 (stays at 0)", () => fib.previous()],
    ["/reset", "reset", "Return to index 0", () => fib.reset()],
  ];
  for (const [path, operationId, summary, step] of steps) {
    for (const method of ["get", "post"] as const) {
      app.openapi(
        createRoute({
          method,
          path,
          operationId: method === "post" ? operationId : `${operationId}ViaGet`,
          tags: ["fibonacci"],
          summary,
          description: "Acknowledged only after the new index is committed (PEXD_FIB_FLUSH_MS=0).",
          middleware: [mutating] as const,
          security: bearerSecurity,
          responses: { ...ok("The new state"), ...authResponses, ...commonResponses, ...storageResponses },
        }),
        async (c) => c.body(stateJson(await step()), 200, JSON_TYPE) as never,
      );
    }
  }
}
