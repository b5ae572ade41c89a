import { afterAll } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { asPort, openDatabase } from "../../runtime/bun/sqlite.ts";
import { fibStoreContract } from "../../../test/contracts/fib.contract.ts";
import { SqliteFibStore } from "./fib.sqlite.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

fibStoreContract("sqlite", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pexd-fibstore-"));
  dirs.push(dir);
  const { db } = openDatabase(dir);
  return {
    store: new SqliteFibStore(asPort(db)),
    reopen: async () => {
      db.close();
      return new SqliteFibStore(asPort(openDatabase(dir).db));
    },
  };
});
