import type { Metadata } from "next";
import { requireActor } from "~/server/auth/guard";
import { api } from "~/trpc/server";
import { SshKeysPanel } from "~/components/settings/ssh-keys-panel";

export const metadata: Metadata = { title: "SSH keys" };

export default async function SshKeysPage() {
  await requireActor("/settings/keys");
  const trpc = await api();
  const keys = await trpc.sshKeys.list();
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">SSH keys</h1>
      <div className="max-w-2xl space-y-1 text-sm text-gray-600 dark:text-gray-300">
        <p>
          Your public keys are written into the login account of your VMs, so you can sign in from your own machine. Running VMs get changes within a minute;
          stopped VMs get them on their next start.
        </p>
        <p>
          No key yet? Make one with <code className="rounded bg-gray-100 px-1 font-mono text-xs dark:bg-gray-800">ssh-keygen -t ed25519</code> and paste the
          contents of the <code className="font-mono text-xs">.pub</code> file here. Never paste the private key.
        </p>
      </div>
      <SshKeysPanel initial={keys} />
    </div>
  );
}
