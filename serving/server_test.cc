// murmur-serve's APIs end to end over a real loopback port, with FakeServable models.
#include "serving/server.h"

#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/test_util.h"
#include "gtest/gtest.h"
#include "proto/grpc_inference_service.grpc.pb.h"
#include "proto/health.grpc.pb.h"
#include "proto/serving.grpc.pb.h"
#include "serving/fake_servable.h"
#include "serving/inference_service.h"
#include "serving/kserve.h"
#include "serving/metrics.h"

namespace murmur::serving {
namespace {

class ServerTest : public ::testing::Test {
 protected:
  void Start(Server::Options options = Server::Options()) {
    root_ = absl::StrCat(testing::TempDir(), "/server_",
                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    FakeServableLoader::WriteVersion(root_ + "/sentiment/1", 0.0f);
    options.host = "127.0.0.1";
    options.port = 0;
    options.repository.root = root_;
    options.repository.poll = false;
    server_ = Server::Create(options, &loader_).value();
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    classify_ = v1::ClassifyService::NewStub(channel_);
    inference_ = inference::GRPCInferenceService::NewStub(channel_);
    repository_ = v1::RepositoryService::NewStub(channel_);
  }

  grpc::Status Classify(const std::vector<std::string>& texts, v1::ClassifyResponse* response,
                        absl::Duration timeout = absl::Seconds(30)) {
    v1::ClassifyRequest request;
    for (const std::string& text : texts) request.add_texts(text);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    return classify_->Classify(&context, request, response);
  }

  std::vector<float> Expected(const std::string& text) {
    std::vector<int32_t> ids;
    loader_.last()->Tokenize(text, &ids);
    return loader_.last()->Expected(ids).probabilities;
  }

  int HealthStatus(const std::string& service) {
    auto stub = grpc::health::v1::Health::NewStub(channel_);
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    grpc::ClientContext context;
    grpc::Status status = stub->Check(&context, request, &response);
    return status.ok() ? response.status() : -static_cast<int>(status.error_code());
  }

  std::string root_;
  FakeServableLoader loader_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ClassifyService::Stub> classify_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> inference_;
  std::unique_ptr<v1::RepositoryService::Stub> repository_;
};

TEST_F(ServerTest, ClassifyReturnsModelPredictionsAndVersion) {
  Start();
  v1::ClassifyResponse response;
  const std::vector<std::string> texts = {"good day", "a much longer text than the first one",
                                          "meh"};
  grpc::Status status = Classify(texts, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.model(), "sentiment");
  EXPECT_EQ(response.version(), 1);
  ASSERT_EQ(response.results_size(), 3);
  for (int i = 0; i < 3; ++i) {
    const auto& result = response.results(i);
    EXPECT_EQ(std::vector<float>(result.probabilities().begin(), result.probabilities().end()),
              Expected(texts[i]));
    EXPECT_EQ(result.label(), result.label_id() == 1 ? "positive" : "negative");
    EXPECT_EQ(result.score(), result.probabilities(result.label_id()));
  }
}

TEST_F(ServerTest, ModelInferMatchesClassifyWithContentsAndRawContents) {
  Start();
  const std::vector<std::string> texts = {"one", "two words", "three words here"};
  v1::ClassifyResponse classified;
  ASSERT_TRUE(Classify(texts, &classified).ok());

  for (bool raw : {false, true}) {
    inference::ModelInferRequest request;
    request.set_model_name("sentiment");
    request.set_id("req-7");
    auto* input = request.add_inputs();
    input->set_name("text");
    input->set_datatype("BYTES");
    input->add_shape(static_cast<int64_t>(texts.size()));
    if (raw) {
      request.add_raw_input_contents(kserve::EncodeRawBytesTensor(texts));
    } else {
      for (const auto& t : texts) input->mutable_contents()->add_bytes_contents(t);
    }
    inference::ModelInferResponse response;
    grpc::ClientContext context;
    grpc::Status status = inference_->ModelInfer(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.model_name(), "sentiment");
    EXPECT_EQ(response.model_version(), "1");
    EXPECT_EQ(response.id(), "req-7");
    ASSERT_EQ(response.outputs_size(), 2);
    EXPECT_EQ(response.outputs(0).name(), "probabilities");
    EXPECT_EQ(response.outputs(0).datatype(), "FP32");
    EXPECT_EQ(std::vector<int64_t>(response.outputs(0).shape().begin(),
                                   response.outputs(0).shape().end()),
              (std::vector<int64_t>{3, 2}));
    std::vector<float> probabilities;
    std::vector<std::string> labels;
    if (raw) {
      ASSERT_EQ(response.raw_output_contents_size(), 2);
      const std::string& bytes = response.raw_output_contents(0);
      probabilities.resize(bytes.size() / sizeof(float));
      std::memcpy(probabilities.data(), bytes.data(), bytes.size());
      labels = kserve::DecodeRawBytesTensor(response.raw_output_contents(1)).value();
    } else {
      const auto& fp32 = response.outputs(0).contents().fp32_contents();
      probabilities.assign(fp32.begin(), fp32.end());
      const auto& b = response.outputs(1).contents().bytes_contents();
      labels.assign(b.begin(), b.end());
    }
    ASSERT_EQ(probabilities.size(), 6u);
    ASSERT_EQ(labels.size(), 3u);
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(probabilities[2 * i], classified.results(i).probabilities(0)) << raw;
      EXPECT_EQ(probabilities[2 * i + 1], classified.results(i).probabilities(1)) << raw;
      EXPECT_EQ(labels[i], classified.results(i).label());
    }
  }
}

TEST_F(ServerTest, KServeHealthAndMetadata) {
  Start();
  grpc::ClientContext c1, c2, c3, c4;
  inference::ServerLiveResponse live;
  ASSERT_TRUE(inference_->ServerLive(&c1, {}, &live).ok());
  EXPECT_TRUE(live.live());
  inference::ServerReadyResponse ready;
  ASSERT_TRUE(inference_->ServerReady(&c2, {}, &ready).ok());
  EXPECT_TRUE(ready.ready());
  inference::ModelReadyRequest model_ready_request;
  model_ready_request.set_name("sentiment");
  model_ready_request.set_version("2");
  inference::ModelReadyResponse model_ready;
  ASSERT_TRUE(inference_->ModelReady(&c3, model_ready_request, &model_ready).ok());
  EXPECT_FALSE(model_ready.ready()) << "version 2 does not exist";
  inference::ModelMetadataRequest metadata_request;
  metadata_request.set_name("sentiment");
  inference::ModelMetadataResponse metadata;
  ASSERT_TRUE(inference_->ModelMetadata(&c4, metadata_request, &metadata).ok());
  EXPECT_EQ(metadata.versions_size(), 1);
  ASSERT_EQ(metadata.inputs_size(), 1);
  EXPECT_EQ(metadata.inputs(0).name(), "text");
  ASSERT_EQ(metadata.outputs_size(), 2);
  EXPECT_EQ(metadata.outputs(0).shape(1), 2);
}

TEST_F(ServerTest, HealthIsServingOnlyWhileAVersionIsReady) {
  Start();
  EXPECT_EQ(HealthStatus(""), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(HealthStatus("inference.GRPCInferenceService"),
            grpc::health::v1::HealthCheckResponse::SERVING);
  ASSERT_TRUE(server_->repository().Unload("", 1).ok());
  EXPECT_EQ(HealthStatus(""), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  v1::ClassifyResponse response;
  EXPECT_EQ(Classify({"x"}, &response).error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_TRUE(server_->repository().Load("", 1).ok());
  EXPECT_EQ(HealthStatus(""), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(ServerTest, BadInputGetsInvalidArgumentWithMessage) {
  Server::Options options;
  options.limits.max_texts = 4;
  options.limits.max_text_bytes = 100;
  Start(options);
  struct Case {
    std::vector<std::string> texts;
    const char* fragment;
  };
  const Case cases[] = {
      {{}, "empty batch"},
      {{"a", "b", "c", "d", "e"}, "too many texts"},
      {{"ok", std::string(101, 'x')}, "too long"},
      {{"bad \xC3\x28 utf8"}, "not valid UTF-8"},
  };
  for (const Case& c : cases) {
    v1::ClassifyResponse response;
    grpc::Status status = Classify(c.texts, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.fragment;
    EXPECT_NE(status.error_message().find(c.fragment), std::string::npos)
        << status.error_message();
  }
  // The same checks behind ModelInfer, plus the tensor signature.
  inference::ModelInferRequest request;
  auto* input = request.add_inputs();
  input->set_name("txt");
  input->set_datatype("BYTES");
  input->add_shape(1);
  input->mutable_contents()->add_bytes_contents("\xFF");
  inference::ModelInferResponse response;
  {
    grpc::ClientContext context;
    EXPECT_EQ(inference_->ModelInfer(&context, request, &response).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  input->set_name("text");
  {
    grpc::ClientContext context;
    grpc::Status status = inference_->ModelInfer(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find("UTF-8"), std::string::npos);
  }
  input->set_datatype("FP32");
  {
    grpc::ClientContext context;
    EXPECT_EQ(inference_->ModelInfer(&context, request, &response).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  // Both contents and raw_input_contents for the one input: refused, as KServe v2 says.
  input->set_datatype("BYTES");
  input->mutable_contents()->clear_bytes_contents();
  input->mutable_contents()->add_bytes_contents("fine");
  request.add_raw_input_contents(kserve::EncodeRawBytesTensor({"fine"}));
  {
    grpc::ClientContext context;
    grpc::Status status = inference_->ModelInfer(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find("both contents and raw_input_contents"),
              std::string::npos)
        << status.error_message();
  }
  input->clear_contents();
  {
    grpc::ClientContext context;
    EXPECT_TRUE(inference_->ModelInfer(&context, request, &response).ok()) << "raw alone is fine";
  }
  v1::ClassifyRequest unknown;
  unknown.set_model("no-such-model");
  unknown.add_texts("x");
  v1::ClassifyResponse r;
  grpc::ClientContext context;
  EXPECT_EQ(classify_->Classify(&context, unknown, &r).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServerTest, OversizedMessageIsRefused) {
  Server::Options options;
  options.max_receive_message_bytes = 64 << 10;
  Start(options);
  v1::ClassifyResponse response;
  grpc::Status status = Classify({std::string(100 << 10, 'x')}, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
}

TEST_F(ServerTest, FullQueueAnswersResourceExhaustedAndAdmittedRequestsSucceed) {
  Server::Options options;
  auto& batcher = options.repository.manager.batcher;
  batcher.max_batch_size = 1;
  batcher.max_queue_size = 4;
  batcher.max_queue_delay = absl::ZeroDuration();
  options.limits.max_texts = 4;
  Start(options);
  FakeServable* model = loader_.last();
  model->Hold();
  std::vector<std::thread> admitted;
  std::atomic<int> ok{0};
  auto send = [&] {
    v1::ClassifyResponse response;
    if (Classify({"hello there"}, &response).ok()) ++ok;
  };
  admitted.emplace_back(send);
  ASSERT_TRUE(testing::WaitUntil([&] { return model->waiting() >= 1; }))
      << "the first request never reached the model";  // the instance is now busy
  std::shared_ptr<const ServedVersion> served = server_->repository().Get("", 0).value();
  for (int i = 0; i < 4; ++i) admitted.emplace_back(send);
  ASSERT_TRUE(testing::WaitUntil([&] { return served->batcher().queued() >= 4; }))
      << "the queue never filled";
  v1::ClassifyResponse response;
  grpc::Status refused = Classify({"one too many"}, &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(refused.error_message().find("queue full"), std::string::npos);
  served.reset();
  model->Release();
  for (auto& t : admitted) t.join();
  EXPECT_EQ(ok.load(), 5);
}

TEST_F(ServerTest, ExpiredRequestIsDroppedBeforeCompute) {
  Server::Options options;
  options.repository.manager.batcher.max_queue_delay = absl::ZeroDuration();
  Start(options);
  FakeServable* model = loader_.last();
  model->Hold();
  std::thread busy([&] {
    v1::ClassifyResponse response;
    EXPECT_TRUE(Classify({"first"}, &response).ok());
  });
  ASSERT_TRUE(testing::WaitUntil([&] { return model->waiting() >= 1; }))
      << "the request never reached the model";
  const int batches_before = model->batches();
  v1::ClassifyResponse response;
  grpc::Status status = Classify({"late"}, &response, absl::Milliseconds(50));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The server's copy of the deadline is the client's timeout counted from when the call
  // arrived, so it ends a little after the client gave up; on a loaded machine that gap can be
  // tens of milliseconds. Let it pass before the instance frees up.
  absl::SleepFor(absl::Milliseconds(300));
  model->Release();
  busy.join();
  // Flush anything still queued: the expired text must not reach the model.
  ASSERT_TRUE(Classify({"after"}, &response).ok());
  EXPECT_EQ(model->batches(), batches_before + 2) << "'first' and 'after' only";
}

TEST_F(ServerTest, StreamAnswersEveryRequestAndReportsErrorsInline) {
  Start();
  grpc::ClientContext context;
  auto stream = classify_->ClassifyStream(&context);
  constexpr int kRequests = 20;
  for (int i = 0; i < kRequests; ++i) {
    v1::ClassifyRequest request;
    request.set_id(absl::StrCat(i));
    if (i != 7) request.add_texts(absl::StrCat("text number ", i));  // 7: empty batch
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  std::set<std::string> ids;
  v1::ClassifyResponse response;
  while (stream->Read(&response)) {
    ids.insert(response.id());
    if (response.id() == "7") {
      EXPECT_EQ(response.error().code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
    } else {
      EXPECT_EQ(response.error().code(), 0);
      ASSERT_EQ(response.results_size(), 1);
      EXPECT_EQ(response.version(), 1);
    }
  }
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(ids.size(), static_cast<size_t>(kRequests));
}

// --inference-token-file: inference needs the bearer token (its own, not the repository's);
// health, readiness and metadata stay open, so probes and load balancers need no secret.
TEST_F(ServerTest, InferenceNeedsItsBearerTokenWhenOneIsSet) {
  Server::Options options;
  options.auth_token = "admin";
  options.inference_token = "infer";
  Start(options);
  auto classify = [&](const std::string& authorization) {
    v1::ClassifyRequest request;
    request.add_texts("hello");
    v1::ClassifyResponse response;
    grpc::ClientContext context;
    if (!authorization.empty()) context.AddMetadata("authorization", authorization);
    return classify_->Classify(&context, request, &response);
  };
  const grpc::Status missing = classify("");
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(missing.error_message().find("inference needs"), std::string::npos)
      << missing.error_message();
  EXPECT_EQ(classify("Bearer admin").error_code(), grpc::StatusCode::UNAUTHENTICATED)
      << "the repository's token is not the inference token";
  EXPECT_TRUE(classify("Bearer infer").ok());

  inference::ModelInferRequest infer;
  infer.set_model_name("sentiment");
  auto* input = infer.add_inputs();
  input->set_name("text");
  input->set_datatype("BYTES");
  input->add_shape(1);
  input->mutable_contents()->add_bytes_contents("hello");
  inference::ModelInferResponse inferred;
  {
    grpc::ClientContext context;
    EXPECT_EQ(inference_->ModelInfer(&context, infer, &inferred).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer infer");
    EXPECT_TRUE(inference_->ModelInfer(&context, infer, &inferred).ok());
  }
  {
    grpc::ClientContext context;
    auto stream = classify_->ClassifyStream(&context);
    v1::ClassifyRequest request;
    request.add_texts("hello");
    stream->Write(request);
    stream->WritesDone();
    v1::ClassifyResponse response;
    EXPECT_FALSE(stream->Read(&response));
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext context;
    inference::ServerLiveResponse live;
    EXPECT_TRUE(inference_->ServerLive(&context, {}, &live).ok());
    EXPECT_TRUE(live.live());
  }
  {
    grpc::ClientContext context;
    inference::ModelReadyRequest ready_request;
    ready_request.set_name("sentiment");
    inference::ModelReadyResponse ready;
    EXPECT_TRUE(inference_->ModelReady(&context, ready_request, &ready).ok());
    EXPECT_TRUE(ready.ready());
  }
  EXPECT_EQ(HealthStatus(""), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(ServerTest, RepositoryApiNeedsTheBearerToken) {
  Server::Options options;
  options.auth_token = "s3cret";
  Start(options);
  v1::ListVersionsResponse list;
  {
    grpc::ClientContext context;
    EXPECT_EQ(repository_->ListVersions(&context, {}, &list).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer wrong");
    EXPECT_EQ(repository_->ListVersions(&context, {}, &list).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer s3cret");
    ASSERT_TRUE(repository_->ListVersions(&context, {}, &list).ok());
    ASSERT_EQ(list.versions_size(), 1);
    EXPECT_EQ(list.versions(0).state(), v1::VERSION_READY);
  }
  {
    grpc::ClientContext context;
    v1::UnloadVersionRequest request;
    request.set_version(1);
    v1::UnloadVersionResponse response;
    EXPECT_EQ(repository_->UnloadVersion(&context, request, &response).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext context;
    v1::PushVersionResponse response;
    auto writer = repository_->PushVersion(&context, &response);
    v1::PushVersionRequest header;
    header.mutable_header()->add_files()->set_name("x");
    writer->Write(header);
    writer->WritesDone();
    EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  // Classification stays open.
  v1::ClassifyResponse response;
  EXPECT_TRUE(Classify({"x"}, &response).ok());
}

TEST_F(ServerTest, MetricsCountRequestsAndBatches) {
  Server::Options options;
  options.metrics_port = 0;
  Start(options);
  v1::ClassifyResponse response;
  ASSERT_TRUE(Classify({"a", "b"}, &response).ok());
  EXPECT_FALSE(Classify({}, &response).ok());
  const std::string text = server_->metrics().Text();
  EXPECT_NE(text.find(R"(murmur_requests_total{code="OK",method="Classify"} 1)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(murmur_requests_total{code="INVALID_ARGUMENT",method="Classify"} 1)"),
            std::string::npos);
  EXPECT_NE(text.find(R"(murmur_model_version{model="sentiment"} 1)"), std::string::npos);
  EXPECT_NE(text.find("murmur_batch_size_count"), std::string::npos);
  EXPECT_NE(text.find("murmur_queue_depth 0"), std::string::npos);
  ASSERT_GT(server_->metrics_port(), 0);
  const std::string scraped = testing::HttpGet(server_->metrics_port(), "/metrics");
  EXPECT_NE(scraped.find("200 OK"), std::string::npos) << scraped;
  EXPECT_NE(scraped.find("murmur_requests_total"), std::string::npos);
}

TEST_F(ServerTest, ShutdownFinishesRequestsInFlight) {
  Start();
  FakeServable* model = loader_.last();
  model->Hold();
  grpc::Status in_flight;
  std::thread client([&] {
    v1::ClassifyResponse response;
    in_flight = Classify({"finish me"}, &response);
  });
  ASSERT_TRUE(testing::WaitUntil([&] { return model->waiting() >= 1; }))
      << "the request never reached the model";
  std::thread shutdown([&] { server_->Shutdown(absl::Seconds(30)); });
  // New calls are refused once shutdown began; the one in flight completes on release.
  absl::SleepFor(absl::Milliseconds(50));
  model->Release();
  shutdown.join();
  client.join();
  EXPECT_TRUE(in_flight.ok()) << in_flight.error_message();
}

}  // namespace
}  // namespace murmur::serving
