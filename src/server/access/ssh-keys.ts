// Users' SSH public keys: parsed, not pattern-matched. The text is an OpenSSH
// public key line ("<type> <base64> [comment]"); the base64 holds the key in
// SSH wire format (RFC 4253 §6.6: uint32-length strings and mpints), which is
// decoded field by field and must end exactly where the key ends. Pure: no
// database, no files; every refusal is a DomainError written for people.
import { createHash, createPublicKey } from "node:crypto";
import { DomainError } from "../errors";

/** The most text one add accepts (a 16384-bit RSA key line is about 2.8 KB). */
export const MAX_KEY_TEXT_BYTES = 16 * 1024;
/** RSA moduli below this are refused; OpenSSH itself refuses more than 16384 bits. */
export const MIN_RSA_BITS = 2048;
const MAX_RSA_BITS = 16384;
export const MAX_LABEL_CHARS = 100;

export interface ParsedSshKey {
  /** The key type as OpenSSH names it, e.g. "ssh-ed25519". */
  type: string;
  bits: number;
  /** "SHA256:" + unpadded base64 of sha256(blob): what `ssh-keygen -lf` prints. */
  fingerprint: string;
  /** "<type> <base64>", without the comment: what is stored and written to VMs. */
  publicKey: string;
  /** The comment after the key, whitespace collapsed; null when there is none. */
  comment: string | null;
}

const bad = (message: string) => new DomainError("BAD_REQUEST", message);

const ECDSA_CURVES = {
  nistp256: { jwk: "P-256", bits: 256, coordBytes: 32 },
  nistp384: { jwk: "P-384", bits: 384, coordBytes: 48 },
  nistp521: { jwk: "P-521", bits: 521, coordBytes: 66 },
} as const;
type Curve = keyof typeof ECDSA_CURVES;

// How ssh-keygen names each type in parentheses after the fingerprint.
const KIND: Record<string, string> = {
  "ssh-ed25519": "ED25519",
  "ecdsa-sha2-nistp256": "ECDSA",
  "ecdsa-sha2-nistp384": "ECDSA",
  "ecdsa-sha2-nistp521": "ECDSA",
  "ssh-rsa": "RSA",
  "sk-ssh-ed25519@openssh.com": "ED25519-SK",
  "sk-ecdsa-sha2-nistp256@openssh.com": "ECDSA-SK",
};
export const SUPPORTED_KEY_TYPES: readonly string[] = Object.keys(KIND);

/** "ED25519", "ECDSA", "RSA", "ED25519-SK", "ECDSA-SK" (as ssh-keygen shows them), or the type itself. */
export function keyKind(type: string): string {
  return KIND[type] ?? type;
}

const DSA_REFUSED = "DSA (ssh-dss) keys are not accepted: OpenSSH has dropped them as too weak. Make a new key, for example with: ssh-keygen -t ed25519";

const PRIVATE_KEY_WARNING =
  "This is a PRIVATE key, not a public one. It was not stored. If you pasted it anywhere else (a chat, a ticket, another site), treat it as exposed: make a new key pair. " +
  "Paste the public half instead: the contents of the .pub file (for example ~/.ssh/id_ed25519.pub).";

// PEM private keys of any kind ("-----BEGIN OPENSSH PRIVATE KEY-----", RSA, EC,
// DSA, ENCRYPTED, PGP …), ssh.com's "---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----"
// and PuTTY's .ppk files. Checked before anything else, over the whole text,
// so a private key is never judged on its size or shape first.
const PRIVATE_KEY_MARKERS = [/BEGIN [A-Z0-9 ]*PRIVATE KEY/i, /PuTTY-User-Key-File-\d/i];

export function looksLikePrivateKey(text: string): boolean {
  return PRIVATE_KEY_MARKERS.some((re) => re.test(text));
}

/** Reads RFC 4253 fields from a key blob, refusing any read past its end. */
class WireReader {
  private offset = 0;
  constructor(private readonly buf: Buffer) {}

  string(): Buffer {
    if (this.buf.length - this.offset < 4) throw bad("The key data is cut short: it ends in the middle of a field. Copy the whole line again.");
    const len = this.buf.readUInt32BE(this.offset);
    const start = this.offset + 4;
    if (len > this.buf.length - start) throw bad("The key data is cut short: a field is longer than what is left. Copy the whole line again.");
    this.offset = start + len;
    return this.buf.subarray(start, this.offset);
  }

