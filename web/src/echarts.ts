// ECharts, tree-shaken to the charts and components the dashboards use. The
// SVG renderer draws crisp at any zoom and leaves paths in the DOM that
// browser tests can count.

import { use, type ComposeOption } from 'echarts/core';
import {
  BarChart,
  LineChart,
  PieChart,
  ScatterChart,
  type BarSeriesOption,
  type LineSeriesOption,
  type PieSeriesOption,
  type ScatterSeriesOption,
} from 'echarts/charts';
import {
  DataZoomComponent,
  GridComponent,
  LegendComponent,
  TooltipComponent,
  type DataZoomComponentOption,
  type GridComponentOption,
  type LegendComponentOption,
  type TooltipComponentOption,
} from 'echarts/components';
import { SVGRenderer } from 'echarts/renderers';

use([
  LineChart,
  BarChart,
  PieChart,
  ScatterChart,
  GridComponent,
  TooltipComponent,
  LegendComponent,
  DataZoomComponent,
  SVGRenderer,
]);

export { init, type EChartsType } from 'echarts/core';

export type SeriesOption = LineSeriesOption | BarSeriesOption | PieSeriesOption | ScatterSeriesOption;

export type ChartOption = ComposeOption<
  | SeriesOption
  | GridComponentOption
  | TooltipComponentOption
  | LegendComponentOption
  | DataZoomComponentOption
>;
