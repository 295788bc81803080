"use client";
// The user's SSH keys: one card per key (label, kind and size, SHA256
// fingerprint, when added) and a form to add one. The server parses and checks
// every key; this only shows what it says.
import { ConfirmRemoval } from "./confirm-removal";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "~/server/api/root";
import { useTRPC } from "~/trpc/react";
import { When } from "~/components/shell/when";

type SshKeyRow = inferRouterOutputs<AppRouter>["sshKeys"]["list"][number];

/** UTC, so the server's render and the browser's agree. */

const firstFieldError = (err: { data?: unknown } | null) => {
  const fields = (err?.data as { fieldErrors?: Record<string, string[] | undefined> | null } | undefined)?.fieldErrors;
  return fields ? Object.values(fields).flat().find(Boolean) : undefined;
};

export function SshKeysPanel({ initial }: { initial: SshKeyRow[] }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const { data: keys = initial } = useQuery(trpc.sshKeys.list.queryOptions(undefined, { initialData: initial }));
  const [label, setLabel] = useState("");
  const [publicKey, setPublicKey] = useState("");
  const [addedKey, setAddedKey] = useState<SshKeyRow | null>(null);
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.sshKeys.pathKey() });
  const add = useMutation(
    trpc.sshKeys.add.mutationOptions({
      onSuccess: (key) => {
        setAddedKey(key);
        setLabel("");
        setPublicKey("");
        void refresh();
      },
      onMutate: () => setAddedKey(null),
    }),
  );
  const error = add.error ? (firstFieldError(add.error) ?? add.error.message) : null;
  const input = "mt-1 w-full rounded border border-gray-300 bg-white px-2 py-1.5 dark:border-gray-700 dark:bg-gray-900";

  return (
    <div className="space-y-6">
      <section aria-labelledby="ssh-keys-title" className="space-y-2">
        <h2 id="ssh-keys-title" className="font-medium">
          Your keys
        </h2>
        {keys.length === 0 ? (
          <p
            className="rounded-lg border border-dashed border-gray-300 p-6 text-center text-sm text-gray-600 dark:border-gray-700 dark:text-gray-300"
            data-testid="ssh-keys-empty"
          >
            No keys yet. Add one below.
          </p>
        ) : (
          <ul className="space-y-3" data-testid="ssh-key-list">
            {keys.map((k) => (
              <KeyCard key={k.id} sshKey={k} onRemoved={() => void refresh()} />
            ))}
          </ul>
        )}
      </section>

      <form
        className="max-w-2xl space-y-3 rounded-lg border border-gray-200 bg-white p-3 dark:border-gray-800 dark:bg-gray-900"
        onSubmit={(e) => {
          e.preventDefault();
          add.mutate({ label: label.trim() || null, publicKey });
        }}
      >
        <h2 className="font-medium">Add a key</h2>
        <label className="block text-sm">
          <span className="font-medium">Label</span> <span className="text-gray-500">(optional; the key&apos;s comment is used when empty)</span>
          <input
            value={label}
            onChange={(e) => setLabel(e.target.value)}
            maxLength={100}
            placeholder="work laptop"
            className={input}
            data-testid="ssh-key-label-input"
            autoComplete="off"
          />
        </label>
        <label className="block text-sm">
          <span className="font-medium">Public key</span>
          <textarea
            value={publicKey}
            onChange={(e) => setPublicKey(e.target.value)}
            required
            rows={4}
            spellCheck={false}
            autoCapitalize="off"
            autoCorrect="off"
            placeholder="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA… you@laptop"
            className={`${input} break-all font-mono text-xs`}
            data-testid="ssh-key-input"
          />
          <span className="mt-1 block text-xs text-gray-500">Ed25519, ECDSA or RSA (2048 bits or more): one line, as in your .pub file.</span>
        </label>
        {error && (
          <p
            role="alert"
            className="whitespace-pre-line break-words rounded border border-red-300 bg-red-50 p-2 text-sm text-red-800 dark:border-red-800 dark:bg-red-950/50 dark:text-red-200"
            data-testid="ssh-key-error"
          >
            {error}
          </p>
        )}
        {addedKey && !add.error && (
          <p role="status" className="break-all text-sm text-green-700 dark:text-green-300" data-testid="ssh-key-added">
            Added “{addedKey.label}” ({addedKey.fingerprint}).
          </p>
        )}
        <button
          type="submit"
          disabled={add.isPending || !publicKey.trim()}
          className="rounded bg-blue-600 px-4 py-2 font-medium text-white hover:bg-blue-700 disabled:opacity-50"
          data-testid="ssh-key-add"
        >
          {add.isPending ? "Adding…" : "Add key"}
        </button>
      </form>
    </div>
  );
}

function KeyCard({ sshKey: k, onRemoved }: { sshKey: SshKeyRow; onRemoved: () => void }) {
  const trpc = useTRPC();
  const [confirming, setConfirming] = useState(false);
  const remove = useMutation(trpc.sshKeys.remove.mutationOptions({ onSuccess: onRemoved }));
  return (
    <li className="rounded-lg border border-gray-200 bg-white p-3 text-sm dark:border-gray-800 dark:bg-gray-900" data-testid="ssh-key-row">
      <div className="flex flex-wrap items-start justify-between gap-2">
        <div className="min-w-0">
          <p className="break-words font-medium" data-testid="ssh-key-name">
            {k.label}
          </p>
          <p className="text-xs text-gray-500 dark:text-gray-400" data-testid="ssh-key-type">
            {k.kind} · {k.bits} bits
          </p>
        </div>
        {!confirming && (
          <button
            type="button"
            onClick={() => setConfirming(true)}
            className="rounded border border-red-300 px-2 py-1 text-xs font-medium text-red-700 hover:bg-red-50 dark:border-red-800 dark:text-red-300 dark:hover:bg-red-950"
            data-testid="ssh-key-remove"
          >
            Remove
          </button>
        )}
      </div>
      <code className="mt-2 block break-all font-mono text-xs" data-testid="ssh-key-fingerprint">
        {k.fingerprint}
      </code>
      <p className="mt-1 text-xs text-gray-500 dark:text-gray-400">
        Added <When value={k.createdAt} /> · last used: not tracked (each VM checks keys itself)
      </p>
      {confirming && (
        <ConfirmRemoval
          question="Remove this key? Running VMs stop accepting it within a minute; stopped VMs on their next start."
          action="Remove key"
          pendingAction="Removing…"
          pending={remove.isPending}
          onConfirm={() => remove.mutate({ id: k.id })}
          onCancel={() => setConfirming(false)}
          testId="ssh-key-remove-confirm"
        />
      )}
      {remove.error && (
        <p role="alert" className="mt-2 text-sm text-red-700 dark:text-red-300" data-testid="ssh-key-error">
          {remove.error.message}
        </p>
      )}
    </li>
  );
}
