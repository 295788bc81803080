// Every browser spec takes `test` from tests/e2e/support/fixtures.ts, whose
// page watch fails a test on any console error, uncaught error or
// Content-Security-Policy violation. A spec that imported Playwright's own
// `test` would visit pages unwatched; this keeps a new spec from doing so.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const E2E = path.resolve(import.meta.dirname, "../e2e");
const specs = readdirSync(E2E).filter((f) => f.endsWith(".spec.ts"));

describe("browser specs", () => {
  it("exist", () => expect(specs.length).toBeGreaterThan(3));

  it.each(specs)("%s uses the watched test from support/fixtures", (file) => {
    const source = readFileSync(path.join(E2E, file), "utf8");
    const imports = [...source.matchAll(/import\s*\{([^}]*)\}\s*from\s*"([^"]+)"/g)].map((m) => ({
      names: m[1]!.split(",").map((n) => n.trim().replace(/^type\s+/, "")),
      from: m[2]!,
    }));
    const testFrom = imports.filter((i) => i.names.includes("test")).map((i) => i.from);
    expect(testFrom).toEqual(["./support/fixtures"]);
  });
});
