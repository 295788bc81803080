// The migration runner (src/server/db/migrate.ts) against real SQLite and
// PostgreSQL databases: it applies every migration once, records them the way
// Prisma does, rolls a failing one back and names it, and copes with several
// migrators starting at once.
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { execa } from "execa";
import { afterEach, describe, expect, it } from "vitest";
import type { Provider } from "~/server/db/client";
import { listMigrations, migrate, migrationsDir, MigrationError, pendingMigrations } from "~/server/db/migrate";
import { createEmptyDatabase, type EmptyDatabase } from "../../support/db";
import { PROVIDERS, queryRows, tableNames } from "./providers";

const quiet = { log: () => {} };

/** A project root holding only the given migrations for one provider. */
function migrationsRoot(provider: Provider, migrations: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), "twarga-migrations-"));
  for (const [name, sql] of Object.entries(migrations)) {
    const dir = path.join(migrationsDir(provider, root), name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "migration.sql"), sql);
  }
  return root;
}

interface MigrationRow {
  id: string;
  checksum: string;
  finished_at: unknown;
  migration_name: string;
  logs: string | null;
  rolled_back_at: unknown;
  started_at: unknown;
  applied_steps_count: number;
}

const recorded = (url: string) => queryRows<MigrationRow>(url, `SELECT * FROM "_prisma_migrations" ORDER BY migration_name`);

