// GET /api/metrics: Prometheus scrape target. Needs a bearer token with the
// metrics:read scope; the text shows only what the token's user may see.
import { authenticateBearer } from "~/server/auth/api-tokens";
import { db } from "~/server/db";
import { EXPOSITION_CONTENT_TYPE, metricsExposition } from "~/server/metrics/exposition";

export const dynamic = "force-dynamic";

export async function GET(req: Request) {
  const actor = await authenticateBearer(db, req, "metrics:read");
  if (!actor) {
    return new Response("A bearer token with the metrics:read scope is required.\n", {
      status: 401,
      headers: { "content-type": "text/plain; charset=utf-8", "www-authenticate": 'Bearer realm="metrics"', "cache-control": "no-store" },
    });
  }
  return new Response(await metricsExposition(db, actor), { headers: { "content-type": EXPOSITION_CONTENT_TYPE, "cache-control": "no-store" } });
}
