// A fresh, fully migrated database for a test: a temporary SQLite file by
// default, or a new PostgreSQL database when TEST_POSTGRES_URL is set and
// `provider: "postgresql"` is asked for.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { createDatabaseClient, type Db, type Provider } from "../../src/server/db/client";
import { migrate } from "../../src/server/db/migrate";

export interface TestDb {
  db: Db;
  url: string;
  close(): Promise<void>;
}

export interface EmptyDatabase {
  url: string;
  /** Deletes the database (PostgreSQL); SQLite files live in a temp dir. */
  drop(): Promise<void>;
}

async function onServer(adminUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * A new database with nothing in it (not migrated). PostgreSQL needs
 * TEST_POSTGRES_URL (tests/support/postgres.sh prints it): each call creates
 * its own database on that server.
 */
export async function createEmptyDatabase(provider: Provider = "sqlite"): Promise<EmptyDatabase> {
  if (provider === "postgresql") {
    const admin = process.env.TEST_POSTGRES_URL;
    if (!admin) throw new Error("TEST_POSTGRES_URL is not set (run `bash tests/support/postgres.sh start`; scripts/test.sh does it)");
    const name = `twarga_test_${randomBytes(6).toString("hex")}`;
    await onServer(admin, `CREATE DATABASE ${name}`);
    const url = new URL(admin);
    url.pathname = `/${name}`;
    return { url: url.toString(), drop: () => onServer(admin, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
  }
  const dir = mkdtempSync(path.join(tmpdir(), "twarga-db-"));
  return { url: `file:${path.join(dir, "test.db")}`, drop: async () => {} };
}

export async function createTestDb(opts: { provider?: Provider } = {}): Promise<TestDb> {
  const empty = await createEmptyDatabase(opts.provider ?? "sqlite");
  await migrate(empty.url, { log: () => {} });
  const db = createDatabaseClient(empty.url);
  return {
    db,
    url: empty.url,
    async close() {
      await db.$disconnect();
      await empty.drop();
    },
  };
}

export const postgresAvailable = () => Boolean(process.env.TEST_POSTGRES_URL);
