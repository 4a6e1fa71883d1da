// Builds the ECharts option of a chart from its config and table.

import type { ChartOption, SeriesOption } from './echarts';
import { locale } from './messages';
import type { ChartState, ChartType, Column, ColumnType, Table, Value } from './protocol';

/** The name of the series of rows whose series value is null. */
const NULL_SERIES = '—';

const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif';

// ECharts knows the words of English and Chinese only; numbers and dates go
// through Intl so that they read right in the page's language.
const numberFormat = new Intl.NumberFormat(locale);
const dateFormats = {
  year: new Intl.DateTimeFormat(locale, { year: 'numeric' }),
  month: new Intl.DateTimeFormat(locale, { month: 'short' }),
  day: new Intl.DateTimeFormat(locale, { month: 'short', day: 'numeric' }),
  minute: new Intl.DateTimeFormat(locale, { timeStyle: 'short' }),
  second: new Intl.DateTimeFormat(locale, { timeStyle: 'medium' }),
};

const collator = new Intl.Collator(locale, { numeric: true });

const formatNumber = (v: number): string => numberFormat.format(v);

/** A time axis tick, as coarse as the tick allows: 2025, Mar, Mar 5, 14:30. */
function formatTick(ms: number): string {
  const d = new Date(ms);
  const f =
    d.getSeconds() || d.getMilliseconds()
      ? dateFormats.second
      : d.getHours() || d.getMinutes()
        ? dateFormats.minute
        : d.getDate() !== 1
          ? dateFormats.day
          : d.getMonth() !== 0
            ? dateFormats.month
            : dateFormats.year;
  return f.format(d);
}

/** A tooltip value: a number, a missing value, or a scatter point's [x, y]. */
function formatValue(v: unknown): string {
  if (Array.isArray(v)) return v.map(formatValue).join(', ');
  return typeof v === 'number' ? formatNumber(v) : String(v ?? NULL_SERIES);
}

interface Channel {
  index: number;
  column: Column;
}

function channel(table: Table, name: string | undefined): Channel | undefined {
  if (!name) return undefined;
  const index = table.columns.findIndex((c) => c.name === name);
  return index < 0 ? undefined : { index, column: table.columns[index] };
}

type AxisType = 'category' | 'time' | 'value';

function xAxisType(type: ColumnType | undefined): AxisType {
  switch (type) {
    case 'number':
      return 'value';
    case 'time':
      return 'time';
    default:
      return 'category';
  }
}

/**
 * A string that changes when the chart must be redrawn from scratch rather
 * than updated: the config, and the x column's type, which picks the axis.
 */
export function layoutKey(state: ChartState): string {
  const x = channel(state.data, state.config.encoding.x);
  return JSON.stringify([state.config, x?.column.type]);
}

export function buildOption(state: ChartState, animate: boolean): ChartOption {
  const { config } = state;
  const option: ChartOption =
    config.type === 'pie' ? pieOption(state) : cartesianOption(state);
  option.animation = animate;
  option.textStyle = { fontFamily: FONT };
  if (config.colors && config.colors.length > 0) option.color = config.colors;
  return option;
}

function pieOption({ config, data }: ChartState): ChartOption {
  const category = channel(data, config.encoding.category);
  const value = channel(data, config.encoding.value);
  // Rows of one category make one slice: a pie cannot show two slices of
  // the same name apart, and their legend entry could only toggle both.
  const slices = new Map<string, number>();
  if (category && value) {
    for (const row of data.rows) {
      const v = row[value.index];
      if (typeof v !== 'number') continue;
      const name = label(row[category.index]);
      slices.set(name, (slices.get(name) ?? 0) + v);
    }
  }
  return {
    tooltip: { trigger: 'item', valueFormatter: formatValue },
    // The legend names the slices, so the labels only show shares: names
    // would be cut short in a narrow card.
    legend: { type: 'scroll', bottom: 0 },
    series: [
      {
        type: 'pie',
        id: 'pie',
        name: config.title,
        radius: ['0%', '66%'],
        center: ['50%', '46%'],
        label: { position: 'inside', formatter: '{d}%', color: '#fff' },
        data: [...slices].map(([name, v]) => ({ name, value: v })),
      },
    ],
  };
}

type Point = [string | number, number | null];

function cartesianOption({ config, data }: ChartState): ChartOption {
  const { type, encoding } = config;
  const x = channel(data, encoding.x);
  const y = channel(data, encoding.y);
  const split = channel(data, encoding.series);
  const axis = xAxisType(x?.column.type);

  const categories = new Set<string>();
  const series: SeriesOption[] = [];
  if (x && y) {
    // One series per distinct series value; a chart without a series column
    // has one series named after its y column.
    const groups = new Map<string, Point[]>();
    for (const row of data.rows) {
      const xv = row[x.index];
      if (xv === null) continue;
      const point: Point = [
        axis === 'category' ? String(xv) : (xv as string | number),
        row[y.index] as number | null,
      ];
      if (axis === 'category') categories.add(point[0] as string);
      const name = split ? label(row[split.index]) : y.column.name;
      const points = groups.get(name);
      if (points) points.push(point);
      else groups.set(name, [point]);
    }
    // A line joins points in the order given, so on a continuous axis it
    // must be sorted by x, whatever order the rows arrived in.
    const byX = axis !== 'category' && (type === 'line' || type === 'area');
    // Series take palette colours in order. Sorted by name, a series keeps
    // its colour when retention drops the rows that first named another.
    for (const [name, points] of [...groups].sort(([a], [b]) => collator.compare(a, b))) {
      series.push(seriesOption(type, name, byX ? sortByX(points) : points));
    }
  }

  return {
    grid: { top: 40, bottom: 64, left: 12, right: 20 },
    tooltip: {
      trigger: type === 'scatter' ? 'item' : 'axis',
      axisPointer: { type: type === 'bar' ? 'shadow' : 'line' },
      valueFormatter: formatValue,
    },
    legend: { type: 'scroll', top: 0 },
    xAxis:
      axis === 'category'
        ? { type: 'category', data: [...categories], boundaryGap: type === 'bar', axisLabel: { hideOverlap: true } }
        : axis === 'time'
          ? { type: 'time', axisLabel: { hideOverlap: true, formatter: formatTick } }
          : { type: 'value', scale: true, axisLabel: { hideOverlap: true, formatter: formatNumber } },
    yAxis: { type: 'value', scale: type === 'scatter', axisLabel: { formatter: formatNumber } },
    dataZoom: [
      { type: 'inside', xAxisIndex: 0 },
      { type: 'slider', xAxisIndex: 0, bottom: 8, height: 24 },
    ],
    series,
  };
}

function seriesOption(type: ChartType, name: string, data: Point[]): SeriesOption {
  // The id lets an update match each series to the one drawn before, so it
  // transitions instead of being rebuilt.
  const common = { id: name, name, data, emphasis: { focus: 'series' as const } };
  switch (type) {
    case 'bar':
      return { ...common, type: 'bar' };
    case 'scatter':
      return { ...common, type: 'scatter' };
    case 'area':
      return { ...common, type: 'line', sampling: 'lttb', areaStyle: { opacity: 0.25 } };
    default:
      return { ...common, type: 'line', sampling: 'lttb' };
  }
}

function sortByX(points: Point[]): Point[] {
  const at = (p: Point): number => (typeof p[0] === 'number' ? p[0] : Date.parse(p[0]));
  return points
    .map((p) => ({ p, k: at(p) }))
    .sort((a, b) => a.k - b.k)
    .map(({ p }) => p);
}

function label(v: Value): string {
  return v === null ? NULL_SERIES : String(v);
}
