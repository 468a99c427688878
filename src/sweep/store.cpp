// The sweep result store: SQLite in WAL mode, one transaction per point, so a killed sweep loses
// at most the point in flight and a reader never sees half a point. Schema (version 1,
// PRAGMA user_version; docs/SWEEPS.md):
//   sweeps(id, name UNIQUE, hash, file, parameters, metrics, instances, seed)
//   points(sweep, point, label, status 'done'|'failed', error, seconds)   key (sweep, point)
//   point_parameters(sweep, point, key, value)                           key (sweep, point, key)
//   results(sweep, point, instance, metric, value)            key (sweep, point, instance, metric)
#include <sqlite3.h>

#include <cmath>
#include <limits>
#include <map>

#include "acim/error.hpp"
#include "acim/sweep.hpp"

namespace acim {

namespace {

const char* const kSchema = R"sql(
CREATE TABLE sweeps(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  hash TEXT NOT NULL,
  file TEXT NOT NULL,
  parameters TEXT NOT NULL,
  metrics TEXT NOT NULL,
  instances INTEGER NOT NULL,
  seed INTEGER NOT NULL);
CREATE TABLE points(
  sweep INTEGER NOT NULL REFERENCES sweeps(id),
  point INTEGER NOT NULL,
  label TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
  error TEXT NOT NULL,
  seconds REAL NOT NULL,
  PRIMARY KEY (sweep, point));
CREATE TABLE point_parameters(
  sweep INTEGER NOT NULL,
  point INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (sweep, point, key));
CREATE TABLE results(
  sweep INTEGER NOT NULL,
  point INTEGER NOT NULL,
  instance INTEGER NOT NULL,
  metric TEXT NOT NULL,
  value REAL NOT NULL,
  PRIMARY KEY (sweep, point, instance, metric));
)sql";

// The connection and its file name, for messages.
struct Conn {
  sqlite3* db = nullptr;
  std::string path;

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(ErrorKind::io, path, what + ": " + sqlite3_errmsg(db),
                "check that the file is a sweep database and that the folder is writable");
  }
  void exec(const char* sql) const {
    char* msg = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
      const std::string m = msg ? msg : "?";
      sqlite3_free(msg);
      throw Error(ErrorKind::io, path, std::string("SQLite: ") + m,
                  "check that the file is a sweep database and that the folder is writable");
    }
  }
};

// One prepared statement, finalised on scope exit.
class Stmt {
 public:
  Stmt(const Conn& c, const char* sql) : c_(c) {
    if (sqlite3_prepare_v2(c.db, sql, -1, &s_, nullptr) != SQLITE_OK) c.fail("SQLite prepare");
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt& bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& bind(int i, double v) {
    sqlite3_bind_double(s_, i, v);
    return *this;
  }
  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  bool step() {  // true: a row
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) c_.fail("SQLite step");
    return false;
  }
  void reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  int64_t i64(int c) const { return sqlite3_column_int64(s_, c); }
  double real(int c) const { return sqlite3_column_double(s_, c); }
  std::string text(int c) const {
    const auto* t = sqlite3_column_text(s_, c);
    return t ? reinterpret_cast<const char*>(t) : "";
  }

 private:
  const Conn& c_;
  sqlite3_stmt* s_ = nullptr;
};

}  // namespace

struct SweepStore::Db : Conn {};

