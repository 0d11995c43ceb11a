/** The admin credential box the pages with an admin action share (Governance's approvals, Running's Terminate). */
import { adminToken } from './api.ts';
import { h } from './dom.ts';

export function adminPanel(onChange: () => void): HTMLElement {
  const input = h('input', { id: 'admin-token', type: 'password', autocomplete: 'off', placeholder: 'writ_admin_…  (keys/admin.token)' });
  const state = h('span', { class: 'muted', id: 'admin-state' });
  const show = () => {
    state.textContent = adminToken.get() ? 'credential set for this tab' : 'not signed in: read-only';
  };
  show();
  return h(
    'div',
    { class: 'admin' },
    h('label', null, 'Admin credential ', input),
    h('button', { id: 'admin-use', on: { click: () => (adminToken.set(input.value), (input.value = ''), show(), onChange()) } }, 'Use for this tab'),
    h('button', { class: 'secondary', id: 'admin-forget', on: { click: () => (adminToken.clear(), show(), onChange()) } }, 'Forget'),
    state,
  );
}
