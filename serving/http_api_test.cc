// The HTTP API against a real murmur-serve core (FakeServable models) with a real HTTP client
// (cpp-httplib's): KServe v2 REST, /v1/classify, errors as JSON with REST status codes, the
// inference token, and every route of the served OpenAPI document.
#include "serving/http_api.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "base/test_util.h"
#include "nlohmann/json.hpp"
#include "serving/fake_servable.h"
#include "serving/server.h"

namespace murmur::serving {
namespace {

using nlohmann::json;

class HttpApiTest : public ::testing::Test {
 protected:
  void Start(Server::Options options = Server::Options()) {
    root_ = absl::StrCat(testing::TempDir(), "/http_",
                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    FakeServableLoader::WriteVersion(root_ + "/sentiment/1", 0.0f);
    options.host = "127.0.0.1";
    options.port = 0;
    options.http_port = 0;
    options.repository.root = root_;
    options.repository.poll = false;
    server_ = Server::Create(options, &loader_).value();
    ASSERT_GT(server_->http_port(), 0);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->http_port());
    client_->set_read_timeout(30, 0);
  }

  std::vector<float> Expected(const std::string& text) {
    std::vector<int32_t> ids;
    loader_.last()->Tokenize(text, &ids);
    return loader_.last()->Expected(ids).probabilities;
  }

