// The dashboard's filter bar: a viewer's filters change only their own
// view (each chart that declares a filter takes the stream of those
// values); an editor may save them as the dashboard's defaults.

import { api, messageOf } from './api';
import type { Live, Subscription } from './live';
import { t } from './messages';
import type { Room } from './room';

export function startFilters(
  form: HTMLFormElement,
  live: Live,
  subs: () => Subscription[],
  room: Room | undefined,
  csrf: string | undefined,
  dashboard: string,
): void {
  const inputs = [...form.querySelectorAll<HTMLInputElement>('input[name]')];
  const note = form.querySelector<HTMLElement>('[data-filters-note]');
  const say = (msg: string) => {
    if (note) note.textContent = msg;
  };

  /** The filters that differ from the defaults. */
  const own = (): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const el of inputs) if (el.value !== (el.dataset.default ?? '')) out[el.name] = el.value;
    return out;
  };

  const apply = (filters: Record<string, string>) => {
    for (const sub of subs()) {
      const mine: Record<string, string> = {};
      for (const el of inputs) {
        const charts = (el.dataset.charts ?? '').split(' ');
        if (charts.includes(sub.chart) && el.name in filters) mine[el.name] = filters[el.name];
      }
      const next = Object.keys(mine).length ? mine : undefined;
      if (JSON.stringify(next) !== JSON.stringify(sub.filters)) live.setFilters(sub, next);
    }
    say(Object.keys(filters).length ? t('room.filters.own') : t('room.filters.defaults'));
    room?.filtered(filters);
  };

  // New defaults saved by an editor, here or elsewhere: the bar shows
  // them, and keeps this viewer's own values.
  document.addEventListener('ashreports:defaults', (ev) => {
    const defaults = (ev as CustomEvent<Record<string, string>>).detail;
    const mine = own();
    for (const el of inputs) {
      if (!(el.name in defaults)) continue;
      el.dataset.default = defaults[el.name];
      if (!(el.name in mine)) el.value = defaults[el.name];
    }
  });

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    apply(own());
  });
  form.querySelector('[data-filters-reset]')?.addEventListener('click', () => {
    for (const el of inputs) el.value = el.dataset.default ?? '';
    apply({});
  });
  form.querySelector('[data-filters-save]')?.addEventListener('click', () => {
    if (!csrf) return;
    const values: Record<string, string> = {};
    for (const el of inputs) values[el.name] = el.value;
    api('PUT', `/api/v1/dashboards/${encodeURIComponent(dashboard)}/filters`, csrf, { filters: values })
      .then(() => {
        // The new defaults are everyone's now, this viewer's too.
        for (const el of inputs) el.dataset.default = el.value;
        for (const sub of subs()) if (sub.filters) live.setFilters(sub, undefined);
        say(t('room.filters.saved'));
      })
      .catch((err: unknown) => say(t('room.filters.failed', { message: messageOf(err) })));
  });
}
