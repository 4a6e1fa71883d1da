// The entry point, loaded on every page. On a dashboard it subscribes each
// chart card to its live stream, joins the dashboard's room, and on
// editors' pages wires the chart editor and the layout tools; elsewhere it
// does nothing.

import { startAdmin } from './admin';
import { api, messageOf, show } from './api';
import { ChartEditor } from './editor';
import type { EChartsType } from './echarts';
import { startFilters } from './filters';
import { cardTools, Grid } from './grid';
import { Live } from './live';
import { t } from './messages';
import type { ChartConfig, Layout, PresenceUser, Slot, Table } from './protocol';
import { Room } from './room';
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
  const admin = document.querySelector<HTMLElement>('main.admin');
  if (admin) startAdmin(admin);
  const page = document.querySelector<HTMLElement>('[data-dashboard-id]');
  const cards = document.querySelectorAll<HTMLElement>('[data-chart-id]');
  if (!page && cards.length === 0) return;

  const grid = new Grid(document.querySelector<HTMLElement>('.grid'));
  const csrf = page?.dataset.csrf;
  if (csrf) grid.decorate = (card) => card.querySelector('.chart-head')?.append(cardTools(card));
  for (const card of cards) grid.add(card);

  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const live = new Live(`${scheme}//${location.host}/live`, [...grid.subs.values()], showConnState);
  grid.live = live;

  const dashboard = page?.dataset.dashboardId;
  const list = document.querySelector<HTMLElement>('[data-presence]');
  let room: Room | undefined;
  if (page && list && dashboard) {
    room = new Room(live, dashboard, page.dataset.user ?? '', list, document.querySelector('[data-activity]'), (layout) =>
      applyLayout(page, grid, layout),
    );
    live.room = room;
    trackFocus(room);
  }
  const filters = document.querySelector<HTMLFormElement>('[data-filters]');
  if (filters && dashboard) startFilters(filters, live, () => [...grid.subs.values()], room, csrf, dashboard);

  window.ashreports = {
    connState: () => live.connState,
    state(chartId) {
      const cur = [...grid.subs.values()].find((s) => s.chart === chartId)?.current;
      if (!cur) return undefined;
      const { stream, epoch, offset, state } = cur;
      return structuredClone({ stream, epoch, offset, config: state.config, data: state.data });
    },
    chart: (chartId) => grid.views.find((v) => v.chartId === chartId)?.chart,
    presence: () => room?.present ?? [],
  };

  live.start();
  if (page && dashboard && csrf) startEditing(page, dashboard, csrf, grid, room);
}

/** Applies a dashboard layout: cards, their order and widths, and its version. */
function applyLayout(page: HTMLElement, grid: Grid, layout: Layout): void {
  const cur = Number(page.dataset.layoutVersion ?? 0);
  if (layout.version < cur) return; // an older change, overtaken
  page.dataset.layoutVersion = String(layout.version);
  grid.apply(layout.charts);
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

/** Wires the chart editor and the layout tools on an editor's page. */
function startEditing(page: HTMLElement, dashboard: string, csrf: string, grid: Grid, room: Room | undefined): void {
  const dialog = document.querySelector<HTMLDialogElement>('#chart-editor');
  if (!dialog) return;
  const problem = document.querySelector<HTMLElement>('[data-layout-problem]');
  const say = (msg: string) => show(problem, msg);
  dialog.addEventListener('close', () => room?.setFocus('', false));
  const editor = new ChartEditor(dialog, csrf, dashboard, (def, layout) => {
    // A new chart's layout, or an edited chart's width; its config
    // reaches every viewer, this one too, over the socket.
    if (layout) applyLayout(page, grid, layout);
    for (const card of document.querySelectorAll<HTMLElement>('[data-chart-id]')) {
      if (card.dataset.chartId === def.id) card.style.setProperty('--span', String(def.width));
    }
  });

  /** The layout as the page shows it. */
  const slots = (): Slot[] =>
    [...document.querySelectorAll<HTMLElement>('.grid [data-chart-id]')].map((card) => ({
      id: card.dataset.chartId ?? '',
      width: Number(card.style.getPropertyValue('--span')) || 6,
      title: card.querySelector('.chart-title')?.textContent ?? '',
    }));
  const putLayout = (next: Slot[]) => {
    say('');
    api('PUT', `/api/v1/dashboards/${encodeURIComponent(dashboard)}/layout`, csrf, {
      version: Number(page.dataset.layoutVersion),
      charts: next.map(({ id, width }) => ({ id, width })),
    })
      .then((l) => applyLayout(page, grid, l as Layout))
      .catch(async (err: unknown) => {
        if ((err as { status?: number }).status === 409) {
          say(t('edit.layout_conflict'));
          applyLayout(page, grid, (await api('GET', `/api/v1/dashboards/${encodeURIComponent(dashboard)}/layout`, csrf)) as Layout);
        } else {
          say(t('edit.failed', { message: messageOf(err) }));
        }
      });
  };

  document.addEventListener('click', (ev) => {
    const el = (ev.target as HTMLElement).closest<HTMLElement>(
      '[data-edit-chart], [data-move-chart], [data-remove-chart], [data-add-chart], [data-undo]',
    );
    if (!el) return;
    const { editChart, moveChart, removeChart } = el.dataset;
    if (editChart) {
      room?.setFocus(editChart, true);
      void editor.open(editChart);
    } else if (moveChart) {
      const cur = slots();
      const i = cur.findIndex((s) => s.id === moveChart);
      const j = i + Number(el.dataset.by);
      if (i < 0 || j < 0 || j >= cur.length) return;
      [cur[i], cur[j]] = [cur[j], cur[i]];
      putLayout(cur);
    } else if (removeChart) {
      const title = document.getElementById(`chart-title-${removeChart}`)?.textContent ?? removeChart;
      if (!window.confirm(t('edit.remove.confirm', { title }))) return;
      putLayout(slots().filter((s) => s.id !== removeChart));
    } else if (el.dataset.addChart !== undefined) {
      void editor.openNew(Number(page.dataset.layoutVersion));
    } else if (el.dataset.undo !== undefined) {
      // The chart changes for everyone over the socket, and the feed says so.
      say('');
      api('POST', `/api/v1/dashboards/${encodeURIComponent(dashboard)}/undo`, csrf).catch((err: unknown) =>
        say(messageOf(err)),
      );
    }
  });
}

main();