  // (status, parsed body); the body must be JSON.
  std::pair<int, json> Post(const std::string& path, const std::string& body,
                            const httplib::Headers& headers = {}) {
    auto res = client_->Post(path.c_str(), headers, body, "application/json");
    EXPECT_TRUE(res) << "no response from POST " << path;
    if (!res) return {0, json()};
    json parsed = json::parse(res->body, nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << path << ": " << res->body;
    return {res->status, parsed};
  }
  std::pair<int, json> Get(const std::string& path) {
    auto res = client_->Get(path.c_str());
    EXPECT_TRUE(res) << "no response from GET " << path;
    if (!res) return {0, json()};
    json parsed = json::parse(res->body, nullptr, false);
    return {res->status, parsed};
  }

  static std::string InferBody(const std::vector<std::string>& texts) {
    return json({{"id", "r-1"},
                 {"inputs",
                  {{{"name", "text"},
                    {"datatype", "BYTES"},
                    {"shape", {static_cast<int64_t>(texts.size())}},
                    {"data", texts}}}}})
        .dump();
  }

  std::string root_;
  FakeServableLoader loader_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(HttpApiTest, HealthMetadataAndReadiness) {
  Start();
  EXPECT_EQ(Get("/v2/health/live"), (std::pair<int, json>{200, {{"live", true}}}));
  EXPECT_EQ(Get("/v2/health/ready"), (std::pair<int, json>{200, {{"ready", true}}}));
  EXPECT_EQ(Get("/v2").second["name"], "murmur");
  for (const char* path : {"/v2/models/sentiment", "/v2/models/sentiment/versions/1"}) {
    auto [status, metadata] = Get(path);
    EXPECT_EQ(status, 200) << path;
    EXPECT_EQ(metadata["name"], "sentiment");
    EXPECT_EQ(metadata["versions"], json::array({"1"}));
    EXPECT_EQ(metadata["inputs"][0]["name"], "text");
    EXPECT_EQ(metadata["inputs"][0]["datatype"], "BYTES");
    EXPECT_EQ(metadata["outputs"][0]["shape"], json::array({-1, 2}));
  }
  EXPECT_EQ(Get("/v2/models/sentiment/ready").first, 200);
  EXPECT_EQ(Get("/v2/models/sentiment/versions/1/ready").first, 200);
  EXPECT_EQ(Get("/v2/models/sentiment/versions/9/ready").first, 503);
  auto [status, missing] = Get("/v2/models/nope");
  EXPECT_EQ(status, 404);
  EXPECT_TRUE(missing.contains("error")) << missing;
}

TEST_F(HttpApiTest, InferAndClassifyAnswerWhatTheModelComputes) {
  Start();
  const std::vector<std::string> texts = {"one", "two words", "three words here"};
  auto [status, response] = Post("/v2/models/sentiment/infer", InferBody(texts));
  ASSERT_EQ(status, 200) << response;
  EXPECT_EQ(response["model_name"], "sentiment");
  EXPECT_EQ(response["model_version"], "1");
  EXPECT_EQ(response["id"], "r-1");
  ASSERT_EQ(response["outputs"].size(), 2u);
  const json& probabilities = response["outputs"][0];
  EXPECT_EQ(probabilities["name"], "probabilities");
  EXPECT_EQ(probabilities["datatype"], "FP32");
  EXPECT_EQ(probabilities["shape"], json::array({3, 2}));
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::vector<float> expected = Expected(texts[i]);
    for (size_t j = 0; j < 2; ++j) {
      EXPECT_FLOAT_EQ(probabilities["data"][i * 2 + j].get<float>(), expected[j]) << texts[i];
    }
  }
  EXPECT_EQ(response["outputs"][1]["name"], "label");
  EXPECT_EQ(response["outputs"][1]["data"].size(), 3u);

  // Only the label, asked for by name.
  json only_label = json::parse(InferBody(texts));
  only_label["outputs"] = {{{"name", "label"}}};
  auto [label_status, labels] = Post("/v2/models/sentiment/versions/1/infer", only_label.dump());
  ASSERT_EQ(label_status, 200) << labels;
  ASSERT_EQ(labels["outputs"].size(), 1u);
  EXPECT_EQ(labels["outputs"][0]["name"], "label");

  // murmur's own route: each result as `murmur classify` prints it.
  auto [classify_status, classified] = Post("/v1/classify", json({{"texts", texts}}).dump());
  ASSERT_EQ(classify_status, 200) << classified;
  EXPECT_EQ(classified["model"], "sentiment");
  EXPECT_EQ(classified["model_version"], 1);
  ASSERT_EQ(classified["results"].size(), 3u);
  for (size_t i = 0; i < texts.size(); ++i) {
    const json& result = classified["results"][i];
    EXPECT_FLOAT_EQ(result["probabilities"][1].get<float>(), Expected(texts[i])[1]);
    EXPECT_EQ(result["label"], response["outputs"][1]["data"][i]);
    EXPECT_EQ(result["model_version"], 1);
    EXPECT_TRUE(result.contains("score"));
  }
}

TEST_F(HttpApiTest, BadRequestsGetTheStatusARestUserExpects) {
  Server::Options options;
  options.max_receive_message_bytes = 64 << 10;
  Start(options);
  struct Case {
    std::string path, body;
    int status;
    std::string fragment;
  };
  const std::vector<Case> cases = {
      {"/v2/models/sentiment/infer", "{not json", 400, "JSON object"},
      {"/v2/models/sentiment/infer", R"({"inputs": [{"name": "text", "datatype": "FP32",
        "shape": [1], "data": ["x"]}]})", 400, "BYTES"},
      {"/v2/models/sentiment/infer", R"({"inputs": [{"name": "text", "datatype": "BYTES",
        "shape": [2], "data": ["x"]}]})", 400, "shape"},
      {"/v2/models/sentiment/infer", R"({"inputs": [{"name": "text", "datatype": "BYTES",
        "shape": [1], "data": [3]}]})", 400, "strings"},
      {"/v2/models/sentiment/infer", InferBody({}), 400, "empty"},
      // Not UTF-8: not JSON either.
      {"/v2/models/sentiment/infer", "{\"inputs\": [\"\xFF\"]}", 400, "JSON"},
      {"/v2/models/sentiment/versions/x/infer", InferBody({"a"}), 400, "version"},
      {"/v2/models/nope/infer", InferBody({"a"}), 404, "nope"},
      {"/v1/classify", R"({"texts": "not a list"})", 400, "texts"},
      {"/v1/classify", R"({"texts": ["ok"], "version": 7})", 404, ""},
      {"/v1/classify", json({{"texts", {std::string(100 << 10, 'x')}}}).dump(), 413, "too large"},
      {"/v2/no/such/route", "{}", 404, "no route"},
  };
  for (const Case& c : cases) {
    auto [status, body] = Post(c.path, c.body);
    EXPECT_EQ(status, c.status) << c.path << " " << c.body.substr(0, 80) << " -> " << body;
    ASSERT_TRUE(body.contains("error")) << c.path << " -> " << body;
    EXPECT_NE(body["error"].get<std::string>().find(c.fragment), std::string::npos)
        << body["error"];
  }
}

