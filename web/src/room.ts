// The dashboard as a room: who else is here (one entry per person, with
// their tabs, and what they look at or edit) and the activity feed, both
// pushed by the server over the live socket.

import type { Live, RoomHandlers } from './live';
import { locale, t } from './messages';
import type { Layout, PresenceUser, ReplyFrame, RoomEvent, RoomFrame } from './protocol';

/** Most entries the activity feed keeps. */
const FEED_SIZE = 50;
/** How long focus must rest on a chart before the room hears of it. */
const FOCUS_DELAY_MS = 300;
/** The server takes a focus message per 100 ms and a filter message per second. */
const FOCUS_GAP_MS = 150;
const FILTER_GAP_MS = 1100;

export class Room implements RoomHandlers {
  private focus = '';
  private editing = false;
  private focusTimer: number | undefined;
  private focusSent = 0;
  /** The last focus sent was refused for coming too soon: say it again. */
  private focusRefused = false;
  private filterTimer: number | undefined;
  private filterSent = 0;
  private filters: Record<string, string> | undefined;
  private users: PresenceUser[] = [];

  constructor(
    private readonly live: Live,
    private readonly dashboard: string,
    private readonly me: string,
    private readonly list: HTMLElement,
    private readonly feed: HTMLElement | null,
    private readonly onLayout: (layout: Layout) => void,
  ) {}

  ready(): void {
    this.live.request({ type: 'join', dashboard: this.dashboard }, (reply) => {
      if (!reply.ok) console.error('ashreports: could not join the dashboard room', reply.error);
      else if (this.focus) this.live.request({ type: 'focus', chart: this.focus, editing: this.editing });
    });
  }

  frame(frame: RoomFrame): void {
    if (frame.dashboard !== this.dashboard) return;
    if (frame.type === 'presence') {
      this.users = frame.users ?? [];
      this.render();
    } else {
      this.activity(frame.event);
    }
  }

  /** Says what this tab looks at ('' for nothing) and whether it edits it. */
  setFocus(chart: string, editing: boolean): void {
    window.clearTimeout(this.focusTimer);
    const send = () => {
      if (!this.focusRefused && chart === this.focus && editing === this.editing) return;
      this.focus = chart;
      this.editing = editing;
      this.focusRefused = false;
      this.focusSent = Date.now();
      this.live.request({ type: 'focus', chart, editing }, (reply) => {
        // The server paces by arrival: two messages the network bunched
        // up are refused although sent far enough apart. The latest
        // focus is said again.
        if (!refusedForPace(reply) || chart !== this.focus || editing !== this.editing) return;
        this.focusRefused = true;
        this.setFocus(chart, editing);
      });
    };
    // Editing is said as soon as the server takes it: it is what others
    // must not miss.
    const gap = Math.max(0, this.focusSent + FOCUS_GAP_MS - Date.now());
    this.focusTimer = window.setTimeout(send, editing || this.editing ? gap : Math.max(gap, FOCUS_DELAY_MS));
  }

  /** Tells the room this viewer set their own filters; the last of a quick series goes. */
  filtered(filters: Record<string, string>): void {
    window.clearTimeout(this.filterTimer);
    this.filters = filters;
    const send = () => {
      this.filterSent = Date.now();
      this.live.request({ type: 'filter', filters }, (reply) => {
        if (refusedForPace(reply) && filters === this.filters) this.filtered(filters);
      });
    };
    this.filterTimer = window.setTimeout(send, Math.max(0, this.filterSent + FILTER_GAP_MS - Date.now()));
  }

  /** The users in the room, for tests and the console. */
  get present(): PresenceUser[] {
    return structuredClone(this.users);
  }

