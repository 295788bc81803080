// The one decision about where sign-in sends someone: every hostile form
// resolves to a path on this app, and ordinary paths survive untouched.
import { describe, expect, it } from "vitest";
import { safeCallbackPath } from "~/server/auth/callback-url";

const ORIGIN = "http://localhost:3100";

/** What a browser does with the answer as a Location header on this origin. */
const landsOn = (path: string) => new URL(path, ORIGIN).origin;

describe("safeCallbackPath", () => {
  const hostile = [
    "/\\evil.example",
    "/%09/evil.example",
    "//evil.example",
    "https://evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "///evil.example",
    "/.//evil.example",
    " //evil.example",
    "%2F%2Fevil.example",
    "/%2F/evil.example",
    "/%5Cevil.example",
    "https:/\\evil.example",
    "http://localhost:3100@evil.example/",
    "http://evil.example\\@localhost:3100/",
    "javascript:alert(document.domain)",
    "data:text/html,<script>alert(1)</script>",
    "//localhost:3100@evil.example",
  ];

  it.each(hostile)("keeps %j on this app", (raw) => {
    const path = safeCallbackPath(raw, ORIGIN);
    expect(path.startsWith("/")).toBe(true);
    expect(path.startsWith("//")).toBe(false);
    expect(landsOn(path)).toBe(ORIGIN);
    // Decoding once more (as a careless consumer might) must not leave either.
    expect(landsOn(decodeURIComponent(path).replace(/[\t\n\r]/g, ""))).toBe(ORIGIN);
  });

  it("sends the plainly foreign ones to the dashboard", () => {
    for (const raw of ["//evil.example", "https://evil.example", "/\\evil.example", "/\t/evil.example", "javascript:alert(1)"])
      expect(safeCallbackPath(raw, ORIGIN)).toBe("/");
  });

  it("keeps an ordinary path, its query and fragment", () => {
    expect(safeCallbackPath("/vms?state=RUNNING#top", ORIGIN)).toBe("/vms?state=RUNNING#top");
    expect(safeCallbackPath("/admin", ORIGIN)).toBe("/admin");
    expect(safeCallbackPath(`${ORIGIN}/events?q=ssh`, ORIGIN)).toBe("/events?q=ssh");
  });

  it("answers / for anything that is not a usable string", () => {
    for (const raw of [undefined, null, 42, ["/vms"], "", "/".padEnd(3000, "a")]) expect(safeCallbackPath(raw, ORIGIN)).toBe("/");
  });
});

describe("safeCallbackPath with escapes an app path may carry", () => {
  it("keeps a percent sign or an encoded character in a query", () => {
    expect(safeCallbackPath("/events?q=100%25", ORIGIN)).toBe("/events?q=100%25");
    expect(safeCallbackPath("/events?q=caf%C3%A9", ORIGIN)).toBe("/events?q=caf%C3%A9");
    expect(safeCallbackPath("/events?q=%2Fvar%2Flog", ORIGIN)).toBe("/events?q=%2Fvar%2Flog");
  });
});
