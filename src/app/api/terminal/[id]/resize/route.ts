// POST /api/terminal/:id/resize {cols, rows}: the browser's terminal changed size.
import { getActor } from "~/server/auth/actor";
import { db } from "~/server/db";
import { terminalResize } from "~/server/access/terminal-http";

export const dynamic = "force-dynamic";

export async function POST(req: Request, { params }: { params: Promise<{ id: string }> }) {
  return terminalResize(req, await getActor(), db, (await params).id);
}
