// Key parsing against a corpus of real keys made by ssh-keygen in this run:
// every fingerprint, size and kind is compared with what `ssh-keygen -lf`
// prints for the same file, and every refusal is checked by its message.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fingerprintOf, keyKind, keyLabel, MAX_KEY_TEXT_BYTES, parsePublicKey } from "~/server/access/ssh-keys";

let dir: string;
const file = (name: string) => path.join(dir, name);
const read = (name: string) => readFileSync(file(name), "utf8");
const keygen = (...args: string[]) => execFileSync("ssh-keygen", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

interface KeygenView {
  bits: number;
  fingerprint: string;
  comment: string;
  kind: string;
}
/** What `ssh-keygen -lf` says about a public key file: "<bits> <fingerprint> <comment> (<KIND>)". */
function keygenView(name: string): KeygenView {
  const out = keygen("-lf", file(name)).trim();
  const m = /^(\d+) (SHA256:\S+) (.*) \(([A-Z0-9-]+)\)$/.exec(out);
  if (!m) throw new Error(`unexpected ssh-keygen -lf output: ${out}`);
  return { bits: Number(m[1]), fingerprint: m[2]!, comment: m[3]!, kind: m[4]! };
}

// RFC 4253 strings, to build blobs that only differ from real ones where a test says so.
const sshString = (b: Buffer | string) => {
  const body = typeof b === "string" ? Buffer.from(b) : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
};
/** Splits a real key's blob into its wire-format strings. */
function fields(pubLine: string): Buffer[] {
  const blob = Buffer.from(pubLine.trim().split(/\s+/)[1]!, "base64");
  const out: Buffer[] = [];
  for (let o = 0; o < blob.length;) {
    const len = blob.readUInt32BE(o);
    out.push(blob.subarray(o + 4, o + 4 + len));
    o += 4 + len;
  }
  return out;
}
const line = (type: string, parts: Buffer[], comment = "") =>
  `${type} ${Buffer.concat(parts.map(sshString)).toString("base64")}${comment ? ` ${comment}` : ""}`;

const GENERATED = [
  { name: "ed25519", args: ["-t", "ed25519"], type: "ssh-ed25519" },
  { name: "ecdsa256", args: ["-t", "ecdsa", "-b", "256"], type: "ecdsa-sha2-nistp256" },
  { name: "ecdsa384", args: ["-t", "ecdsa", "-b", "384"], type: "ecdsa-sha2-nistp384" },
  { name: "ecdsa521", args: ["-t", "ecdsa", "-b", "521"], type: "ecdsa-sha2-nistp521" },
  { name: "rsa2048", args: ["-t", "rsa", "-b", "2048"], type: "ssh-rsa" },
  { name: "rsa4096", args: ["-t", "rsa", "-b", "4096"], type: "ssh-rsa" },
  { name: "rsa3072pem", args: ["-t", "rsa", "-b", "3072", "-m", "PEM"], type: "ssh-rsa" },
] as const;
let dsaAvailable = false;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "twarga-keys-"));
  for (const g of GENERATED) keygen("-q", ...g.args, "-N", "", "-C", `${g.name} test key`, "-f", file(g.name));
  keygen("-q", "-t", "rsa", "-b", "1024", "-N", "", "-C", "small", "-f", file("rsa1024"));
  keygen("-q", "-t", "ed25519", "-N", "secret passphrase", "-C", "locked", "-f", file("ed25519-locked"));
  // A certificate, signed by a throwaway CA.
  keygen("-q", "-t", "ed25519", "-N", "", "-C", "ca", "-f", file("ca"));
  keygen("-q", "-s", file("ca"), "-I", "test-cert", "-n", "dev", file("ed25519.pub"));
  writeFileSync(file("ed25519.rfc4716"), keygen("-e", "-f", file("ed25519.pub")));
  writeFileSync(file("rsa2048.pkcs8.pub"), keygen("-e", "-m", "PKCS8", "-f", file("rsa2048.pub")));
  // FIDO keys need a token to generate, not to read: build their public halves
  // from real key material in OpenSSH's layout, and let ssh-keygen read them.
  const ed = fields(read("ed25519.pub"));
  writeFileSync(
    file("sk-ed25519.pub"),
    `${line("sk-ssh-ed25519@openssh.com", [Buffer.from("sk-ssh-ed25519@openssh.com"), ed[1]!, Buffer.from("ssh:")], "yubikey")}\n`,
  );
  const ec = fields(read("ecdsa256.pub"));
  writeFileSync(
    file("sk-ecdsa.pub"),
    `${line("sk-ecdsa-sha2-nistp256@openssh.com", [Buffer.from("sk-ecdsa-sha2-nistp256@openssh.com"), ec[1]!, ec[2]!, Buffer.from("ssh:")], "token")}\n`,
  );
  try {
    keygen("-q", "-t", "dsa", "-N", "", "-C", "old", "-f", file("dsa"));
    dsaAvailable = true;
  } catch {
    // OpenSSH 9.8 and later cannot make DSA keys; the hand-built blob test below still covers it.
  }
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const refusal = (text: string) => {
  try {
    parsePublicKey(text);
  } catch (err) {
    expect(err).toMatchObject({ name: "DomainError", code: "BAD_REQUEST" });
    return (err as Error).message;
  }
  throw new Error(`accepted: ${text.slice(0, 80)}`);
};