SweepStore::SweepStore(const std::filesystem::path& path)
    : db_(std::make_unique<Db>()), path_(path) {
  db_->path = path.string();
  if (sqlite3_open_v2(db_->path.c_str(), &db_->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      nullptr) != SQLITE_OK) {
    const std::string m = db_->db ? sqlite3_errmsg(db_->db) : "out of memory";
    sqlite3_close(db_->db);
    db_->db = nullptr;
    throw Error(ErrorKind::io, db_->path, "cannot be opened as a database: " + m, "check the path");
  }
  try {
    sqlite3_busy_timeout(db_->db, 60000);  // another sweep writing the same database
    int64_t version = 0, tables = 0;
    {
      Stmt v(*db_, "PRAGMA user_version");
      v.step();
      version = v.i64(0);
      Stmt t(*db_, "SELECT count(*) FROM sqlite_master");
      t.step();
      tables = t.i64(0);
    }
    if (version == 0 && tables == 0) {
      db_->exec("BEGIN IMMEDIATE");
      // A second process may have created it meanwhile: look again inside the lock.
      bool empty = false;
      {
        Stmt again(*db_, "SELECT count(*) FROM sqlite_master");
        again.step();
        empty = again.i64(0) == 0;
      }
      if (empty) {
        db_->exec(kSchema);
        db_->exec(("PRAGMA user_version = " + std::to_string(kSweepStoreVersion)).c_str());
      }
      db_->exec("COMMIT");
    } else if (version != kSweepStoreVersion) {
      throw Error(ErrorKind::unsupported, db_->path,
                  version == 0
                      ? "is an SQLite database but not a sweep result store"
                      : "is a sweep database of schema version " + std::to_string(version) +
                            "; this acim reads version " + std::to_string(kSweepStoreVersion),
                  "give another --db file (or use the acim release that wrote it)");
    }
    db_->exec("PRAGMA journal_mode = WAL");
  } catch (...) {
    sqlite3_close(db_->db);
    db_->db = nullptr;
    throw;
  }
}

SweepStore::~SweepStore() {
  if (db_ && db_->db) sqlite3_close(db_->db);
}

