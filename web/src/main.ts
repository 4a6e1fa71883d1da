// The entry point, loaded on every page. On a dashboard it subscribes each
// chart card to its live stream; elsewhere it does nothing.

import { ChartView } from './chart-view';
import { ChartEditor } from './editor';
import { startFilters } from './filters';
import { Room } from './room';
import type { EChartsType } from './echarts';
import { Live, Subscription } from './live';
import type { ChartConfig, PresenceUser, Table } from './protocol';
import { showConnState, type ConnState } from './status';

/** What window.ashreports offers to tests and to the curious in a console. */
export interface AshReportsAPI {
  connState(): ConnState;
  /** A copy of the state of the first card of the chart, once its snapshot came. */
  state(chartId: string):
    | { stream: string; epoch: string; offset: number; config: ChartConfig; data: Table }
    | undefined;
  chart(chartId: string): EChartsType | undefined;
  /** The people on this dashboard, as the last presence frame said. */
  presence(): PresenceUser[];
}

declare global {
  interface Window {
    ashreports?: AshReportsAPI;
  }
}

function main(): void {
  const cards = document.querySelectorAll<HTMLElement>('[data-chart-id]');
  if (cards.length === 0) return;

  const views: ChartView[] = [];
  // Cards showing the same chart with the same filters share a subscription.
  const subs = new Map<string, Subscription>();
  for (const card of cards) {
    const view = new ChartView(card);
    views.push(view);
    let filters: Record<string, string> | undefined;
    try {
      filters = readFilters(card);
    } catch (err) {
      view.showError(`data-filters: ${err instanceof Error ? err.message : String(err)}`);
      continue;
    }
    const key = JSON.stringify([view.chartId, Object.entries(filters ?? {}).sort(byName)]);
    let sub = subs.get(key);
    if (!sub) subs.set(key, (sub = new Subscription(view.chartId, filters)));
    sub.views.push(view);
  }

  // One observer covers window resizes and any other change of a card's size.
  const byCanvas = new Map(views.map((v) => [v.canvas, v]));
  const resizes = new ResizeObserver((entries) => {
    for (const entry of entries) byCanvas.get(entry.target as HTMLElement)?.resize();
  });
  for (const view of views) resizes.observe(view.canvas);

  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const live = new Live(`${scheme}//${location.host}/live`, [...subs.values()], showConnState);

  window.ashreports = {
    connState: () => live.connState,
    state(chartId) {
      const cur = [...subs.values()].find((s) => s.chart === chartId)?.current;
      if (!cur) return undefined;
      const { stream, epoch, offset, state } = cur;
      return structuredClone({ stream, epoch, offset, config: state.config, data: state.data });
    },
    chart: (chartId) => views.find((v) => v.chartId === chartId)?.chart,
    presence: () => room?.present ?? [],
  };

  const page = document.querySelector<HTMLElement>('[data-dashboard-id]');
  const list = document.querySelector<HTMLElement>('[data-presence]');
  const dashboard = page?.dataset.dashboardId;
  let room: Room | undefined;
  if (page && list && dashboard) {
    room = new Room(live, dashboard, page.dataset.user ?? '', list, document.querySelector('[data-activity]'));
    live.room = room;
    trackFocus(room);
  }
  const filters = document.querySelector<HTMLFormElement>('[data-filters]');
  if (filters && dashboard) startFilters(filters, live, [...subs.values()], room, page?.dataset.csrf, dashboard);

  live.start();
  startEditor(room);
}

/** Tells the room which chart this tab looks at: the one pointed at or focused. */
function trackFocus(room: Room): void {
  const onCard = (ev: Event) => {
    const card = (ev.target as HTMLElement).closest<HTMLElement>('[data-chart-id]');
    if (card?.dataset.chartId && !document.querySelector<HTMLDialogElement>('#chart-editor')?.open) {
      room.setFocus(card.dataset.chartId, false);
    }
  };
  document.addEventListener('pointerover', onCard);
  document.addEventListener('focusin', onCard);
}

/** Wires the edit buttons to the chart editor, on pages that have them (editors'). */
function startEditor(room: Room | undefined): void {
  const dialog = document.querySelector<HTMLDialogElement>('#chart-editor');
  const csrf = document.querySelector<HTMLElement>('[data-csrf]')?.dataset.csrf;
  if (!dialog || !csrf) return;
  dialog.addEventListener('close', () => room?.setFocus('', false));
  const editor = new ChartEditor(dialog, csrf, (def) => {
    // The config reaches every viewer, this one too, over the socket;
    // the width is the page's.
    for (const card of document.querySelectorAll<HTMLElement>('[data-chart-id]')) {
      if (card.dataset.chartId === def.id) card.style.setProperty('--span', String(def.width));
    }
  });
  document.addEventListener('click', (ev) => {
    const id = (ev.target as HTMLElement).closest<HTMLElement>('[data-edit-chart]')?.dataset.editChart;
    if (!id) return;
    room?.setFocus(id, true);
    void editor.open(id);
  });
}

/** The card's data-filters: a JSON object of filter names to values. */
function readFilters(card: HTMLElement): Record<string, string> | undefined {
  const raw = card.dataset.filters;
  if (!raw) return undefined;
  const parsed: unknown = JSON.parse(raw);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new TypeError(raw);
  }
  return parsed as Record<string, string>;
}

function byName([a]: [string, string], [b]: [string, string]): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

main();
