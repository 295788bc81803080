// A fresh, fully migrated database for a test: a temporary SQLite file by
// default, or a new PostgreSQL database when TEST_POSTGRES_URL is set and
// `provider: "postgresql"` is asked for.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { createDatabaseClient, type Db } from "../../src/server/db/client";
import { migrate } from "../../src/server/db/migrate";

export interface TestDb {
  db: Db;
  url: string;
  close(): Promise<void>;
}

export async function createTestDb(opts: { provider?: "sqlite" | "postgresql" } = {}): Promise<TestDb> {
  if (opts.provider === "postgresql") {
    const admin = process.env.TEST_POSTGRES_URL;
    if (!admin) throw new Error("TEST_POSTGRES_URL is not set (scripts/test.sh starts PostgreSQL and sets it)");
    const name = `twarga_test_${randomBytes(6).toString("hex")}`;
    const client = new pg.Client({ connectionString: admin });
    await client.connect();
    await client.query(`CREATE DATABASE ${name}`);
    await client.end();
    const url = new URL(admin);
    url.pathname = `/${name}`;
    await migrate(url.toString(), { log: () => {} });
    const db = createDatabaseClient(url.toString());
    return {
      db,
      url: url.toString(),
      async close() {
        await db.$disconnect();
        const c = new pg.Client({ connectionString: admin });
        await c.connect();
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await c.end();
      },
    };
  }
  const dir = mkdtempSync(path.join(tmpdir(), "twarga-db-"));
  const url = `file:${path.join(dir, "test.db")}`;
  await migrate(url, { log: () => {} });
  const db = createDatabaseClient(url);
  return { db, url, close: () => db.$disconnect() };
}

export const postgresAvailable = () => Boolean(process.env.TEST_POSTGRES_URL);
