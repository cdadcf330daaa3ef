/**
 * The devices view (`{"view": "devices"}`): the device profiles the planner knows (presets, measured, custom), the
 * agents attached to this workbench's hub — live: agents.list is polled every 2 s while the view is on screen —,
 * pairing (a new token is shown once, with the `partita agent` command line to copy; only its hash is kept), the
 * tokens with Revoke, and per agent "Save profile": micro-benchmarks on the device (agents.bench) saved as a
 * measured device the planner can use.
 */
import type { AgentInfoView, DeviceProfileView, PairingTokenView } from '../../core/api/contract.js';
import { agentCommand, type DevicesValue } from '../../core/notebook/cells.js';
import type { ApiClient } from '../../core/rpc/client.js';
import { clear, errorBox, fmt, h } from '../dom.js';
import type { CellPanel } from './run.js';

export const POLL_MS = 2000;

const gib = (b: number) => `${fmt(b / 2 ** 30, 3)} GiB`;
const gmacs = (x: number) => fmt(x / 1e9, 3);

function ago(iso: string | null, now: number): string {
  if (!iso) return '–';
  const s = Math.max(0, (now - Date.parse(iso)) / 1000);
  return s < 1 ? 'just now' : s < 120 ? `${Math.round(s)} s ago` : `${Math.round(s / 60)} min ago`;
}

export class DevicesPanel implements CellPanel {
  readonly element = h('div', { class: 'devices-panel' });
  private value: DevicesValue | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private observer: IntersectionObserver | null = null;
  private onScreen = false;
  private polling = false;
  /** The token just made: shown until dismissed, never fetched again (the core keeps only its hash). */
  private fresh: { id: number; label: string; token: string; hubUrl: string } | null = null;
  private freshEl: HTMLElement | null = null;
  /** Per agent: a bench in progress or its outcome. */
  private benches = new Map<string, { state: 'running' | 'done' | 'error'; saveAs: string; message?: string; error?: unknown }>();
  private agentNames: string | null = null;
  private agentRows = new Map<string, (a: AgentInfoView, now: number) => void>();
  private pairError: unknown = null;
  private profilesEl = h('section', { class: 'device-profiles' });
  private agentsEl = h('section', { class: 'device-agents' });
  private pairEl = h('section', { class: 'device-pairing' });
  /** The part of the pairing section a poll redraws (the label input and the button stay, so typing is not lost). */
  private tokensEl = h('div', { class: 'pairing-live' });
  private pairBtn: HTMLButtonElement;
  private labelInput = h('input', { type: 'text', class: 'pair-label', placeholder: 'label, e.g. kitchen-pi', 'aria-label': 'device label', value: 'my-device' });

  constructor(
    private api: ApiClient,
    /** Called when the device profiles changed (a profile saved), so settings completion and plans can use it. */
    private onDevicesChanged: () => void,
  ) {
    const pairBtn = h('button', { type: 'button', class: 'pair-button' }, 'Pair a device');
    pairBtn.addEventListener('click', () => void this.pair());
    this.pairBtn = pairBtn;
    this.pairEl.append(h('h4', {}, 'Pairing'), h('div', { class: 'pair-row' }, this.labelInput, ' ', pairBtn), this.tokensEl);
    this.element.append(this.agentsEl, this.pairEl, this.profilesEl);
    this.observer = new IntersectionObserver((entries) => {
      const was = this.onScreen;
      this.onScreen = entries.some((e) => e.isIntersecting);
      if (this.onScreen && !was) void this.poll();
    });
    this.observer.observe(this.element);
    this.timer = setInterval(() => void this.poll(), POLL_MS);
  }

  update(value: unknown): void {
    this.value = value as DevicesValue;
    this.render();
  }

  dispose(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.observer?.disconnect();
    this.observer = null;
  }

  /** Refreshes agents and tokens (cheap calls) while the view is on screen and the page visible. */
  async poll(force = false): Promise<void> {
    if (!this.value || this.polling) return;
    if (!force && (!this.onScreen || document.hidden || !this.element.isConnected)) return;
    this.polling = true;
    try {
      const [a, t] = await Promise.all([this.api['agents.list'](), this.api['agents.tokens']()]);
      this.value = { ...this.value, hubUrl: a.hubUrl, agents: a.agents, tokens: t.tokens };
      this.element.dataset.polls = String(Number(this.element.dataset.polls ?? 0) + 1);
      this.renderAgents();
      this.renderPairing();
    } catch {
      // A failed poll (the core restarting) leaves the last list; the next one retries.
    } finally {
      this.polling = false;
    }
  }

  private render(): void {
    this.renderAgents();
    this.renderPairing();
    this.renderProfiles(this.value?.devices ?? []);
  }

