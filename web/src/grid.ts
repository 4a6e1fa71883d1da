// The page's chart cards and their subscriptions: cards showing the same
// chart with the same filters share one. Cards come and go when an editor
// adds, removes or moves charts.

import { messageOf } from './api';
import { ChartView } from './chart-view';
import type { Live } from './live';
import { Subscription } from './live';
import { t } from './messages';
import type { Slot } from './protocol';

export class Grid {
  readonly views: ChartView[] = [];
  /** Subscriptions by chart and filters. */
  readonly subs = new Map<string, Subscription>();
  private readonly resizes: ResizeObserver;
  /** The live connection, once it exists: subscriptions made before go with it. */
  live: Live | undefined;
  /** Adds an editor's tools to a card; set on editors' pages. */
  decorate: ((card: HTMLElement) => void) | undefined;

  constructor(private readonly root: HTMLElement | null) {
    // One observer covers window resizes and any other change of a card's size.
    this.resizes = new ResizeObserver((entries) => {
      for (const entry of entries) this.views.find((v) => v.canvas === entry.target)?.resize();
    });
  }

  /** Sets up a card of the page: its view and subscription. */
  add(card: HTMLElement): void {
    const view = new ChartView(card);
    this.views.push(view);
    this.decorate?.(card);
    let filters: Record<string, string> | undefined;
    try {
      filters = readFilters(card);
    } catch (err) {
      view.showError(`data-filters: ${messageOf(err)}`);
      return;
    }
    const key = JSON.stringify([view.chartId, Object.entries(filters ?? {}).sort(byName)]);
    let sub = this.subs.get(key);
    if (!sub) {
      sub = new Subscription(view.chartId, filters);
      this.subs.set(key, sub);
      this.live?.add(sub);
    }
    sub.views.push(view);
    this.resizes.observe(view.canvas);
  }

  /** Makes the grid the charts of slots, in order: moves, resizes, adds and removes cards. */
  apply(slots: Slot[]): void {
    if (!this.root) return;
    const cards = new Map(
      [...this.root.querySelectorAll<HTMLElement>('[data-chart-id]')].map((c) => [c.dataset.chartId ?? '', c]),
    );
    for (const [id, card] of cards) {
      if (!slots.some((s) => s.id === id)) this.remove(card);
    }
    for (const slot of slots) {
      let card = cards.get(slot.id);
      if (!card) {
        card = newCard(slot);
        this.root.append(card);
        this.add(card);
      }
      card.style.setProperty('--span', String(slot.width));
      this.root.append(card); // in slot order
    }
  }

  private remove(card: HTMLElement): void {
    const i = this.views.findIndex((v) => v.card === card);
    if (i >= 0) {
      const [view] = this.views.splice(i, 1);
      this.resizes.unobserve(view.canvas);
      view.dispose();
      for (const [key, sub] of this.subs) {
        const j = sub.views.indexOf(view);
        if (j < 0) continue;
        sub.views.splice(j, 1);
        if (sub.views.length === 0) {
          this.subs.delete(key);
          this.live?.remove(sub);
        }
      }
    }
    card.remove();
  }
}

/** A card for a chart that came after the page was rendered. */
function newCard(slot: Slot): HTMLElement {
  const card = document.createElement('section');
  card.className = 'chart-card';
  card.dataset.chartId = slot.id;
  card.setAttribute('aria-labelledby', `chart-title-${slot.id}`);
  const head = document.createElement('div');
  head.className = 'chart-head';
  const h2 = document.createElement('h2');
  h2.className = 'chart-title';
  h2.id = `chart-title-${slot.id}`;
  h2.textContent = slot.title;
  head.append(h2);
  const canvas = document.createElement('div');
  canvas.className = 'chart-canvas';
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', slot.title);
  const error = document.createElement('p');
  error.className = 'chart-error';
  error.setAttribute('role', 'alert');
  error.hidden = true;
  card.append(head, canvas, error);
  return card;
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

/** An editor's tools on a card: edit, move earlier or later, remove. */
export function cardTools(card: HTMLElement): HTMLElement {
  const id = card.dataset.chartId ?? '';
  const tools = document.createElement('div');
  tools.className = 'card-tools';
  const button = (cls: string, text: string, data: Record<string, string>, label?: string) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = cls;
    b.textContent = text;
    if (label) b.setAttribute('aria-label', label);
    b.setAttribute('aria-describedby', `chart-title-${id}`);
    Object.assign(b.dataset, data);
    return b;
  };
  tools.append(
    button('card-tool', '←', { moveChart: id, by: '-1' }, t('edit.earlier')),
    button('card-tool', '→', { moveChart: id, by: '1' }, t('edit.later')),
    button('edit-chart', t('edit.open'), { editChart: id }),
    button('card-tool remove-chart', t('edit.remove'), { removeChart: id }),
  );
  return tools;
}
