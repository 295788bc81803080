// The REST surface for scripts: every path under /api/v1 (src/server/api/rest.ts, docs/api.md).
import { db } from "~/server/db";
import { handleRestRequest } from "~/server/api/rest";

export const dynamic = "force-dynamic";

const handler = (request: Request) => handleRestRequest(db, request);

export { handler as GET, handler as POST, handler as PUT, handler as PATCH, handler as DELETE };
