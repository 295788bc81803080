"use client";
// A job's output. While the job runs it polls for what was added since the last
// read (by offset) and appends it; a finished job's full output stays readable.
// Give it `key={jobId}` so another job starts from an empty buffer.
import { useQuery } from "@tanstack/react-query";
import { useEffect, useRef } from "react";
import { useTRPCClient } from "~/trpc/react";
import { JobProgress } from "./progress-bar";

const LIVE = new Set(["QUEUED", "RUNNING"]);

export function JobOutput({ jobId }: { jobId: string }) {
  const client = useTRPCClient();
  const buffer = useRef({ text: "", offset: 0 });
  const pre = useRef<HTMLPreElement>(null);
  const stick = useRef(true);

  const { data } = useQuery({
    queryKey: ["vms.jobOutput", jobId],
    queryFn: async () => {
      const part = await client.vms.job.query({ jobId, fromOffset: buffer.current.offset });
      buffer.current.text = part.offset === 0 ? part.output : buffer.current.text + part.output;
      buffer.current.offset = part.length;
      return { ...part, text: buffer.current.text };
    },
    refetchInterval: (q) => (q.state.data && !LIVE.has(q.state.data.state) ? false : 1000),
  });

  useEffect(() => {
    if (stick.current && pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [data?.text]);

  if (!data) return <p className="text-sm text-gray-500">Loading output…</p>;
  const live = LIVE.has(data.state);
  return (
    <div className="space-y-2" data-testid="job-output">
      {live ? (
        <JobProgress kind={data.kind} step={data.step} progress={data.progress} />
      ) : (
        <p
          className={`text-sm ${data.state === "SUCCEEDED" ? "text-emerald-700 dark:text-emerald-300" : "text-red-700 dark:text-red-300"}`}
          data-testid="job-result"
        >
          {data.kind.toLowerCase()} {data.state.toLowerCase().replace("_", " ")}
          {data.exitCode !== null && ` (exit ${data.exitCode})`}
          {data.message && ` — ${data.message}`}
        </p>
      )}
      <pre
        ref={pre}
        onScroll={(e) => {
          const el = e.currentTarget;
          stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
        }}
        className="max-h-96 overflow-auto whitespace-pre-wrap break-words rounded bg-gray-950 p-3 font-mono text-xs leading-relaxed text-gray-100"
        data-testid="job-output-text"
      >
        {data.text || (live ? "Waiting for output…" : "(no output)")}
      </pre>
    </div>
  );
}
