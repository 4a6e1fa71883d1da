// The connection indicator and the last-update time in the top bar.

import { locale, t } from './messages';

export type ConnState = 'connecting' | 'live' | 'reconnecting' | 'offline';

/** Shows state on every [data-conn-state] element, as text and attribute. */
export function showConnState(state: ConnState): void {
  for (const el of document.querySelectorAll<HTMLElement>('[data-conn-state]')) {
    el.dataset.connState = state;
    el.textContent = t(`conn.${state}`);
  }
}

const timeFormat = new Intl.DateTimeFormat(locale, { timeStyle: 'medium' });

/** Shows when data last arrived; ms is a Unix time in milliseconds. */
export function showLastUpdate(ms: number): void {
  const when = new Date(ms);
  for (const el of document.querySelectorAll<HTMLTimeElement>('time[data-last-update]')) {
    el.dateTime = when.toISOString();
    el.textContent = timeFormat.format(when);
  }
}
