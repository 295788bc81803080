// POST /api/terminal {vmId, cols, rows}: opens a shell in a running VM for its
// owner or an admin (src/server/access/terminal-http.ts has the protocol).
import { getActor } from "~/server/auth/actor";
import { db } from "~/server/db";
import { openTerminal } from "~/server/access/terminal-http";

export const dynamic = "force-dynamic";

export async function POST(req: Request) {
  return openTerminal(req, await getActor(), db);
}