  text(): string {
    return this.string().toString("latin1");
  }

  /** A non-negative mpint, without leading zero bytes. */
  mpint(): Buffer {
    const raw = this.string();
    if (raw.length > 0 && (raw[0]! & 0x80) !== 0) throw bad("The key data is not valid: it holds a negative number where RSA needs a positive one.");
    let i = 0;
    while (i < raw.length && raw[i] === 0) i++;
    return raw.subarray(i);
  }

  end(): void {
    if (this.offset !== this.buf.length) throw bad("The key data has extra bytes after the key. Copy the line exactly as your .pub file has it.");
  }
}

function bitLength(n: Buffer): number {
  if (n.length === 0) return 0;
  return (n.length - 1) * 8 + (32 - Math.clz32(n[0]!));
}

/** The base64 of an SSH key: strict alphabet and padding, so a cut or altered line is caught here. */
function decodeBase64(b64: string): Buffer {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0)
    throw bad("The key's base64 part is damaged or cut short. Copy the whole line again from your .pub file.");
  const blob = Buffer.from(b64, "base64");
  if (blob.toString("base64") !== b64) throw bad("The key's base64 part is damaged or cut short. Copy the whole line again from your .pub file.");
  return blob;
}

function ecdsaPoint(r: WireReader, curveName: string, expected: Curve): number {
  if (curveName !== expected) throw bad(`The key claims curve ${expected} but holds ${curveName || "no curve name"}.`);
  const curve = ECDSA_CURVES[expected];
  const q = r.string();
  // OpenSSH writes uncompressed points only: 0x04 || X || Y.
  if (q.length !== 1 + 2 * curve.coordBytes || q[0] !== 0x04) throw bad(`The key's ${expected} point has the wrong length or form for that curve.`);
  const x = q.subarray(1, 1 + curve.coordBytes).toString("base64url");
  const y = q.subarray(1 + curve.coordBytes).toString("base64url");
  try {
    // OpenSSL refuses a point that is not on the curve.
    createPublicKey({ key: { kty: "EC", crv: curve.jwk, x, y }, format: "jwk" });
  } catch {
    throw bad(`The key's point is not on the ${expected} curve: this is not a usable ECDSA key.`);
  }
  return curve.bits;
}

function ed25519Key(r: WireReader): number {
  if (r.string().length !== 32) throw bad("An Ed25519 key is 32 bytes long; this one is not.");
  return 256;
}

/** Decodes the blob for its own type and returns that type and the key's size in bits. */
function parseBlob(blob: Buffer): { type: string; bits: number } {
  const r = new WireReader(blob);
  const type = r.text();
  let bits: number;
  switch (type) {
    case "ssh-ed25519":
      bits = ed25519Key(r);
      break;
    case "sk-ssh-ed25519@openssh.com":
      bits = ed25519Key(r);
      r.string(); // the FIDO application, usually "ssh:"
      break;
    case "ecdsa-sha2-nistp256":
    case "ecdsa-sha2-nistp384":
    case "ecdsa-sha2-nistp521": {
      const curve = type.slice("ecdsa-sha2-".length) as Curve;
      bits = ecdsaPoint(r, r.text(), curve);
      break;
    }
    case "sk-ecdsa-sha2-nistp256@openssh.com":
      bits = ecdsaPoint(r, r.text(), "nistp256");
      r.string();
      break;
    case "ssh-rsa": {
      const e = r.mpint();
      const n = r.mpint();
      bits = bitLength(n);
      // A real modulus and exponent are odd; e = 1 would not encrypt at all.
      if (e.length === 0 || (e[e.length - 1]! & 1) === 0 || (e.length === 1 && e[0] === 1) || (n[n.length - 1]! & 1) === 0)
        throw bad("The key data is not a valid RSA key.");
      if (bits < MIN_RSA_BITS)
        throw bad(`This RSA key is ${bits} bits; keys need at least ${MIN_RSA_BITS}. Make a new one, for example with: ssh-keygen -t ed25519`);
      if (bits > MAX_RSA_BITS) throw bad(`This RSA key is ${bits} bits; OpenSSH accepts at most ${MAX_RSA_BITS}.`);
      break;
    }
    case "ssh-dss":
      throw bad(DSA_REFUSED);
    default:
      throw bad(`The key inside is of a type that is not accepted (${printable(type)}). Accepted: Ed25519, ECDSA and RSA of at least ${MIN_RSA_BITS} bits.`);
  }
  r.end();
  return { type, bits };
}

