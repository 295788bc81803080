// The OpenAPI document of /api/v1 (src/server/api/openapi.ts). Public: it describes the API, it holds no data.
import { openApiDocument } from "~/server/api/openapi";

export const dynamic = "force-dynamic";

export function GET() {
  return Response.json(openApiDocument(), { headers: { "cache-control": "no-store" } });
}
