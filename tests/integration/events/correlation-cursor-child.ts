// A web-only process for correlation-cursor.test.ts: records failed sign-ins
// through recordEvent on its own database client, as a replica with
// BACKGROUND_SERVICES=false does, and exits. It runs no correlation rules.
import { createDatabaseClient } from "../../../src/server/db/client";
import { recordEvent } from "../../../src/server/events/record";

const [url, ip, count] = process.argv.slice(2);
if (!url || !ip || !count) throw new Error("usage: correlation-cursor-child.ts <database url> <ip> <count>");
const db = createDatabaseClient(url);
for (let i = 0; i < Number(count); i++) {
  await recordEvent(db, { type: "auth", action: "signin.failed", severity: "WARNING", message: `sign-in failed (${i + 1})`, sourceIp: ip });
}
await db.$disconnect();
process.stdout.write(`recorded ${count}\n`);
