"use client";
// The launch form: box, name and spec, with the hourly cost shown live before
// the user confirms. Every rule is checked as the user types, with the server's
// own words (spec-rules.ts), on the field it is about; the server checks again.
// One submit is one launch: the form sends a key of its own with it, so a
// double click cannot make two VMs (create-once.ts).
import { useMutation, useQuery } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useDeferredValue, useRef, useState } from "react";
import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "~/server/api/root";
import { boundProblem, vmNameProblem } from "~/server/vms/spec-rules";
import { useTRPC } from "~/trpc/react";
import { useVmActionsStatus } from "./host-status";
import { formatCredits } from "./state-badge";

type Catalog = inferRouterOutputs<AppRouter>["vms"]["catalog"];
type Box = Catalog["boxes"][number];
type SpecField = "cpus" | "ramMb" | "diskGb";

/** A key for one submit. getRandomValues works on plain-HTTP pages too, where crypto.randomUUID does not exist. */
function newRequestKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The problem with each spec field: outside the settings' limits, or below the chosen box's minimum. */
function specProblems(spec: Record<SpecField, number>, limits: Catalog["limits"], box: Box | undefined): Partial<Record<SpecField, string>> {
  const out: Partial<Record<SpecField, string>> = {};
  const check = (field: SpecField, label: string, unit: string, boxMin: number | undefined, boxWords: string) => {
    const problem = boundProblem(label, unit, spec[field], limits[field]);
    if (problem) out[field] = problem;
    else if (box && boxMin !== undefined && spec[field] < boxMin) out[field] = `${box.displayName} needs ${boxWords}.`;
  };
  check("cpus", "vCPUs", "", box?.minCpus, `at least ${box?.minCpus} vCPUs`);
  check("ramMb", "RAM", " MB", box?.minRamMb, `at least ${box?.minRamMb} MB of RAM`);
  check("diskGb", "Disk", " GB", box?.minDiskGb, `at least ${box?.minDiskGb} GB of disk`);
  return out;
}

function FieldMessages({ id, messages }: { id: string; messages: Array<string | null | undefined> }) {
  const shown = [...new Set(messages.filter((m): m is string => Boolean(m)))];
  if (shown.length === 0) return null;
  return (
    <span id={id} className="mt-1 block text-xs text-red-700 dark:text-red-300" data-testid={id} role="alert">
      {shown.join(" ")}
    </span>
  );
}

