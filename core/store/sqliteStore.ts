import Database from 'better-sqlite3';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { CoreError } from '../api/errors.js';
import { MIGRATIONS } from './migrations.js';

export interface ModelRow {
  id: number;
  sha256: string;
  name: string;
  sourcePath: string | null;
  bytes: number;
  irVersion: number;
  opset: number;
  producer: string;
  layerCount: number;
  paramCount: number;
  weightBytes: number;
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  importedAt: string;
}

/** A graph input or output as declared in the file: dims are numbers or symbolic names. */
export interface ValueSpec {
  name: string;
  dataType: string;
  dims: (number | string)[];
}

export interface LayerRow {
  position: number;
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  weightInputs: string[];
}

export interface TensorRow {
  name: string;
  kind: 'input' | 'weight' | 'activation';
  producer: number | null;
  consumers: number[];
  isOutput: boolean;
  dataType: number | null;
  dims: number[] | null;
  bytes: number | null;
}

export interface ProfileLayerRow {
  position: number;
  name: string;
  opType: string;
  params: number | null;
  weightBytes: number | null;
  macs: number | null;
  flops: number | null;
  costModel: string | null;
  outElements: number | null;
  outBytes: number | null;
  latencyMs: number | null;
  latencyP90Ms: number | null;
}

export interface ProfileTensorRow {
  name: string;
  dataType: string;
  dims: number[];
  bytes: number;
}

export interface ProfileRecord {
  id: number;
  modelId: number;
  kind: 'static' | 'latency';
  settingsHash: string;
  settings: Record<string, unknown>;
  summary: Record<string, unknown>;
  createdAt: string;
  layers: ProfileLayerRow[];
  tensors: ProfileTensorRow[];
}

export interface DatasetRow {
  id: number;
  name: string;
  format: 'idx';
  imagesPath: string;
  labelsPath: string | null;
  count: number;
  shape: number[];
  labelCount: number | null;
  sha256: string;
  createdAt: string;
}

export interface MeasurementRow {
  id: number;
  modelId: number;
  deviceId: number | null;
  linkId: number | null;
  datasetId: number | null;
  kind: string;
  settings: Record<string, unknown>;
  result: Record<string, unknown>;
  createdAt: string;
}

export interface EstimatorRun {
  id: number;
  modelId: number;
  datasetId: number | null;
  kind: 'sensitivity' | 'noise' | 'validation';
  settingsHash: string;
  settings: Record<string, unknown>;
  result: unknown;
  createdAt: string;
}

const now = (): string => new Date().toISOString();

/** Partita's one store: a SQLite file in WAL mode with foreign keys on. Every multi-row write is one transaction. */
/**
 * better-sqlite3's options for this process. The desktop app runs on Electron's Node ABI, for which the addon in
 * node_modules (built for this Node: the CLI, the tests) does not load; `npm start` builds a copy for Electron once
 * (scripts/electronNative.js) and names it in PARTITA_SQLITE_BINDING.
 */
export function sqliteOptions(): Database.Options {
  const binding = process.env.PARTITA_SQLITE_BINDING;
  if (!binding) return {};
  if (!existsSync(binding)) {
    throw new CoreError('sqlite-binding-missing', `PARTITA_SQLITE_BINDING names '${binding}', which does not exist. Unset it, or start the desktop app with \`npm start\` (it builds better-sqlite3 for Electron).`);
  }
  return { nativeBinding: binding };
}

export class SqliteStore {
  readonly db: Database.Database;

  private constructor(db: Database.Database, readonly path: string) {
    this.db = db;
  }

