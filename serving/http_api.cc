#include "serving/http_api.h"

#include <httplib.h>

#include <future>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/metrics_http_server.h"
#include "nlohmann/json.hpp"
#include "serving/bearer_token.h"
#include "serving/http_page.h"
#include "serving/kserve.h"

namespace murmur::serving {
namespace {

using nlohmann::json;

int HttpStatusOf(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kCancelled:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

// Invalid UTF-8 (a path or a model's label) is replaced, never thrown.
std::string Dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

void ReplyJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(Dump(body), "application/json");
}

void ReplyError(httplib::Response& res, const absl::Status& status) {
  ReplyJson(res, HttpStatusOf(status.code()), {{"error", std::string(status.message())}});
}

// The model name and version of a /v2/models/{m}[/versions/{v}]... route.
struct ModelRef {
  std::string name;
  int64_t version = 0;
};

absl::StatusOr<ModelRef> ModelOf(const httplib::Request& req) {
  ModelRef ref;
  ref.name = req.matches[1];
  absl::StatusOr<int64_t> version =
      kserve::ParseVersion(req.matches.size() > 2 ? std::string(req.matches[2]) : "");
  if (!version.ok()) return version.status();
  ref.version = *version;
  return ref;
}

absl::StatusOr<json> ParseBody(const httplib::Request& req) {
  json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    return absl::InvalidArgumentError("the request body must be a JSON object");
  }
  return body;
}

// A REST infer request (the KServe v2 JSON tensor format) as the protocol's proto.
absl::StatusOr<inference::ModelInferRequest> ToInferRequest(const json& body, const ModelRef& ref) {
  inference::ModelInferRequest request;
  request.set_model_name(ref.name);
  if (ref.version > 0) request.set_model_version(absl::StrCat(ref.version));
  if (body.contains("id")) {
    if (!body["id"].is_string()) return absl::InvalidArgumentError("\"id\" must be a string");
    request.set_id(body["id"].get<std::string>());
  }
  if (!body.contains("inputs") || !body["inputs"].is_array()) {
    return absl::InvalidArgumentError("\"inputs\" must be an array of tensors");
  }
  for (const json& tensor : body["inputs"]) {
    if (!tensor.is_object() || !tensor.contains("name") || !tensor["name"].is_string() ||
        !tensor.contains("datatype") || !tensor["datatype"].is_string() ||
        !tensor.contains("shape") || !tensor["shape"].is_array() || !tensor.contains("data") ||
        !tensor["data"].is_array()) {
      return absl::InvalidArgumentError(
          "each input needs \"name\", \"datatype\", \"shape\" and \"data\"");
    }
    auto* input = request.add_inputs();
    input->set_name(tensor["name"].get<std::string>());
    input->set_datatype(tensor["datatype"].get<std::string>());
    for (const json& dim : tensor["shape"]) {
      if (!dim.is_number_integer()) {
        return absl::InvalidArgumentError("\"shape\" must hold integers");
      }
      input->add_shape(dim.get<int64_t>());
    }
    for (const json& element : tensor["data"]) {
      if (!element.is_string()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "input '", input->name(), "': \"data\" must hold strings (a BYTES tensor)"));
      }
      input->mutable_contents()->add_bytes_contents(element.get<std::string>());
    }
  }
  if (body.contains("outputs")) {
    if (!body["outputs"].is_array()) {
      return absl::InvalidArgumentError("\"outputs\" must be an array");
    }
    for (const json& output : body["outputs"]) {
      if (!output.is_object() || !output.contains("name") || !output["name"].is_string()) {
        return absl::InvalidArgumentError("each requested output needs a \"name\"");
      }
      request.add_outputs()->set_name(output["name"].get<std::string>());
    }
  }
  return request;
}

json TensorJson(const inference::ModelInferResponse::InferOutputTensor& tensor) {
  json out = {{"name", tensor.name()}, {"datatype", tensor.datatype()}};
  out["shape"] = json::array();
  for (int64_t dim : tensor.shape()) out["shape"].push_back(dim);
  json data = json::array();
  for (float v : tensor.contents().fp32_contents()) data.push_back(v);
  for (const std::string& v : tensor.contents().bytes_contents()) data.push_back(v);
  out["data"] = std::move(data);
  return out;
}

json MetadataJson(const inference::ModelMetadataResponse& metadata) {
  auto tensors = [](const auto& list) {
    json out = json::array();
    for (const auto& t : list) {
      json shape = json::array();
      for (int64_t dim : t.shape()) shape.push_back(dim);
      out.push_back({{"name", t.name()}, {"datatype", t.datatype()}, {"shape", shape}});
    }
    return out;
  };
  json versions = json::array();
  for (const std::string& v : metadata.versions()) versions.push_back(v);
  return {{"name", metadata.name()},
          {"versions", versions},
          {"platform", metadata.platform()},
          {"inputs", tensors(metadata.inputs())},
          {"outputs", tensors(metadata.outputs())}};
}

