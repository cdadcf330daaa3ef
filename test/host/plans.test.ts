import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importModel } from '../../core/host/models.js';
import type { ApiClient } from '../../core/rpc/client.js';
import { inMemoryCore, tempStore, ZOO } from '../helpers.js';

/** plans.save / plans.list through the contract (the argument is checked on the core side, as from the page). */
describe('stored plans through the API', () => {
  const t = tempStore();
  let api: ApiClient;
  let stop: () => void;
  let layers = 0;
  beforeAll(async () => {
    const m = await importModel(t.store, ZOO[0].file);
    layers = m.model.layerCount;
    ({ api, stop } = inMemoryCore(t.store));
  });
  afterAll(() => {
    stop?.();
    t.cleanup();
  });

  it('stores a plan with its request and lists it', async () => {
    const { id } = await api['plans.save']({ model: 'fmnist-cnn', request: { device: 'raspberry-pi-4b', link: 'lte' }, plan: { cut: 2, bits: [8, 4], activationBits: 8 } });
    expect(id).toBeGreaterThan(0);
    const { plans } = await api['plans.list']({ model: 'fmnist-cnn' });
    expect(plans).toEqual([
      { id, modelId: expect.any(Number), model: 'fmnist-cnn', request: { device: 'raspberry-pi-4b', link: 'lte', server: 'a100' }, plan: { cut: 2, bits: [8, 4], activationBits: 8 }, createdAt: expect.any(String) },
    ]);
    // A full-device plan sends nothing.
    await expect(api['plans.save']({ model: 'fmnist-cnn', request: { device: 'raspberry-pi-4b', link: 'lte', server: 'a100' }, plan: { cut: layers, bits: Array(layers).fill(8), activationBits: null } })).resolves.toMatchObject({ id: id + 1 });
  });

  it('refuses a plan that does not fit the model, unknown names and bad widths, and stores nothing', async () => {
    const before = (await api['plans.list']({})).plans.length;
    const req = { device: 'raspberry-pi-4b', link: 'lte' };
    await expect(api['plans.save']({ model: 'fmnist-cnn', request: req, plan: { cut: layers + 1, bits: Array(layers + 1).fill(8), activationBits: 8 } })).rejects.toMatchObject({ code: 'plan-invalid', message: expect.stringContaining(`has ${layers} layers`) });
    await expect(api['plans.save']({ model: 'fmnist-cnn', request: req, plan: { cut: 2, bits: [8], activationBits: 8 } })).rejects.toMatchObject({ code: 'plan-invalid', message: expect.stringContaining('cut 2 needs 2 bits, got 1') });
    await expect(api['plans.save']({ model: 'fmnist-cnn', request: req, plan: { cut: 1, bits: [8], activationBits: null } })).rejects.toMatchObject({ code: 'plan-invalid' });
    await expect(api['plans.save']({ model: 'fmnist-cnn', request: { ...req, device: 'toaster' }, plan: { cut: 0, bits: [], activationBits: 8 } })).rejects.toMatchObject({ code: 'device-unknown' });
    await expect(api['plans.save']({ model: 'fmnist-cnn', request: { ...req, link: 'pigeon' }, plan: { cut: 0, bits: [], activationBits: 8 } })).rejects.toMatchObject({ code: 'link-unknown' });
    await expect(api['plans.save']({ model: 'nope', request: req, plan: { cut: 0, bits: [], activationBits: 8 } })).rejects.toMatchObject({ code: 'model-unknown' });
    await expect(api.call('plans.save', { model: 'fmnist-cnn', request: req, plan: { cut: 1, bits: [7], activationBits: 8 } })).rejects.toMatchObject({ code: 'rpc-invalid-argument' });
    expect((await api['plans.list']({})).plans.length).toBe(before);
  });
});
