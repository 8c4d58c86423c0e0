import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface SeriesSpec {
  label: string;
  color: string;
  values: (number | null)[];
  /** Bars instead of a line (usage per day); side by side: -1 left of the tick, 1 right of it. */
  bars?: -1 | 1;
  /** Mark each sample (for sparse series whose lone samples have no line to draw). */
  points?: boolean;
}

interface Props {
  title: string;
  x: number[];
  series: SeriesSpec[];
  unit?: string;
  height?: number;
  /** Fixed x range (epoch s); default: the data's own. */
  xRange?: [number, number];
}

/** A uPlot time-series chart that follows its container's width (laptop or phone) and updates in place. */
export function Chart({ title, x, series, unit = '', height = 180, xRange }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = series.map((s) => s.label).join('|');

  useEffect(() => {
    const el = box.current!;
    const opts: uPlot.Options = {
      width: Math.max(240, el.clientWidth),
      height,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true, ...(xRange ? { range: () => xRange } : {}) },
        // Rates, latencies and token counts: the axis starts at zero so a small change never looks like a cliff.
        y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
      },
      axes: [
        { stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,0.15)' } },
        { stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,0.15)' }, size: 56, values: (_u, vals) => vals.map((v) => `${v}${unit}`) },
      ],
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 1.5,
          fill: s.bars ? s.color : `${s.color}22`,
          spanGaps: false,
          points: { show: s.points === true, size: 4 },
          ...(s.bars ? { paths: uPlot.paths.bars!({ size: [0.35, 30], align: s.bars }) } : {}),
        })),
      ],
    };
    const u = new uPlot(opts, [x, ...series.map((s) => s.values)] as uPlot.AlignedData, el);
    plot.current = u;
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(240, el.clientWidth), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [shape, height, xRange?.[0], xRange?.[1]]);

  useEffect(() => {
    plot.current?.setData([x, ...series.map((s) => s.values)] as uPlot.AlignedData);
  }, [x, series]);

  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} />
    </figure>
  );
}
