// A failed job's message for people: what went wrong in words first (timed out
// waiting for an address, box missing, out of disk, libvirt unreachable, quota,
// ...), then Vagrant's own one-line reason from commandOutcome. The raw output
// stays in the job's log; this never starts with Vagrant's config dump, because
// it reads only the result's known failure signatures and error lines.
// Pure: no I/O, so it is tested against captured real output.
import { commandOutcome, parseMachineReadable } from "./machine-readable";

export type FailureKind =
  "timeout-address" | "timeout" | "box-missing" | "out-of-disk" | "quota" | "libvirt-unreachable" | "hypervisor" | "ssh-auth" | "killed" | "other";

export interface FailureInput {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  signal?: string | null;
  timedOut?: boolean;
  /** The command's time limit, for "ran past its N s limit". */
  limitMs?: number | null;
}

export interface FailureReason {
  kind: FailureKind;
  /** The whole message: the sentence, then Vagrant's own reason when it adds something. */
  message: string;
  /** The sentence for people alone. */
  sentence: string;
  /** Vagrant's one-line reason (commandOutcome), if any. */
  detail: string | null;
}

const limitText = (ms: number | null | undefined) => (ms ? ` (${Math.round(ms / 1000)} s)` : "");

interface Signature {
  kind: FailureKind;
  test: RegExp;
  sentence: (text: string) => string;
}

const boxName = (text: string) => /box '([^']+)' could not be found/i.exec(text)?.[1] ?? /Box '([^']+)' could not be found/.exec(text)?.[1] ?? null;

// Order matters: the first signature that matches wins (e.g. a missing box's
// message also mentions a host name that could not be resolved).
const SIGNATURES: Signature[] = [
  {
    kind: "box-missing",
    test: /could not be found or\s+could not be accessed in the remote catalog|Vagrant::Errors::Box(?:AddShortNotFound|NotFound)|Could not resolve host: vagrantcloud\.com/i,
    sentence: (t) => {
      const name = boxName(t);
      return `The box ${name ? `${name} ` : ""}is not installed on this host, so the VM could not be made. An admin can add it (Admin → Catalog) or pick an installed box.`;
    },
  },
  {
    kind: "out-of-disk",
    test: /No space left on device|ENOSPC|Errno::ENOSPC/i,
    sentence: () => "The host ran out of disk space while making the VM. An admin must free space on the host.",
  },
  {
    kind: "quota",
    test: /Disk quota exceeded|EDQUOT|quota exceeded/i,
    sentence: () => "A storage quota on the host was exceeded while making the VM. An admin must raise the quota or free space.",
  },
  {
    kind: "libvirt-unreachable",
    test: /Failed to connect socket to '[^']*libvirt|virConnectOpen|Libvirt::ConnectionError|Error while connecting to [Ll]ibvirt|Failed to connect to the hypervisor/,
    sentence: () => "The host's virtualisation service (libvirt) could not be reached. An admin must check that libvirtd is running.",
  },
  {
    kind: "hypervisor",
    test: /qemu unexpectedly closed the monitor|virDomainCreateWithFlags failed|kvm_buf_set_msrs/,
    sentence: () =>
      "The host's hypervisor refused to start the VM (QEMU stopped as it booted). An admin can check the host's KVM support or run VMs with the qemu driver.",
  },
  {
    kind: "ssh-auth",
    test: /SSHAuthenticationFailed|SSH authentication failed!/,
    sentence: () =>
      "The VM booted but Vagrant could not log in to it with its key, so it was not set up. Destroy it and launch again, or ask an admin to check the box.",
  },
];

/** The whole text of a result, decoded: machine-readable fields un-escaped, other lines as they are. */
function searchableText(input: FailureInput): string {
  const parsed = parseMachineReadable(`${input.stdout}\n${input.stderr}`);
  return [...parsed.records.map((r) => r.data.join(",")), ...parsed.otherLines].join("\n");
}

/** What went wrong with a failed (or timed-out) vagrant run, in words first. */
export function failureReason(input: FailureInput): FailureReason {
  const outcome = commandOutcome(input);
  // commandOutcome's own fallbacks ("vagrant was killed by ...") are not something Vagrant said.
  const detail = outcome.ok || !outcome.error || /^vagrant (?:was killed by|exited with code)/.test(outcome.error) ? null : outcome.error;
  const text = searchableText(input);
  let kind: FailureKind = "other";
  let sentence: string | null = null;
  const signature = SIGNATURES.find((s) => s.test.test(text));
  if (signature) {
    kind = signature.kind;
    sentence = signature.sentence(text);
  } else if (input.timedOut) {
    // Waiting for an address and never getting past it: the guest never asked DHCP for one.
    const waitingForAddress = /Waiting for domain to get an IP address/.test(text) && !/SSH address:/.test(text);
    kind = waitingForAddress ? "timeout-address" : "timeout";
    sentence = waitingForAddress
      ? `Timed out waiting for the VM to get an address${limitText(input.limitMs)}: the guest did not finish booting. It was stopped.`
      : `The operation ran past its time limit${limitText(input.limitMs)} and was stopped.`;
  } else if (input.signal) {
    kind = "killed";
    sentence = `Vagrant was stopped by ${input.signal} before it finished.`;
  }
  // Nothing recognised: Vagrant's own error, whole (it is already a sentence for people).
  if (sentence === null) sentence = detail ? `Vagrant failed: ${detail}` : `Vagrant failed with exit code ${input.exitCode ?? "unknown"}.`;
  const extra = detail && kind !== "other" ? ` Vagrant said: ${firstLine(detail)}` : "";
  return { kind, sentence, detail, message: `${sentence}${extra}`.slice(0, 1000) };
}

function firstLine(text: string): string {
  const line = text.split("\n").find((l) => l.trim() !== "") ?? text;
  return line.trim().slice(0, 300);
}
