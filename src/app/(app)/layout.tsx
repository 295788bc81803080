import type { ReactNode } from "react";
import { requireActor } from "~/server/auth/guard";
import { isAdmin } from "~/server/permissions";
import { AppShell } from "~/components/shell/app-shell";
import { OpenAlertsBadge } from "~/components/metrics/open-alerts-badge";
import { TRPCReactProvider } from "~/trpc/react";

// Every page inside the shell is for signed-in users; pages add finer checks.
export default async function AppLayout({ children }: { children: ReactNode }) {
  const actor = await requireActor();
  return (
    <TRPCReactProvider>
      <AppShell user={{ email: actor.email, role: actor.role }} showAdmin={isAdmin(actor)} badge={<OpenAlertsBadge />}>
        {children}
      </AppShell>
    </TRPCReactProvider>
  );
}
