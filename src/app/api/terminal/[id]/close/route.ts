// POST /api/terminal/:id/close {}: the user closes their terminal.
import { getActor } from "~/server/auth/actor";
import { db } from "~/server/db";
import { closeTerminal } from "~/server/access/terminal-http";

export const dynamic = "force-dynamic";

export async function POST(req: Request, { params }: { params: Promise<{ id: string }> }) {
  return closeTerminal(req, await getActor(), db, (await params).id);
}