  private renderProfiles(devices: DeviceProfileView[]): void {
    clear(this.profilesEl);
    const rows = devices.map((d) =>
      h(
        'tr',
        { 'data-device': d.name, 'data-kind': d.kind },
        h('td', {}, d.name),
        h('td', {}, d.kind),
        h('td', {}, d.threads),
        h('td', {}, gmacs(d.macsPerSecond.fp32)),
        h('td', {}, gmacs(d.macsPerSecond.int8)),
        h('td', {}, gmacs(d.macsPerSecond.int4)),
        h('td', {}, gib(d.memoryBytes)),
        h('td', { class: 'source' }, d.source),
      ),
    );
    const count = (k: string) => devices.filter((d) => d.kind === k).length;
    this.profilesEl.append(
      h('h4', {}, 'Device profiles'),
      h('p', { class: 'muted' }, `${count('preset')} presets, ${count('measured')} measured, ${count('custom')} custom. Settings cells name them in "device" (and a measured machine can serve as "server").`),
      h(
        'table',
        { class: 'device-table' },
        h('thead', {}, h('tr', {}, ...['name', 'kind', 'threads', 'FP32 GMAC/s', 'INT8 GMAC/s', 'INT4 GMAC/s', 'memory', 'source'].map((c) => h('th', {}, c)))),
        h('tbody', {}, ...rows),
      ),
    );
  }

  private renderAgents(): void {
    const v = this.value;
    if (!v) return;
    const names = v.agents.map((a) => a.name).join('\n');
    // Rows are rebuilt only when the set of agents changes; a poll updates their cells in place, so a profile name
    // being typed keeps its focus.
    if (!v.hubUrl || names !== this.agentNames || !this.agentsEl.firstChild) {
      this.agentNames = names;
      clear(this.agentsEl);
      this.agentRows.clear();
      this.agentsEl.append(h('h4', {}, 'Attached agents'));
      if (!v.hubUrl) {
        this.agentsEl.append(h('p', { class: 'muted hub-off' }, 'This core runs no agent hub, so no device can attach. Open the workbench with `partita start` or `partita serve`.'));
        return;
      }
      this.agentsEl.append(h('p', { class: 'muted hub-url' }, 'Agents attach to ', h('code', {}, v.hubUrl), ` (this list refreshes every ${POLL_MS / 1000} s while it is on screen).`));
      if (!v.agents.length) {
        this.agentsEl.append(h('p', { class: 'no-agents' }, 'No agent attached. Pair a device below, then start the command it shows on the device.'));
        return;
      }
      this.agentsEl.append(
        h(
          'table',
          { class: 'agent-table' },
          h('thead', {}, h('tr', {}, ...['name', 'hardware', 'round trip', 'last heartbeat', 'attached', 'profile'].map((c) => h('th', {}, c)))),
          h('tbody', {}, ...v.agents.map((a) => this.agentRow(a))),
        ),
      );
    }
    const now = Date.now();
    for (const a of v.agents) this.agentRows.get(a.name)?.(a, now);
  }

  /** Builds an agent's row; the returned function refreshes its live cells. */
  private agentRow(a: AgentInfoView): HTMLElement {
    const input = h('input', { type: 'text', class: 'save-as', 'aria-label': `profile name for ${a.name}`, value: `${a.name}-measured` });
    const btn = h('button', { type: 'button', class: 'save-profile' }, 'Save profile');
    btn.addEventListener('click', () => void this.bench(a.name, input.value.trim()));
    const hardware = h('td', { class: 'hardware' });
    const rtt = h('td', { 'data-col': 'rtt' });
    const heartbeat = h('td', { 'data-col': 'heartbeat' });
    const attached = h('td', {});
    const status = h('span', { class: 'bench-status' });
    const tr = h('tr', { 'data-agent': a.name }, h('td', {}, a.name), hardware, rtt, heartbeat, attached, h('td', { class: 'profile-cell' }, input, ' ', btn, ' ', status));
    this.agentRows.set(a.name, (x, now) => {
      const hw = x.hardware;
      hardware.textContent = `${hw.cpu} · ${hw.cores} cores · ${hw.arch} · ${gib(hw.memoryBytes)} · ${hw.platform} · ORT ${hw.ort}`;
      rtt.textContent = x.rttMs === null ? '–' : `${fmt(x.rttMs, 3)} ms`;
      heartbeat.textContent = ago(x.lastHeartbeatAt, now);
      attached.textContent = ago(x.connectedAt, now);
      const bench = this.benches.get(x.name);
      btn.disabled = bench?.state === 'running';
      status.dataset.state = bench?.state ?? 'idle';
      if (bench?.state === 'running') status.replaceChildren(h('progress', { class: 'bench-bar' }), ` benchmarking on ${x.name}…`);
      else if (bench?.state === 'done') status.replaceChildren(bench.message ?? '');
      else if (bench?.state === 'error') status.replaceChildren(errorBox(bench.error));
      else status.replaceChildren();
    });
    return tr;
  }