TEST_F(HttpApiTest, ModelsListTheVersionsAndThePageIsServed) {
  Start();
  auto [status, models] = Get("/v1/models");
  ASSERT_EQ(status, 200);
  ASSERT_EQ(models["models"].size(), 1u) << models;
  EXPECT_EQ(models["models"][0]["name"], "sentiment");
  EXPECT_EQ(models["models"][0]["versions"][0]["version"], 1);
  EXPECT_EQ(models["models"][0]["versions"][0]["state"], "READY");
  auto page = client_->Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->get_header_value("Content-Type").find("text/html"), std::string::npos);
  EXPECT_NE(page->body.find("/v1/classify"), std::string::npos);
  EXPECT_EQ(page->body.find("http://"), std::string::npos) << "no external assets";
  EXPECT_EQ(page->body.find("https://"), std::string::npos) << "no external assets";
}

TEST_F(HttpApiTest, InferenceRoutesNeedTheInferenceToken) {
  Server::Options options;
  options.inference_token = "infer";
  Start(options);
  EXPECT_EQ(Post("/v1/classify", R"({"texts": ["hi"]})").first, 401);
  EXPECT_EQ(Post("/v2/models/sentiment/infer", InferBody({"hi"}),
                 {{"Authorization", "Bearer wrong"}})
                .first,
            401);
  EXPECT_EQ(Post("/v2/models/sentiment/infer", InferBody({"hi"}),
                 {{"Authorization", "Bearer infer"}})
                .first,
            200);
  EXPECT_EQ(Get("/v2/health/ready").first, 200) << "probes need no token";
  EXPECT_EQ(Get("/v2/models/sentiment").first, 200);
}

// Every route of /openapi.json exists on the server (answers with something other than 404 for
// the document's own model), and the operations the server has are all in the document.
TEST_F(HttpApiTest, EveryRouteOfTheOpenApiDocumentIsServed) {
  Start();
  auto [status, doc] = Get("/openapi.json");
  ASSERT_EQ(status, 200);
  EXPECT_EQ(doc["openapi"].get<std::string>().rfind("3.", 0), 0u);
  int operations = 0;
  for (const auto& [path, item] : doc["paths"].items()) {
    const std::string concrete =
        absl::StrReplaceAll(path, {{"{model}", "sentiment"}, {"{version}", "1"}});
    for (const auto& [method, operation] : item.items()) {
      ++operations;
      EXPECT_TRUE(operation["responses"].contains("200")) << method << " " << path;
      httplib::Result res =
          method == "get"
              ? client_->Get(concrete.c_str())
              : client_->Post(concrete.c_str(),
                              path == "/v1/classify" ? json({{"texts", {"a"}}}).dump()
                                                     : InferBody({"a"}),
                              "application/json");
      ASSERT_TRUE(res) << method << " " << concrete;
      EXPECT_EQ(res->status, 200) << method << " " << concrete << ": " << res->body;
    }
  }
  EXPECT_EQ(operations, 14);  // live, ready, /v2, 2 x (metadata, ready, infer), classify,
                              // models, the page, openapi, metrics
  auto metrics = client_->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("HTTP infer"), std::string::npos) << "requests are counted";
}

}  // namespace
}  // namespace murmur::serving