for (const { provider, skip, title } of PROVIDERS) {
  describe.skipIf(skip)(`migration runner on ${title}`, () => {
    let databases: EmptyDatabase[] = [];
    const emptyDb = async () => {
      const d = await createEmptyDatabase(provider);
      databases.push(d);
      return d.url;
    };
    afterEach(async () => {
      await Promise.all(databases.map((d) => d.drop()));
      databases = [];
    });

    it("applies every migration in name order, and nothing on a second run", async () => {
      const url = await emptyDb();
      const names = listMigrations(provider).map((m) => m.name);
      expect(names.length).toBeGreaterThan(0);
      expect(await pendingMigrations(url)).toEqual(names);

      const first = await migrate(url, quiet);
      expect(first).toEqual({ provider, applied: names, alreadyApplied: [] });
      expect(await tableNames(url)).toEqual(expect.arrayContaining(["User", "Account", "Session", "VerificationToken", "Event", "_prisma_migrations"]));
      expect(await pendingMigrations(url)).toEqual([]);

      const tablesBefore = await tableNames(url);
      const second = await migrate(url, quiet);
      expect(second).toEqual({ provider, applied: [], alreadyApplied: names });
      expect(await tableNames(url)).toEqual(tablesBefore);
      expect(await recorded(url)).toHaveLength(names.length);
    });

    it("records each migration in _prisma_migrations with Prisma's columns and the file's sha256", async () => {
      const url = await emptyDb();
      await migrate(url, quiet);
      const columns =
        provider === "postgresql"
          ? (await queryRows<{ name: string }>(url, `SELECT column_name AS name FROM information_schema.columns WHERE table_name = '_prisma_migrations'`)).map(
              (r) => r.name,
            )
          : (await queryRows<{ name: string }>(url, `PRAGMA table_info("_prisma_migrations")`)).map((r) => r.name);
      expect(columns.sort()).toEqual(["applied_steps_count", "checksum", "finished_at", "id", "logs", "migration_name", "rolled_back_at", "started_at"]);

      const dir = migrationsDir(provider);
      const rows = await recorded(url);
      expect(rows.map((r) => r.migration_name)).toEqual(listMigrations(provider).map((m) => m.name));
      for (const row of rows) {
        // Computed here from the file, independently of the runner.
        const sha = createHash("sha256")
          .update(readFileSync(path.join(dir, row.migration_name, "migration.sql")))
          .digest("hex");
        expect(row.checksum, row.migration_name).toBe(sha);
        expect(row.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
        expect(row.finished_at, row.migration_name).not.toBeNull();
        expect(row.started_at, row.migration_name).not.toBeNull();
        expect(row.rolled_back_at).toBeNull();
        expect(row.logs).toBeNull();
        expect(Number(row.applied_steps_count)).toBe(1);
      }
    });

    it("rolls a failing migration back, names its file, and keeps the earlier ones applied", async () => {
      const url = await emptyDb();
      const root = migrationsRoot(provider, {
        "20990101000000_first": `CREATE TABLE "Alpha" ("id" INTEGER NOT NULL PRIMARY KEY);`,
        "20990102000000_broken": [
          `CREATE TABLE "Beta" ("id" INTEGER NOT NULL PRIMARY KEY);`,
          `INSERT INTO "Alpha" ("id") VALUES (1);`,
          `INSERT INTO "NoSuchTable" ("id") VALUES (1);`,
        ].join("\n"),
        "20990103000000_after": `CREATE TABLE "Gamma" ("id" INTEGER NOT NULL PRIMARY KEY);`,
      });
      const brokenFile = path.join(migrationsDir(provider, root), "20990102000000_broken", "migration.sql");

      const failure = await migrate(url, { ...quiet, root }).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(MigrationError);
      const err = failure as MigrationError;
      expect(err.migration).toBe("20990102000000_broken");
      expect(err.file).toBe(brokenFile);
      expect(err.message).toContain("20990102000000_broken");
      expect(err.message).toContain(brokenFile);
      expect(err.message).toMatch(/NoSuchTable/);

      // The broken migration left nothing behind; the one before it stays.
      expect(await tableNames(url)).toEqual(["Alpha", "_prisma_migrations"]);
      expect(await queryRows(url, `SELECT * FROM "Alpha"`)).toEqual([]);
      expect((await recorded(url)).map((r) => r.migration_name)).toEqual(["20990101000000_first"]);
      expect(await pendingMigrations(url, root)).toEqual(["20990102000000_broken", "20990103000000_after"]);

      // Once the file is fixed, the next run picks up where it stopped.
      writeFileSync(brokenFile, `CREATE TABLE "Beta" ("id" INTEGER NOT NULL PRIMARY KEY);\nINSERT INTO "Alpha" ("id") VALUES (1);`);
      const retry = await migrate(url, { ...quiet, root });
      expect(retry.applied).toEqual(["20990102000000_broken", "20990103000000_after"]);
      expect(retry.alreadyApplied).toEqual(["20990101000000_first"]);
      expect(await tableNames(url)).toEqual(["Alpha", "Beta", "Gamma", "_prisma_migrations"]);
      expect(await queryRows(url, `SELECT "id" FROM "Alpha"`)).toEqual([{ id: 1 }]);
    });

    it("does not apply a migration again when its file changed afterwards, and warns", async () => {
      const url = await emptyDb();
      const root = migrationsRoot(provider, { "20990101000000_first": `CREATE TABLE "Alpha" ("id" INTEGER NOT NULL PRIMARY KEY);` });
      await migrate(url, { ...quiet, root });
      writeFileSync(
        path.join(migrationsDir(provider, root), "20990101000000_first", "migration.sql"),
        `CREATE TABLE "Alpha2" ("id" INTEGER NOT NULL PRIMARY KEY);`,
      );
      const messages: string[] = [];
      const again = await migrate(url, { root, log: (m) => messages.push(m) });
      expect(again.applied).toEqual([]);
      expect(messages.join("\n")).toMatch(/20990101000000_first was changed after it was applied/);
      expect(await tableNames(url)).toEqual(["Alpha", "_prisma_migrations"]);
    });

    it("applies each migration exactly once when several processes migrate at the same time", async () => {
      const url = await emptyDb();
      // The real migrations plus one whose second application would not fail
      // but would be visible: it inserts a row.
      const root = mkdtempSync(path.join(tmpdir(), "twarga-migrations-"));
      cpSync(migrationsDir(provider), migrationsDir(provider, root), { recursive: true });
      const counterDir = path.join(migrationsDir(provider, root), "20991231000000_counter");
      mkdirSync(counterDir);
      writeFileSync(
        path.join(counterDir, "migration.sql"),
        `CREATE TABLE IF NOT EXISTS "Applied" ("n" INTEGER NOT NULL);\nINSERT INTO "Applied" ("n") VALUES (1);`,
      );
      const names = listMigrations(provider, root).map((m) => m.name);

      // Each child loads everything first; then all start migrating at once.
      const child = path.join(import.meta.dirname, "migrate-child.ts");
      const children = Array.from({ length: 3 }, () => execa(process.execPath, ["--import", "tsx", child, url, root], { reject: false }));
      await Promise.all(
        children.map(
          (c) =>
            new Promise<void>((resolve) => {
              const onData = (chunk: Buffer) => {
                if (!chunk.toString().includes("ready")) return;
                c.stdout.off("data", onData);
                resolve();
              };
              c.stdout.on("data", onData);
              void c.then(() => resolve());
            }),
        ),
      );
      for (const c of children) c.stdin.end("go\n");
      const runs = await Promise.all(children);
      for (const run of runs) expect(run.exitCode, run.stderr).toBe(0);
      const results = runs.map((r) => JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { applied: string[]; alreadyApplied: string[] });
      expect(results.flatMap((r) => r.applied).sort()).toEqual(names);
      for (const r of results) expect([...r.applied, ...r.alreadyApplied].sort()).toEqual(names);
      expect((await recorded(url)).map((r) => r.migration_name)).toEqual(names);
      expect(await queryRows(url, `SELECT "n" FROM "Applied"`)).toEqual([{ n: 1 }]);
    }, 60_000);
  });
}

describe("migration runner on sqlite, table rebuilds", () => {
  it("rebuilds a parent table the way Prisma's RedefineTables migrations do without cascading deletes to its children", async () => {
    const { url } = await createEmptyDatabase("sqlite");
    const root = migrationsRoot("sqlite", {
      "20990101000000_parent_child": [
        `CREATE TABLE "Parent" ("id" TEXT NOT NULL PRIMARY KEY, "name" TEXT);`,
        `CREATE TABLE "Child" ("id" TEXT NOT NULL PRIMARY KEY, "parentId" TEXT NOT NULL, ` +
          `CONSTRAINT "Child_parentId_fkey" FOREIGN KEY ("parentId") REFERENCES "Parent" ("id") ON DELETE CASCADE ON UPDATE CASCADE);`,
        `INSERT INTO "Parent" VALUES ('p1', 'one');`,
        `INSERT INTO "Child" VALUES ('c1', 'p1');`,
      ].join("\n"),
      // What `prisma migrate dev` writes on SQLite to make a column required.
      "20990102000000_redefine_parent": [
        `-- RedefineTables`,
        `PRAGMA defer_foreign_keys=ON;`,
        `PRAGMA foreign_keys=OFF;`,
        `CREATE TABLE "new_Parent" ("id" TEXT NOT NULL PRIMARY KEY, "name" TEXT NOT NULL DEFAULT '');`,
        `INSERT INTO "new_Parent" ("id", "name") SELECT "id", coalesce("name", '') FROM "Parent";`,
        `DROP TABLE "Parent";`,
        `ALTER TABLE "new_Parent" RENAME TO "Parent";`,
        `PRAGMA foreign_keys=ON;`,
        `PRAGMA defer_foreign_keys=OFF;`,
      ].join("\n"),
    });
    await migrate(url, { ...quiet, root });
    expect(await queryRows(url, `SELECT * FROM "Child"`)).toEqual([{ id: "c1", parentId: "p1" }]);
    expect(await queryRows(url, `PRAGMA foreign_key_list("Child")`)).toEqual([
      expect.objectContaining({ table: "Parent", from: "parentId", on_delete: "CASCADE" }),
    ]);
  });

  it("refuses a migration that leaves foreign keys pointing nowhere, and rolls it back", async () => {
    const { url } = await createEmptyDatabase("sqlite");
    const root = migrationsRoot("sqlite", {
      "20990101000000_parent_child": [
        `CREATE TABLE "Parent" ("id" TEXT NOT NULL PRIMARY KEY);`,
        `CREATE TABLE "Child" ("id" TEXT NOT NULL PRIMARY KEY, "parentId" TEXT NOT NULL, ` +
          `CONSTRAINT "Child_parentId_fkey" FOREIGN KEY ("parentId") REFERENCES "Parent" ("id") ON DELETE CASCADE ON UPDATE CASCADE);`,
        `INSERT INTO "Parent" VALUES ('p1');`,
        `INSERT INTO "Child" VALUES ('c1', 'p1');`,
      ].join("\n"),
      "20990102000000_orphan": `PRAGMA foreign_keys=OFF;\nDELETE FROM "Parent";\nPRAGMA foreign_keys=ON;`,
    });
    const err = await migrate(url, { ...quiet, root }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as MigrationError).migration).toBe("20990102000000_orphan");
    expect((err as Error).message).toMatch(/foreign key/i);
    expect(await queryRows(url, `SELECT * FROM "Parent"`)).toEqual([{ id: "p1" }]);
  });
});
