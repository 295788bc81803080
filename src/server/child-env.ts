// The environment every host tool the app starts (vagrant, virsh, qemu,
// ssh-keygen) gets: an allowlist of what those tools need from ours, never a
// copy of it. The app's own environment holds AUTH_SECRET, DATABASE_URL, OAuth
// and webhook secrets; a child that logs its environment (Vagrant does, at
// debug level) or a guest plugin must not be able to see them.

/** Taken from the app's environment when set: paths, identity, locale, proxies, temp folder. */
const PASSED = [
  "PATH",
  "HOME",
  "USER",
  "LOGNAME",
  "SHELL",
  "LANG",
  "LANGUAGE",
  "TZ",
  "TMPDIR",
  "http_proxy",
  "https_proxy",
  "no_proxy",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "XDG_RUNTIME_DIR",
];

export function childEnv(extra: Record<string, string> = {}, source: Record<string, string | undefined> = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of PASSED) if (source[key] !== undefined) out[key] = source[key]!;
  for (const [key, value] of Object.entries(source)) if (key.startsWith("LC_") && value !== undefined) out[key] = value;
  out.PATH ??= "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  return { ...out, ...extra };
}