// Runs `call` through the shared request path and waits for its batch.
absl::StatusOr<ClassifyOutcome> ClassifyAndWait(const ClassifyRunner& runner, ClassifyCall call,
                                                absl::Duration timeout) {
  call.deadline = absl::Now() + timeout;
  std::promise<absl::StatusOr<ClassifyOutcome>> promise;
  std::future<absl::StatusOr<ClassifyOutcome>> result = promise.get_future();
  runner.Classify(std::move(call), [&promise](absl::StatusOr<ClassifyOutcome> outcome) {
    promise.set_value(std::move(outcome));
  });
  return result.get();
}

// The model routes: /v2/models/{m} and /v2/models/{m}/versions/{v}, then `suffix`.
std::string ModelRoute(const std::string& suffix, bool versioned) {
  return absl::StrCat("/v2/models/([^/]+)", versioned ? "/versions/([^/]+)" : "", suffix);
}

void AddRoutes(httplib::Server& server, const HttpApi::Options& options,
               const ModelRepository* repository, const ClassifyRunner* runner,
               ServingMetrics* metrics) {
  // Every handler: the inference token on inference routes, JSON errors with the REST status
  // of the handler's absl::Status, and metrics by route and that status's code.
  using Handler = std::function<absl::Status(const httplib::Request&, httplib::Response&)>;
  auto route = [metrics, token = options.inference_token](const char* name, bool inference,
                                                          Handler handle) {
    return [=](const httplib::Request& req, httplib::Response& res) {
      const absl::Time start = absl::Now();
      absl::Status status =
          inference ? CheckBearerHeader(req.has_header("Authorization"),
                                        req.get_header_value("Authorization"), token, "inference")
                    : absl::OkStatus();
      if (status.ok()) status = handle(req, res);
      if (!status.ok()) ReplyError(res, status);
      metrics->RecordRequest(absl::StrCat("HTTP ", name), status.code(), absl::Now() - start);
    };
  };

  server.Get("/v2/health/live",
             route("live", false, [](const httplib::Request&, httplib::Response& res) {
               ReplyJson(res, 200, {{"live", true}});
               return absl::OkStatus();
             }));
  server.Get("/v2/health/ready",
             route("ready", false, [repository](const httplib::Request&, httplib::Response& res) {
               const bool ready = repository->AllModelsReady();
               ReplyJson(res, ready ? 200 : 503, {{"ready", ready}});
               return absl::OkStatus();
             }));
  server.Get(
      "/v2", route("server_metadata", false, [](const httplib::Request&, httplib::Response& res) {
        ReplyJson(res, 200, {{"name", "murmur"}, {"version", "1"}, {"extensions", json::array()}});
        return absl::OkStatus();
      }));
  for (bool versioned : {false, true}) {
    server.Get(ModelRoute("", versioned),
               route("model_metadata", false,
                     [repository](const httplib::Request& req, httplib::Response& res) {
                       absl::StatusOr<ModelRef> ref = ModelOf(req);
                       if (!ref.ok()) return ref.status();
                       inference::ModelMetadataResponse metadata;
                       absl::Status filled = kserve::FillModelMetadata(*repository, ref->name,
                                                                       ref->version, &metadata);
                       if (!filled.ok()) return filled;
                       ReplyJson(res, 200, MetadataJson(metadata));
                       return absl::OkStatus();
                     }));
    server.Get(ModelRoute("/ready", versioned),
               route("model_ready", false,
                     [repository](const httplib::Request& req, httplib::Response& res) {
                       absl::StatusOr<ModelRef> ref = ModelOf(req);
                       if (!ref.ok()) return ref.status();
                       const bool ready = repository->Get(ref->name, ref->version).ok();
                       ReplyJson(res, ready ? 200 : 503, {{"name", ref->name}, {"ready", ready}});
                       return absl::OkStatus();
                     }));
    server.Post(
        ModelRoute("/infer", versioned),
        route("infer", true,
              [runner, timeout = options.timeout](const httplib::Request& req,
                                                  httplib::Response& res) {
                absl::StatusOr<ModelRef> ref = ModelOf(req);
                if (!ref.ok()) return ref.status();
                absl::StatusOr<json> body = ParseBody(req);
                if (!body.ok()) return body.status();
                absl::StatusOr<inference::ModelInferRequest> request = ToInferRequest(*body, *ref);
                if (!request.ok()) return request.status();
                absl::StatusOr<kserve::InferRequest> parsed = kserve::ParseInferRequest(*request);
                if (!parsed.ok()) return parsed.status();
                ClassifyCall call = std::move(parsed->call);
                absl::StatusOr<ClassifyOutcome> outcome =
                    ClassifyAndWait(*runner, std::move(call), timeout);
                if (!outcome.ok()) return outcome.status();
                inference::ModelInferResponse response;
                kserve::FillInferResponse(*parsed, *outcome, &response);
                outcome = absl::CancelledError("");  // release the version
                json out = {{"model_name", response.model_name()},
                            {"model_version", response.model_version()}};
                if (!request->id().empty()) out["id"] = request->id();
                out["outputs"] = json::array();
                for (const auto& tensor : response.outputs()) {
                  out["outputs"].push_back(TensorJson(tensor));
                }
                ReplyJson(res, 200, out);
                return absl::OkStatus();
              }));
  }
  server.Post(
      "/v1/classify",
      route(
          "classify", true,
          [runner, timeout = options.timeout](const httplib::Request& req, httplib::Response& res) {
            absl::StatusOr<json> body = ParseBody(req);
            if (!body.ok()) return body.status();
            ClassifyCall call;
            if (!body->contains("texts") || !(*body)["texts"].is_array()) {
              return absl::InvalidArgumentError("\"texts\" must be an array of strings");
            }
            for (const json& text : (*body)["texts"]) {
              if (!text.is_string()) {
                return absl::InvalidArgumentError("\"texts\" must be an array of strings");
              }
              call.texts.push_back(text.get<std::string>());
            }
            if (body->contains("model") && (*body)["model"].is_string()) {
              call.model = (*body)["model"].get<std::string>();
            }
            if (body->contains("version") && (*body)["version"].is_number_integer()) {
              call.version = (*body)["version"].get<int64_t>();
            }
            absl::StatusOr<ClassifyOutcome> outcome =
                ClassifyAndWait(*runner, std::move(call), timeout);
            if (!outcome.ok()) return outcome.status();
            // Each result as `murmur classify` prints a line.
            json results = json::array();
            for (const model::Prediction& p : outcome->predictions) {
              results.push_back({{"label", p.label},
                                 {"score", p.score},
                                 {"probabilities", p.probabilities},
                                 {"model_version", outcome->served->version()}});
            }
            ReplyJson(res, 200,
                      {{"model", outcome->served->model()},
                       {"model_version", outcome->served->version()},
                       {"results", results}});
            return absl::OkStatus();
          }));
  server.Get("/v1/models",
             route("models", false, [repository](const httplib::Request&, httplib::Response& res) {
               json models = json::array();
               for (const std::string& name : repository->Models()) {
                 json versions = json::array();
                 for (const VersionStatus& status : repository->List(name)) {
                   versions.push_back({{"version", status.version},
                                       {"state", VersionStateName(status.state)},
                                       {"reason", status.reason}});
                 }
                 models.push_back({{"name", name}, {"versions", versions}});
               }
               ReplyJson(res, 200, {{"models", models}});
               return absl::OkStatus();
             }));
  server.Get("/", route("page", false, [](const httplib::Request&, httplib::Response& res) {
               res.set_content(ClassifierPage(), "text/html; charset=utf-8");
               return absl::OkStatus();
             }));
  server.Get("/openapi.json", route("openapi", false,
                                    [document = HttpApi::OpenApiDocument()](
                                        const httplib::Request&, httplib::Response& res) {
                                      res.set_content(document, "application/json");
                                      return absl::OkStatus();
                                    }));
  AddMetricsRoute(server, [metrics] { return metrics->Text(); });
  // Unknown routes (and httplib's own refusals, e.g. 413) answer in the same JSON shape.
  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const std::string message = res.status == 404
                                    ? absl::StrCat("no route ", req.method, " ", req.path)
                                : res.status == 413 ? std::string("request body too large")
                                                    : absl::StrCat("HTTP ", res.status);
    res.set_content(Dump(json({{"error", message}})), "application/json");
  });
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpApi>> HttpApi::Start(Options options,
                                                        const ModelRepository* repository,
                                                        const ClassifyRunner* runner,
                                                        ServingMetrics* metrics) {
  HttpServer::Options http;
  http.name = "HTTP API";
  http.host = options.host;
  http.port = options.port;
  http.max_body_bytes = options.max_body_bytes;
  // Each handler waits for its batch: concurrent clients can only be batched together if as
  // many handlers are free.
  http.handler_threads = options.handler_threads;
  auto server = HttpServer::Start(http, [&](httplib::Server& server) {
    AddRoutes(server, options, repository, runner, metrics);
  });
  if (!server.ok()) return server.status();
  std::unique_ptr<HttpApi> api(new HttpApi());
  api->http_ = *std::move(server);
  return api;
}

