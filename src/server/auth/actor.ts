// The signed-in user for this request, read fresh from the database (so a role
// change or a disable applies at once), or null.
import { cache } from "react";
import { auth } from "./index";
import { db } from "../db";
import type { Actor } from "../permissions";

export const getActor = cache(async (): Promise<Actor | null> => {
  const session = await auth();
  const id = session?.user?.id;
  if (!id) return null;
  const user = await db.user.findUnique({ where: { id }, select: { id: true, email: true, role: true, disabled: true } });
  if (!user || user.disabled) return null;
  return { id: user.id, email: user.email, role: user.role };
});
