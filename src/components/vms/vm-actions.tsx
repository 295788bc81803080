"use client";
// Start / stop / restart / destroy buttons. Destroy is offered in every state
// but destroyed and destroying (the server drops a queued job or ends a running
// one first: cancel.ts); it opens a confirmation that asks for the VM's name,
// which the server checks again.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTRPC } from "~/trpc/react";
import { useVmActionsStatus } from "./host-status";

type Action = "start" | "stop" | "restart" | "destroy";
const LABEL: Record<Action, string> = { start: "Start", stop: "Stop", restart: "Restart", destroy: "Destroy" };

const BUSY = ["CREATING", "STARTING", "STOPPING", "RESTARTING"];

export function VmActions({ vm, compact = false }: { vm: { id: string; name: string; actions: string[]; state?: string }; compact?: boolean }) {
  const busy = vm.state !== undefined && BUSY.includes(vm.state);
  const actions = busy && !vm.actions.includes("destroy") ? [...vm.actions, "destroy"] : vm.actions;
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [confirming, setConfirming] = useState(false);
  const [typed, setTyped] = useState("");
  const [error, setError] = useState<string | null>(null);
  const done = {
    onSuccess: () => {
      setError(null);
      setConfirming(false);
      setTyped("");
      void queryClient.invalidateQueries({ queryKey: trpc.vms.pathKey() });
    },
    onError: (err: { message: string }) => setError(err.message),
  };
  const start = useMutation(trpc.vms.start.mutationOptions(done));
  const stop = useMutation(trpc.vms.stop.mutationOptions(done));
  const restart = useMutation(trpc.vms.restart.mutationOptions(done));
  const destroy = useMutation(trpc.vms.destroy.mutationOptions(done));
  const hostReady = useVmActionsStatus().enabled;
  const pending = start.isPending || stop.isPending || restart.isPending || destroy.isPending;
  const run = (a: Action) => {
    if (a === "start") start.mutate({ id: vm.id });
    if (a === "stop") stop.mutate({ id: vm.id });
    if (a === "restart") restart.mutate({ id: vm.id });
    if (a === "destroy") setConfirming(true);
  };
  const btn = compact ? "px-2 py-1 text-xs" : "px-3 py-1.5 text-sm";
  return (
    <div className="flex flex-col gap-2">
      <div className="flex flex-wrap gap-1.5">
        {(actions as Action[]).map((a) => (
          <button
            key={a}
            type="button"
            disabled={pending || !hostReady}
            onClick={() => run(a)}
            data-testid={`vm-action-${a}`}
            className={`rounded border font-medium disabled:opacity-50 ${btn} ${
              a === "destroy"
                ? "border-red-300 text-red-700 hover:bg-red-50 dark:border-red-800 dark:text-red-300 dark:hover:bg-red-950"
                : "border-gray-300 text-gray-700 hover:bg-gray-100 dark:border-gray-700 dark:text-gray-200 dark:hover:bg-gray-800"
            }`}
          >
            {LABEL[a]}
          </button>
        ))}
      </div>
      {confirming && (
        <form
          className="rounded border border-red-300 bg-red-50 p-3 text-sm dark:border-red-800 dark:bg-red-950/50"
          onSubmit={(e) => {
            e.preventDefault();
            destroy.mutate({ id: vm.id, confirmName: typed });
          }}
        >
          <label className="block text-red-800 dark:text-red-200" htmlFor={`confirm-${vm.id}`}>
            This deletes the VM and its disk{busy ? ", ending the operation in progress first" : ""}. Type <strong className="font-mono">{vm.name}</strong> to
            confirm.
          </label>
          <input
            id={`confirm-${vm.id}`}
            data-testid="destroy-confirm-input"
            className="mt-2 w-full rounded border border-red-300 bg-white px-2 py-1 font-mono dark:border-red-800 dark:bg-gray-900"
            value={typed}
            onChange={(e) => setTyped(e.target.value)}
            autoComplete="off"
            autoFocus
          />
          <div className="mt-2 flex gap-2">
            <button
              type="submit"
              disabled={typed !== vm.name || destroy.isPending}
              data-testid="destroy-confirm"
              className="rounded bg-red-600 px-3 py-1.5 font-medium text-white disabled:opacity-50"
            >
              Destroy {vm.name}
            </button>
            <button
              type="button"
              onClick={() => (setConfirming(false), setTyped(""))}
              className="rounded px-3 py-1.5 text-gray-700 hover:bg-gray-100 dark:text-gray-200 dark:hover:bg-gray-800"
            >
              Cancel
            </button>
          </div>
        </form>
      )}
      {error && (
        <p role="alert" className="text-sm text-red-700 dark:text-red-300">
          {error}
        </p>
      )}
    </div>
  );
}
