// Generates the Prisma clients for both providers from prisma/schema.prisma.
// Prisma's CLI wants its native schema engine for every command, and that
// binary cannot be downloaded here; `generate` never runs it, so pointing the
// variable at any existing file is enough (see docs/decisions in README).
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const source = path.join(root, "prisma/schema.prisma");
const pgDir = path.join(root, "node_modules/.twarga");
const pgSchema = path.join(pgDir, "schema.postgresql.prisma");

const text = readFileSync(source, "utf8");
const pgText = text
  .replace('provider = "sqlite"', 'provider = "postgresql"')
  .replace(/output\s*=\s*"\.\.\/src\/generated\/prisma\/sqlite"/, `output   = "${path.join(root, "src/generated/prisma/postgresql")}"`);
if (pgText === text) throw new Error("could not derive the PostgreSQL schema");
mkdirSync(pgDir, { recursive: true });
writeFileSync(pgSchema, pgText);

const env = {
  ...process.env,
  PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
  PRISMA_HIDE_UPDATE_MESSAGE: "1",
  CHECKPOINT_DISABLE: "1",
};
const cli = path.join(root, "node_modules/prisma/build/index.js");
for (const schema of [source, pgSchema]) {
  execFileSync(process.execPath, [cli, "generate", "--schema", schema], { stdio: "inherit", env, cwd: root });
}
