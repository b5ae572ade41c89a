// The Hono environment shared by every route module.
import { OpenAPIHono } from "@hono/zod-openapi";
import { ValidationError } from "../errors.ts";

export type AppEnv = { Variables: { requestId: string } };

/** A router whose validation failures become the documented error body (400 invalid_request). */
export function createRouter(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        const issue = result.error.issues[0];
        const where = issue?.path.length ? issue.path.join(".") : result.target;
        throw new ValidationError(
          `invalid ${result.target}: ${where}: ${issue?.message ?? "invalid value"}`,
          result.error.issues
            .slice(0, 5)
            .map((i) => `${i.path.join(".") || result.target}: ${i.message}`)
            .join("; "),
        );
      }
    },
  });
}
