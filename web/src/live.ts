// Subscriptions of the page's charts over the live connection: subscribes on
// every (re)connect, keeps each stream's state in step with its op frames,
// and resubscribes a stream that falls out of step.

import type { ChartView } from './chart-view';
import { Connection } from './connection';
import type { ClientRequest, ReplyFrame, RoomFrame, StreamFrame } from './protocol';
import { applyOp, fromWire, type StreamState } from './state';
import { showLastUpdate, type ConnState } from './status';

/** One chart with one set of filters, drawn by one or more cards. */
export class Subscription {
  readonly views: ChartView[] = [];
  /** The viewer's own filters; setFilters changes them. */
  filters: Record<string, string> | undefined;
  /** The stream id from the subscribe reply; its frames come here. */
  stream: string | undefined;
  /** The stream's state since its snapshot; undefined while (re)subscribing. */
  current: StreamState | undefined;
  /** A subscribe is unanswered: another waits for its reply (again). */
  pending = false;
  again = false;
  /** Removed from the page: a late reply's stream is given up. */
  removed = false;

  constructor(
    readonly chart: string,
    filters: Record<string, string> | undefined,
  ) {
    this.filters = filters;
  }
}

/** What a dashboard's room needs of the live connection. */
export interface RoomHandlers {
  /** A new socket: join the room (again). */
  ready(): void;
  frame(frame: RoomFrame): void;
}

export class Live {
  private readonly conn: Connection;
  private readonly byStream = new Map<string, Subscription>();
  /**
   * Frames of streams no subscription claims yet. A subscribe's snapshot
   * comes before its reply, which is what says which stream it belongs to,
   * so frames wait here while any subscribe is unanswered.
   */
  private readonly early = new Map<string, StreamFrame[]>();
  private unanswered = 0;

  /** The dashboard's room, when the page shows one. */
  room: RoomHandlers | undefined;

  constructor(
    url: string,
    private readonly subs: Subscription[],
    onState: (state: ConnState) => void,
  ) {
    this.conn = new Connection(url, {
      state: onState,
      ready: () => {
        this.subscribeAll();
        this.room?.ready();
      },
      frame: (frame) => this.route(frame),
      room: (frame) => this.room?.frame(frame),
    });
  }

  /** Sends a request on the current socket; undefined when there is none. */
  request(req: ClientRequest, onReply?: (reply: ReplyFrame) => void): string | undefined {
    return this.conn.request(req, onReply);
  }

  /** Adds a subscription: it subscribes now if connected, else on connecting. */
  add(sub: Subscription): void {
    this.subs.push(sub);
    this.subscribe(sub); // no socket yet: the next ready subscribes it
  }

  /** Ends a subscription. */
  remove(sub: Subscription): void {
    sub.removed = true;
    const i = this.subs.indexOf(sub);
    if (i >= 0) this.subs.splice(i, 1);
    if (sub.stream !== undefined) {
      this.byStream.delete(sub.stream);
      this.conn.request({ type: 'unsubscribe', stream: sub.stream });
      sub.stream = undefined;
    }
    sub.current = undefined;
  }

  /** Gives a subscription new filters: it takes the stream of those. */
  setFilters(sub: Subscription, filters: Record<string, string> | undefined): void {
    sub.filters = filters;
    sub.current = undefined;
    this.resubscribe(sub);
  }

  start(): void {
    this.conn.start();
  }

  get connState(): ConnState {
    return this.conn.state;
  }

  private subscribeAll(): void {
    // A new socket has no subscriptions: subscribe every one again. Those
    // that hold a state resume from it and get only the ops they missed
    // (or a snapshot when the server no longer has them).
    this.byStream.clear();
    this.early.clear();
    this.unanswered = 0;
    for (const sub of this.subs) {
      sub.stream = undefined;
      sub.pending = sub.again = false; // replies on the lost socket never come
      this.subscribe(sub);
    }
  }

  private subscribe(sub: Subscription): void {
    if (sub.pending) {
      // One subscribe at a time per subscription: the reply to the one
      // under way is given up, and this one sent then.
      sub.again = true;
      return;
    }
    const cur = sub.current;
    const resume = cur ? { offset: cur.offset, epoch: cur.epoch } : {};
    const ref = this.conn.request({ type: 'subscribe', chart: sub.chart, filters: sub.filters, ...resume }, (reply) =>
      this.subscribed(sub, reply),
    );
    if (ref !== undefined) {
      this.unanswered++;
      sub.pending = true;
    }
  }

  private subscribed(sub: Subscription, reply: ReplyFrame): void {
    this.unanswered--;
    sub.pending = false;
    if (sub.removed || sub.again) {
      // A reply overtaken by new filters or by the card's removal.
      const stream = reply.ok ? reply.stream : undefined;
      if (stream !== undefined && !this.subs.some((s) => s !== sub && s.stream === stream)) {
        this.early.delete(stream);
        this.conn.request({ type: 'unsubscribe', stream });
      }
      if (sub.again && !sub.removed) {
        sub.again = false;
        this.subscribe(sub);
      }
      return;
    }
    if (reply.ok && reply.stream) {
      sub.stream = reply.stream;
      this.byStream.set(reply.stream, sub);
      const frames = this.early.get(reply.stream) ?? [];
      this.early.delete(reply.stream);
      for (const frame of frames) this.deliver(sub, frame);
    } else {
      for (const view of sub.views) view.showError(reply.error?.message ?? reply.error?.code ?? '');
    }
    // Frames still unclaimed belong to streams given up on.
    if (this.unanswered === 0) this.early.clear();
  }

  private route(frame: StreamFrame): void {
    const sub = this.byStream.get(frame.stream);
    if (sub) {
      this.deliver(sub, frame);
    } else if (this.unanswered > 0) {
      const frames = this.early.get(frame.stream);
      if (frames) frames.push(frame);
      else this.early.set(frame.stream, [frame]);
    }
  }

  private deliver(sub: Subscription, frame: StreamFrame): void {
    if (frame.type === 'snapshot') {
      const { stream, chart, epoch, offset } = frame;
      sub.current = { stream, chart, epoch, offset, state: fromWire(frame.state) };
      for (const view of sub.views) view.clearError();
      this.changed(sub, sub.current, Date.now());
      return;
    }
    const cur = sub.current;
    // An op of the stream this subscription is replacing: the new snapshot
    // will include it.
    if (!cur) return;
    if (frame.epoch !== cur.epoch || frame.offset !== cur.offset + 1) {
      this.resubscribe(sub);
      return;
    }
    try {
      applyOp(cur.state, frame.op);
    } catch (err) {
      console.error(`ashreports: cannot apply op ${frame.offset} of ${frame.stream}`, err);
      this.resubscribe(sub);
      return;
    }
    cur.offset = frame.offset;
    this.changed(sub, cur, frame.ts ?? Date.now());
  }

  private changed(sub: Subscription, cur: StreamState, ms: number): void {
    for (const view of sub.views) view.show(cur.state);
    showLastUpdate(ms);
  }

  /** Drops a stream that fell out of step and subscribes again for a snapshot. */
  private resubscribe(sub: Subscription): void {
    if (sub.stream !== undefined) {
      this.byStream.delete(sub.stream);
      this.conn.request({ type: 'unsubscribe', stream: sub.stream });
      sub.stream = undefined;
    }
    sub.current = undefined;
    this.subscribe(sub);
  }
}
