// The message catalog the server renders into #ash-messages, in the page's
// language. Every text the runtime shows comes from it.

type Catalog = Record<string, string>;

/** The page's language for Intl formats, or the browser's if it names none valid. */
export const locale: string | undefined = (() => {
  try {
    return Intl.getCanonicalLocales(document.documentElement.lang || [])[0];
  } catch {
    return undefined;
  }
})();

let catalog: Catalog | undefined;

function load(): Catalog {
  const el = document.getElementById('ash-messages');
  try {
    const parsed: unknown = JSON.parse(el?.textContent ?? '{}');
    if (parsed !== null && typeof parsed === 'object') return parsed as Catalog;
  } catch (err) {
    console.error('ashreports: #ash-messages is not valid JSON', err);
  }
  return {};
}

/**
 * The message for key with its {placeholders} filled from params. A missing
 * message shows as its key, so that the gap is visible but harmless.
 */
export function t(key: string, params: Record<string, string> = {}): string {
  catalog ??= load();
  const msg = typeof catalog[key] === 'string' ? catalog[key] : key;
  return msg.replace(/\{(\w+)\}/g, (whole, name: string) =>
    Object.prototype.hasOwnProperty.call(params, name) ? params[name] : whole,
  );
}
