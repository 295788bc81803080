// Every test process gets its own data folder so nothing touches ./data.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const dir = mkdtempSync(path.join(tmpdir(), "twarga-test-"));
process.env.DATA_DIR ??= dir;
process.env.DATABASE_URL ??= `file:${path.join(dir, "app.db")}`;
(process.env as Record<string, string>).NODE_ENV = "test";
