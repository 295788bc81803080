// The secret that signs Auth.js cookies. Production requires AUTH_SECRET (env.ts
// enforces it); elsewhere one is generated once and kept in the data folder, so
// sessions survive restarts without anyone having to invent a secret.
import { createHmac, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { env } from "../env";

let cached: string | undefined;

export function authSecret(): string {
  if (cached) return cached;
  const e = env();
  if (e.AUTH_SECRET) return (cached = e.AUTH_SECRET);
  const file = path.resolve(e.DATA_DIR, ".auth-secret");
  if (existsSync(file)) return (cached = readFileSync(file, "utf8").trim());
  mkdirSync(path.dirname(file), { recursive: true });
  const secret = randomBytes(33).toString("base64");
  writeFileSync(file, secret, { mode: 0o600 });
  return (cached = secret);
}

/** A secret derived for one purpose, e.g. the local identity provider's client secret. */
export function derivedSecret(purpose: string): string {
  return createHmac("sha256", authSecret()).update(purpose).digest("base64url");
}

/** The app's public origin, as browsers reach it. */
export function appUrl(): string {
  return (env().AUTH_URL ?? `http://localhost:${process.env.PORT ?? "3000"}`).replace(/\/$/, "");
}
