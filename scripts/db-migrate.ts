// npm run db:migrate — applies pending SQL migrations to DATABASE_URL.
import { existsSync } from "node:fs";
import { migrate } from "../src/server/db/migrate";
import { env } from "../src/server/env";

// Same settings as the server, which Next loads from .env.
if (existsSync(".env")) process.loadEnvFile(".env");

migrate(env().DATABASE_URL)
  .then((r) => {
    console.log(`[db] ${r.provider}: ${r.applied.length} applied, ${r.alreadyApplied.length} already applied`);
  })
  .catch((err) => {
    console.error(`[db] ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
