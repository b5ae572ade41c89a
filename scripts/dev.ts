export {};
// `make run` / `make dev`: the service with its embedded defaults (SQLite in ./data). When no
// upstream is configured, a later issue starts a local anvil chain here.
const watch = !process.argv.includes("--no-watch");
const args = watch ? ["--watch", "src/runtime/bun/cli.ts"] : ["src/runtime/bun/cli.ts"];
const child = Bun.spawn([process.execPath, ...args], { stdio: ["inherit", "inherit", "inherit"], env: Bun.env });
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => child.kill(sig));
process.exit(await child.exited);
