// One chart card of the page: its ECharts instance, title, label and error.

import { init, type EChartsType } from './echarts';
import { t } from './messages';
import { buildOption, layoutKey } from './options';
import type { ChartState } from './protocol';

const reducedMotion = window.matchMedia('(prefers-reduced-motion: reduce)');

export class ChartView {
  readonly chartId: string;
  readonly canvas: HTMLElement;
  private instance: EChartsType | undefined;
  /** The state to draw at the next frame, if any. */
  private next: ChartState | undefined;
  private frame = 0;
  private layout: string | undefined;

  constructor(readonly card: HTMLElement) {
    this.chartId = card.dataset.chartId ?? '';
    this.canvas =
      card.querySelector<HTMLElement>('.chart-canvas') ??
      card.appendChild(Object.assign(document.createElement('div'), { className: 'chart-canvas' }));
  }

  get chart(): EChartsType | undefined {
    return this.instance;
  }

  /**
   * Draws state at the next animation frame. Frames that come faster than
   * the screen refreshes cost one redraw, and a hidden tab none.
   */
  show(state: ChartState): void {
    this.next = state;
    this.frame ||= window.requestAnimationFrame(() => {
      this.frame = 0;
      if (this.next) this.render(this.next);
      this.next = undefined;
    });
  }

  showError(message: string): void {
    const el = this.card.querySelector<HTMLElement>('.chart-error');
    if (!el) return;
    el.textContent = t('chart.error', { message });
    el.hidden = false;
  }

  clearError(): void {
    const el = this.card.querySelector<HTMLElement>('.chart-error');
    if (el && !el.hidden) {
      el.hidden = true;
      el.textContent = '';
    }
  }

  resize(): void {
    this.instance?.resize();
  }

  /** Frees the chart, for a card that goes away. */
  dispose(): void {
    if (this.frame) window.cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.instance?.dispose();
    this.instance = undefined;
  }

  private render(state: ChartState): void {
    this.label(state);
    this.instance ??= init(this.canvas, undefined, { renderer: 'svg' });
    const option = buildOption(state, !reducedMotion.matches);
    const layout = layoutKey(state);
    if (layout !== this.layout) {
      // A new type, encoding or axis: start over, as merging the old
      // option's axes and series into the new one would leave parts behind.
      this.instance.setOption(option, { notMerge: true });
      this.layout = layout;
    } else {
      // Only data changed: merge, which keeps the user's zoom and legend
      // choices; series missing from the new option are removed.
      this.instance.setOption(option, { replaceMerge: ['series'] });
    }
  }

  /** Keeps the card's heading and the canvas's accessible name in step with the config. */
  private label({ config }: ChartState): void {
    const title = this.card.querySelector('.chart-title');
    if (title && title.textContent !== config.title) title.textContent = config.title;
    const aria = t('chart.aria', { title: config.title, type: t(`chart.type.${config.type}`) });
    if (this.canvas.getAttribute('aria-label') !== aria) this.canvas.setAttribute('aria-label', aria);
  }
}
