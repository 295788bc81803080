// A tiny trend line as inline SVG: no chart library, so the live page stays
// light on a phone. A missing reading (null) or a pause longer than `maxGapMs`
// breaks the line, so gaps stay visible.
export function Sparkline({
  t,
  values,
  maxGapMs,
  max,
  className = "",
}: {
  t: number[];
  values: (number | null)[];
  maxGapMs: number;
  max?: number;
  className?: string;
}) {
  const W = 100;
  const H = 24;
  const points = t.map((x, i) => [x, values[i]] as const).filter((p): p is readonly [number, number] => p[1] !== null && p[1] !== undefined);
  if (points.length < 2) return <svg viewBox={`0 0 ${W} ${H}`} className={className} aria-hidden />;
  const t0 = t[0]!;
  const span = Math.max(1, t.at(-1)! - t0);
  const top = Math.max(max ?? 0, ...points.map((p) => p[1])) || 1;
  let d = "";
  let prevT: number | null = null;
  for (const [x, v] of points) {
    const px = ((x - t0) / span) * W;
    const py = H - 1 - (v / top) * (H - 2);
    d += `${prevT === null || x - prevT > maxGapMs ? "M" : "L"}${px.toFixed(1)},${py.toFixed(1)}`;
    prevT = x;
  }
  return (
    <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" className={className} aria-hidden>
      <path d={d} fill="none" stroke="currentColor" strokeWidth="1.5" vectorEffect="non-scaling-stroke" />
    </svg>
  );
}
