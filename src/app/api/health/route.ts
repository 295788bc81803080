import { NextResponse } from "next/server";
import { checkHealth } from "~/server/liveness";

export const dynamic = "force-dynamic";

/** Liveness for load balancers and monitors: no session, no secrets. */
export async function GET() {
  const health = await checkHealth();
  return NextResponse.json(health, { status: health.status === "ok" ? 200 : 503, headers: { "cache-control": "no-store" } });
}
