// Applies the SQL migrations under prisma/migrations/<provider>/ in name order.
// Prisma's own `migrate deploy` needs a native engine that cannot be fetched on
// these machines, so this does the same job and records each migration in a
// `_prisma_migrations` table of Prisma's shape (same name, checksum = sha256 of
// the file) so that `prisma migrate deploy` can take over where the engine exists.
// Each migration runs in its own transaction: a failure leaves the database as
// it was before that migration and names the file.
import { createHash, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { providerOf, sqlitePath, type Provider } from "./client";

export interface MigrationFile {
  name: string;
  file: string;
  sql: string;
  checksum: string;
}

export interface MigrateResult {
  provider: Provider;
  applied: string[];
  alreadyApplied: string[];
}

export class MigrationError extends Error {
  constructor(
    readonly migration: string,
    readonly file: string,
    cause: unknown,
  ) {
    super(`migration ${migration} failed (${file}): ${cause instanceof Error ? cause.message : String(cause)}; the database was left as it was before it`, {
      cause,
    });
  }
}

export function migrationsDir(provider: Provider, root = process.cwd()): string {
  return path.join(root, "prisma", "migrations", provider);
}

export function listMigrations(provider: Provider, root?: string): MigrationFile[] {
  const dir = migrationsDir(provider, root);
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(path.join(dir, d.name, "migration.sql")))
    .map((d) => d.name)
    .sort()
    .map((name) => {
      const file = path.join(dir, name, "migration.sql");
      const sql = readFileSync(file, "utf8");
      return { name, file, sql, checksum: createHash("sha256").update(sql).digest("hex") };
    });
}

const SQLITE_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" TEXT PRIMARY KEY NOT NULL,
  "checksum" TEXT NOT NULL,
  "finished_at" DATETIME,
  "migration_name" TEXT NOT NULL,
  "logs" TEXT,
  "rolled_back_at" DATETIME,
  "started_at" DATETIME NOT NULL DEFAULT current_timestamp,
  "applied_steps_count" INTEGER UNSIGNED NOT NULL DEFAULT 0
)`;

const PG_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum" VARCHAR(64) NOT NULL,
  "finished_at" TIMESTAMPTZ,
  "migration_name" VARCHAR(255) NOT NULL,
  "logs" TEXT,
  "rolled_back_at" TIMESTAMPTZ,
  "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`;

function warnChanged(m: MigrationFile, recorded: string, log: (msg: string) => void) {
  if (recorded !== m.checksum) log(`warning: migration ${m.name} was changed after it was applied (checksum differs); it is not applied again`);
}

/**
 * Switches the file to WAL. When another process switches it at the same
 * moment, SQLite answers BUSY at once (its busy timeout does not cover a
 * journal-mode change), so look again and retry briefly.
 */
function enableWal(conn: Database.Database): void {
  for (let attempt = 0; ; attempt++) {
    try {
      if (conn.pragma("journal_mode", { simple: true }) !== "wal") conn.pragma("journal_mode = WAL");
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== "SQLITE_BUSY" || attempt >= 200) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 25); // migrations run before anything else: blocking is fine
    }
  }
}

