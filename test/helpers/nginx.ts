// A throwaway nginx in front of pexd instances, with the configuration pexd ships for scale-out
// (systemd/nginx-pexd.conf: its upstream block rewritten to the given ports), on a free port, in a
// temporary prefix; killed on stop() or process exit. The nginx package is installed when missing.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deadPort } from "./net.ts";
import { ROOT } from "./pexd.ts";
import { ensurePackage } from "./redis.ts";
import { until } from "./wait.ts";
import { reapOnExit } from "./reaper.ts";

export interface Nginx {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** The shipped site configuration with its listen port and upstream servers replaced. */
export function siteConfig(listen: number, ports: number[]): string {
  const site = readFileSync(join(ROOT, "systemd/nginx-pexd.conf"), "utf8");
  return site
    .replace(
      /upstream pexd \{[^}]*\}/,
      `upstream pexd {\n  ${ports.map((p) => `server 127.0.0.1:${p} max_fails=1 fail_timeout=2s;`).join("\n  ")}\n  keepalive 64;\n}`,
    )
    .replace(/listen 80;/, `listen 127.0.0.1:${listen};`)
    .replace(/^\s*listen \[::\]:80;\s*$/m, "");
}

export async function startNginx(ports: number[]): Promise<Nginx> {
  const bin = ensurePackage("nginx", "nginx");
  const prefix = mkdtempSync(join(tmpdir(), "pexd-test-nginx-"));
  const port = await deadPort();
  const conf = `daemon off;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
${siteConfig(port, ports)}
}
`;
  writeFileSync(join(prefix, "nginx.conf"), conf);
  const proc = Bun.spawn([bin, "-p", prefix, "-c", join(prefix, "nginx.conf")], { stdout: "pipe", stderr: "pipe" });
  const untrack = reapOnExit(proc);
  await until(
    "nginx to listen",
    async () => {
      if (proc.exitCode !== null) throw new Error(`nginx exited: ${await new Response(proc.stderr).text()}`);
      return fetch(`http://127.0.0.1:${port}/health`).then(
        () => true,
        () => false,
      );
    },
    15_000,
  );
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stop: async () => {
      proc.kill("SIGQUIT");
      await proc.exited;
      untrack();
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}
