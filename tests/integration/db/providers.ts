// What the data-layer tests share: the providers to run against (PostgreSQL
// only when a test server is given) and a plain SQL reader for assertions that
// must not go through the code under test.
import Database from "better-sqlite3";
import pg from "pg";
import { providerOf, sqlitePath, type Provider } from "../../../src/server/db/client";

const pgSkipped = !process.env.TEST_POSTGRES_URL;

if (pgSkipped) {
  console.warn(
    "[db tests] PostgreSQL tests are skipped: TEST_POSTGRES_URL is not set. Start a server with `bash tests/support/postgres.sh start` and export the URL it prints.",
  );
}

/** For `describe.skipIf(skip)(title, …)`: the title says why a run is skipped. */
export const PROVIDERS: { provider: Provider; skip: boolean; title: string }[] = [
  { provider: "sqlite", skip: false, title: "sqlite" },
  {
    provider: "postgresql",
    skip: pgSkipped,
    title: pgSkipped ? "postgresql (skipped: TEST_POSTGRES_URL is not set; see tests/support/postgres.sh)" : "postgresql",
  },
];

export async function queryRows<T>(url: string, sql: string): Promise<T[]> {
  if (providerOf(url) === "postgresql") {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query(sql)).rows as T[];
    } finally {
      await client.end();
    }
  }
  const conn = new Database(sqlitePath(url), { readonly: true, fileMustExist: true });
  try {
    return conn.prepare(sql).all() as T[];
  } finally {
    conn.close();
  }
}

/** Names of the tables in the database, sorted. */
export async function tableNames(url: string): Promise<string[]> {
  const sql =
    providerOf(url) === "postgresql"
      ? `SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()`
      : `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`;
  return (await queryRows<{ name: string }>(url, sql)).map((r) => r.name).sort();
}
