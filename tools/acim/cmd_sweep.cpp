// acim sweep SWEEP.toml [--db FILE]: runs every point of a design-space sweep (compile ->
// evaluate on chip instances -> price) into a SQLite result store, resuming where a killed run
// stopped. Under an MPI launcher (mpirun, srun) rank 0 owns the database and hands points out
// one at a time to the other ranks (a work queue) while computing points itself; the results do
// not depend on which rank ran a point (every random draw is seeded per seed, instance, layer
// and array).
// acim sweep show DB [--sweep NAME] [--csv FILE] [--html FILE]: the Pareto front (accuracy vs
// energy/inference vs area) and exports.
#include <dlfcn.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "acim/error.hpp"
#include "acim/report.hpp"
#include "acim/sweep.hpp"
#include "commands.hpp"
#include "sweep_mpi.hpp"

namespace acim::cli {

namespace {

struct SweepArgs {
  std::string file;
  std::string db;
  // show
  std::string show_db;
  std::string sweep;
  std::string csv;
  std::string html;
};

// Launched by an MPI launcher: OpenMPI's mpirun sets OMPI_COMM_WORLD_SIZE, PMIx launchers
// (Slurm srun --mpi=pmix, prterun) PMIX_RANK, PMI-1/2 launchers (srun --mpi=pmi2, MPICH) PMI_RANK.
// Outside one acim neither loads libmpi nor calls MPI_Init.
bool launched_by_mpi() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMIX_RANK") != nullptr ||
         std::getenv("PMI_RANK") != nullptr;
}

// The MPI plug-in beside the executable (see sweep_mpi.hpp). RTLD_GLOBAL: OpenMPI dlopens its own
// components, which need libmpi's symbols.
const AcimSweepMpi& load_mpi_plugin() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  const std::filesystem::path plugin = exe.parent_path() / kAcimSweepMpiPlugin;
  void* h = dlopen(plugin.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (h == nullptr)
    throw Error(ErrorKind::unsupported, "acim sweep under an MPI launcher",
                "cannot load the MPI plug-in " + plugin.string() + ": " + dlerror(),
                "build acim with OpenMPI (libopenmpi-dev) so that it builds the plug-in beside the "
                "acim binary");
  using Entry = const AcimSweepMpi* (*)();
  const auto entry = reinterpret_cast<Entry>(dlsym(h, "acim_sweep_mpi"));
  if (entry == nullptr)
    throw Error(ErrorKind::unsupported, plugin.string(), "has no acim_sweep_mpi()", "rebuild acim");
  return *entry();
}

std::string to_json(const PointResult& r) {
  nlohmann::json j = {{"point", r.point}, {"ok", r.ok}, {"error", r.error}, {"seconds", r.seconds}};
  nlohmann::json m = nlohmann::json::array();
  for (const SweepMetric& x : r.metrics) m.push_back({x.instance, x.metric, x.value});
  j["metrics"] = m;
  return j.dump();  // doubles are written so that they read back exactly
}

PointResult from_json(const std::string& text) {
  const nlohmann::json j = nlohmann::json::parse(text);
  PointResult r;
  r.point = j.at("point").get<int64_t>();
  r.ok = j.at("ok").get<bool>();
  r.error = j.at("error").get<std::string>();
  r.seconds = j.at("seconds").get<double>();
  for (const auto& x : j.at("metrics"))
    r.metrics.push_back({x[0].get<int>(), x[1].get<std::string>(), x[2].get<double>()});
  return r;
}

std::string duration_str(double s) {
  char buf[32];
  if (s < 10)
    std::snprintf(buf, sizeof buf, "%.2f s", s);
  else if (s < 60)
    std::snprintf(buf, sizeof buf, "%.1f s", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%d min %02d s", static_cast<int>(s / 60),
                  static_cast<int>(s) % 60);
  else
    std::snprintf(buf, sizeof buf, "%d h %02d min", static_cast<int>(s / 3600),
                  static_cast<int>(s / 60) % 60);
  return buf;
}

// One line per finished point on stderr, with the time left at the rate so far.
class SweepProgress {
 public:
  SweepProgress(const SweepSpec& spec, int64_t todo) : spec_(spec), todo_(todo) {}
  void point_done(const PointResult& r, int rank) {
    ++done_;
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double eta = elapsed / static_cast<double>(done_) * static_cast<double>(todo_ - done_);
    std::fprintf(stderr, "[%lld/%lld] point %lld (%s)%s: %s%s, ETA %s\n",
                 static_cast<long long>(done_), static_cast<long long>(todo_),
                 static_cast<long long>(r.point), spec_.point_label(r.point).c_str(),
                 rank > 0 ? (" on rank " + std::to_string(rank)).c_str() : "",
                 r.ok ? "" : ("failed (" + r.error + "), ").c_str(),
                 duration_str(r.seconds).c_str(), duration_str(eta).c_str());
  }

