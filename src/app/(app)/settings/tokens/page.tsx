import type { Metadata } from "next";
import { requireActor } from "~/server/auth/guard";
import { isAdmin } from "~/server/permissions";
import { api } from "~/trpc/server";
import { ApiTokensPanel } from "~/components/settings/api-tokens-panel";

export const metadata: Metadata = { title: "API tokens" };

export default async function ApiTokensPage() {
  const actor = await requireActor("/settings/tokens");
  const trpc = await api();
  const tokens = await trpc.apiTokens.list();
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">API tokens</h1>
      <div className="max-w-2xl space-y-1 text-sm text-gray-600 dark:text-gray-300">
        <p>
          A token lets a script use the HTTP API as you, limited to the scopes you pick. Send it as{" "}
          <code className="rounded bg-gray-100 px-1 font-mono text-xs dark:bg-gray-800">Authorization: Bearer twc_…</code>, never in a URL. The API is described
          at{" "}
          <a href="/api/openapi.json" className="text-blue-700 underline dark:text-blue-300">
            /api/openapi.json
          </a>
          .
        </p>
      </div>
      <ApiTokensPanel initial={tokens} canUseAdminScope={isAdmin(actor)} />
    </div>
  );
}
