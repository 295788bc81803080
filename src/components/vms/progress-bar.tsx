// A job's progress and current step.
export function JobProgress({ progress, step, kind }: { progress: number; step: string | null; kind: string }) {
  return (
    <div className="min-w-0" data-testid="job-progress">
      <div className="flex items-center justify-between gap-2 text-xs text-gray-600 dark:text-gray-300">
        <span className="truncate">
          {kind.toLowerCase()}: {step ?? "queued"}
        </span>
        <span className="tabular-nums">{progress}%</span>
      </div>
      <div
        className="mt-1 h-1.5 w-full overflow-hidden rounded bg-gray-200 dark:bg-gray-800"
        role="progressbar"
        aria-valuenow={progress}
        aria-valuemin={0}
        aria-valuemax={100}
      >
        <div className="h-full bg-blue-500 transition-all" style={{ width: `${Math.max(3, progress)}%` }} />
      </div>
    </div>
  );
}
