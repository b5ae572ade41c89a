// Bun's Redis client for PEXD_REDIS_URL: the gateway's shared cache and the shared rate-limit buckets
// (src/storage/redis/redis.shared.ts). It reconnects on its own; while disconnected, commands fail at
// once (no offline queue), so pexd answers from its own cache and buckets instead of waiting.
// The URL may carry a password: messages name the host and port only.
import { RedisClient } from "bun";
import { READY, type ReadinessCheck } from "../../http/meta.routes.ts";
import { memoryRateLimitStore } from "../../limits/request-limiter.ts";
import type { Logger } from "../../log.ts";
import type { MetricFamily } from "../../metrics/types.ts";
import { RedisHealth, RedisRateLimitStore, RedisSharedCache } from "../../storage/redis/redis.shared.ts";

export function redisLocation(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || "localhost"}:${u.port || "6379"}`;
  } catch {
    return "(unparsable URL)";
  }
}

export function openRedis(url: string, log: Logger) {
  const where = redisLocation(url);
  const client = new RedisClient(url, {
    connectionTimeout: 2000,
    autoReconnect: true,
    maxRetries: 4_294_967_295,
    enableOfflineQueue: false,
  });
  const health = new RedisHealth(log);
  client.onclose = () => {
    health.failed("connection", new Error(`the connection to ${where} closed`));
  };
  log.info("redis", { redis: where });
  const check: ReadinessCheck = {
    name: `redis ${where}`,
    // Degraded, never fatal: without Redis each instance serves from its own cache and buckets.
    check: () => (health.lastError ? { ok: false, critical: false, detail: health.lastError } : READY),
  };
  // While Redis is failing, a PING a second notices its return even without traffic (/ready).
  const probe = setInterval(() => {
    if (!health.lastError) return;
    health
      .call(() => client.send("PING", []))
      .then(
        () => health.ok(),
        (e: unknown) => {
          if (!RedisHealth.skipped(e)) health.failed("probe", e);
        },
      );
  }, RedisHealth.RETRY_MS);
  (probe as { unref?: () => void }).unref?.();
  return {
    // Connected before pexd listens, so the first requests already share the cache and the buckets.
    start: () =>
      client.connect().then(
        () => health.ok(),
        (e: unknown) => health.failed("connection", e),
      ),
    sharedCache: new RedisSharedCache(client, health),
    rateLimitStore: new RedisRateLimitStore(client, health, memoryRateLimitStore()),
    check,
    metrics: (): MetricFamily[] => [
      {
        name: "pexd_redis_errors_total",
        help: "Redis calls that failed (pexd went on without Redis for them).",
        type: "counter",
        samples: [{ value: health.errors }],
      },
    ],
    close: async () => {
      clearInterval(probe);
      client.close();
    },
  };
}
