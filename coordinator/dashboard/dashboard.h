// The coordinator's dashboard on its HTTP port (--http-port): a page a person keeps open during
// a job, the JSON it polls (the same data for scripts) and /metrics.
//
//   GET /                        the page (dashboard_page.cc); assets inline, nothing from a CDN
//   GET /api/v1/status           the JobStatus: the JSON `murmur status --json` prints, on one
//                                line
//   GET /api/v1/events?after=N   events after index N (0: all): {"events": [...], "next": M};
//                                pass M as `after` next time
//   GET /api/v1/curves           the per-step curves (step_history.h), one array per field:
//                                {"stride", "global_step", "loss", "learning_rate",
//                                 "samples_per_second", "wall_time"}
//   GET /metrics                 the job's Prometheus metrics, as on the metrics port
//
// Read-only: nothing on this port changes the job (scaling, draining and publishing stay on the
// JobControl gRPC API), so it can be opened to a team's network without a token.
//
// Owns its HttpServer; borrows the Job and the history, which must outlive it. Thread-safe.
#ifndef MURMUR_COORDINATOR_DASHBOARD_DASHBOARD_H_
#define MURMUR_COORDINATOR_DASHBOARD_DASHBOARD_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "base/http_server.h"
#include "coordinator/dashboard/step_history.h"
#include "coordinator/job.h"

namespace murmur::coordinator {

class Dashboard {
 public:
  struct Options {
    // Default: every interface (the people who watch a job are rarely on its
    // host).
    std::string host = "0.0.0.0";
    // 0 picks a free port. Default 0.
    int port = 0;
  };

  static absl::StatusOr<std::unique_ptr<Dashboard>> Start(const Options& options, Job* job,
                                                          const StepHistory* history);
  int port() const { return http_->port(); }

 private:
  Dashboard() = default;
  std::unique_ptr<HttpServer> http_;
};

// The page GET / serves.
const std::string& DashboardPage();

}  // namespace murmur::coordinator

#endif  // MURMUR_COORDINATOR_DASHBOARD_DASHBOARD_H_
