// The WebSocket to /live: connects, checks the hello, matches replies to
// requests by ref, and reconnects with backoff. What to subscribe to is the
// business of its user, told through the handlers.

import {
  PROTOCOL_VERSION,
  type ClientRequest,
  type ReplyFrame,
  type RoomFrame,
  type ServerFrame,
  type StreamFrame,
} from './protocol';
import type { ConnState } from './status';

export interface ConnectionHandlers {
  state(state: ConnState): void;
  /** The server said hello: requests may be sent. Called on every (re)connect. */
  ready(): void;
  frame(frame: StreamFrame): void;
  /** A presence or activity frame of the dashboard's room. */
  room(frame: RoomFrame): void;
}

const BACKOFF_START_MS = 500;
const BACKOFF_CAP_MS = 10_000;
/** An application ping goes out after this long without sending anything. */
const IDLE_PING_MS = 30_000;

export class Connection {
  private ws: WebSocket | undefined;
  private current: ConnState = 'connecting';
  private ready = false;
  private attempt = 0;
  private retryTimer: number | undefined;
  private pingTimer: number | undefined;
  private nextRef = 1;
  /** Reply callbacks by ref, for requests sent on the current socket. */
  private readonly pending = new Map<string, (reply: ReplyFrame) => void>();

  constructor(
    private readonly url: string,
    private readonly on: ConnectionHandlers,
  ) {}

  get state(): ConnState {
    return this.current;
  }

  start(): void {
    window.addEventListener('offline', () => this.setState('offline'));
    window.addEventListener('online', () => {
      if (this.ready) {
        this.setState('live');
      } else {
        // Try at once rather than wait out the backoff.
        this.setState('reconnecting');
        this.attempt = 0;
        this.connect();
      }
    });
    this.current = navigator.onLine ? 'connecting' : 'offline';
    this.on.state(this.current);
    this.connect();
  }

  /**
   * Sends a request with a fresh ref, which it returns; onReply gets the
   * reply. Returns undefined if the socket is not ready: the caller sends
   * again at the next ready().
   */
  request(req: ClientRequest, onReply: (reply: ReplyFrame) => void = () => {}): string | undefined {
    if (!this.ready || !this.ws) return undefined;
    const ref = String(this.nextRef++);
    this.pending.set(ref, onReply);
    this.ws.send(JSON.stringify({ ...req, ref }));
    this.armPing();
    return ref;
  }

  private connect(): void {
    window.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.ws) return;
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      console.error('ashreports: cannot open the live socket', err);
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.addEventListener('message', (ev) => {
      if (this.ws === ws) this.receive(ev.data);
    });
    // An error is always followed by close, so close alone handles both.
    ws.addEventListener('close', () => {
      if (this.ws === ws) this.dropped();
    });
  }

  /** One WebSocket message carries one or more frames, a line each. */
  private receive(data: unknown): void {
    for (const line of String(data).split('\n')) {
      if (line !== '') this.receiveFrame(line);
    }
  }

  private receiveFrame(line: string): void {
    let frame: ServerFrame;
    try {
      frame = JSON.parse(line) as ServerFrame;
    } catch (err) {
      console.error('ashreports: a frame that is not JSON', err);
      return;
    }
    switch (frame.type) {
      case 'hello':
        if (frame.v !== PROTOCOL_VERSION) {
          console.error(`ashreports: the server speaks protocol v${frame.v}, not v${PROTOCOL_VERSION}`);
          this.ws?.close();
          return;
        }
        this.ready = true;
        this.attempt = 0;
        this.setState(navigator.onLine ? 'live' : 'offline');
        this.on.ready();
        break;
      case 'reply': {
        const onReply = this.pending.get(frame.ref);
        if (onReply) {
          this.pending.delete(frame.ref);
          onReply(frame);
        } else if (!frame.ok) {
          console.error('ashreports: the server refused a message', frame.error);
        }
        break;
      }
      case 'snapshot':
      case 'op':
        if (this.ready) this.on.frame(frame);
        break;
      case 'presence':
      case 'activity':
        if (this.ready) this.on.room(frame);
        break;
    }
  }

  private dropped(): void {
    this.ws = undefined;
    this.ready = false;
    // Replies to requests on the lost socket never come; ready() resends.
    this.pending.clear();
    window.clearTimeout(this.pingTimer);
    this.scheduleRetry();
  }

  /** Waits out an exponential backoff with jitter, unless the browser is offline. */
  private scheduleRetry(): void {
    if (!navigator.onLine) {
      // The online event reconnects.
      this.setState('offline');
      return;
    }
    this.setState('reconnecting');
    const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_START_MS * 2 ** this.attempt);
    this.attempt++;
    // Half fixed, half random, so that clients dropped together do not all
    // come back at the same instant.
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.retryTimer = window.setTimeout(() => this.connect(), delay);
  }

  private armPing(): void {
    window.clearTimeout(this.pingTimer);
    this.pingTimer = window.setTimeout(() => this.request({ type: 'ping' }), IDLE_PING_MS);
  }

  private setState(state: ConnState): void {
    if (state === this.current) return;
    this.current = state;
    this.on.state(state);
  }
}
