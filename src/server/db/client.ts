// Builds a Prisma client for a database URL. Separate from db.ts so scripts and
// tests can open a client on any database without the process-wide singleton.
import { mkdirSync } from "node:fs";
import path from "node:path";
import { PrismaBetterSqlite3 } from "@prisma/adapter-better-sqlite3";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient as SqliteClient } from "../../generated/prisma/sqlite/client";
import { PrismaClient as PgClient } from "../../generated/prisma/postgresql/client";

export type Db = SqliteClient;
export type Provider = "sqlite" | "postgresql";

export function providerOf(url: string): Provider {
  return /^postgres(ql)?:\/\//.test(url) ? "postgresql" : "sqlite";
}

// Prisma's client object is a proxy (instanceof does not tell them apart):
// remember which clients talk to PostgreSQL.
const postgresClients = new WeakSet<object>();

/** Which database a client talks to (for the few queries whose SQL differs). */
export function providerOfClient(db: Db): Provider {
  return postgresClients.has(db) ? "postgresql" : "sqlite";
}

/** Resolves `file:./x.db` against the working directory into an absolute path. */
export function sqlitePath(url: string): string {
  const raw = url.replace(/^file:/, "").replace(/\?.*$/, "");
  return path.resolve(raw);
}

export function createDatabaseClient(url: string): Db {
  if (providerOf(url) === "postgresql") {
    const adapter = new PrismaPg({ connectionString: url });
    // Same schema, same model types: only the provider differs.
    const client = new PgClient({ adapter }) as unknown as Db;
    postgresClients.add(client);
    return client;
  }
  const file = sqlitePath(url);
  mkdirSync(path.dirname(file), { recursive: true });
  // WAL lets the sampler write while pages read; the busy timeout makes a
  // writer wait for a lock instead of failing at once.
  const adapter = new PrismaBetterSqlite3({ url: `file:${file}`, timeout: 5000 });
  return new SqliteClient({ adapter });
}
