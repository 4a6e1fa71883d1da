// Types of the live protocol, version 1 (docs/protocol.md) and of the chart
// model it carries (package chart on the server).

export const PROTOCOL_VERSION = 1;

export type ColumnType = 'string' | 'number' | 'time' | 'bool';

/** A cell: time values are the RFC 3339 or date strings the publisher sent. */
export type Value = string | number | boolean | null;

export type Row = Value[];

export interface Column {
  name: string;
  type: ColumnType;
}

export interface Table {
  columns: Column[];
  rows: Row[];
}

export type ChartType = 'line' | 'bar' | 'pie' | 'area' | 'scatter';

export interface Encoding {
  x?: string;
  y?: string;
  series?: string;
  category?: string;
  value?: string;
}

export interface ChartConfig {
  type: ChartType;
  title: string;
  encoding: Encoding;
  colors?: string[];
  key?: string[];
  retention?: number;
  /** The byte budget of the rows as JSON; chart.DefaultMaxBytes when left out. */
  max_bytes?: number;
}

export interface ChartState {
  config: ChartConfig;
  data: Table;
}

// The server encodes empty lists of Go as null or leaves them out, so tables
// and ops on the wire may lack them; state.ts fills them in.

export interface WireTable {
  columns?: Column[] | null;
  rows?: Row[] | null;
}

export interface WireState {
  config: ChartConfig;
  data?: WireTable | null;
}

export type Op =
  | { op: 'replace'; data: WireTable }
  | { op: 'append'; rows?: Row[] | null }
  | { op: 'upsert'; rows?: Row[] | null }
  | { op: 'remove'; keys?: Row[] | null }
  | { op: 'config'; config: ChartConfig };

export interface ErrorBody {
  code: string;
  message: string;
  field?: string;
}

export interface HelloFrame {
  type: 'hello';
  v: number;
  conn: string;
}

export interface ReplyFrame {
  type: 'reply';
  ref: string;
  ok: boolean;
  stream?: string;
  offset?: number;
  error?: ErrorBody;
}

export interface SnapshotFrame {
  type: 'snapshot';
  stream: string;
  chart: string;
  epoch: string;
  offset: number;
  state: WireState;
}

export interface OpFrame {
  type: 'op';
  stream: string;
  chart: string;
  epoch: string;
  offset: number;
  /** Server time (Unix milliseconds) at which the op was applied. */
  ts?: number;
  op: Op;
}

export type StreamFrame = SnapshotFrame | OpFrame;

/** One user on a dashboard, all their tabs together. */
export interface PresenceUser {
  user: string;
  name: string;
  role: string;
  color: string;
  tabs: number;
  focus?: string;
  editing?: string;
}

export interface PresenceFrame {
  type: 'presence';
  dashboard: string;
  users: PresenceUser[] | null;
}

/** A dashboard's charts in grid order and its layout version, which every
 * addition, removal, move and resize moves on (package dashboard's Layout):
 * what the layout API returns and what a layout change announces. */
export interface Layout {
  version: number;
  charts: Slot[];
}

/** One chart's place in a layout; a request that changes a layout needs only
 * the id and the width. */
export interface Slot {
  id: string;
  width: number;
  title: string;
}

/** An entry of a dashboard's activity feed. */
export interface RoomEvent {
  kind: 'chart_edited' | 'filter_applied' | 'defaults_saved' | 'chart_added' | 'chart_removed' | 'layout_changed';
  user: string;
  name: string;
  color: string;
  chart?: string;
  title?: string;
  changes?: string;
  width?: number;
  filters?: Record<string, string>;
  /** The dashboard's charts after a layout change. */
  layout?: Layout;
  /** Unix milliseconds. */
  at: number;
}

export interface ActivityFrame {
  type: 'activity';
  dashboard: string;
  event: RoomEvent;
}

export type RoomFrame = PresenceFrame | ActivityFrame;

export type ServerFrame = HelloFrame | ReplyFrame | StreamFrame | RoomFrame;

/** A client message without its ref, which the connection adds. */
export type ClientRequest =
  | { type: 'subscribe'; chart: string; filters?: Record<string, string>; offset?: number; epoch?: string }
  | { type: 'unsubscribe'; stream: string }
  | { type: 'ping' }
  | { type: 'join'; dashboard: string }
  | { type: 'focus'; chart?: string; editing?: boolean }
  | { type: 'filter'; filters: Record<string, string> }
  | { type: 'leave' };
