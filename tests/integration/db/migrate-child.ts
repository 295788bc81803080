// Entry point for a separate migrator process: migrate.test.ts starts several
// on one database and lets them all go at once (after each prints "ready", a
// line on stdin), to check that concurrent runs apply each migration exactly
// once. Prints the MigrateResult as JSON on its last line.
import { once } from "node:events";
import { migrate } from "../../../src/server/db/migrate";

const [url, root] = process.argv.slice(2);
if (!url) throw new Error("usage: migrate-child.ts <database url> [root]");
process.stdout.write("ready\n");
await once(process.stdin, "data");
const result = await migrate(url, { root, log: () => {} });
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
