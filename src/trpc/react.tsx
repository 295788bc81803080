"use client";
// The React side of tRPC: a provider for client components and the typed
// `useTRPC()` hook (@trpc/tanstack-react-query).
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { createTRPCClient, httpBatchLink, loggerLink } from "@trpc/client";
import { createTRPCContext } from "@trpc/tanstack-react-query";
import { useState, type ReactNode } from "react";
import superjson from "superjson";
import { config as zodConfig } from "zod/v4/core";
import type { AppRouter } from "../server/api/root";

// In the browser zod must not compile parsers with `new Function`: the page's
// Content-Security-Policy refuses eval, and zod's probe for it (caught, but
// still reported as a violation) would fire on the first object it parses.
// The client components that parse with zod all use useTRPC from here, so this
// runs before they parse; the e2e page watch (tests/e2e/support) fails on any
// page where it would not. zod keeps this setting on globalThis, so setting it
// through zod's core (not its whole API) keeps zod out of pages that parse nothing.
if (typeof window !== "undefined") zodConfig({ jitless: true });

export const { TRPCProvider, useTRPC, useTRPCClient } = createTRPCContext<AppRouter>();

function makeQueryClient() {
  return new QueryClient({ defaultOptions: { queries: { staleTime: 2_000, refetchOnWindowFocus: true } } });
}

let browserQueryClient: QueryClient | undefined;
function getQueryClient() {
  if (typeof window === "undefined") return makeQueryClient();
  return (browserQueryClient ??= makeQueryClient());
}

export function TRPCReactProvider({ children }: { children: ReactNode }) {
  const queryClient = getQueryClient();
  const [trpcClient] = useState(() =>
    createTRPCClient<AppRouter>({
      links: [
        loggerLink({ enabled: (op) => process.env.NODE_ENV === "development" && op.direction === "down" && op.result instanceof Error }),
        httpBatchLink({ url: "/api/trpc", transformer: superjson }),
      ],
    }),
  );
  return (
    <QueryClientProvider client={queryClient}>
      <TRPCProvider trpcClient={trpcClient} queryClient={queryClient}>
        {children}
      </TRPCProvider>
    </QueryClientProvider>
  );
}