  private render(): void {
    const items = this.users.map((u) => {
      const li = document.createElement('li');
      li.className = 'person';
      li.dataset.user = u.user;
      if (u.editing) li.dataset.editing = u.editing;
      const avatar = document.createElement('span');
      avatar.className = 'avatar';
      avatar.setAttribute('aria-hidden', 'true');
      avatar.style.backgroundColor = u.color;
      avatar.textContent = initials(u.name);
      const text = document.createElement('span');
      text.className = 'person-text';
      const name = document.createElement('span');
      name.className = 'person-name';
      name.textContent = u.user === this.me ? `${u.name} ${t('room.you')}` : u.name;
      const detail = document.createElement('span');
      detail.className = 'person-detail';
      const parts = [u.role];
      if (u.tabs > 1) parts.push(t('room.tabs', { count: String(u.tabs) }));
      if (u.editing) parts.push(t('room.editing', { title: chartTitle(u.editing) }));
      else if (u.focus) parts.push(t('room.viewing', { title: chartTitle(u.focus) }));
      detail.textContent = parts.join(' · ');
      text.append(name, detail);
      li.append(avatar, text);
      return li;
    });
    this.list.replaceChildren(...items);
    // Cards being edited by someone else show who, on the card's top edge:
    // the badge takes no room in the card, so it moves nothing under a
    // pointer.
    for (const card of document.querySelectorAll<HTMLElement>('[data-chart-id]')) {
      const editor = this.users.find((u) => u.editing === card.dataset.chartId && u.user !== this.me);
      const badge = card.querySelector<HTMLElement>('.editing-badge');
      if (editor) {
        const b = badge ?? card.appendChild(document.createElement('span'));
        b.className = 'editing-badge';
        b.style.borderColor = editor.color;
        b.textContent = t('room.editing', { title: '' }).trim() + ': ' + editor.name;
      } else {
        badge?.remove();
      }
    }
  }

  private activity(ev: RoomEvent): void {
    if (ev.kind === 'defaults_saved') {
      document.dispatchEvent(new CustomEvent('ashreports:defaults', { detail: ev.filters ?? {} }));
    }
    if (ev.layout) this.onLayout(ev.layout);
    if (ev.kind === 'chart_edited' && ev.chart && ev.width) {
      for (const card of document.querySelectorAll<HTMLElement>('[data-chart-id]')) {
        if (card.dataset.chartId === ev.chart) card.style.setProperty('--span', String(ev.width));
      }
    }
    if (!this.feed) return;
    let text: string;
    if (ev.kind === 'chart_edited') {
      text = t('room.edited', { name: ev.name, title: ev.title ?? ev.chart ?? '', changes: ev.changes ?? '' });
    } else if (ev.kind === 'chart_added') {
      text = t('room.added', { name: ev.name, title: ev.title ?? '' });
    } else if (ev.kind === 'chart_removed') {
      text = t('room.removed', { name: ev.name, title: ev.title ?? '' });
    } else if (ev.kind === 'layout_changed') {
      text = t('room.layout', { name: ev.name });
    } else {
      const filters = Object.entries(ev.filters ?? {})
        .map(([k, v]) => `${k} = ${v}`)
        .join(', ');
      if (ev.kind === 'defaults_saved') text = t('room.defaults', { name: ev.name, filters });
      else text = filters ? t('room.filtered', { name: ev.name, filters }) : t('room.filtered.none', { name: ev.name });
    }
    const li = document.createElement('li');
    const time = document.createElement('time');
    time.dateTime = new Date(ev.at).toISOString();
    time.textContent = new Date(ev.at).toLocaleTimeString(locale);
    const span = document.createElement('span');
    span.textContent = text;
    const dot = document.createElement('span');
    dot.className = 'feed-dot';
    dot.setAttribute('aria-hidden', 'true');
    dot.style.backgroundColor = ev.color || 'var(--muted)';
    li.append(dot, time, ' ', span);
    this.feed.prepend(li);
    while (this.feed.children.length > FEED_SIZE) this.feed.lastElementChild?.remove();
    const empty = document.querySelector<HTMLElement>('[data-activity-empty]');
    if (empty) empty.hidden = true;
  }
}

/** Whether the server refused a room message for coming too soon after the last. */
function refusedForPace(reply: ReplyFrame): boolean {
  return !reply.ok && reply.error?.code === 'rate_limited';
}

function initials(name: string): string {
  const parts = name.split(/[\s@._-]+/).filter(Boolean);
  return ((parts[0]?.[0] ?? '?') + (parts[1]?.[0] ?? '')).toUpperCase();
}

function chartTitle(id: string): string {
  return document.getElementById(`chart-title-${id}`)?.textContent ?? id;
}
