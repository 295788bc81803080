"use client";
// The user's balance, with a warning when it runs low.
import { useQuery } from "@tanstack/react-query";
import { useTRPC } from "~/trpc/react";
import { formatCredits } from "./state-badge";
import { vmCountWords, vmQuotaWords } from "./vm-counts";

export function BalanceBanner() {
  const trpc = useTRPC();
  const { data } = useQuery(trpc.vms.myAccount.queryOptions(undefined, { refetchInterval: 30_000 }));
  if (!data) return null;
  const hoursLeft = data.burnPerHour > 0 ? data.balance / data.burnPerHour : null;
  return (
    <div
      data-testid="balance-banner"
      className={[
        "rounded-lg border px-3 py-2 text-sm",
        data.lowBalance
          ? "border-amber-300 bg-amber-50 text-amber-900 dark:border-amber-800 dark:bg-amber-950 dark:text-amber-100"
          : "border-gray-200 bg-white text-gray-700 dark:border-gray-800 dark:bg-gray-900 dark:text-gray-200",
      ].join(" ")}
    >
      <span className="font-medium">Credits: {formatCredits(data.balance)}</span>
      {data.burnPerHour > 0 && (
        <span>
          {" "}
          · using {formatCredits(data.burnPerHour)}/h{hoursLeft !== null && ` (about ${Math.max(0, Math.floor(hoursLeft))} h left)`}
        </span>
      )}
      <span className="text-gray-500 dark:text-gray-400">
        {" "}
        · <span data-testid="vm-counts">{vmCountWords(data.usage)}</span> ({vmQuotaWords(data.quota)})
      </span>
      {data.lowBalance && (
        <p className="mt-1">Your balance is low (below {data.lowBalanceThreshold}). At zero your running VMs are stopped. Ask an admin for more credits.</p>
      )}
    </div>
  );
}
