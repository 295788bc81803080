// The start-up check on the app's data: a data folder, database, .env and VM
// folders left open to other users are made owner-only, on the real files.
import { mkdirSync, mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { secureDataFiles } from "~/server/data-permissions";
import { parseEnv } from "~/server/env";

const mode = (p: string) => statSync(p).mode & 0o777;

describe("secureDataFiles", () => {
  it("makes the data folder, database files, .env and VM folders owner-only, and says what it changed", async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), "twarga-perms-"));
    const data = path.join(cwd, "data");
    mkdirSync(path.join(data, "vms", "abcdefgh12345678"), { recursive: true, mode: 0o755 });
    for (const f of ["twarga.db", "twarga.db-wal", "twarga.db-shm"]) writeFileSync(path.join(data, f), "", { mode: 0o644 });
    writeFileSync(path.join(cwd, ".env"), "AUTH_SECRET=x\n", { mode: 0o644 });
    const e = parseEnv({ DATA_DIR: data, DATABASE_URL: `file:${path.join(data, "twarga.db")}` });
    const changed = await secureDataFiles(e, cwd);
    expect(mode(data)).toBe(0o700);
    expect(mode(path.join(data, "vms"))).toBe(0o700);
    expect(mode(path.join(data, "vms", "abcdefgh12345678"))).toBe(0o700);
    for (const f of ["twarga.db", "twarga.db-wal", "twarga.db-shm"]) expect(mode(path.join(data, f))).toBe(0o600);
    expect(mode(path.join(cwd, ".env"))).toBe(0o600);
    expect(changed).toContain(`${path.join(cwd, ".env")}: 0644 -> 0600`);
    // A second start finds nothing to change.
    expect(await secureDataFiles(e, cwd)).toEqual([]);
  });
});