 private:
  const SweepSpec& spec_;
  int64_t todo_;
  int64_t done_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

void print_front(const std::vector<StoredPoint>& points) {
  std::map<std::string, std::vector<StoredPoint>> by_sweep;
  for (const StoredPoint& p : points) by_sweep[p.sweep].push_back(p);
  for (const auto& [name, pts] : by_sweep) {
    const std::vector<ParetoObjectives> obj = pareto_objectives(pts);
    const std::vector<size_t> front = pareto_front(obj);
    size_t failed = 0;
    for (const StoredPoint& p : pts) failed += p.ok ? 0 : 1;
    std::printf(
        "sweep '%s': %zu points (%zu failed), %zu on the Pareto front (accuracy vs "
        "energy/inference vs area)\n",
        name.c_str(), pts.size(), failed, front.size());
    std::printf("  %6s  %16s  %14s  %10s  %s\n", "point", "accuracy", "energy/inf", "area",
                "parameters");
    for (size_t i : front) {
      const StoredPoint& p = pts[i];
      std::string params;
      for (const auto& [k, v] : p.parameters) params += (params.empty() ? "" : " ") + k + "=" + v;
      char acc[48];
      std::snprintf(acc, sizeof acc, "%.2f %% +- %.2f", 100 * p.mean("accuracy"),
                    100 * p.std("accuracy"));
      std::printf("  %6lld  %16s  %11.4g nJ  %7.4g mm2  %s\n", static_cast<long long>(p.point), acc,
                  p.mean("energy_pj") * 1e-3, p.mean("area_mm2"),
                  params.empty() ? "(base chip)" : params.c_str());
    }
  }
}

int run_show(const SweepArgs& a) {
  if (!std::filesystem::exists(a.show_db))
    throw Error(ErrorKind::io, a.show_db, "does not exist", "give the --db file a sweep wrote");
  const SweepStore store(a.show_db);
  const std::vector<StoredPoint> points = store.read(a.sweep);
  if (points.empty()) {
    std::printf("%s holds no finished points\n", a.show_db.c_str());
    return 0;
  }
  print_front(points);
  if (!a.csv.empty()) write_report_file(a.csv, sweep_csv(points));
  if (!a.html.empty())
    write_report_file(a.html,
                      sweep_html(points, "acim sweep: " + (a.sweep.empty() ? a.show_db : a.sweep)));
  return 0;
}

// Rank 0 of several: hands out points (two in flight per worker, so a worker never waits for
// rank 0 while rank 0 computes a point of its own), writes every result, then stops the workers.
void coordinate(const AcimSweepMpi& mpi, SweepRunner& runner, SweepStore& store, int64_t id,
                const SweepSpec& spec, std::deque<int64_t> queue, int ranks,
                SweepProgress& progress) {
  int64_t outstanding = 0;
  for (int k = 0; k < 2; ++k)
    for (int w = 1; w < ranks && !queue.empty(); ++w) {
      mpi.send_point(w, queue.front());
      queue.pop_front();
      ++outstanding;
    }
  while (outstanding > 0 || !queue.empty()) {
    char* bytes = nullptr;
    int size = 0;
    int worker = outstanding > 0 ? mpi.poll_result(&bytes, &size) : -1;
    while (worker < 0 && queue.empty()) {  // nothing left to compute here: wait for a result
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      worker = mpi.poll_result(&bytes, &size);
    }
    if (worker > 0) {
      const std::string text(bytes, static_cast<size_t>(size));
      std::free(bytes);
      const PointResult r = from_json(text);
      --outstanding;
      if (!queue.empty()) {
        mpi.send_point(worker, queue.front());
        queue.pop_front();
        ++outstanding;
      }
      store.write(id, spec, r);
      progress.point_done(r, worker);
      continue;
    }
    const int64_t index = queue.front();
    queue.pop_front();
    const PointResult r = runner.run(index);
    store.write(id, spec, r);
    progress.point_done(r, 0);
  }
  for (int w = 1; w < ranks; ++w) mpi.send_point(w, -1);
}

void work(const AcimSweepMpi& mpi, SweepRunner& runner) {
  for (int64_t index = mpi.recv_point(); index >= 0; index = mpi.recv_point()) {
    const std::string text = to_json(runner.run(index));
    mpi.send_result(text.data(), static_cast<int>(text.size()));
  }
}

int run_sweep(const SweepArgs& a, const AcimSweepMpi* mpi, int rank, int ranks) {
  if (a.file.empty())
    throw Error(ErrorKind::invalid, "acim sweep", "needs a sweep file",
                "acim sweep SWEEP.toml [--db FILE]");
  // Everything that can be wrong with the input is found here, before the database is touched.
  const SweepSpec spec = load_sweep(a.file);
  SweepRunner runner(spec);
  if (rank > 0) {
    work(*mpi, runner);
    return 0;
  }
  const std::string db = a.db.empty() ? spec.name + ".db" : a.db;
  SweepStore store(db);
  const int64_t id = store.begin(spec);
  const std::vector<int64_t> done = store.done(id);
  const std::set<int64_t> done_set(done.begin(), done.end());
  std::deque<int64_t> queue;
  for (int64_t i = 0; i < spec.points(); ++i)
    if (!done_set.count(i)) queue.push_back(i);
  std::fprintf(stderr, "sweep '%s': %lld points x %d instance%s%s, %d rank%s, results in %s\n",
               spec.name.c_str(), static_cast<long long>(spec.points()), spec.instances,
               spec.instances == 1 ? "" : "s",
               done.empty()
                   ? ""
                   : (" (" + std::to_string(done.size()) + " already stored: resuming)").c_str(),
               ranks, ranks == 1 ? "" : "s", db.c_str());
  const auto t0 = std::chrono::steady_clock::now();
  SweepProgress progress(spec, static_cast<int64_t>(queue.size()));
  const auto todo = static_cast<int64_t>(queue.size());
  if (ranks > 1) {
    coordinate(*mpi, runner, store, id, spec, std::move(queue), ranks, progress);
  } else {
    for (const int64_t index : queue) {
      const PointResult r = runner.run(index);
      store.write(id, spec, r);
      progress.point_done(r, 0);
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("sweep '%s': %lld points run in %s (%lld compiled on rank 0), %zu resumed from %s\n",
              spec.name.c_str(), static_cast<long long>(todo), duration_str(seconds).c_str(),
              static_cast<long long>(runner.compiles()), done.size(), db.c_str());
  print_front(store.read(spec.name));
  return 0;
}

// MPI_Init/MPI_Finalize around the sweep when launched by an MPI launcher; an error on any rank
// is printed and aborts the whole job (the other ranks would wait for it forever).
int run_sweep_maybe_mpi(const SweepArgs& a) {
  if (!launched_by_mpi()) return run_sweep(a, nullptr, 0, 1);
  const AcimSweepMpi& mpi = load_mpi_plugin();
  int rank = 0, ranks = 1;
  mpi.init(&rank, &ranks);
  try {
    const int rc = run_sweep(a, &mpi, rank, ranks);
    mpi.finalize();
    return rc;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "acim: error: %s%s\n",
                 rank > 0 ? ("rank " + std::to_string(rank) + ": ").c_str() : "", e.what());
    mpi.abort(1);
    return 1;
  }
}

}  // namespace

void add_sweep_command(CLI::App& app, Action& action) {
  auto opt = std::make_shared<SweepArgs>();
  CLI::App* cmd = app.add_subcommand("sweep",
                                     "Design-space sweep: every point of SWEEP.toml compiled, "
                                     "evaluated and priced into a SQLite store "
                                     "(resumable; mpirun -n N spreads the points over ranks)");
  cmd->add_option("sweep_file", opt->file, "Sweep file (TOML; docs/SWEEPS.md)");
  cmd->add_option("--db", opt->db,
                  "Result database (SQLite; default: NAME.db for the sweep's name)");
  CLI::App* show =
      cmd->add_subcommand("show", "Pareto front of a result database (accuracy vs energy vs area)");
  show->add_option("db", opt->show_db, "Result database")->required();
  show->add_option("--sweep", opt->sweep, "Only this sweep (by name)");
  show->add_option("--csv", opt->csv, "Write every point as CSV (one row per point)");
  show->add_option("--html", opt->html, "Write a self-contained HTML page with the Pareto plot");
  cmd->callback([opt, show, &action] {
    if (show->parsed())
      action = [opt] { return run_show(*opt); };
    else
      action = [opt] { return run_sweep_maybe_mpi(*opt); };
  });
}

}  // namespace acim::cli
