// Storage that refuses writes (docs/faults.md): disk full, read-only, I/O errors. Adapters turn their
// driver's errors into a StorageFault; the app answers 507 storage_full or 503 storage_unavailable,
// and the `storage` readiness check fails until a write succeeds again.

export type StorageFaultKind = "full" | "unavailable";

export class StorageFault extends Error {
  override name = "StorageFault" as const;
  constructor(
    readonly kind: StorageFaultKind,
    message: string,
    /** The driver's own code (SQLITE_FULL, 53100, …), for logs. */
    readonly driverCode: string,
  ) {
    super(message);
  }
}

/** SQLite result codes (extended ones start with the primary's name) that mean the storage, not the request, failed. */
const SQLITE_UNAVAILABLE = [
  "SQLITE_READONLY",
  "SQLITE_IOERR",
  "SQLITE_CANTOPEN",
  "SQLITE_CORRUPT",
  "SQLITE_NOTADB",
  "SQLITE_PERM",
  "SQLITE_BUSY",
  "SQLITE_LOCKED",
  "SQLITE_PROTOCOL",
  "SQLITE_NOLFS",
];

/** The StorageFault an SQLite error stands for, or null (constraint violations and the like are the request's). */
export function sqliteFault(e: unknown): StorageFault | null {
  if (e instanceof StorageFault) return e;
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return null;
  if (code === "SQLITE_FULL") return new StorageFault("full", "the disk is full: the write was not stored", code);
  const primary = SQLITE_UNAVAILABLE.find((p) => code === p || code.startsWith(`${p}_`));
  return primary ? new StorageFault("unavailable", `storage refused the write (${code})`, code) : null;
}
