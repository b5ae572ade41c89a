// Preloaded by `bun test` (bunfig.toml): after the last test of the run, whatever the helpers left
// running or on disk is cleaned up (test/helpers/cleanup.ts), even when a test failed before its own
// afterAll could.
import { afterAll } from "bun:test";
import { runCleanup } from "./helpers/cleanup.ts";

afterAll(runCleanup);
