#include "coordinator/dashboard/dashboard.h"

#include <httplib.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/time/time.h"
#include "base/metrics_http_server.h"
#include "coordinator/metrics.h"
#include "proto/job_json.h"

namespace murmur::coordinator {
namespace {

using json = nlohmann::json;

// One answer's worth of events: a page that was closed for a day catches up in
// a few polls.
constexpr size_t kMaxEventsPerAnswer = 1000;

void ReplyJson(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(body, "application/json");
}

void ReplyError(httplib::Response& res, int status, const std::string& message) {
  ReplyJson(res, status, json({{"error", message}}).dump());
}

std::string CurvesJson(const StepHistory& history) {
  json steps = json::array(), loss = json::array(), learning_rate = json::array(),
       samples_per_second = json::array(), wall_time = json::array();
  for (const StepPoint& point : history.Points()) {
    steps.push_back(point.global_step);
    loss.push_back(point.loss);
    learning_rate.push_back(point.learning_rate);
    samples_per_second.push_back(point.samples_per_second);
    wall_time.push_back(point.wall_time);
  }
  return json({{"stride", history.stride()},
               {"global_step", steps},
               {"loss", loss},
               {"learning_rate", learning_rate},
               {"samples_per_second", samples_per_second},
               {"wall_time", wall_time}})
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Dashboard>> Dashboard::Start(const Options& options, Job* job,
                                                            const StepHistory* history) {
  HttpServer::Options http;
  http.name = "dashboard";
  http.host = options.host;
  http.port = options.port;
  auto server = HttpServer::Start(http, [job, history](httplib::Server& server) {
    server.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(DashboardPage(), "text/html; charset=utf-8");
    });
    server.Get("/api/v1/status", [job](const httplib::Request&, httplib::Response& res) {
      ReplyJson(res, 200, OperatorJson(job->Status()));
    });
    server.Get("/api/v1/events", [job](const httplib::Request& req, httplib::Response& res) {
      int64_t after = 0;
      if (req.has_param("after") &&
          (!absl::SimpleAtoi(req.get_param_value("after"), &after) || after < 0)) {
        ReplyError(res, 400, "after must be an event index >= 0");
        return;
      }
      int64_t next = after;
      std::vector<v1::JobEvent> events = job->WaitForEvents(after, absl::ZeroDuration(), &next);
      if (events.size() > kMaxEventsPerAnswer) {
        next = after + static_cast<int64_t>(kMaxEventsPerAnswer);
        events.resize(kMaxEventsPerAnswer);
      }
      std::string body = "{\"events\": [";
      for (size_t i = 0; i < events.size(); ++i) {
        if (i > 0) body += ", ";
        body += OperatorJson(events[i]);
      }
      body += "], \"next\": " + std::to_string(next) + "}";
      ReplyJson(res, 200, body);
    });
    server.Get("/api/v1/curves", [history](const httplib::Request&, httplib::Response& res) {
      ReplyJson(res, 200, CurvesJson(*history));
    });
    AddMetricsRoute(server, [job] { return JobMetricsText(*job); });
    server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      ReplyError(res, res.status,
                 res.status == 404 ? "no route " + req.method + " " + req.path
                                   : "HTTP " + std::to_string(res.status));
    });
  });
  if (!server.ok()) return server.status();
  std::unique_ptr<Dashboard> dashboard(new Dashboard());
  dashboard->http_ = *std::move(server);
  return dashboard;
}

}  // namespace murmur::coordinator
