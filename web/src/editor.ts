// The chart editor: a dialog, rendered by the server for editors only, in
// which an editor changes a chart's definition, tries it (the server runs
// the query and renders nothing saved) and saves it. A save names the
// version it started from; the server refuses it if someone saved since,
// and the form keeps the editor's values.

import { api, messageOf, RequestError, show } from './api';
import { init, type EChartsType } from './echarts';
import { t } from './messages';
import { buildOption } from './options';
import type { ChartConfig, ChartType, Layout, WireState } from './protocol';
import { fromWire } from './state';

export interface QueryDef {
  source: string;
  sql: string;
  interval: string;
  params?: Record<string, { default: string; label?: string }> | null;
  types?: Record<string, string> | null;
}

/** A chart's definition, as GET /api/v1/charts/{id}/definition gives it. */
export interface ChartDef {
  id: string;
  width: number;
  config: ChartConfig;
  query?: QueryDef | null;
}

interface Definition {
  chart: ChartDef;
  version: number;
  sources?: string[];
}

/** A field the form itself finds wrong, before asking the server. */
class FieldProblem extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

const DURATION = /^\d+(\.\d+)?(ns|us|µs|ms|s|m|h)$/;

/** A layout as GET …/layout gives it: with the sources its editors may use. */
type LayoutJSON = Layout & { sources?: string[] };

export class ChartEditor {
  private def: ChartDef | undefined;
  private version = 0;
  /** A new chart, saved by adding it to the dashboard at this layout version. */
  private adding = false;
  private preview: EChartsType | undefined;
  private busy = false;

  constructor(
    private readonly dialog: HTMLDialogElement,
    private readonly csrf: string,
    private readonly dashboard: string,
    private readonly onSaved: (def: ChartDef, layout?: Layout) => void,
  ) {
    dialog.addEventListener('click', (ev) => {
      const action = (ev.target as HTMLElement).closest<HTMLElement>('[data-editor-action]')?.dataset
        .editorAction;
      if (action === 'preview') void this.run(() => this.tryIt());
      else if (action === 'save') void this.run(() => this.save());
      else if (action === 'reload') void this.run(() => this.load(this.def?.id ?? ''));
      else if (action === 'cancel') this.dialog.close();
    });
    dialog.addEventListener('close', () => {
      this.preview?.dispose();
      this.preview = undefined;
    });
  }

  /** Opens the editor on a chart, with its current definition. */
  async open(chartId: string): Promise<void> {
    this.reset();
    try {
      await this.load(chartId);
    } catch (err) {
      this.problem(t('edit.failed', { message: messageOf(err) }));
    }
    if (!this.dialog.open) this.dialog.showModal();
    this.input('config.title')?.focus();
  }

  /** Opens the editor on a new chart of the dashboard, from a starting query. */
  async openNew(layoutVersion: number): Promise<void> {
    this.reset();
    this.adding = true;
    let sources: string[] = [];
    try {
      sources = ((await this.request('GET', this.layoutURL())) as LayoutJSON).sources ?? [];
    } catch (err) {
      this.problem(t('edit.failed', { message: messageOf(err) }));
    }
    this.def = {
      id: `chart-${Math.random().toString(36).slice(2, 8)}`,
      width: 6,
      config: { type: 'bar', title: t('edit.new_title'), encoding: { x: 'label', y: 'value' } },
      query: { source: sources[0] ?? '', sql: "SELECT 'a' AS label, 1 AS value", interval: '5s', params: {} },
    };
    this.version = layoutVersion;
    this.fill({ chart: this.def, version: layoutVersion, sources });
    this.setNew(true);
    if (!this.dialog.open) this.dialog.showModal();
    this.input('chart.id')?.focus();
  }

  private layoutURL(): string {
    return `/api/v1/dashboards/${encodeURIComponent(this.dashboard)}/layout`;
  }

  private setNew(adding: boolean): void {
    const id = this.dialog.querySelector<HTMLElement>('[data-editor-id]');
    if (id) id.hidden = !adding;
    const title = this.dialog.querySelector('#chart-editor-title');
    if (title) title.textContent = adding ? t('edit.add') : t('edit.title');
  }

  /** The chart being edited, for presence: undefined when closed. */
  get editing(): string | undefined {
    return this.dialog.open ? this.def?.id : undefined;
  }

