import { describe, expect, it } from "vitest";
import { renderExposition } from "~/server/metrics/exposition";
import { promtoolCheckMetrics } from "../../support/prometheus";

describe("renderExposition", () => {
  const text = renderExposition([
    {
      name: "twarga_vm_memory_used_bytes",
      help: "Memory the guest uses.\nSecond line \\ here.",
      type: "gauge",
      samples: [{ labels: { vm_name: 'we"b\\1\n' }, value: 1.5e9 }],
    },
    { name: "twarga_sampler_ticks_total", help: "Ticks.", type: "counter", samples: [{ labels: {}, value: 3 }] },
    { name: "twarga_empty", help: "Never shown.", type: "gauge", samples: [] },
    {
      name: "twarga_odd",
      help: "Odd values.",
      type: "gauge",
      samples: [
        { labels: { v: "nan" }, value: NaN },
        { labels: { v: "inf" }, value: Infinity },
      ],
    },
  ]);

  it("writes HELP, TYPE and samples, escaping label values and help text as the 0.0.4 format says", () => {
    expect(text).toBe(
      [
        "# HELP twarga_vm_memory_used_bytes Memory the guest uses.\\nSecond line \\\\ here.",
        "# TYPE twarga_vm_memory_used_bytes gauge",
        'twarga_vm_memory_used_bytes{vm_name="we\\"b\\\\1\\n"} 1500000000',
        "# HELP twarga_sampler_ticks_total Ticks.",
        "# TYPE twarga_sampler_ticks_total counter",
        "twarga_sampler_ticks_total 3",
        "# HELP twarga_odd Odd values.",
        "# TYPE twarga_odd gauge",
        'twarga_odd{v="nan"} NaN',
        'twarga_odd{v="inf"} +Inf',
        "",
      ].join("\n"),
    );
  });

  it("passes promtool check metrics (Debian's prometheus package; scripts/test.sh installs it)", () => {
    expect(promtoolCheckMetrics(text)).toEqual({ status: 0, output: "" });
  });

  it("writes a sample's timestamp (ms since the epoch, whole) after its value when it has one", () => {
    const counters = renderExposition([
      {
        name: "twarga_host_cpu_seconds_total",
        help: "CPU seconds.",
        type: "counter",
        samples: [
          { labels: { mode: "user" }, value: 18423.47, timestampMs: 1796083200000.4 },
          { labels: { mode: "idle" }, value: 32377.07, timestampMs: 1796083200000 },
        ],
      },
    ]);
    expect(counters).toBe(
      [
        "# HELP twarga_host_cpu_seconds_total CPU seconds.",
        "# TYPE twarga_host_cpu_seconds_total counter",
        'twarga_host_cpu_seconds_total{mode="user"} 18423.47 1796083200000',
        'twarga_host_cpu_seconds_total{mode="idle"} 32377.07 1796083200000',
        "",
      ].join("\n"),
    );
    expect(promtoolCheckMetrics(counters)).toEqual({ status: 0, output: "" });
  });
});