function migrateSqlite(url: string, migrations: MigrationFile[], log: (msg: string) => void): MigrateResult {
  const file = sqlitePath(url);
  mkdirSync(path.dirname(file), { recursive: true });
  const conn = new Database(file, { timeout: 10000 });
  try {
    // WAL is a property of the database file: set once here, every later
    // connection (the app's adapter included) uses it.
    enableWal(conn);
    conn.exec(SQLITE_TABLE);
    // Prisma's SQLite migrations rebuild a table between `PRAGMA foreign_keys=OFF`
    // and `=ON`, which SQLite ignores inside a transaction: with enforcement on
    // (better-sqlite3's default), dropping the old parent table would
    // cascade-delete its children's rows. So this connection runs with
    // enforcement off, and each migration must pass `foreign_key_check` before
    // it commits, as Prisma's own rebuild scripts check.
    conn.pragma("foreign_keys = OFF");
    const recordedChecksum = conn.prepare(
      `SELECT checksum FROM "_prisma_migrations" WHERE migration_name = ? AND finished_at IS NOT NULL AND rolled_back_at IS NULL`,
    );
    const record = conn.prepare(
      `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, started_at, applied_steps_count) VALUES (?, ?, ?, ?, ?, 1)`,
    );
    const result: MigrateResult = { provider: "sqlite", applied: [], alreadyApplied: [] };
    for (const m of migrations) {
      // Returns the recorded checksum when the migration was already applied.
      // Read under the write lock (BEGIN IMMEDIATE): another process may have
      // applied it a moment ago.
      const apply = conn.transaction((): string | undefined => {
        const row = recordedChecksum.get(m.name) as { checksum: string } | undefined;
        if (row) return row.checksum;
        const startedAt = Date.now();
        conn.exec(m.sql);
        const broken = conn.pragma("foreign_key_check") as { table: string; rowid: number; parent: string }[];
        if (broken.length > 0) {
          const sample = broken
            .slice(0, 5)
            .map((b) => `"${b.table}" row ${b.rowid} -> "${b.parent}"`)
            .join(", ");
          throw new Error(`foreign key check failed for ${broken.length} row(s): ${sample}`);
        }
        record.run(randomUUID(), m.checksum, Date.now(), m.name, startedAt);
        return undefined;
      });
      let recorded: string | undefined;
      try {
        recorded = apply.immediate();
      } catch (err) {
        throw new MigrationError(m.name, m.file, err);
      }
      if (recorded !== undefined) {
        warnChanged(m, recorded, log);
        result.alreadyApplied.push(m.name);
        continue;
      }
      result.applied.push(m.name);
      log(`applied ${m.name}`);
    }
    return result;
  } finally {
    conn.close();
  }
}

async function migratePostgres(url: string, migrations: MigrationFile[], log: (msg: string) => void): Promise<MigrateResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // One migrator at a time across app processes sharing the database.
    await client.query("SELECT pg_advisory_lock(72893461)");
    await client.query(PG_TABLE);
    const rows = await client.query<{ migration_name: string; checksum: string }>(
      `SELECT migration_name, checksum FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
    );
    const done = new Map(rows.rows.map((r) => [r.migration_name, r.checksum]));
    const result: MigrateResult = { provider: "postgresql", applied: [], alreadyApplied: [] };
    for (const m of migrations) {
      const recorded = done.get(m.name);
      if (recorded !== undefined) {
        warnChanged(m, recorded, log);
        result.alreadyApplied.push(m.name);
        continue;
      }
      try {
        await client.query("BEGIN");
        await client.query(m.sql);
        await client.query(
          `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, started_at, applied_steps_count) VALUES ($1, $2, now(), $3, now(), 1)`,
          [randomUUID(), m.checksum, m.name],
        );
        await client.query("COMMIT");
      } catch (err) {
        await client.query("ROLLBACK").catch(() => {});
        throw new MigrationError(m.name, m.file, err);
      }
      result.applied.push(m.name);
      log(`applied ${m.name}`);
    }
    return result;
  } finally {
    await client.query("SELECT pg_advisory_unlock(72893461)").catch(() => {});
    await client.end();
  }
}

/** Brings the database at `url` up to date. Idempotent. */
export async function migrate(url: string, opts: { root?: string; log?: (msg: string) => void } = {}): Promise<MigrateResult> {
  const provider = providerOf(url);
  const log = opts.log ?? ((msg: string) => console.log(`[db] ${msg}`));
  const migrations = listMigrations(provider, opts.root);
  return provider === "postgresql" ? migratePostgres(url, migrations, log) : migrateSqlite(url, migrations, log);
}

/** Names of migrations on disk that the database has not recorded as applied. */
export async function pendingMigrations(url: string, root?: string): Promise<string[]> {
  const provider = providerOf(url);
  const names = listMigrations(provider, root).map((m) => m.name);
  let applied: string[] = [];
  const q = `SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`;
  try {
    if (provider === "postgresql") {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        applied = (await client.query<{ migration_name: string }>(q)).rows.map((r) => r.migration_name);
      } finally {
        await client.end();
      }
    } else {
      const conn = new Database(sqlitePath(url), { readonly: true, fileMustExist: true });
      try {
        applied = (conn.prepare(q).all() as { migration_name: string }[]).map((r) => r.migration_name);
      } finally {
        conn.close();
      }
    }
  } catch {
    return names;
  }
  return names.filter((n) => !applied.includes(n));
}