  private async load(chartId: string): Promise<void> {
    const d = (await this.request('GET', `/api/v1/charts/${encodeURIComponent(chartId)}/definition`)) as Definition;
    this.adding = false;
    this.setNew(false);
    this.def = d.chart;
    this.version = d.version;
    this.fill(d);
    this.clearErrors();
    this.problem('');
    this.button('reload').hidden = true;
  }

  private fill({ chart, sources, version }: Definition): void {
    const c = chart.config;
    const values: Record<string, string> = {
      'chart.id': chart.id,
      'config.title': c.title,
      'config.type': c.type,
      width: String(chart.width),
      'config.encoding.x': c.encoding.x ?? '',
      'config.encoding.y': c.encoding.y ?? '',
      'config.encoding.series': c.encoding.series ?? '',
      'config.encoding.category': c.encoding.category ?? '',
      'config.encoding.value': c.encoding.value ?? '',
      'config.colors': (c.colors ?? []).join(', '),
      'query.sql': chart.query?.sql ?? '',
      'query.interval': chart.query?.interval ?? '',
      'query.params': Object.entries(chart.query?.params ?? {})
        .map(([name, p]) => `${name} = ${p.default}`)
        .join('\n'),
    };
    const source = this.input('query.source') as HTMLSelectElement | null;
    if (source) {
      source.replaceChildren(
        ...(sources ?? []).map((s) => Object.assign(document.createElement('option'), { value: s, textContent: s })),
      );
      values['query.source'] = chart.query?.source ?? '';
    }
    for (const [name, value] of Object.entries(values)) {
      const el = this.input(name);
      if (el) el.value = value;
    }
    const query = this.dialog.querySelector<HTMLElement>('[data-editor-query]');
    if (query) query.hidden = !chart.query;
    const note = this.dialog.querySelector<HTMLElement>('[data-editor-note]');
    if (note) note.textContent = chart.query ? t('edit.preview.none') : t('edit.pushed');
    const v = this.dialog.querySelector<HTMLElement>('[data-editor-version]');
    if (v) v.textContent = t('edit.version', { version: String(version) });
  }

  /** The definition the form holds. */
  private read(): ChartDef {
    if (!this.def) throw new Error('no chart loaded');
    const val = (name: string) => (this.input(name)?.value ?? '').trim();
    const width = Number(val('width'));
    if (!Number.isInteger(width)) throw new FieldProblem('width', t('edit.field.width'));
    const encoding: ChartConfig['encoding'] = {};
    for (const ch of ['x', 'y', 'series', 'category', 'value'] as const) {
      const v = val(`config.encoding.${ch}`);
      if (v) encoding[ch] = v;
    }
    const colors = val('config.colors')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const config: ChartConfig = {
      ...this.def.config,
      type: val('config.type') as ChartType,
      title: this.input('config.title')?.value ?? '',
      encoding,
      colors,
    };
    const def: ChartDef = { id: this.adding ? val('chart.id') : this.def.id, width, config };
    const q = this.def.query;
    if (q) {
      const interval = val('query.interval');
      if (!DURATION.test(interval)) throw new FieldProblem('query.interval', t('edit.bad_interval'));
      def.query = {
        ...q,
        source: val('query.source'),
        sql: this.input('query.sql')?.value ?? '',
        interval,
        params: this.readParams(q.params ?? {}),
      };
    }
    return def;
  }

  /** The filter lines "name = default", keeping the labels of those kept. */
  private readParams(old: NonNullable<QueryDef['params']>): NonNullable<QueryDef['params']> {
    const out: NonNullable<QueryDef['params']> = {};
    const lines = (this.input('query.params')?.value ?? '').split('\n');
    lines.forEach((line, i) => {
      if (!line.trim()) return;
      const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s?(.*)$/.exec(line);
      if (!m) throw new FieldProblem('query.params', t('edit.bad_param', { line: String(i + 1) }));
      const [, name, value] = m;
      out[name] = old[name]?.label ? { default: value.trim(), label: old[name].label } : { default: value.trim() };
    });
    return out;
  }

