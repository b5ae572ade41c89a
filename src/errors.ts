// The error tree: every non-JSON-RPC failure becomes an AppError and, in one place (app.onError),
// the documented error body {code, message, details, hint}.

export interface ErrorBody {
  code: string;
  message: string;
  details: string | null;
  hint: string | null;
}

export class AppError extends Error {
  override name: string = "AppError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: string | null = null,
    readonly hint: string | null = null,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
  toBody(): ErrorBody {
    return { code: this.code, message: this.message, details: this.details, hint: this.hint };
  }
}

export class ValidationError extends AppError {
  override name = "ValidationError" as const;
  constructor(message: string, details: string | null = null, hint: string | null = null) {
    super(400, "invalid_request", message, details, hint);
  }
}

export class NotFoundError extends AppError {
  override name = "NotFoundError" as const;
  constructor(message = "not found", details: string | null = null, code = "not_found") {
    super(404, code, message, details);
  }
}

export class ConflictError extends AppError {
  override name = "ConflictError" as const;
  constructor(code: string, message: string, details: string | null = null, hint: string | null = null) {
    super(409, code, message, details, hint);
  }
}

export class UnauthorizedError extends AppError {
  override name = "UnauthorizedError" as const;
  constructor() {
    super(401, "unauthorized", "missing or invalid bearer token", null, "send Authorization: Bearer <PEXD_API_TOKEN>", {
      "WWW-Authenticate": 'Bearer realm="pexd"',
    });
  }
}

export class UnavailableError extends AppError {
  override name = "UnavailableError" as const;
  constructor(code: string, message: string, details: string | null = null, hint: string | null = null) {
    super(503, code, message, details, hint);
  }
}

export const errorBody = (code: string, message: string, details: string | null = null, hint: string | null = null): ErrorBody => ({
  code,
  message,
  details,
  hint,
});

/** The data directory or database cannot be used at start-up: the runtime exits 73 (EX_CANTCREAT). */
export class StorageOpenError extends Error {
  override name = "StorageOpenError" as const;
}