describe("accepted keys match ssh-keygen -lf", () => {
  const cases = [
    ...GENERATED.map((g) => ({ file: `${g.name}.pub`, type: g.type })),
    { file: "sk-ed25519.pub", type: "sk-ssh-ed25519@openssh.com" },
    { file: "sk-ecdsa.pub", type: "sk-ecdsa-sha2-nistp256@openssh.com" },
  ];

  it.each(cases)("$file", ({ file: name, type }) => {
    const text = read(name);
    const expected = keygenView(name);
    const key = parsePublicKey(text);
    expect(key.type).toBe(type);
    expect(key.fingerprint).toBe(expected.fingerprint);
    expect(key.bits).toBe(expected.bits);
    expect(key.comment).toBe(expected.comment);
    expect(keyKind(key.type)).toBe(expected.kind);
    const [t, b64] = text.trim().split(/\s+/);
    expect(key.publicKey).toBe(`${t} ${b64}`);
  });

  it("reports the sizes ssh-keygen reports", () => {
    expect(["ed25519", "ecdsa256", "ecdsa384", "ecdsa521", "rsa2048", "rsa4096"].map((n) => parsePublicKey(read(`${n}.pub`)).bits)).toEqual([
      256, 256, 384, 521, 2048, 4096,
    ]);
  });

  it("tolerates surrounding whitespace, CRLF, tabs and a missing comment", () => {
    const [t, b64] = read("ed25519.pub").trim().split(" ");
    const expected = keygenView("ed25519.pub").fingerprint;
    for (const text of [`\n\n  ${t} ${b64} a comment  \r\n\n`, `${t}\t${b64}`, `${t} ${b64}`, ` ${t}  ${b64}\t\tspaced   out\tcomment `]) {
      expect(parsePublicKey(text).fingerprint).toBe(expected);
    }
    expect(parsePublicKey(`${t} ${b64}`).comment).toBeNull();
    expect(parsePublicKey(` ${t}  ${b64}\t\tspaced   out\tcomment `).comment).toBe("spaced out comment");
  });

  it("fingerprints a blob exactly as ssh-keygen does", () => {
    const blob = Buffer.from(read("ecdsa521.pub").split(" ")[1]!, "base64");
    expect(fingerprintOf(blob)).toBe(keygenView("ecdsa521.pub").fingerprint);
    expect(fingerprintOf(blob)).not.toMatch(/=$/);
  });
});