int64_t SweepStore::begin(const SweepSpec& spec) {
  std::string params, metrics;
  for (const SweepParameter& p : spec.parameters) {
    params += (params.empty() ? "" : " ") + p.key + "=[";
    for (size_t i = 0; i < p.values.size(); ++i) params += (i ? "," : "") + p.values[i].str();
    params += "]";
  }
  for (const std::string& m : spec.metrics) metrics += (metrics.empty() ? "" : ",") + m;
  db_->exec("BEGIN IMMEDIATE");
  try {
    Stmt q(*db_, "SELECT id, hash, file FROM sweeps WHERE name = ?1");
    q.bind(1, spec.name);
    int64_t id = 0;
    if (q.step()) {
      if (q.text(1) != spec.hash)
        throw Error(ErrorKind::invalid, path_.string(),
                    "holds a sweep named '" + spec.name + "' made from another sweep file (" +
                        q.text(2) + ", hash " + q.text(1) + "; this one " + spec.hash + ")",
                    "give the sweep a new sweep.name, or use another --db file");
      id = q.i64(0);
    } else {
      Stmt ins(*db_,
               "INSERT INTO sweeps(name, hash, file, parameters, metrics, instances, seed) "
               "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
      ins.bind(1, spec.name)
          .bind(2, spec.hash)
          .bind(3, spec.file.string())
          .bind(4, params)
          .bind(5, metrics);
      ins.bind(6, int64_t{spec.instances}).bind(7, static_cast<int64_t>(spec.seed));
      ins.step();
      id = sqlite3_last_insert_rowid(db_->db);
    }
    db_->exec("COMMIT");
    return id;
  } catch (...) {
    db_->exec("ROLLBACK");
    throw;
  }
}

std::vector<int64_t> SweepStore::done(int64_t sweep) const {
  Stmt q(*db_, "SELECT point FROM points WHERE sweep = ?1 ORDER BY point");
  q.bind(1, sweep);
  std::vector<int64_t> out;
  while (q.step()) out.push_back(q.i64(0));
  return out;
}

void SweepStore::write(int64_t sweep, const SweepSpec& spec, const PointResult& r) {
  db_->exec("BEGIN IMMEDIATE");
  try {
    Stmt p(*db_,
           "INSERT OR REPLACE INTO points(sweep, point, label, status, error, seconds) "
           "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    p.bind(1, sweep).bind(2, r.point).bind(3, spec.point_label(r.point));
    p.bind(4, std::string(r.ok ? "done" : "failed")).bind(5, r.error).bind(6, r.seconds);
    p.step();
    Stmt k(*db_,
           "INSERT OR REPLACE INTO point_parameters(sweep, point, key, value) VALUES (?1, ?2, ?3, "
           "?4)");
    const std::vector<SweepValue> values = spec.point(r.point);
    for (size_t i = 0; i < values.size(); ++i) {
      k.bind(1, sweep).bind(2, r.point).bind(3, spec.parameters[i].key).bind(4, values[i].str());
      k.step();
      k.reset();
    }
    Stmt m(*db_,
           "INSERT OR REPLACE INTO results(sweep, point, instance, metric, value) VALUES (?1, ?2, "
           "?3, ?4, ?5)");
    for (const SweepMetric& x : r.metrics) {
      m.bind(1, sweep)
          .bind(2, r.point)
          .bind(3, int64_t{x.instance})
          .bind(4, x.metric)
          .bind(5, x.value);
      m.step();
      m.reset();
    }
    db_->exec("COMMIT");
  } catch (...) {
    db_->exec("ROLLBACK");
    throw;
  }
}

std::vector<StoredPoint> SweepStore::read(const std::string& sweep) const {
  std::vector<StoredPoint> out;
  std::map<std::pair<int64_t, int64_t>, size_t> at;  // (sweep id, point) -> index
  {
    Stmt q(*db_,
           "SELECT s.id, s.name, p.point, p.status, p.error FROM points p JOIN sweeps s ON s.id = "
           "p.sweep "
           "WHERE ?1 = '' OR s.name = ?1 ORDER BY s.name, p.point");
    q.bind(1, sweep);
    while (q.step()) {
      StoredPoint sp;
      sp.sweep = q.text(1);
      sp.point = q.i64(2);
      sp.ok = q.text(3) == "done";
      sp.error = q.text(4);
      at[{q.i64(0), sp.point}] = out.size();
      out.push_back(std::move(sp));
    }
  }
  if (out.empty() && !sweep.empty()) {
    Stmt q(*db_, "SELECT count(*) FROM sweeps WHERE name = ?1");
    q.bind(1, sweep);
    q.step();
    if (q.i64(0) == 0)
      throw Error(ErrorKind::invalid, path_.string(), "holds no sweep named '" + sweep + "'",
                  "run `acim sweep show " + path_.string() + "` to list its sweeps");
  }
  {
    Stmt q(*db_,
           "SELECT sweep, point, key, value FROM point_parameters ORDER BY sweep, point, rowid");
    while (q.step()) {
      const auto it = at.find({q.i64(0), q.i64(1)});
      if (it != at.end()) out[it->second].parameters.emplace_back(q.text(2), q.text(3));
    }
  }
  {
    Stmt q(*db_,
           "SELECT sweep, point, instance, metric, value FROM results ORDER BY sweep, point, "
           "metric, instance");
    while (q.step()) {
      const auto it = at.find({q.i64(0), q.i64(1)});
      if (it != at.end())
        out[it->second].metrics.push_back({static_cast<int>(q.i64(2)), q.text(3), q.real(4)});
    }
  }
  return out;
}

double StoredPoint::mean(const std::string& metric) const {
  double sum = 0;
  int n = 0;
  for (const SweepMetric& m : metrics)
    if (m.metric == metric) {
      sum += m.value;
      ++n;
    }
  return n > 0 ? sum / n : std::numeric_limits<double>::quiet_NaN();
}

double StoredPoint::std(const std::string& metric) const {
  const double mu = mean(metric);
  double ss = 0;
  int n = 0;
  for (const SweepMetric& m : metrics)
    if (m.metric == metric) {
      ss += (m.value - mu) * (m.value - mu);
      ++n;
    }
  return n > 1 ? std::sqrt(ss / (n - 1)) : 0.0;
}

}  // namespace acim
