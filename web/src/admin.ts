// The administration page's controls: each calls the administration API
// (docs/protocol.md) with the session's CSRF token, then shows the result.

import { api, messageOf, show } from './api';
import { t } from './messages';

export function startAdmin(page: HTMLElement): void {
  const csrf = page.dataset.csrf ?? '';
  const problem = page.querySelector<HTMLElement>('[data-admin-problem]');
  const say = (msg: string) => show(problem, msg);
  const fail = (err: unknown) => say(messageOf(err));

  page.addEventListener('click', (ev) => {
    const el = (ev.target as HTMLElement).closest<HTMLElement>('[data-set-role], [data-remove-member], [data-revoke-token]');
    if (!el) return;
    say('');
    const { setRole, removeMember, revokeToken } = el.dataset;
    if (setRole) {
      const role = page.querySelector<HTMLSelectElement>(`[data-role-of="${setRole}"]`)?.value ?? '';
      api('PUT', `/api/v1/members/${encodeURIComponent(setRole)}`, csrf, { role })
        .then(() => say(t('admin.saved')))
        .catch(fail);
    } else if (removeMember) {
      if (!window.confirm(t('admin.remove.confirm', { email: el.dataset.email ?? '' }))) return;
      api('DELETE', `/api/v1/members/${encodeURIComponent(removeMember)}`, csrf)
        .then(() => el.closest('tr')?.remove())
        .catch(fail);
    } else if (revokeToken) {
      if (!window.confirm(t('admin.revoke.confirm', { name: el.dataset.name ?? '' }))) return;
      api('DELETE', `/api/v1/tokens/${encodeURIComponent(revokeToken)}`, csrf)
        .then(() => el.replaceWith(document.createTextNode(t('admin.revoked'))))
        .catch(fail);
    }
  });

  const form = page.querySelector<HTMLFormElement>('[data-token-form]');
  form?.addEventListener('submit', (ev) => {
    ev.preventDefault();
    say('');
    const data = new FormData(form);
    const charts = String(data.get('charts') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    api('POST', '/api/v1/tokens', csrf, { name: String(data.get('name') ?? ''), scopes: data.getAll('scopes').map(String), charts })
      .then((tok) => {
        const out = form.querySelector<HTMLElement>('[data-token-secret]');
        if (out) {
          out.textContent = t('admin.token.secret', { secret: (tok as { secret: string }).secret });
          out.hidden = false;
        }
        form.reset();
      })
      .catch(fail);
  });
}