HttpApi::~HttpApi() { Stop(); }

void HttpApi::Stop() {
  if (http_ != nullptr) http_->Stop();
}

int HttpApi::port() const { return http_->port(); }

std::string HttpApi::OpenApiDocument() {
  const json error = {{"$ref", "#/components/schemas/Error"}};
  auto responses = [&](std::initializer_list<int> errors) {
    json out = {{"200", {{"description", "OK"}}}};
    for (int code : errors) {
      out[std::to_string(code)] = {{"description", "error"},
                                   {"content", {{"application/json", {{"schema", error}}}}}};
    }
    return out;
  };
  const json model_param = {
      {"name", "model"}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}}};
  const json version_param = {
      {"name", "version"}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}}};
  const json infer_body = {
      {"required", true},
      {"content",
       {{"application/json",
         {{"schema",
           {{"type", "object"},
            {"required", {"inputs"}},
            {"properties",
             {{"id", {{"type", "string"}}},
              {"inputs",
               {{"type", "array"},
                {"description",
                 "one tensor: name \"text\", datatype \"BYTES\", shape [N], data: N strings"},
                {"items", {{"$ref", "#/components/schemas/Tensor"}}}}},
              {"outputs",
               {{"type", "array"},
                {"description",
                 "\"probabilities\" (FP32 [N, labels]) and/or \"label\" (BYTES "
                 "[N]); default both"},
                {"items",
                 {{"type", "object"}, {"properties", {{"name", {{"type", "string"}}}}}}}}}}}}}}}}}};
  json paths;
  paths["/v2/health/live"]["get"] = {{"summary", "liveness"}, {"responses", responses({})}};
  paths["/v2/health/ready"]["get"] = {{"summary", "every model has a ready version"},
                                      {"responses", responses({503})}};
  paths["/v2"]["get"] = {{"summary", "server metadata"}, {"responses", responses({})}};
  for (bool versioned : {false, true}) {
    const std::string base =
        versioned ? "/v2/models/{model}/versions/{version}" : "/v2/models/{model}";
    json params = json::array({model_param});
    if (versioned) params.push_back(version_param);
    paths[base]["get"] = {{"summary", "model metadata (KServe v2)"},
                          {"parameters", params},
                          {"responses", responses({400, 404})}};
    paths[base + "/ready"]["get"] = {{"summary", "model readiness"},
                                     {"parameters", params},
                                     {"responses", responses({400, 503})}};
    paths[base + "/infer"]["post"] = {
        {"summary", "classify texts (KServe v2 JSON tensors)"},
        {"parameters", params},
        {"requestBody", infer_body},
        {"responses", responses({400, 401, 404, 413, 429, 503, 504})}};
  }
  paths["/v1/classify"]["post"] = {
      {"summary", "classify texts; each result as `murmur classify` prints it"},
      {"requestBody",
       {{"required", true},
        {"content",
         {{"application/json",
           {{"schema",
             {{"type", "object"},
              {"required", {"texts"}},
              {"properties",
               {{"texts", {{"type", "array"}, {"items", {{"type", "string"}}}}},
                {"model", {{"type", "string"}}},
                {"version", {{"type", "integer"}}}}}}}}}}}}},
      {"responses", responses({400, 401, 404, 413, 429, 503, 504})}};
  paths["/v1/models"]["get"] = {{"summary", "the repository's models, versions and their states"},
                                {"responses", responses({})}};
  paths["/"]["get"] = {{"summary", "a page to classify tweets in the browser"},
                       {"responses", responses({})}};
  paths["/openapi.json"]["get"] = {{"summary", "this document"}, {"responses", responses({})}};
  paths["/metrics"]["get"] = {{"summary", "Prometheus metrics"}, {"responses", responses({})}};
  json doc = {
      {"openapi", "3.0.3"},
      {"info",
       {{"title", "murmur-serve HTTP API"},
        {"version", "1"},
        {"description",
         "KServe v2 REST and murmur's /v1/classify. Inference routes need "
         "'Authorization: Bearer <token>' when the server has an inference "
         "token."}}},
      {"paths", paths},
      {"components",
       {{"schemas",
         {{"Error", {{"type", "object"}, {"properties", {{"error", {{"type", "string"}}}}}}},
          {"Tensor",
           {{"type", "object"},
            {"required", {"name", "datatype", "shape", "data"}},
            {"properties",
             {{"name", {{"type", "string"}}},
              {"datatype", {{"type", "string"}}},
              {"shape", {{"type", "array"}, {"items", {{"type", "integer"}}}}},
              {"data", {{"type", "array"}, {"items", {}}}}}}}}}}}}};
  return doc.dump(2);
}

}  // namespace murmur::serving