describe("refused keys", () => {
  it("RSA below 2048 bits, naming its size", () => {
    expect(keygenView("rsa1024.pub").bits).toBe(1024);
    const msg = refusal(read("rsa1024.pub"));
    expect(msg).toContain("1024 bits");
    expect(msg).toContain("2048");
  });

  it("DSA, from ssh-keygen when it still makes them and as a hand-built blob", () => {
    if (dsaAvailable) expect(refusal(read("dsa.pub"))).toMatch(/DSA \(ssh-dss\) keys are not accepted/);
    // The text claims ed25519 but the blob is a DSA key: the blob's own type is refused.
    const dss = line("ssh-ed25519", [Buffer.from("ssh-dss"), Buffer.from([1]), Buffer.from([1]), Buffer.from([1]), Buffer.from([1])]);
    expect(refusal(dss)).toMatch(/DSA \(ssh-dss\) keys are not accepted/);
  });

  it("garbage", () => {
    expect(refusal("")).toMatch(/Paste a public key/);
    expect(refusal("   \n ")).toMatch(/Paste a public key/);
    expect(refusal("hello world")).toMatch(/not an OpenSSH public key.*"hello"/);
    expect(refusal("ssh-ed25519")).toMatch(/base64 part is missing/);
    expect(refusal("ssh-ed25519 !!!not-base64!!!")).toMatch(/base64 part is damaged/);
    expect(refusal(`ssh-ed25519 ${Buffer.from("just some bytes that are not a key").toString("base64")}`)).toMatch(/not accepted|cut short/);
    expect(refusal("\u0000\u0001binary")).toMatch(/not an OpenSSH public key/);
  });

  it("truncated base64, whether the cut breaks the base64 or the wire format", () => {
    const [t, b64] = read("ed25519.pub").split(" ") as [string, string];
    expect(refusal(`${t} ${b64.slice(0, -1)}`)).toMatch(/damaged or cut short/);
    expect(refusal(`${t} ${b64.slice(0, -4)}`)).toMatch(/cut short/);
    const [rt, rb64] = read("rsa4096.pub").split(" ") as [string, string];
    expect(refusal(`${rt} ${rb64.slice(0, 400)}`)).toMatch(/cut short/);
  });

  it("a text type that differs from the type inside", () => {
    const b64 = read("ed25519.pub").split(" ")[1]!;
    expect(refusal(`ssh-rsa ${b64}`)).toMatch(/says ssh-rsa but the key inside is ssh-ed25519/);
    const rsa = read("rsa2048.pub").split(" ")[1]!;
    expect(refusal(`ecdsa-sha2-nistp256 ${rsa}`)).toMatch(/says ecdsa-sha2-nistp256 but the key inside is ssh-rsa/);
  });

  it("ECDSA whose curve name, point length or point does not fit its type", () => {
    const [type, , q] = fields(read("ecdsa256.pub"));
    expect(refusal(line("ecdsa-sha2-nistp256", [type!, Buffer.from("nistp384"), q!]))).toMatch(/claims curve nistp256 but holds nistp384/);
    const q384 = fields(read("ecdsa384.pub"))[2]!;
    expect(refusal(line("ecdsa-sha2-nistp256", [type!, Buffer.from("nistp256"), q384]))).toMatch(/wrong length or form/);
    const offCurve = Buffer.from(q!);
    offCurve[offCurve.length - 1]! ^= 1;
    expect(refusal(line("ecdsa-sha2-nistp256", [type!, Buffer.from("nistp256"), offCurve]))).toMatch(/not on the nistp256 curve/);
  });

  it("an Ed25519 key of the wrong length, and bytes after the key", () => {
    const [type, pk] = fields(read("ed25519.pub"));
    expect(refusal(line("ssh-ed25519", [type!, pk!.subarray(0, 31)]))).toMatch(/32 bytes/);
    expect(refusal(line("ssh-ed25519", [type!, pk!, Buffer.from("extra")]))).toMatch(/extra bytes after the key/);
  });

  it("a private key pasted by mistake, in every form ssh-keygen writes, with a warning that says so", () => {
    const privates = [read("ed25519"), read("rsa2048"), read("ecdsa521"), read("rsa3072pem"), read("ed25519-locked")];
    expect(privates[3]).toContain("BEGIN RSA PRIVATE KEY");
    expect(privates[0]).toContain("BEGIN OPENSSH PRIVATE KEY");
    // PuTTY's format, as its header lines read (no puttygen on this machine).
    privates.push(`PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: laptop\nPublic-Lines: 2\nAAAAC3NzaC1lZDI1NTE5AAAAIB\n`);
    // The public line followed by the private key, as when both files are pasted.
    privates.push(`${read("ed25519.pub")}${read("ed25519")}`);
    for (const text of privates) {
      const msg = refusal(text);
      expect(msg).toContain("PRIVATE key");
      expect(msg).toContain("not stored");
      expect(msg).toContain("treat it as exposed");
    }
  });

  it("anything over 16 KB", () => {
    const [t, b64] = read("rsa4096.pub").split(" ");
    const big = `${t} ${b64} ${"x".repeat(MAX_KEY_TEXT_BYTES)}`;
    expect(Buffer.byteLength(big)).toBeGreaterThan(MAX_KEY_TEXT_BYTES);
    expect(refusal(big)).toMatch(/over 16 KB/);
    // Just under the limit is judged as a key.
    const fits = `${t} ${b64} ${"x".repeat(MAX_KEY_TEXT_BYTES - Buffer.byteLength(`${t} ${b64} `))}`;
    expect(Buffer.byteLength(fits)).toBe(MAX_KEY_TEXT_BYTES);
    expect(parsePublicKey(fits).bits).toBe(4096);
  });

  it("two keys in one paste, and one key wrapped over lines", () => {
    expect(refusal(`${read("ed25519.pub")}${read("ecdsa256.pub")}`)).toMatch(/one key at a time: this text has 2 keys/);
    const [t, b64] = read("rsa2048.pub").split(" ") as [string, string];
    expect(refusal(`${t} ${b64.slice(0, 200)}\n${b64.slice(200)}`)).toMatch(/single line, but this text has 2 lines/);
  });

  it("other formats, each with how to get the right one", () => {
    expect(refusal(read("ed25519-cert.pub"))).toMatch(/certificate/);
    expect(refusal(read("ed25519.rfc4716"))).toMatch(/RFC 4716.*ssh-keygen -i -f/);
    expect(refusal(read("rsa2048.pkcs8.pub"))).toMatch(/PEM public key.*ssh-keygen -i -m PKCS8/);
    expect(refusal(`from="10.0.0.0/8",no-pty ${read("ed25519.pub")}`)).toMatch(/without options in front/);
  });
});

describe("labels", () => {
  const key = { type: "ssh-ed25519", comment: "alice@laptop" };
  it("uses the given label, trimmed and on one line", () => {
    expect(keyLabel("  work laptop  ", key)).toBe("work laptop");
    expect(keyLabel("two\nlines\r\nand\ttabs", key)).toBe("two lines and tabs");
  });
  it("falls back to the key's comment, then to its kind", () => {
    expect(keyLabel("   ", key)).toBe("alice@laptop");
    expect(keyLabel(null, { type: "ssh-rsa", comment: null })).toBe("RSA key");
    expect(keyLabel(undefined, { type: "ssh-ed25519", comment: "c".repeat(300) })).toHaveLength(100);
  });
  it("refuses a label over 100 characters", () => {
    expect(keyLabel("é".repeat(100), key)).toHaveLength(100);
    expect(() => keyLabel("x".repeat(101), key)).toThrow(/101 characters long; the most is 100/);
  });
});