export function LaunchForm({ catalog }: { catalog: Catalog }) {
  const trpc = useTRPC();
  const router = useRouter();
  const { limits, boxes } = catalog;
  const hostReady = useVmActionsStatus().enabled;
  const [name, setName] = useState("");
  const [nameTouched, setNameTouched] = useState(false);
  const [boxId, setBoxId] = useState(boxes[0]?.id ?? "");
  const box = boxes.find((b) => b.id === boxId);
  const [cpus, setCpus] = useState(Math.max(limits.cpus.min, box?.minCpus ?? 1));
  const [ramMb, setRamMb] = useState(Math.max(limits.ramMb.min, box?.minRamMb ?? 512, 1024));
  const [diskGb, setDiskGb] = useState(Math.max(limits.diskGb.min, box?.minDiskGb ?? 10, 20));
  const requestKey = useRef<string | null>(null);
  const problems = specProblems({ cpus, ramMb, diskGb }, limits, box);
  const specValid = Object.keys(problems).length === 0;
  const nameProblem = vmNameProblem(name);
  const spec = useDeferredValue({ cpus, ramMb, diskGb });
  const deferredValid = Object.keys(specProblems(spec, limits, box)).length === 0;
  const estimate = useQuery(trpc.vms.costEstimate.queryOptions(spec, { enabled: deferredValid, placeholderData: (prev) => prev }));
  const create = useMutation(
    trpc.vms.create.mutationOptions({
      // The VM exists now: go to its page at once, where the job's progress shows.
      onSuccess: (r) => router.push(`/vms/${r.id}`),
    }),
  );
  const fieldErrors = (create.error?.data as { fieldErrors?: Record<string, string[] | undefined> } | undefined)?.fieldErrors ?? null;

  if (boxes.length === 0) {
    return (
      <p className="text-gray-600 dark:text-gray-300" data-testid="launch-no-boxes">
        No box in the catalog is installed on this host, so nothing can be launched yet. Ask an admin to add one.
        {catalog.installedError && <span className="mt-1 block text-sm text-red-700 dark:text-red-300">{catalog.installedError}</span>}
      </p>
    );
  }

  const input = "mt-1 w-full rounded border border-gray-300 bg-white px-2 py-1.5 dark:border-gray-700 dark:bg-gray-900";
  const invalid = "border-red-500 dark:border-red-500";
  const number = (label: string, unit: string, value: number, set: (n: number) => void, l: { min: number; max: number }, step: number, field: SpecField) => (
    <label className="block min-w-0 text-sm">
      <span className="font-medium">
        {label}{" "}
        <span className="font-normal text-gray-500">
          ({l.min}–{l.max}
          {unit})
        </span>
      </span>
      <input
        type="number"
        inputMode="numeric"
        step={step}
        value={Number.isNaN(value) ? "" : value}
        onChange={(e) => set(e.target.valueAsNumber)}
        className={`${input} ${problems[field] ? invalid : ""}`}
        data-testid={`launch-${field}`}
        aria-invalid={Boolean(problems[field])}
        aria-describedby={problems[field] ? `launch-${field}-error` : undefined}
        required
      />
      <FieldMessages id={`launch-${field}-error`} messages={[problems[field], ...(fieldErrors?.[field] ?? [])]} />
    </label>
  );

  const canSubmit = specValid && nameProblem === null && hostReady && !create.isPending && !create.isSuccess;
  return (
    <form
      className="max-w-xl space-y-4"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        setNameTouched(true);
        // A second click before the first answer is the same submit: the button is off, and the key is the same anyway.
        if (!canSubmit) return;
        requestKey.current ??= newRequestKey();
        create.mutate(
          { name: name.trim(), boxId, cpus, ramMb, diskGb, requestKey: requestKey.current },
          // A refused launch is fixed and sent again as a new submit, with a new key.
          { onError: () => (requestKey.current = null) },
        );
      }}
    >
      <label className="block text-sm">
        <span className="font-medium">Name</span>
        {/* No maxLength: a longer name is refused with the rule, never cut short silently. */}
        <input
          value={name}
          onChange={(e) => setName(e.target.value.toLowerCase())}
          onBlur={() => setNameTouched(true)}
          required
          placeholder="web-1"
          className={`${input} font-mono ${nameProblem && (nameTouched || name !== "") ? invalid : ""}`}
          data-testid="launch-name"
          autoComplete="off"
          aria-invalid={Boolean(nameProblem && name !== "")}
          aria-describedby="launch-name-rule"
        />
        <span id="launch-name-rule" className="mt-1 block text-xs text-gray-500">
          Lowercase letters, digits and hyphens, up to 63; it becomes the hostname.
          {name.length > 0 && <span className="tabular-nums"> ({name.trim().length}/63)</span>}
        </span>
        <FieldMessages id="launch-name-error" messages={[nameTouched || name !== "" ? nameProblem : null, ...(fieldErrors?.name ?? [])]} />
      </label>
      <label className="block text-sm">
        <span className="font-medium">Box</span>
        <select value={boxId} onChange={(e) => setBoxId(e.target.value)} className={input} data-testid="launch-box">
          {boxes.map((b) => (
            <option key={b.id} value={b.id}>
              {b.displayName} ({b.name})
            </option>
          ))}
        </select>
        {box && (
          <span className="mt-1 block text-xs text-gray-500">
            Needs at least {box.minCpus} vCPU, {box.minRamMb} MB RAM, {box.minDiskGb} GB disk.
          </span>
        )}
      </label>
      <div className="grid grid-cols-1 gap-3 sm:grid-cols-3">
        {number("vCPUs", "", cpus, setCpus, limits.cpus, 1, "cpus")}
        {number("RAM", " MB", ramMb, setRamMb, limits.ramMb, 256, "ramMb")}
        {number("Disk", " GB", diskGb, setDiskGb, limits.diskGb, 1, "diskGb")}
      </div>
      <div className="rounded-lg border border-gray-200 bg-white p-3 text-sm dark:border-gray-800 dark:bg-gray-900" data-testid="launch-cost">
        {/* Only for a spec the form would send: never a price for values it refuses. */}
        {specValid && deferredValid && estimate.data ? (
          <>
            <p>
              <span className="text-lg font-semibold tabular-nums">{formatCredits(estimate.data.perHour)}</span> credits per hour while running (
              {formatCredits(estimate.data.perDay)} per day).
            </p>
            <p className="text-gray-500 dark:text-gray-400">
              Your balance: {formatCredits(estimate.data.balance)}
              {estimate.data.affordableHours !== null && ` — about ${Math.floor(estimate.data.affordableHours)} h of this VM.`}
            </p>
          </>
        ) : (
          <p className="text-gray-500">{specValid ? "Working out the cost…" : "Fix the fields marked above to see the cost."}</p>
        )}
      </div>
      {create.error && !fieldErrors && (
        <p role="alert" className="text-sm text-red-700 dark:text-red-300" data-testid="launch-error">
          {create.error.message}
        </p>
      )}
      <button
        type="submit"
        disabled={!canSubmit}
        className="rounded bg-blue-600 px-4 py-2 font-medium text-white hover:bg-blue-700 disabled:opacity-50"
        data-testid="launch-submit"
      >
        {create.isPending ? "Launching…" : create.isSuccess ? "Opening the VM…" : "Launch VM"}
      </button>
    </form>
  );
}
