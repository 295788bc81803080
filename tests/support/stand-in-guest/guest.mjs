// A stand-in guest for the stand-in vagrant (../fake-vagrant/vagrant): the SSH
// side of a VM, so the app's guest access (key install, key sync, port
// forwarding, browser terminal) runs for real against it. It is an SSH server
// (ssh2's Server half) on a loopback address of its own, serving one login user
// whose home and "root filesystem" are folders inside the VM's .vagrant/guest/:
//   home/.ssh/authorized_keys   public key login, re-read on every attempt, with
//                               sshd's StrictModes check (no group/other write)
//   root/etc/ssh/sshd_config    password login ("vagrant", as many public boxes
//                               have) is allowed unless the first
//                               PasswordAuthentication line, with Include files
//                               expanded in place, says no (sshd's rule)
// Commands run for real with /bin/sh in that home. The guest has a stand-in
// `sudo` (bin/sudo) that grants no privilege on the host: it runs the command
// as the same user with TWARGA_GUEST_ROOT set to the guest's root folder.
// Every exec is logged to .vagrant/guest/exec.log (start, end) so tests can see
// whether two ever overlapped.
//
// usage: node guest.mjs <vm folder> <address> <pid to outlive>
// Writes .vagrant/guest/listening.json ({ pid, host, port }) once it listens;
// exits on SIGTERM, when the VM folder's guest dir disappears (destroy) or when
// the given process (the app that ran vagrant) is gone.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { timingSafeEqual } from "node:crypto";
import ssh2 from "ssh2";

const { Server, utils } = ssh2;
const [folder, address, ownerPidText] = process.argv.slice(2);
if (!folder || !address) {
  process.stderr.write("usage: guest.mjs <vm folder> <address> [pid to outlive]\n");
  process.exit(2);
}
const USER = "vagrant";
const PASSWORD = "vagrant";
const guestDir = path.join(folder, ".vagrant/guest");
const home = path.join(guestDir, "home");
const root = path.join(guestDir, "root");
const binDir = path.join(import.meta.dirname, "bin");
const execLog = path.join(guestDir, "exec.log");
const ownerPid = Number(ownerPidText) || null;

function hostKey() {
  const file = path.join(guestDir, "host_key");
  if (!fs.existsSync(file)) {
    // ssh2's generator now and then writes a key its own parser refuses ("Malformed OpenSSH private key"): make it again.
    let key;
    do key = utils.generateKeyPairSync("ed25519").private;
    while (utils.parseKey(key) instanceof Error);
    fs.writeFileSync(file, key, { mode: 0o600 });
  }
  return fs.readFileSync(file);
}

function authorizedKeys() {
  const sshDir = path.join(home, ".ssh");
  const file = path.join(sshDir, "authorized_keys");
  try {
    // sshd's StrictModes: a key file others could write is ignored.
    for (const p of [home, sshDir, file]) if ((fs.statSync(p).mode & 0o022) !== 0) return [];
    return fs
      .readFileSync(file, "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"))
      .map((l) => utils.parseKey(l))
      .filter((k) => !(k instanceof Error))
      .map((k) => (Array.isArray(k) ? k[0] : k));
  } catch {
    return [];
  }
}

/** sshd's first-match rule over sshd_config with `Include` expanded where it stands. */
function passwordLoginAllowed() {
  const lines = (file) => {
    try {
      return fs.readFileSync(file, "utf8").split("\n");
    } catch {
      return [];
    }
  };
  const walk = (file) => {
    for (const raw of lines(file)) {
      const [keyword, value] = raw.trim().split(/\s+/, 2);
      if (!keyword || keyword.startsWith("#")) continue;
      if (keyword.toLowerCase() === "include" && value) {
        const pattern = path.join(root, value);
        const dir = path.dirname(pattern);
        const suffix = path.basename(pattern).replace(/^\*/, "");
        const names = fs.existsSync(dir)
          ? fs
              .readdirSync(dir)
              .filter((n) => n.endsWith(suffix))
              .sort()
          : [];
        for (const n of names) {
          const found = walk(path.join(dir, n));
          if (found !== null) return found;
        }
      } else if (keyword.toLowerCase() === "passwordauthentication") return value?.toLowerCase() === "yes";
    }
    return null;
  };
  return walk(path.join(root, "etc/ssh/sshd_config")) ?? true;
}

const same = (a, b) => a.length === b.length && timingSafeEqual(a, b);

