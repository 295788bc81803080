// Liveness for load balancers and the test harness (GET /api/health): is the database reachable, and which version runs.
import { db } from "./db";
import { appVersion } from "./version";

export async function checkHealth() {
  const started = performance.now();
  let database: "ok" | "unreachable" = "ok";
  try {
    await db.$queryRawUnsafe("SELECT 1");
  } catch {
    database = "unreachable";
  }
  return {
    status: database === "ok" ? ("ok" as const) : ("degraded" as const),
    database,
    databaseLatencyMs: Math.round((performance.now() - started) * 10) / 10,
    version: appVersion(),
    time: new Date().toISOString(),
  };
}