  private async bench(agent: string, saveAs: string): Promise<void> {
    if (!saveAs) return;
    this.benches.set(agent, { state: 'running', saveAs });
    this.renderAgents();
    try {
      const d = await this.api.runJob('agents.bench', { agent, saveAs });
      this.benches.set(agent, { state: 'done', saveAs, message: `Saved as device "${d.name}": INT8 ${gmacs(d.macsPerSecond.int8)} GMAC/s, FP32 ${gmacs(d.macsPerSecond.fp32)} GMAC/s, ${d.threads} thread${d.threads === 1 ? '' : 's'}.` });
      const { devices } = await this.api['devices.list']();
      if (this.value) this.value = { ...this.value, devices };
      this.renderProfiles(devices);
      this.onDevicesChanged();
    } catch (e) {
      this.benches.set(agent, { state: 'error', saveAs, error: e });
    }
    this.renderAgents();
  }

  private async pair(): Promise<void> {
    const label = this.labelInput.value.trim() || 'device';
    this.pairError = null;
    try {
      this.fresh = await this.api['agents.pair']({ label });
      this.freshEl = null;
    } catch (e) {
      this.fresh = this.freshEl = null;
      this.pairError = e;
    }
    await this.poll(true);
    this.renderPairing();
  }

  private async revoke(id: number): Promise<void> {
    try {
      await this.api['agents.revoke']({ id });
      if (this.fresh?.id === id) this.fresh = this.freshEl = null;
    } catch (e) {
      this.pairError = e;
    }
    await this.poll(true);
    this.renderPairing();
  }

  /** The new token and the command line that uses it; built once per pairing and dropped for good on Done. */
  private freshTokenBox(f: { id: number; label: string; token: string; hubUrl: string }): HTMLElement {
    const cmd = agentCommand(f.hubUrl, f.token, f.label);
    const copy = h('button', { type: 'button', class: 'copy-command' }, 'Copy command');
    copy.addEventListener('click', () => {
      navigator.clipboard?.writeText(cmd).then(
        () => (copy.textContent = 'Copied'),
        () => (copy.textContent = 'Select it and copy by hand'),
      );
    });
    const done = h('button', { type: 'button', class: 'token-done' }, 'Done');
    done.addEventListener('click', () => {
      this.fresh = null;
      this.freshEl = null;
      this.renderPairing();
    });
    return h(
      'div',
      { class: 'pair-token', 'data-token-id': f.id, role: 'status' },
      h('p', {}, h('strong', {}, `Token for "${f.label}"`), ' — shown this once: the workbench keeps only its hash. Run this on the device (Node 20 and Partita installed):'),
      h('pre', {}, h('code', { class: 'agent-command' }, cmd)),
      h('p', {}, 'Token: ', h('code', { class: 'token' }, f.token)),
      h('div', {}, copy, ' ', done),
    );
  }

  private renderPairing(): void {
    const v = this.value;
    clear(this.tokensEl);
    if (!v) return;
    this.pairBtn.disabled = !v.hubUrl;
    if (this.pairError) this.tokensEl.append(errorBox(this.pairError));
    if (this.fresh) this.tokensEl.append((this.freshEl ??= this.freshTokenBox(this.fresh)));
    const tokens: PairingTokenView[] = v.tokens;
    if (!tokens.length) {
      this.tokensEl.append(h('p', { class: 'muted' }, 'No pairing tokens yet.'));
      return;
    }
    const now = Date.now();
    const rows = tokens.map((t) => {
      const attached = v.agents.filter((a) => a.tokenId === t.id).map((a) => a.name);
      const revoke = h('button', { type: 'button', class: 'revoke' }, 'Revoke');
      revoke.addEventListener('click', () => void this.revoke(t.id));
      return h(
        'tr',
        { 'data-token-id': t.id, 'data-revoked': t.revokedAt ? 'true' : 'false' },
        h('td', {}, t.id),
        h('td', {}, t.label),
        h('td', {}, ago(t.createdAt, now)),
        h('td', {}, ago(t.lastUsedAt, now)),
        h('td', {}, attached.join(', ') || '–'),
        h('td', {}, t.revokedAt ? `revoked ${ago(t.revokedAt, now)}` : revoke),
      );
    });
    this.tokensEl.append(
      h(
        'table',
        { class: 'token-table' },
        h('thead', {}, h('tr', {}, ...['id', 'label', 'created', 'last used', 'agents', ''].map((c) => h('th', {}, c)))),
        h('tbody', {}, ...rows),
      ),
    );
  }
}
