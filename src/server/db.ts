// The one Prisma client of the process. SQLite (better-sqlite3) is the embedded
// default; a postgresql:// DATABASE_URL selects PostgreSQL. Both clients are
// generated from the same schema (scripts/prisma-generate.mjs), so they share
// one type: the SQLite client's.
import { createDatabaseClient, type Db } from "./db/client";
import { env } from "./env";

export type { Db };

const globalForDb = globalThis as unknown as { twargaDb?: Db };

/** The process-wide client (kept across dev-server reloads). */
export const db: Db = (globalForDb.twargaDb ??= createDatabaseClient(env().DATABASE_URL));