  static open(path: string): SqliteStore {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    let db: Database.Database;
    const options = sqliteOptions();
    try {
      db = new Database(path, options);
      db.pragma('journal_mode = WAL');
    } catch (e) {
      throw new CoreError(
        'store-unreadable',
        `Cannot open the database '${path}' (${(e as Error).message}). Check that the file is a Partita database and that you may write to its folder.`,
      );
    }
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    const store = new SqliteStore(db, path);
    store.migrate();
    return store;
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  private migrate(): void {
    const have = this.schemaVersion;
    if (have > MIGRATIONS.length) {
      this.db.close();
      throw new CoreError(
        'store-newer-version',
        `The database '${this.path}' has schema version ${have}, newer than this Partita understands (${MIGRATIONS.length}). Update Partita, or pass --db with another file.`,
      );
    }
    for (let v = have; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Runs fn in one transaction: everything it writes lands together or not at all. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  // ---- models ----

  insertModel(
    m: Omit<ModelRow, 'id' | 'importedAt'>,
    content: Uint8Array,
    layers: LayerRow[],
    tensors: TensorRow[],
  ): ModelRow {
    return this.transaction(() => {
      const importedAt = now();
      const info = this.db
        .prepare(
          `INSERT INTO models (sha256, name, source_path, bytes, ir_version, opset, producer, layer_count, param_count,
             weight_bytes, inputs_json, outputs_json, imported_at)
           VALUES (@sha256, @name, @sourcePath, @bytes, @irVersion, @opset, @producer, @layerCount, @paramCount,
             @weightBytes, @inputsJson, @outputsJson, @importedAt)`,
        )
        .run({ ...m, inputsJson: JSON.stringify(m.inputs), outputsJson: JSON.stringify(m.outputs), importedAt });
      const id = Number(info.lastInsertRowid);
      this.db.prepare('INSERT INTO model_files (model_id, content) VALUES (?, ?)').run(id, Buffer.from(content.buffer, content.byteOffset, content.byteLength));
      const insLayer = this.db.prepare(
        `INSERT INTO layers (model_id, position, name, op_type, domain, inputs_json, outputs_json, weight_inputs_json)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      for (const l of layers) {
        insLayer.run(id, l.position, l.name, l.opType, l.domain, JSON.stringify(l.inputs), JSON.stringify(l.outputs), JSON.stringify(l.weightInputs));
      }
      const insTensor = this.db.prepare(
        `INSERT INTO tensors (model_id, name, kind, producer, consumers_json, is_output, data_type, dims_json, bytes)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      for (const t of tensors) {
        insTensor.run(id, t.name, t.kind, t.producer, JSON.stringify(t.consumers), t.isOutput ? 1 : 0, t.dataType, t.dims ? JSON.stringify(t.dims) : null, t.bytes);
      }
      return { ...m, id, importedAt };
    });
  }

  modelBySha(sha256: string): ModelRow | undefined {
    const r = this.db.prepare('SELECT * FROM models WHERE sha256 = ?').get(sha256);
    return r ? toModel(r) : undefined;
  }

  /** Looks a model up by name, or by id when the reference is all digits. */
  findModel(ref: string | number): ModelRow | undefined {
    const r =
      typeof ref === 'number' || /^\d+$/.test(ref)
        ? this.db.prepare('SELECT * FROM models WHERE id = ?').get(Number(ref))
        : this.db.prepare('SELECT * FROM models WHERE name = ?').get(ref);
    return r ? toModel(r) : undefined;
  }

  /** Like findModel but throws a CoreError that lists what exists. */
  requireModel(ref: string | number): ModelRow {
    const m = this.findModel(ref);
    if (!m) {
      const names = this.listModels().map((x) => x.name);
      throw new CoreError(
        'model-unknown',
        `No model '${ref}' in the database. ${names.length ? `Known models: ${names.join(', ')}.` : 'Import one first with `partita import FILE`.'}`,
      );
    }
    return m;
  }

  listModels(): ModelRow[] {
    return this.db.prepare('SELECT * FROM models ORDER BY id').all().map(toModel);
  }

  modelNameTaken(name: string): boolean {
    return this.db.prepare('SELECT 1 FROM models WHERE name = ?').get(name) !== undefined;
  }

  modelContent(modelId: number): Uint8Array {
    const r = this.db.prepare('SELECT content FROM model_files WHERE model_id = ?').get(modelId) as { content: Buffer } | undefined;
    if (!r) throw new Error(`model ${modelId} has no stored content`);
    return new Uint8Array(r.content.buffer, r.content.byteOffset, r.content.byteLength);
  }

  layers(modelId: number): LayerRow[] {
    return this.db
      .prepare('SELECT * FROM layers WHERE model_id = ? ORDER BY position')
      .all(modelId)
      .map((r: any) => ({
        position: r.position,
        name: r.name,
        opType: r.op_type,
        domain: r.domain,
        inputs: JSON.parse(r.inputs_json),
        outputs: JSON.parse(r.outputs_json),
        weightInputs: JSON.parse(r.weight_inputs_json),
      }));
  }

  tensors(modelId: number): TensorRow[] {
    return this.db
      .prepare('SELECT * FROM tensors WHERE model_id = ? ORDER BY rowid')
      .all(modelId)
      .map((r: any) => ({
        name: r.name,
        kind: r.kind,
        producer: r.producer,
        consumers: JSON.parse(r.consumers_json),
        isOutput: r.is_output === 1,
        dataType: r.data_type,
        dims: r.dims_json ? JSON.parse(r.dims_json) : null,
        bytes: r.bytes,
      }));
  }

  deleteModel(modelId: number): void {
    this.db.prepare('DELETE FROM models WHERE id = ?').run(modelId);
  }

  // ---- profiles ----

  findProfile(modelId: number, kind: ProfileRecord['kind'], settingsHash: string): ProfileRecord | undefined {
    const r: any = this.db.prepare('SELECT * FROM profiles WHERE model_id = ? AND kind = ? AND settings_hash = ?').get(modelId, kind, settingsHash);
    return r ? this.hydrateProfile(r) : undefined;
  }

  listProfiles(modelId: number): Omit<ProfileRecord, 'layers' | 'tensors'>[] {
    return this.db
      .prepare('SELECT * FROM profiles WHERE model_id = ? ORDER BY id')
      .all(modelId)
      .map((r: any) => ({
        id: r.id,
        modelId: r.model_id,
        kind: r.kind,
        settingsHash: r.settings_hash,
        settings: JSON.parse(r.settings_json),
        summary: JSON.parse(r.summary_json),
        createdAt: r.created_at,
      }));
  }

  private hydrateProfile(r: any): ProfileRecord {
    const layers = this.db
      .prepare('SELECT * FROM profile_layers WHERE profile_id = ? ORDER BY position')
      .all(r.id)
      .map((x: any) => ({
        position: x.position,
        name: x.name,
        opType: x.op_type,
        params: x.params,
        weightBytes: x.weight_bytes,
        macs: x.macs,
        flops: x.flops,
        costModel: x.cost_model,
        outElements: x.out_elements,
        outBytes: x.out_bytes,
        latencyMs: x.latency_ms,
        latencyP90Ms: x.latency_p90_ms,
      }));
    const tensors = this.db
      .prepare('SELECT * FROM profile_tensors WHERE profile_id = ? ORDER BY rowid')
      .all(r.id)
      .map((x: any) => ({ name: x.name, dataType: x.data_type, dims: JSON.parse(x.dims_json), bytes: x.bytes }));
    return {
      id: r.id,
      modelId: r.model_id,
      kind: r.kind,
      settingsHash: r.settings_hash,
      settings: JSON.parse(r.settings_json),
      summary: JSON.parse(r.summary_json),
      createdAt: r.created_at,
      layers,
      tensors,
    };
  }

  /** Stores a profile with its rows in one transaction, replacing an older one with the same settings. */
  saveProfile(p: Omit<ProfileRecord, 'id' | 'createdAt'>): ProfileRecord {
    return this.transaction(() => {
      this.db.prepare('DELETE FROM profiles WHERE model_id = ? AND kind = ? AND settings_hash = ?').run(p.modelId, p.kind, p.settingsHash);
      const createdAt = now();
      const id = Number(
        this.db
          .prepare('INSERT INTO profiles (model_id, kind, settings_hash, settings_json, summary_json, created_at) VALUES (?, ?, ?, ?, ?, ?)')
          .run(p.modelId, p.kind, p.settingsHash, JSON.stringify(p.settings), JSON.stringify(p.summary), createdAt).lastInsertRowid,
      );
      const insL = this.db.prepare(
        `INSERT INTO profile_layers (profile_id, position, name, op_type, params, weight_bytes, macs, flops, cost_model,
           out_elements, out_bytes, latency_ms, latency_p90_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      for (const l of p.layers) {
        insL.run(id, l.position, l.name, l.opType, l.params, l.weightBytes, l.macs, l.flops, l.costModel, l.outElements, l.outBytes, l.latencyMs, l.latencyP90Ms);
      }
      const insT = this.db.prepare('INSERT INTO profile_tensors (profile_id, name, data_type, dims_json, bytes) VALUES (?, ?, ?, ?, ?)');
      for (const t of p.tensors) insT.run(id, t.name, t.dataType, JSON.stringify(t.dims), t.bytes);
      return { ...p, id, createdAt };
    });
  }

  // ---- datasets ----

  addDataset(d: Omit<DatasetRow, 'id' | 'createdAt'>): DatasetRow {
    const createdAt = now();
    try {
      const id = Number(
        this.db
          .prepare(
            `INSERT INTO datasets (name, format, images_path, labels_path, count, shape_json, label_count, sha256, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(d.name, d.format, d.imagesPath, d.labelsPath, d.count, JSON.stringify(d.shape), d.labelCount, d.sha256, createdAt).lastInsertRowid,
      );
      return { ...d, id, createdAt };
    } catch (e) {
      if (String((e as Error).message).includes('UNIQUE')) {
        throw new CoreError('dataset-name-taken', `A dataset named '${d.name}' already exists. Choose another --name, or use the existing one.`);
      }
      throw e;
    }
  }

  findDataset(name: string): DatasetRow | undefined {
    const r = this.db.prepare('SELECT * FROM datasets WHERE name = ?').get(name);
    return r ? toDataset(r) : undefined;
  }

  requireDataset(name: string): DatasetRow {
    const d = this.findDataset(name);
    if (!d) {
      const names = this.listDatasets().map((x) => x.name);
      throw new CoreError(
        'dataset-unknown',
        `No dataset '${name}' in the database. ${names.length ? `Known datasets: ${names.join(', ')}.` : 'Add one with `partita datasets add`.'}`,
      );
    }
    return d;
  }

  listDatasets(): DatasetRow[] {
    return this.db.prepare('SELECT * FROM datasets ORDER BY id').all().map(toDataset);
  }

  // ---- accuracy estimators ----

  findEstimatorRun(modelId: number, kind: EstimatorRun['kind'], settingsHash: string): EstimatorRun | undefined {
    const r: any = this.db.prepare('SELECT * FROM estimator_runs WHERE model_id = ? AND kind = ? AND settings_hash = ?').get(modelId, kind, settingsHash);
    return r ? toEstimatorRun(r) : undefined;
  }

  /** Stores an estimator run (and, for sensitivity tables, one row per layer x bits) in one transaction. */
  saveEstimatorRun(r: Omit<EstimatorRun, 'id' | 'createdAt'>, rows: { layer: string; bits: number; drop: number; kl: number }[] = []): EstimatorRun {
    return this.transaction(() => {
      this.db.prepare('DELETE FROM estimator_runs WHERE model_id = ? AND kind = ? AND settings_hash = ?').run(r.modelId, r.kind, r.settingsHash);
      const createdAt = now();
      const id = Number(
        this.db
          .prepare('INSERT INTO estimator_runs (model_id, dataset_id, kind, settings_hash, settings_json, result_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
          .run(r.modelId, r.datasetId, r.kind, r.settingsHash, JSON.stringify(r.settings), JSON.stringify(r.result), createdAt).lastInsertRowid,
      );
      const ins = this.db.prepare('INSERT INTO sensitivity_rows (run_id, layer, bits, drop_top1, kl) VALUES (?, ?, ?, ?, ?)');
      for (const x of rows) ins.run(id, x.layer, x.bits, x.drop, x.kl);
      return { ...r, id, createdAt };
    });
  }

  /** The newest stored estimator of that kind for a model (what the planner uses), or undefined. */
  newestEstimatorRun(modelId: number, kind: EstimatorRun['kind']): EstimatorRun | undefined {
    const r: any = this.db.prepare('SELECT * FROM estimator_runs WHERE model_id = ? AND kind = ? ORDER BY id DESC LIMIT 1').get(modelId, kind);
    return r ? toEstimatorRun(r) : undefined;
  }

  listEstimatorRuns(modelId: number): EstimatorRun[] {
    return this.db.prepare('SELECT * FROM estimator_runs WHERE model_id = ? ORDER BY id').all(modelId).map(toEstimatorRun);
  }

  // ---- devices and links ----

  /** Inserts or replaces a device by name (its whole profile is one JSON document). */
  saveDevice(d: { name: string; kind: 'preset' | 'measured' | 'custom'; source: string; profile: unknown }): void {
    this.db
      .prepare(
        `INSERT INTO devices (name, kind, profile_json, source, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(name) DO UPDATE SET kind = excluded.kind, profile_json = excluded.profile_json, source = excluded.source`,
      )
      .run(d.name, d.kind, JSON.stringify(d.profile), d.source, now());
  }

  listDevices(): { id: number; name: string; kind: string; source: string; profile: unknown; createdAt: string }[] {
    return this.db
      .prepare('SELECT * FROM devices ORDER BY id')
      .all()
      .map((r: any) => ({ id: r.id, name: r.name, kind: r.kind, source: r.source, profile: JSON.parse(r.profile_json), createdAt: r.created_at }));
  }

  findDevice(name: string): { id: number; name: string; kind: string; profile: unknown } | undefined {
    const r: any = this.db.prepare('SELECT * FROM devices WHERE name = ?').get(name);
    return r ? { id: r.id, name: r.name, kind: r.kind, profile: JSON.parse(r.profile_json) } : undefined;
  }

  saveLink(l: { name: string; kind: 'preset' | 'measured' | 'custom'; source: string; uplinkBps: number; downlinkBps: number; rttMs: number; loss: number }): void {
    this.db
      .prepare(
        `INSERT INTO links (name, kind, uplink_bps, downlink_bps, rtt_ms, loss, source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(name) DO UPDATE SET kind = excluded.kind, uplink_bps = excluded.uplink_bps, downlink_bps = excluded.downlink_bps,
           rtt_ms = excluded.rtt_ms, loss = excluded.loss, source = excluded.source`,
      )
      .run(l.name, l.kind, l.uplinkBps, l.downlinkBps, l.rttMs, l.loss, l.source, now());
  }

  listLinks(): { id: number; name: string; kind: 'preset' | 'measured' | 'custom'; source: string; uplinkBps: number; downlinkBps: number; rttMs: number; loss: number }[] {
    return this.db
      .prepare('SELECT * FROM links ORDER BY id')
      .all()
      .map((r: any) => ({ id: r.id, name: r.name, kind: r.kind, source: r.source, uplinkBps: r.uplink_bps, downlinkBps: r.downlink_bps, rttMs: r.rtt_ms, loss: r.loss }));
  }

  // ---- notebooks ----

  saveNotebook(n: { id: string; name: string; cells: unknown[] }): { id: string; name: string; cells: unknown[]; updatedAt: string } {
    const updatedAt = now();
    this.db
      .prepare(
        `INSERT INTO notebooks (id, name, cells_json, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET name = excluded.name, cells_json = excluded.cells_json, updated_at = excluded.updated_at`,
      )
      .run(n.id, n.name, JSON.stringify(n.cells), updatedAt);
    return { ...n, updatedAt };
  }

  getNotebook(id: string): { id: string; name: string; cells: unknown[]; updatedAt: string } | undefined {
    const r: any = this.db.prepare('SELECT * FROM notebooks WHERE id = ?').get(id);
    return r ? { id: r.id, name: r.name, cells: JSON.parse(r.cells_json), updatedAt: r.updated_at } : undefined;
  }

  deleteNotebook(id: string): boolean {
    return this.db.prepare('DELETE FROM notebooks WHERE id = ?').run(id).changes > 0;
  }

  listNotebooks(): { id: string; name: string; cellCount: number; updatedAt: string }[] {
    return this.db
      .prepare('SELECT id, name, cells_json, updated_at FROM notebooks ORDER BY updated_at DESC')
      .all()
      .map((r: any) => ({ id: r.id, name: r.name, cellCount: JSON.parse(r.cells_json).length, updatedAt: r.updated_at }));
  }

  // ---- measurements ----

  addMeasurement(m: Omit<MeasurementRow, 'id' | 'createdAt'>): MeasurementRow {
    const createdAt = now();
    const id = Number(
      this.db
        .prepare(
          `INSERT INTO measurements (model_id, device_id, link_id, dataset_id, kind, settings_json, result_json, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(m.modelId, m.deviceId, m.linkId, m.datasetId, m.kind, JSON.stringify(m.settings), JSON.stringify(m.result), createdAt).lastInsertRowid,
    );
    return { ...m, id, createdAt };
  }

  measurements(modelId: number, kind?: string): MeasurementRow[] {
    const rows = kind
      ? this.db.prepare('SELECT * FROM measurements WHERE model_id = ? AND kind = ? ORDER BY id').all(modelId, kind)
      : this.db.prepare('SELECT * FROM measurements WHERE model_id = ? ORDER BY id').all(modelId);
    return rows.map((r: any) => ({
      id: r.id,
      modelId: r.model_id,
      deviceId: r.device_id,
      linkId: r.link_id,
      datasetId: r.dataset_id,
      kind: r.kind,
      settings: JSON.parse(r.settings_json),
      result: JSON.parse(r.result_json),
      createdAt: r.created_at,
    }));
  }

  /** Row counts per table: what tests use to prove a failed operation wrote nothing. */
  rowCounts(): Record<string, number> {
    const tables = this.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[];
    return Object.fromEntries(tables.map((t) => [t.name, (this.db.prepare(`SELECT COUNT(*) AS n FROM "${t.name}"`).get() as { n: number }).n]));
  }
}

function toModel(r: any): ModelRow {
  return {
    id: r.id,
    sha256: r.sha256,
    name: r.name,
    sourcePath: r.source_path,
    bytes: r.bytes,
    irVersion: r.ir_version,
    opset: r.opset,
    producer: r.producer,
    layerCount: r.layer_count,
    paramCount: r.param_count,
    weightBytes: r.weight_bytes,
    inputs: JSON.parse(r.inputs_json),
    outputs: JSON.parse(r.outputs_json),
    importedAt: r.imported_at,
  };
}

function toDataset(r: any): DatasetRow {
  return {
    id: r.id,
    name: r.name,
    format: r.format,
    imagesPath: r.images_path,
    labelsPath: r.labels_path,
    count: r.count,
    shape: JSON.parse(r.shape_json),
    labelCount: r.label_count,
    sha256: r.sha256,
    createdAt: r.created_at,
  };
}

function toEstimatorRun(r: any): EstimatorRun {
  return {
    id: r.id,
    modelId: r.model_id,
    datasetId: r.dataset_id,
    kind: r.kind,
    settingsHash: r.settings_hash,
    settings: JSON.parse(r.settings_json),
    result: JSON.parse(r.result_json),
    createdAt: r.created_at,
  };
}
