"use client";
// The user's API tokens: a form to create one (label, scopes, expiry), the new
// token shown once, and one card per token with its public prefix, scopes,
// expiry, last use (time and address) and a revoke button.
import { ConfirmRemoval } from "./confirm-removal";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "~/server/api/root";
import { useTRPC } from "~/trpc/react";
import { When } from "~/components/shell/when";
import { API_SCOPES, EXPIRY_CHOICES_DAYS, SCOPE_DESCRIPTIONS, type ApiScope } from "~/server/auth/api-scopes";

type ApiTokenRow = inferRouterOutputs<AppRouter>["apiTokens"]["list"][number];

const firstFieldError = (err: { data?: unknown } | null) => {
  const fields = (err?.data as { fieldErrors?: Record<string, string[] | undefined> | null } | undefined)?.fieldErrors;
  return fields ? Object.values(fields).flat().find(Boolean) : undefined;
};

export function ApiTokensPanel({ initial, canUseAdminScope }: { initial: ApiTokenRow[]; canUseAdminScope: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const { data: tokens = initial } = useQuery(trpc.apiTokens.list.queryOptions(undefined, { initialData: initial }));
  const [label, setLabel] = useState("");
  const [scopes, setScopes] = useState<ApiScope[]>(["vms:read"]);
  const [expiresInDays, setExpiresInDays] = useState(30);
  const [created, setCreated] = useState<{ token: string; label: string } | null>(null);
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.apiTokens.pathKey() });
  const create = useMutation(
    trpc.apiTokens.create.mutationOptions({
      onMutate: () => setCreated(null),
      onSuccess: ({ token, apiToken }) => {
        setCreated({ token, label: apiToken.label });
        setLabel("");
        void refresh();
      },
    }),
  );
  const error = create.error ? (firstFieldError(create.error) ?? create.error.message) : null;
  const input = "mt-1 w-full rounded border border-gray-300 bg-white px-2 py-1.5 dark:border-gray-700 dark:bg-gray-900";
  const toggle = (scope: ApiScope) => setScopes((s) => (s.includes(scope) ? s.filter((x) => x !== scope) : [...s, scope]));

  return (
    <div className="space-y-6">
      <form
        className="max-w-2xl space-y-3 rounded-lg border border-gray-200 bg-white p-3 dark:border-gray-800 dark:bg-gray-900"
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate({ label: label.trim(), scopes, expiresInDays });
        }}
      >
        <h2 className="font-medium">Create a token</h2>
        <label className="block text-sm">
          <span className="font-medium">Label</span>
          <input
            value={label}
            onChange={(e) => setLabel(e.target.value)}
            maxLength={100}
            required
            placeholder="nightly backup script"
            className={input}
            data-testid="api-token-label-input"
            autoComplete="off"
          />
        </label>
        <fieldset className="text-sm">
          <legend className="font-medium">Scopes</legend>
          {API_SCOPES.filter((scope) => scope !== "admin" || canUseAdminScope).map((scope) => (
            <label key={scope} className="mt-1 flex items-start gap-2">
              <input
                type="checkbox"
                checked={scopes.includes(scope)}
                onChange={() => toggle(scope)}
                className="mt-1"
                data-testid={`api-token-scope-${scope}`}
              />
              <span>
                <code className="font-mono text-xs">{scope}</code> <span className="text-gray-600 dark:text-gray-300">{SCOPE_DESCRIPTIONS[scope]}</span>
              </span>
            </label>
          ))}
        </fieldset>
        <label className="block text-sm">
          <span className="font-medium">Expires after</span>
          <select value={expiresInDays} onChange={(e) => setExpiresInDays(Number(e.target.value))} className={input} data-testid="api-token-expiry">
            {EXPIRY_CHOICES_DAYS.map((d) => (
              <option key={d} value={d}>
                {d} days
              </option>
            ))}
          </select>
        </label>
        {error && (
          <p
            role="alert"
            className="whitespace-pre-line break-words rounded border border-red-300 bg-red-50 p-2 text-sm text-red-800 dark:border-red-800 dark:bg-red-950/50 dark:text-red-200"
            data-testid="api-token-error"
          >
            {error}
          </p>
        )}
        <button
          type="submit"
          disabled={create.isPending || !label.trim() || scopes.length === 0}
          className="rounded bg-blue-600 px-4 py-2 font-medium text-white hover:bg-blue-700 disabled:opacity-50"
          data-testid="api-token-create"
        >
          {create.isPending ? "Creating…" : "Create token"}
        </button>
      </form>

      {created && (
        <section
          role="status"
          className="max-w-2xl space-y-2 rounded-lg border border-green-300 bg-green-50 p-3 text-sm dark:border-green-800 dark:bg-green-950/40"
        >
          <p className="font-medium text-green-800 dark:text-green-200">Token “{created.label}” created. Copy it now: it is not shown again.</p>
          <code className="block break-all rounded bg-white p-2 font-mono text-xs dark:bg-gray-900" data-testid="api-token-secret">
            {created.token}
          </code>
          <button
            type="button"
            onClick={() => void navigator.clipboard?.writeText(created.token)}
            className="rounded border border-gray-300 px-2 py-1 text-xs hover:bg-gray-100 dark:border-gray-700 dark:hover:bg-gray-800"
          >
            Copy
          </button>
        </section>
      )}

      <section aria-labelledby="api-tokens-title" className="space-y-2">
        <h2 id="api-tokens-title" className="font-medium">
          Your tokens
        </h2>
        {tokens.length === 0 ? (
          <p
            className="rounded-lg border border-dashed border-gray-300 p-6 text-center text-sm text-gray-600 dark:border-gray-700 dark:text-gray-300"
            data-testid="api-tokens-empty"
          >
            No tokens yet.
          </p>
        ) : (
          <ul className="space-y-3" data-testid="api-token-list">
            {tokens.map((tk) => (
              <TokenCard key={tk.id} apiToken={tk} onRevoked={() => void refresh()} />
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}

function TokenCard({ apiToken: tk, onRevoked }: { apiToken: ApiTokenRow; onRevoked: () => void }) {
  const trpc = useTRPC();
  const [confirming, setConfirming] = useState(false);
  const revoke = useMutation(trpc.apiTokens.revoke.mutationOptions({ onSuccess: onRevoked }));
  const badge =
    tk.status === "active"
      ? "bg-green-100 text-green-800 dark:bg-green-900/50 dark:text-green-200"
      : "bg-gray-200 text-gray-700 dark:bg-gray-800 dark:text-gray-300";
  return (
    <li className="rounded-lg border border-gray-200 bg-white p-3 text-sm dark:border-gray-800 dark:bg-gray-900" data-testid="api-token-row">
      <div className="flex flex-wrap items-start justify-between gap-2">
        <div className="min-w-0">
          <p className="break-words font-medium" data-testid="api-token-name">
            {tk.label}{" "}
            <span className={`ml-1 rounded px-1.5 py-0.5 text-xs font-medium ${badge}`} data-testid="api-token-status">
              {tk.status}
            </span>
          </p>
          <code className="font-mono text-xs text-gray-600 dark:text-gray-300" data-testid="api-token-prefix">
            {tk.prefix}…
          </code>
        </div>
        {tk.status === "active" && !confirming && (
          <button
            type="button"
            onClick={() => setConfirming(true)}
            className="rounded border border-red-300 px-2 py-1 text-xs font-medium text-red-700 hover:bg-red-50 dark:border-red-800 dark:text-red-300 dark:hover:bg-red-950"
            data-testid="api-token-revoke"
          >
            Revoke
          </button>
        )}
      </div>
      <p className="mt-1 text-xs text-gray-600 dark:text-gray-300" data-testid="api-token-scopes">
        {tk.scopes.join(", ")}
      </p>
      <p className="mt-1 text-xs text-gray-500 dark:text-gray-400">
        Created <When value={tk.createdAt} /> ·{" "}
        {tk.status === "revoked" && tk.revokedAt ? (
          <>
            revoked <When value={tk.revokedAt} />
          </>
        ) : (
          <>
            expires <When value={tk.expiresAt} />
          </>
        )}
      </p>
      <p className="mt-1 text-xs text-gray-500 dark:text-gray-400" data-testid="api-token-last-used">
        {tk.lastUsedAt ? (
          <>
            Last used <When value={tk.lastUsedAt} /> from {tk.lastUsedIp ?? "an unknown address"}
          </>
        ) : (
          "Never used"
        )}
      </p>
      {confirming && (
        <ConfirmRemoval
          question="Revoke this token? Scripts using it stop working at once."
          action="Revoke token"
          pendingAction="Revoking…"
          pending={revoke.isPending}
          onConfirm={() => revoke.mutate({ id: tk.id })}
          onCancel={() => setConfirming(false)}
          testId="api-token-revoke-confirm"
        />
      )}
      {revoke.error && (
        <p role="alert" className="mt-2 text-sm text-red-700 dark:text-red-300">
          {revoke.error.message}
        </p>
      )}
    </li>
  );
}