function guestEnv(extra = {}) {
  return {
    HOME: home,
    USER,
    LOGNAME: USER,
    SHELL: "/bin/sh",
    LANG: "C.UTF-8",
    PATH: `${binDir}:/usr/local/bin:/usr/bin:/bin`,
    STAND_IN_GUEST_ROOT: root,
    ...extra,
  };
}

function logExec(entry) {
  fs.appendFileSync(execLog, `${JSON.stringify(entry)}\n`);
}

const connections = new Set();
const server = new Server({ hostKeys: [hostKey()] }, (client) => {
  connections.add(client);
  // As sshd does for sessions: small packets leave at once (no Nagle delay on every round trip).
  client.setNoDelay(true);
  client.on("close", () => connections.delete(client));
  client.on("error", () => {});
  client.on("authentication", (ctx) => {
    if (ctx.username !== USER) return ctx.reject(["publickey"]);
    if (ctx.method === "password") {
      if (passwordLoginAllowed() && ctx.password === PASSWORD) return ctx.accept();
      return ctx.reject(["publickey"]);
    }
    if (ctx.method !== "publickey") return ctx.reject(passwordLoginAllowed() ? ["publickey", "password"] : ["publickey"]);
    const key = authorizedKeys().find((k) => same(k.getPublicSSH(), ctx.key.data));
    if (!key) return ctx.reject(["publickey"]);
    // Without a signature the client only asks whether the key would do.
    if (ctx.signature && key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) return ctx.reject(["publickey"]);
    ctx.accept();
  });
  client.on("ready", () => {
    client.on("session", (acceptSession) => {
      const session = acceptSession();
      let pty = null;
      session.on("pty", (accept, _reject, info) => {
        pty = { cols: info.cols, rows: info.rows, term: info.term };
        accept?.();
      });
      session.on("window-change", (accept) => accept?.());
      session.on("env", (accept) => accept?.());
      const run = (channel, file, args, extraEnv, label) => {
        const startedAt = Date.now();
        const child = spawn(file, args, { cwd: home, env: guestEnv(extraEnv), stdio: ["pipe", "pipe", "pipe"] });
        channel.pipe(child.stdin);
        child.stdout.pipe(channel, { end: false });
        child.stderr.pipe(channel.stderr, { end: false });
        child.stdin.on("error", () => {});
        channel.on("close", () => child.kill("SIGKILL"));
        child.on("close", (code) => {
          logExec({ label, pid: child.pid, startedAt, endedAt: Date.now(), code });
          try {
            channel.exit(code ?? 1);
            channel.end();
          } catch {
            // The client left first.
          }
        });
      };
      session.on("exec", (accept, _reject, info) => run(accept(), "/bin/sh", ["-c", info.command], {}, info.command.split(/\s+/)[0]));
      session.on("shell", (accept) => {
        const channel = accept();
        if (!pty) return run(channel, "/bin/sh", ["-i"], {}, "shell");
        // A real pseudo-terminal (util-linux `script`), so prompts and line editing behave as in a VM.
        const inner = `stty cols ${pty.cols} rows ${pty.rows}; exec /bin/bash --norc --noprofile -i`;
        run(channel, "script", ["-qfc", inner, "/dev/null"], { TERM: pty.term || "xterm", PS1: `${USER}@stand-in:~$ ` }, "shell");
      });
    });
  });
});

function shutDown() {
  for (const c of connections) c.end();
  server.close();
  try {
    const info = JSON.parse(fs.readFileSync(path.join(guestDir, "listening.json"), "utf8"));
    if (info.pid === process.pid) fs.rmSync(path.join(guestDir, "listening.json"), { force: true });
  } catch {
    // Already gone with the folder.
  }
  process.exit(0);
}
process.on("SIGTERM", shutDown);
process.on("SIGINT", shutDown);

server.listen(0, address, () => {
  const { port } = server.address();
  fs.writeFileSync(path.join(guestDir, "listening.json.tmp"), JSON.stringify({ pid: process.pid, host: address, port }));
  fs.renameSync(path.join(guestDir, "listening.json.tmp"), path.join(guestDir, "listening.json"));
});

// Lives as long as its VM folder and the app that started it.
setInterval(() => {
  let ownerAlive = true;
  if (ownerPid) {
    try {
      process.kill(ownerPid, 0);
    } catch {
      ownerAlive = false;
    }
  }
  if (!ownerAlive || !fs.existsSync(guestDir)) shutDown();
}, 1000).unref();
