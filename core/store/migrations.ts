/**
 * Schema migrations, applied in order inside one transaction each. `PRAGMA user_version` records how many ran.
 * Never edit a migration that has shipped: add a new one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: foundation — models, their graph, profiles, devices, links, measurements, datasets.
  `
  CREATE TABLE models (
    id            INTEGER PRIMARY KEY,
    sha256        TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL UNIQUE,
    source_path   TEXT,
    bytes         INTEGER NOT NULL CHECK (bytes > 0),
    ir_version    INTEGER NOT NULL,
    opset         INTEGER NOT NULL,
    producer      TEXT    NOT NULL DEFAULT '',
    layer_count   INTEGER NOT NULL,
    param_count   INTEGER NOT NULL,
    weight_bytes  INTEGER NOT NULL,
    inputs_json   TEXT    NOT NULL,
    outputs_json  TEXT    NOT NULL,
    imported_at   TEXT    NOT NULL
  );
  CREATE TABLE model_files (
    model_id INTEGER PRIMARY KEY REFERENCES models(id) ON DELETE CASCADE,
    content  BLOB NOT NULL
  );
  CREATE TABLE layers (
    model_id           INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    position           INTEGER NOT NULL CHECK (position >= 1),
    name               TEXT    NOT NULL,
    op_type            TEXT    NOT NULL,
    domain             TEXT    NOT NULL DEFAULT '',
    inputs_json        TEXT    NOT NULL,
    outputs_json       TEXT    NOT NULL,
    weight_inputs_json TEXT    NOT NULL,
    PRIMARY KEY (model_id, position),
    UNIQUE (model_id, name)
  );
  CREATE TABLE tensors (
    model_id       INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    kind           TEXT    NOT NULL CHECK (kind IN ('input', 'weight', 'activation')),
    producer       INTEGER,
    consumers_json TEXT    NOT NULL,
    is_output      INTEGER NOT NULL DEFAULT 0,
    data_type      INTEGER,
    dims_json      TEXT,
    bytes          INTEGER,
    PRIMARY KEY (model_id, name)
  );
  CREATE TABLE profiles (
    id            INTEGER PRIMARY KEY,
    model_id      INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    kind          TEXT    NOT NULL CHECK (kind IN ('static', 'latency')),
    settings_hash TEXT    NOT NULL,
    settings_json TEXT    NOT NULL,
    summary_json  TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    UNIQUE (model_id, kind, settings_hash)
  );
  CREATE TABLE profile_layers (
    profile_id        INTEGER NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
    position          INTEGER NOT NULL,
    name              TEXT    NOT NULL,
    op_type           TEXT    NOT NULL,
    params            INTEGER,
    weight_bytes      INTEGER,
    macs              REAL,
    flops             REAL,
    cost_model        TEXT,
    out_elements      INTEGER,
    out_bytes         INTEGER,
    latency_ms        REAL,
    latency_p90_ms    REAL,
    PRIMARY KEY (profile_id, position)
  );
  CREATE TABLE profile_tensors (
    profile_id INTEGER NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    data_type  TEXT    NOT NULL,
    dims_json  TEXT    NOT NULL,
    bytes      INTEGER NOT NULL,
    PRIMARY KEY (profile_id, name)
  );
  CREATE TABLE devices (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL CHECK (kind IN ('preset', 'measured', 'custom')),
    profile_json TEXT NOT NULL,
    source       TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL
  );
  CREATE TABLE links (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    kind          TEXT NOT NULL CHECK (kind IN ('preset', 'measured', 'custom')),
    uplink_bps    REAL NOT NULL CHECK (uplink_bps > 0),
    downlink_bps  REAL NOT NULL CHECK (downlink_bps > 0),
    rtt_ms        REAL NOT NULL CHECK (rtt_ms >= 0),
    loss          REAL NOT NULL DEFAULT 0 CHECK (loss >= 0 AND loss < 1),
    source        TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL
  );
  CREATE TABLE datasets (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    format        TEXT    NOT NULL CHECK (format IN ('idx')),
    images_path   TEXT    NOT NULL,
    labels_path   TEXT,
    count         INTEGER NOT NULL CHECK (count > 0),
    shape_json    TEXT    NOT NULL,
    label_count   INTEGER,
    sha256        TEXT    NOT NULL,
    created_at    TEXT    NOT NULL
  );
  CREATE TABLE measurements (
    id            INTEGER PRIMARY KEY,
    model_id      INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    device_id     INTEGER REFERENCES devices(id) ON DELETE SET NULL,
    link_id       INTEGER REFERENCES links(id) ON DELETE SET NULL,
    dataset_id    INTEGER REFERENCES datasets(id) ON DELETE SET NULL,
    kind          TEXT    NOT NULL,
    settings_json TEXT    NOT NULL,
    result_json   TEXT    NOT NULL,
    created_at    TEXT    NOT NULL
  );
  CREATE INDEX measurements_model ON measurements(model_id, kind);
  `,
  // 2: accuracy estimators — measured sensitivity tables, noise models and their validation runs.
  `
  CREATE TABLE estimator_runs (
    id            INTEGER PRIMARY KEY,
    model_id      INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    dataset_id    INTEGER REFERENCES datasets(id) ON DELETE SET NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('sensitivity', 'noise', 'validation')),
    settings_hash TEXT    NOT NULL,
    settings_json TEXT    NOT NULL,
    result_json   TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    UNIQUE (model_id, kind, settings_hash)
  );
  CREATE TABLE sensitivity_rows (
    run_id  INTEGER NOT NULL REFERENCES estimator_runs(id) ON DELETE CASCADE,
    layer   TEXT    NOT NULL,
    bits    INTEGER NOT NULL,
    drop_top1 REAL  NOT NULL,
    kl      REAL    NOT NULL,
    PRIMARY KEY (run_id, layer, bits)
  );
  `,
  // 3: notebooks (cells as JSON; the text file form lives in experiments/ and is written by the CLI).
  `
  CREATE TABLE notebooks (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    cells_json TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  `,
  // 4: device agents — pairing tokens (only their SHA-256 is kept), runs on agents and their per-request timings.
  // A run is written once, in one transaction, when it ends: 'ok' with its request rows, or 'failed' with its reason
  // and none; a retry points at the run it repeats.
  `
  CREATE TABLE agent_tokens (
    id           INTEGER PRIMARY KEY,
    label        TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT,
    last_used_at TEXT
  );
  CREATE TABLE agent_runs (
    id            INTEGER PRIMARY KEY,
    run_uid       TEXT NOT NULL UNIQUE,
    agent_name    TEXT NOT NULL,
    token_id      INTEGER REFERENCES agent_tokens(id) ON DELETE SET NULL,
    model_id      INTEGER REFERENCES models(id) ON DELETE SET NULL,
    head_sha256   TEXT,
    status        TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    error_code    TEXT,
    error_message TEXT,
    retry_of      INTEGER REFERENCES agent_runs(id) ON DELETE SET NULL,
    settings_json TEXT NOT NULL,
    result_json   TEXT,
    created_at    TEXT NOT NULL,
    CHECK ((status = 'ok' AND error_code IS NULL AND result_json IS NOT NULL) OR (status = 'failed' AND error_code IS NOT NULL))
  );
  CREATE TABLE agent_run_requests (
    run_id            INTEGER NOT NULL REFERENCES agent_runs(id) ON DELETE CASCADE,
    idx               INTEGER NOT NULL CHECK (idx >= 0),
    device_ms         REAL    NOT NULL,
    device_compute_ms REAL    NOT NULL,
    uplink_ms         REAL    NOT NULL,
    server_ms         REAL    NOT NULL,
    latency_ms        REAL    NOT NULL,
    uplink_bytes      INTEGER NOT NULL,
    PRIMARY KEY (run_id, idx)
  );
  `,
  // 5: plans and their runs. A plan is stored when it is chosen (`partita plan`), with the request it answers, so
  // a run can name it by id; a run (local, or on an agent) is written once when it ends, in one transaction, with
  // what the planner predicted beside what was measured, and its per-request rows.
  `
  CREATE TABLE plans (
    id           INTEGER PRIMARY KEY,
    model_id     INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    request_json TEXT,
    plan_json    TEXT NOT NULL,
    created_at   TEXT NOT NULL
  );
  CREATE TABLE plan_runs (
    id             INTEGER PRIMARY KEY,
    plan_id        INTEGER REFERENCES plans(id) ON DELETE SET NULL,
    model_id       INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    target         TEXT NOT NULL CHECK (target IN ('local', 'agent')),
    agent_name     TEXT,
    device         TEXT NOT NULL,
    link           TEXT NOT NULL,
    server         TEXT NOT NULL,
    cut            INTEGER NOT NULL CHECK (cut >= 0),
    plan_json      TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    error_code     TEXT,
    error_message  TEXT,
    retry_of       INTEGER REFERENCES plan_runs(id) ON DELETE SET NULL,
    requests       INTEGER NOT NULL CHECK (requests >= 0),
    pipelined      INTEGER NOT NULL CHECK (pipelined IN (0, 1)),
    predicted_json TEXT,
    measured_json  TEXT,
    top1           REAL,
    created_at     TEXT NOT NULL,
    CHECK ((status = 'ok' AND error_code IS NULL AND measured_json IS NOT NULL) OR (status = 'failed' AND error_code IS NOT NULL))
  );
  CREATE INDEX plan_runs_model ON plan_runs(model_id);
  CREATE TABLE plan_run_requests (
    run_id       INTEGER NOT NULL REFERENCES plan_runs(id) ON DELETE CASCADE,
    idx          INTEGER NOT NULL CHECK (idx >= 0),
    device_ms    REAL    NOT NULL,
    uplink_ms    REAL    NOT NULL,
    server_ms    REAL    NOT NULL,
    downlink_ms  REAL    NOT NULL,
    latency_ms   REAL    NOT NULL,
    uplink_bytes INTEGER NOT NULL,
    label        INTEGER,
    predicted    INTEGER,
    PRIMARY KEY (run_id, idx)
  );
  `,
  // 6: runs on agents are stored once, as plan runs (migration 5, written by `partita run` and the run view).
  // The hub's own run tables of migration 4 were written only when a caller asked the hub to record a bare run,
  // which nothing in the workbench or the CLI did; they go, so the store has one place for runs.
  `
  DROP TABLE agent_run_requests;
  DROP TABLE agent_runs;
  `,
];