  private async tryIt(): Promise<void> {
    const def = this.read();
    const url = this.adding
      ? `/api/v1/dashboards/${encodeURIComponent(this.dashboard)}/charts/preview`
      : `/api/v1/charts/${encodeURIComponent(def.id)}/preview`;
    const res = (await this.request('POST', url, { chart: def })) as { state: WireState };
    const state = fromWire(res.state);
    const canvas = this.dialog.querySelector<HTMLElement>('[data-editor-canvas]');
    if (canvas) {
      this.preview ??= init(canvas, undefined, { renderer: 'svg' });
      this.preview.setOption(buildOption(state, false), { notMerge: true });
      this.preview.resize();
    }
    const note = this.dialog.querySelector<HTMLElement>('[data-editor-note]');
    if (note) {
      note.textContent = t('edit.preview.rows', {
        rows: String(state.data.rows.length),
        columns: state.data.columns.map((c) => c.name).join(', '),
      });
    }
  }

  private async save(): Promise<void> {
    const def = this.read();
    if (this.adding) {
      const l = (await this.request('POST', `/api/v1/dashboards/${encodeURIComponent(this.dashboard)}/charts`, {
        chart: def,
        version: this.version,
      })) as Layout;
      this.adding = false;
      this.dialog.close();
      this.onSaved(def, l);
      return;
    }
    const d = (await this.request('PUT', `/api/v1/charts/${encodeURIComponent(def.id)}/definition`, {
      chart: def,
      version: this.version,
    })) as Definition;
    this.def = d.chart;
    this.version = d.version;
    this.dialog.close();
    this.onSaved(d.chart);
  }

  /** Runs one action at a time, showing its errors in the form. */
  private async run(action: () => Promise<void>): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    this.dialog.setAttribute('aria-busy', 'true');
    this.clearErrors();
    this.problem('');
    try {
      await action();
    } catch (err) {
      this.show(err);
    } finally {
      this.busy = false;
      this.dialog.removeAttribute('aria-busy');
    }
  }

  private show(err: unknown): void {
    if (err instanceof FieldProblem) {
      this.fieldError(err.field, err.message);
      this.problem(t('edit.invalid'));
      return;
    }
    if (err instanceof RequestError) {
      if (err.status === 409 && this.adding && err.body.field === 'version') {
        // The dashboard's charts changed meanwhile: the chart is added to
        // their new layout at the next save.
        void this.request('GET', this.layoutURL()).then((l) => (this.version = (l as LayoutJSON).version));
        this.problem(t('edit.layout_conflict'));
        return;
      }
      if (err.status === 409 && !this.adding) {
        this.problem(t('edit.conflict'));
        this.button('reload').hidden = false;
        return;
      }
      if (err.body.field && this.fieldError(err.body.field, err.body.message)) {
        this.problem(t('edit.invalid'));
        return;
      }
    }
    this.problem(t('edit.failed', { message: messageOf(err) }));
  }

  /** Shows message beside the input of field; false if the form has none. */
  private fieldError(field: string, message: string): boolean {
    // The input whose name is the longest prefix of the field:
    // config.colors[1] is the colours input's, query.params.x its.
    let best: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement | undefined;
    for (const el of this.dialog.querySelectorAll<HTMLInputElement>('[name]')) {
      const n = el.name;
      if ((field === n || field.startsWith(`${n}.`) || field.startsWith(`${n}[`)) && n.length > (best?.name.length ?? 0)) {
        best = el;
      }
    }
    if (!best || best.closest<HTMLElement>('[hidden]')) return false;
    const slot = document.getElementById(`${best.id}-error`);
    if (!slot) return false;
    slot.textContent = message;
    slot.hidden = false;
    best.setAttribute('aria-invalid', 'true');
    best.focus();
    return true;
  }

  private clearErrors(): void {
    for (const el of this.dialog.querySelectorAll<HTMLElement>('.field-error')) {
      el.hidden = true;
      el.textContent = '';
    }
    for (const el of this.dialog.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  }

  private reset(): void {
    this.def = undefined;
    this.version = 0;
    this.adding = false;
    this.clearErrors();
    this.problem('');
    this.button('reload').hidden = true;
  }

  private problem(message: string): void {
    const el = this.dialog.querySelector<HTMLElement>('[data-editor-problem]');
    show(el, message);
    if (message) el?.scrollIntoView({ block: 'nearest' });
  }

  private button(action: string): HTMLButtonElement {
    return this.dialog.querySelector<HTMLButtonElement>(`[data-editor-action="${action}"]`)!;
  }

  private input(name: string): HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement | null {
    return this.dialog.querySelector(`[name="${name}"]`);
  }

  private async request(method: string, url: string, body?: unknown): Promise<unknown> {
    return api(method, url, this.csrf, body);
  }
}
