import { percent, usage } from "../lib/capacity";

/** A horizontal bar of used against budget, drawn in SVG with its numbers in text beside it. */
export function CapacityBar({ label, used, budget, format, testId }: {
  label: string;
  used: number | null | undefined;
  budget: number | null | undefined;
  format: (value: number) => string;
  testId?: string;
}) {
  const value = usage(used, budget);
  if (!value) {
    return (
      <div className="capacity" data-testid={testId}>
        <div className="capacity-label">{label}</div>
        <p className="muted capacity-unknown">
          {typeof used === "number" ? `${format(used)} used, no budget set` : "not reported yet"}
        </p>
      </div>
    );
  }
  const width = 100;
  const filled = Math.min(value.ratio, 1) * width;
  const summary = `${format(value.used)} of ${format(value.budget)} (${percent(value.ratio)})`;
  return (
    <div className="capacity" data-testid={testId}>
      <div className="capacity-label">
        <span>{label}</span>
        <span className="capacity-numbers">{summary}</span>
      </div>
      <svg
        className="capacity-bar"
        viewBox={`0 0 ${width} 8`}
        preserveAspectRatio="none"
        role="img"
        aria-label={`${label}: ${summary}`}
      >
        <rect x="0" y="0" width={width} height="8" rx="2" className="capacity-track" />
        <rect x="0" y="0" width={filled} height="8" rx="2" className={`capacity-fill capacity-${value.tone}`} />
        {value.ratio > 1 ? <rect x={width - 1} y="0" width="1" height="8" className="capacity-over" /> : null}
      </svg>
    </div>
  );
}
