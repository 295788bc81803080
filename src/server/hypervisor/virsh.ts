// The one way this area runs virsh: argument arrays through execa (never a
// shell), always against the configured libvirt URI, always with a timeout so
// a hung libvirtd costs one tick and not the sampler.
import { execa } from "execa";
import { childEnv } from "../child-env";
import { env, type Env } from "../env";

/** Runs `virsh <args>` and resolves with its stdout; rejects on a non-zero exit or timeout. */
export type RunVirsh = (args: string[]) => Promise<string>;

export const VIRSH_TIMEOUT_MS = 15_000;

export async function runVirsh(args: string[], e: Env = env(), timeoutMs = VIRSH_TIMEOUT_MS): Promise<string> {
  const result = await execa(e.VIRSH_BIN, ["--connect", e.LIBVIRT_URI, ...args], {
    timeout: timeoutMs,
    stdin: "ignore",
    env: childEnv({ LC_ALL: "C" }),
    extendEnv: false,
  });
  return result.stdout;
}

/** The most useful part of a failed command's error, on one line. */
export function commandFailure(error: unknown): string {
  const e = error as { stderr?: unknown; shortMessage?: unknown; message?: unknown; timedOut?: unknown };
  if (e.timedOut === true) return typeof e.shortMessage === "string" ? e.shortMessage : "timed out";
  const text = [e.stderr, e.shortMessage, e.message].find((t) => typeof t === "string" && t.trim()) as string | undefined;
  return (text ?? String(error))
    .split("\n")
    .map((l) => l.trim().replace(/^error:\s*/, ""))
    .filter(Boolean)
    .slice(0, 2)
    .join(": ");
}
