// For tests that call the app's route handlers as Next calls them: getActor
// returns whoever `signedIn.actor` names and ~/server/db is `signedIn.db`, so a
// test can swap the signed-in user per request. Import this first, before
// anything that imports ~/server/auth/actor or ~/server/db.
import { vi } from "vitest";
import type { Actor } from "~/server/permissions";

export const signedIn = { actor: null as Actor | null, db: null as unknown };

vi.mock("~/server/auth/actor", () => ({ getActor: async () => signedIn.actor }));
vi.mock("~/server/db", () => ({
  get db() {
    return signedIn.db;
  },
}));
