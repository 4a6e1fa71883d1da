// The client's copy of a stream and the op semantics of the server's
// chart.State.Apply (chart/op.go), which it must reproduce exactly so that
// its rows stay equal to the server's. The server has validated every op it
// sends, so validation is not repeated here; an op that cannot be applied at
// all (no key columns) throws, and the caller resubscribes.

import type { ChartState, Op, Row, Table, Value, WireState, WireTable } from './protocol';

/** chart.MaxRows: the retention of a chart whose config sets none. */
const MAX_ROWS = 100_000;

export interface StreamState {
  stream: string;
  chart: string;
  epoch: string;
  offset: number;
  state: ChartState;
}

/** The state a snapshot carries, with its missing lists made empty. */
export function fromWire(w: WireState): ChartState {
  return { config: w.config, data: toTable(w.data) };
}

function toTable(t: WireTable | null | undefined): Table {
  return { columns: t?.columns ?? [], rows: t?.rows ?? [] };
}

/** Applies op to state in place. The state takes ownership of the op's rows. */
export function applyOp(state: ChartState, op: Op): void {
  const { data } = state;
  switch (op.op) {
    case 'replace':
      state.data = toTable(op.data);
      break;
    case 'append':
      pushAll(data.rows, op.rows ?? []);
      trimTo(data.rows, retention(state));
      break;
    case 'upsert': {
      const idx = keyIndex(state);
      const pos = new Map<string, number>();
      data.rows.forEach((r, i) => pos.set(keyOf(r, idx), i));
      for (const row of op.rows ?? []) {
        const k = keyOf(row, idx);
        const p = pos.get(k);
        if (p !== undefined) {
          data.rows[p] = row;
        } else {
          pos.set(k, data.rows.length);
          data.rows.push(row);
        }
      }
      trimTo(data.rows, retention(state));
      break;
    }
    case 'remove': {
      const idx = keyIndex(state);
      const tuple = idx.map((_, i) => i);
      const drop = new Set((op.keys ?? []).map((k) => keyOf(k, tuple)));
      data.rows = data.rows.filter((r) => !drop.has(keyOf(r, idx)));
      break;
    }
    case 'config': {
      const r = op.config.retention;
      // Unlike append, a config without retention does not trim to MAX_ROWS.
      if (r !== undefined && r > 0) trimTo(data.rows, r);
      state.config = op.config;
      break;
    }
  }
}

function retention(state: ChartState): number {
  const r = state.config.retention;
  return r !== undefined && r > 0 ? r : MAX_ROWS;
}

/** Drops the oldest rows past max. */
function trimTo(rows: Row[], max: number): void {
  if (rows.length > max) rows.splice(0, rows.length - max);
}

/** Appends without spreading, which overflows the call stack on large ops. */
function pushAll(rows: Row[], more: Row[]): void {
  for (const r of more) rows.push(r);
}

/** The positions of the config's key columns in the table. */
function keyIndex(state: ChartState): number[] {
  const key = state.config.key ?? [];
  if (key.length === 0) throw new Error('the chart has no key columns');
  const names = state.data.columns.map((c) => c.name);
  return key.map((k) => {
    const i = names.indexOf(k);
    if (i < 0) throw new Error(`key column ${k} is not in the table`);
    return i;
  });
}

/**
 * A string identifying row by the values at idx, tagged by type like the
 * server's keyOf so that "1", 1 and true differ. String(-0) is "0": the
 * server counts -0 and 0 as one key too.
 */
function keyOf(row: Row, idx: number[]): string {
  return idx.map((i) => keyPart(row[i])).join('\0');
}

function keyPart(v: Value | undefined): string {
  switch (typeof v) {
    case 'string':
      return 's' + JSON.stringify(v);
    case 'number':
      return 'f' + String(v);
    case 'boolean':
      return 'b' + String(v);
    default:
      return 'n';
  }
}