// Names from pasted text go into messages; keep them short and visible.
const printable = (s: string) => s.replace(/[^\x20-\x7e]/g, "?").slice(0, 60) || "empty";

/** "SHA256:<base64 without padding>" of the blob: the form `ssh-keygen -lf` prints. */
export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** One line of text, single spaces: labels and comments may end up in authorized_keys, where a newline would start a new key. */
export function singleLine(s: string): string {
  return s.replace(/[\p{Cc}\s]+/gu, " ").trim();
}

/** Parses one OpenSSH public key line; throws DomainError("BAD_REQUEST") with a message for people. */
export function parsePublicKey(input: string): ParsedSshKey {
  if (looksLikePrivateKey(input)) throw bad(PRIVATE_KEY_WARNING);
  if (Buffer.byteLength(input, "utf8") > MAX_KEY_TEXT_BYTES)
    throw bad(`That is over ${MAX_KEY_TEXT_BYTES / 1024} KB, far more than one public key. Paste a single key line from your .pub file.`);
  const text = input.trim();
  if (!text) throw bad("Paste a public key: the one line from your .pub file, for example ~/.ssh/id_ed25519.pub.");
  if (/BEGIN SSH2 PUBLIC KEY/i.test(text))
    throw bad("This is an SSH2 (RFC 4716) public key. Convert it to OpenSSH's one-line form with: ssh-keygen -i -f <file>");
  if (/BEGIN [A-Z ]*PUBLIC KEY/i.test(text))
    throw bad("This is a PEM public key. Convert it to OpenSSH's one-line form with: ssh-keygen -i -m PKCS8 -f <file>");
  const lines = text.split(/\r?\n/).filter((l) => l.trim());
  if (lines.length > 1) {
    const keyLines = lines.filter((l) => SUPPORTED_KEY_TYPES.includes(l.trim().split(/\s+/)[0]!)).length;
    if (keyLines > 1) throw bad(`Paste one key at a time: this text has ${keyLines} keys.`);
    throw bad(`A public key is a single line, but this text has ${lines.length} lines (it may have been wrapped). Copy it again from the .pub file.`);
  }

  const [textType = "", b64, ...rest] = text.split(/\s+/);
  if (!SUPPORTED_KEY_TYPES.includes(textType)) {
    if (textType === "ssh-dss") throw bad(DSA_REFUSED);
    if (textType.includes("-cert-v01@openssh.com")) throw bad("This is an SSH certificate. Paste the plain public key instead (the .pub file without -cert).");
    if (SUPPORTED_KEY_TYPES.some((t) => rest.includes(t) || b64 === t))
      throw bad("Paste the key without options in front of it: the line should start with its type, for example ssh-ed25519.");
    throw bad(
      `This is not an OpenSSH public key. A public key is one line that starts with its type (ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa …); this starts with "${printable(textType)}".`,
    );
  }
  if (!b64) throw bad("The key's base64 part is missing: the line has only its type. Copy the whole line again.");
  const blob = decodeBase64(b64);
  const parsed = parseBlob(blob);
  if (parsed.type !== textType) throw bad(`The line says ${textType} but the key inside is ${printable(parsed.type)}. Copy the line again without editing it.`);
  const comment = singleLine(rest.join(" "));
  return { type: parsed.type, bits: parsed.bits, fingerprint: fingerprintOf(blob), publicKey: `${parsed.type} ${b64}`, comment: comment || null };
}

/** The label to store: the one given (trimmed, one line), else the key's comment, else its kind. */
export function keyLabel(given: string | null | undefined, key: Pick<ParsedSshKey, "type" | "comment">): string {
  const label = singleLine(given ?? "");
  const chars = [...label].length;
  if (chars > MAX_LABEL_CHARS) throw bad(`The label is ${chars} characters long; the most is ${MAX_LABEL_CHARS}.`);
  if (label) return label;
  if (key.comment) return [...key.comment].slice(0, MAX_LABEL_CHARS).join("").trim();
  return `${keyKind(key.type)} key`;
}
