import { readFileSync } from "node:fs";
import path from "node:path";

let cached: string | undefined;
/** APP_VERSION when set (a release build), else package.json's version. */
export function appVersion(): string {
  if (cached) return cached;
  if (process.env.APP_VERSION) return (cached = process.env.APP_VERSION);
  try {
    cached = (JSON.parse(readFileSync(path.join(process.cwd(), "package.json"), "utf8")) as { version: string }).version;
  } catch {
    cached = "unknown";
  }
  return cached;
}
