import type { Db } from "../db/client";

export function listUsers(client: Db) {
  return client.user.findMany({
    orderBy: { createdAt: "asc" },
    select: { id: true, email: true, name: true, role: true, disabled: true, lastSignInAt: true, createdAt: true },
  });
}
