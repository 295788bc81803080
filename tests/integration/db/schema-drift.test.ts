// Schema drift: every migration under prisma/migrations/<provider>/ applied to
// an empty database must give exactly what prisma/schema.prisma describes
// (tables, columns, types, nullability, defaults, primary keys, unique
// constraints, indexes, foreign keys with their actions, enums), and nothing
// more. The schema is read by Prisma's own parser (prisma-dmmf.ts).
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlitePath, type Provider } from "~/server/db/client";
import { listMigrations, migrate, migrationsDir } from "~/server/db/migrate";
import { createEmptyDatabase, type EmptyDatabase } from "../../support/db";
import { readDatamodel } from "./prisma-dmmf";
import { PROVIDERS } from "./providers";
import { compareShapes, readPostgresShape, readSqliteShape, type DatabaseShape } from "./schema-shape";

const schemaText = readFileSync(path.join(process.cwd(), "prisma", "schema.prisma"), "utf8");
const datamodel = readDatamodel(schemaText);

const readShape = (provider: Provider, url: string): Promise<DatabaseShape> =>
  provider === "postgresql" ? readPostgresShape(url) : Promise.resolve(readSqliteShape(sqlitePath(url)));

/** The schema with `from` replaced by `to`; fails if `from` is not there, so a mutation cannot silently do nothing. */
function mutateSchema(text: string, from: RegExp, to: string): string {
  expect(text, `schema mutation ${from} found nothing to change`).toMatch(from);
  return text.replace(from, to);
}

for (const { provider, skip, title } of PROVIDERS) {
  describe.skipIf(skip)(`schema drift on ${title}`, () => {
    let database: EmptyDatabase;
    let shape: DatabaseShape;

    beforeAll(async () => {
      database = await createEmptyDatabase(provider);
      const result = await migrate(database.url, { log: () => {} });
      expect(result.applied).toEqual(listMigrations(provider).map((m) => m.name));
      shape = await readShape(provider, database.url);
    });
    afterAll(() => database?.drop());

    it("all migrations together give exactly the database prisma/schema.prisma describes", () => {
      // Not vacuous: every model has its table.
      expect(shape.tables.map((t) => t.name)).toEqual(expect.arrayContaining(datamodel.models.map((m) => m.dbName ?? m.name)));
      expect(compareShapes(datamodel, provider, shape)).toEqual([]);
    });

    it("reports schema changes that have no migration, naming the model and field", () => {
      let text = schemaText;
      text = mutateSchema(text, /(model User \{[^}]*?\n\s*name\s+)String\?/, "$1Int");
      text = mutateSchema(text, /^(\s*model User \{\n)/m, "$1  nickname String?\n");
      text = mutateSchema(text, /(model Account \{[^}]*?)onDelete: Cascade\)/, "$1onDelete: Restrict)");
      text = mutateSchema(text, /(model Event \{[^}]*?)(@@index\(\[createdAt, id\]\))/, "$1$2\n  @@unique([type, action])");
      text = mutateSchema(text, /(model Account \{[^}]*?)@@index\(\[userId\]\)/, "$1@@index([userId, type])");
      const problems = compareShapes(readDatamodel(text), provider, shape);
      const textType = provider === "postgresql" ? "text" : "TEXT";
      const intType = provider === "postgresql" ? "integer" : "INTEGER";
      expect(problems).toEqual(
        expect.arrayContaining([
          `User.name: column "User"."name" has type ${textType}, the schema (Int) needs ${intType}`,
          `User.name: column "User"."name" is nullable, the schema (Int) needs it NOT NULL`,
          `User.nickname: column "User"."nickname" is missing from the database`,
          `Account.user (@relation(fields: [userId])): foreign key (userId) has ON DELETE Cascade, the schema needs onDelete: Restrict`,
          `Event @@unique([type, action]): unique (type, action) on "Event" (named "Event_type_action_key") is missing from the database`,
          `Account @@index([userId, type]): index (userId, type) on "Account" (named "Account_userId_type_idx") is missing from the database`,
          `model Account: index (userId) "Account_userId_idx" on "Account" exists in the database but not in the schema`,
        ]),
      );
      expect(problems).toHaveLength(7);
    });

    it("reports database objects the schema does not have", async () => {
      // The real migrations plus one that adds what no model describes.
      const root = mkdtempSync(path.join(tmpdir(), "twarga-drift-"));
      cpSync(migrationsDir(provider), migrationsDir(provider, root), { recursive: true });
      const extra = path.join(migrationsDir(provider, root), "20991231000000_unmodelled");
      mkdirSync(extra);
      const common = [
        `CREATE TABLE "Stray" ("id" TEXT NOT NULL PRIMARY KEY);`,
        `ALTER TABLE "Event" ADD COLUMN "extra" TEXT;`,
        `DROP INDEX "Event_type_createdAt_idx";`,
        `CREATE INDEX "Event_message_idx" ON "Event"("message");`,
      ];
      const pgOnly = [
        `ALTER TABLE "User" ALTER COLUMN "image" SET NOT NULL;`,
        `ALTER TABLE "User" ALTER COLUMN "disabled" SET DEFAULT true;`,
        `ALTER TYPE "Role" ADD VALUE 'GUEST';`,
        `CREATE TYPE "Mood" AS ENUM ('HAPPY');`,
      ];
      writeFileSync(path.join(extra, "migration.sql"), [...common, ...(provider === "postgresql" ? pgOnly : [])].join("\n"));
      const drifted = await createEmptyDatabase(provider);
      try {
        await migrate(drifted.url, { root, log: () => {} });
        const problems = compareShapes(datamodel, provider, await readShape(provider, drifted.url));
        const expected = [
          `table "Stray" exists in the database but no model maps to it`,
          `model Event: column "Event"."extra" exists in the database but not in the schema`,
          `Event @@index([type, createdAt]): index (type, createdAt) on "Event" (named "Event_type_createdAt_idx") is missing from the database`,
          `model Event: index (message) "Event_message_idx" on "Event" exists in the database but not in the schema`,
        ];
        if (provider === "postgresql") {
          expected.push(
            `User.image: column "User"."image" is NOT NULL, the schema (String?) needs it nullable`,
            `User.disabled: column "User"."disabled" has DEFAULT true, the schema needs DEFAULT false`,
            `enum Role: enum type "Role" has values (USER, ADMIN, GUEST), the schema needs (USER, ADMIN)`,
            `enum type "Mood" exists in the database but not in the schema`,
          );
        }
        expect(problems.sort()).toEqual(expected.sort());
      } finally {
        await drifted.drop();
      }
    });
  });
}
