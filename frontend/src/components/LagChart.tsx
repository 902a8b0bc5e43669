import { type RefObject, useEffect, useRef, useState } from "react";
import type { MigrationLag } from "../api/types";
import { type Box, barLength, formatClock, formatCount, layoutSeries, polylinePoints, trend } from "../lib/chart";
import { formatNumber } from "../lib/units";

const BOX: Box = { width: 900, height: 240, left: 52, right: 12, top: 12, bottom: 28 };
const MIN_WIDTH = 280;

/**
 * The figure's width in CSS pixels, so the viewBox matches it and the labels keep their size at
 * 1280 and at 390 px instead of scaling with the drawing. Without ResizeObserver: BOX's width.
 */
function useWidth(): [RefObject<HTMLElement | null>, number] {
  const ref = useRef<HTMLElement>(null);
  const [width, setWidth] = useState(BOX.width);
  useEffect(() => {
    const element = ref.current;
    if (!element || typeof ResizeObserver === "undefined") return;
    const measure = () => {
      const measured = Math.round(element.getBoundingClientRect().width);
      if (measured > 0) setWidth(Math.max(MIN_WIDTH, measured));
    };
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  return [ref, width];
}

/**
 * The mirror's lag over time (total and the largest partition's), drawn as SVG with attributes and
 * classes only (the CSP allows no inline style). The viewBox scales it to any width.
 */
export function LagHistoryChart({ lag }: { lag: MigrationLag }) {
  const [ref, width] = useWidth();
  const history = lag.history ?? [];
  if (history.length === 0) return <p className="muted" data-testid="lag-chart-empty">No measurements yet.</p>;
  const box: Box = { ...BOX, width };
  const totals = history.map((s) => s.total);
  const maxes = history.map((s) => s.max);
  const total = layoutSeries(history, totals, box);
  const max = layoutSeries(history, maxes, box, totals);
  const direction = trend(history);
  const latest = history[history.length - 1];
  const summary = `Lag over the last ${history.length} measurements: total ${formatNumber(latest?.total ?? 0)} records, `
    + `largest partition ${formatNumber(latest?.max ?? 0)}; ${direction === "none" ? "one measurement" : direction}.`;
  return (
    <figure ref={ref} className="chart" data-testid="lag-chart" data-trend={direction} data-total={latest?.total}>
      <svg viewBox={`0 0 ${box.width} ${box.height}`} width={box.width} height={box.height} role="img" aria-label={summary} className="chart-svg"
        preserveAspectRatio="xMidYMid meet">
        {total.ticks.map((tick) => (
          <g key={tick} className="chart-grid">
            <line x1={BOX.left} x2={box.width - box.right} y1={total.y(tick)} y2={total.y(tick)} />
            <text x={BOX.left - 6} y={total.y(tick) + 4} textAnchor="end" className="chart-tick">{formatCount(tick)}</text>
          </g>
        ))}
        {total.span ? (
          <>
            <text x={BOX.left} y={BOX.height - 8} className="chart-tick">{formatClock(total.span[0])}</text>
            <text x={box.width - box.right} y={box.height - 8} textAnchor="end" className="chart-tick">
              {formatClock(total.span[1])} UTC
            </text>
          </>
        ) : null}
        <polyline className="chart-line chart-line-total" points={polylinePoints(total.points)} />
        <polyline className="chart-line chart-line-max" points={polylinePoints(max.points)} />
        {total.points.length === 1 && total.points[0] ? (
          <circle className="chart-dot chart-line-total" cx={total.points[0].x} cy={total.points[0].y} r={3} />
        ) : null}
      </svg>
      <figcaption className="chart-legend">
        <span className="legend-item"><span className="legend-swatch legend-total" aria-hidden="true" /> total lag</span>
        <span className="legend-item"><span className="legend-swatch legend-max" aria-hidden="true" /> largest partition</span>
        <span className="muted small">{summary}</span>
      </figcaption>
    </figure>
  );
}

const TRACK = 200;

/** Each partition's lag as a bar with its numbers: source end, target end, records behind. */
export function PartitionLagBars({ lag }: { lag: MigrationLag }) {
  const partitions = [...(lag.partitions ?? [])].sort((a, b) => b.lag - a.lag || a.topic.localeCompare(b.topic)
    || a.partition - b.partition);
  if (partitions.length === 0) return <p className="muted">No partitions measured yet.</p>;
  const largest = Math.max(1, ...partitions.map((p) => p.lag));
  return (
    <div className="table-wrap">
      <table className="table stack lag-table" data-testid="partition-lag">
        <caption className="visually-hidden">Lag per partition, largest first</caption>
        <thead>
          <tr>
            <th scope="col">Partition</th>
            <th scope="col" className="num">Source end</th>
            <th scope="col" className="num">Target end</th>
            <th scope="col" className="num">Behind</th>
            <th scope="col"><span className="visually-hidden">Bar</span></th>
          </tr>
        </thead>
        <tbody>
          {partitions.map((p) => (
            <tr key={`${p.topic}-${p.partition}`} data-testid="partition-lag-row" data-lag={p.lag}>
              <th scope="row" data-label="Partition" className="mono">{p.topic}[{p.partition}]</th>
              <td data-label="Source end" className="num">{formatNumber(p.source_end)}</td>
              <td data-label="Target end" className="num">{formatNumber(p.target_end)}</td>
              <td data-label="Behind" className="num">{formatNumber(p.lag)}</td>
              <td data-label="Against the largest" className="lag-bar-cell">
                <svg viewBox={`0 0 ${TRACK} 10`} className="lag-bar" aria-hidden="true" preserveAspectRatio="none">
                  <rect className="lag-bar-track" x={0} y={0} width={TRACK} height={10} rx={3} />
                  <rect className={p.lag === 0 ? "lag-bar-fill lag-bar-zero" : "lag-bar-fill"} x={0} y={0}
                    width={barLength(p.lag, largest, TRACK)} height={10} rx={3} />
                </svg>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
