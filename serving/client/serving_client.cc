#include "serving/client/serving_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "base/grpc_status.h"
#include "base/sha256.h"

namespace murmur::serving {

absl::StatusOr<std::unique_ptr<ServingClient>> ServingClient::Create(Options options) {
  if (options.targets.empty()) return absl::InvalidArgumentError("at least one target needed");
  if (options.max_attempts < 1) return absl::InvalidArgumentError("max_attempts must be >= 1");
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (options.tls) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options.tls_root_ca_pem;
    ssl.pem_cert_chain = options.tls_client_cert_pem;
    ssl.pem_private_key = options.tls_client_key_pem;
    credentials = grpc::SslCredentials(ssl);
  }
  auto client = std::unique_ptr<ServingClient>(new ServingClient(options));
  for (const std::string& target : options.targets) {
    grpc::ChannelArguments args;
    args.SetLoadBalancingPolicyName("round_robin");
    args.SetMaxReceiveMessageSize(options.max_message_bytes);
    args.SetMaxSendMessageSize(options.max_message_bytes);
    Target t;
    t.channel = grpc::CreateCustomChannel(target, credentials, args);
    t.classify = v1::ClassifyService::NewStub(t.channel);
    t.repository = v1::RepositoryService::NewStub(t.channel);
    client->targets_.push_back(std::move(t));
  }
  return client;
}

ServingClient::Target& ServingClient::Next() {
  return targets_[next_.fetch_add(1, std::memory_order_relaxed) % targets_.size()];
}

void ServingClient::Prepare(grpc::ClientContext* context, bool authenticated) const {
  context->set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
  if (authenticated && !options_.token.empty()) {
    context->AddMetadata("authorization", "Bearer " + options_.token);
  }
}

absl::StatusOr<v1::ClassifyResponse> ServingClient::Classify(
    const std::vector<std::string>& texts, const std::string& model, int64_t version) {
  v1::ClassifyRequest request;
  request.set_model(model);
  request.set_version(version);
  for (const std::string& text : texts) request.add_texts(text);
  absl::Duration backoff = options_.backoff;
  absl::Status last;
  for (int attempt = 0; attempt < options_.max_attempts; ++attempt) {
    if (attempt > 0) {
      absl::SleepFor(backoff);
      backoff *= 2;
    }
    grpc::ClientContext context;
    Prepare(&context, /*authenticated=*/false);
    if (!options_.inference_token.empty()) {
      context.AddMetadata("authorization", "Bearer " + options_.inference_token);
    }
    v1::ClassifyResponse response;
    last = FromGrpcStatus(Next().classify->Classify(&context, request, &response));
    if (last.ok()) return response;
    // Only UNAVAILABLE says the request did not run and another try (elsewhere) may succeed.
    if (last.code() != absl::StatusCode::kUnavailable) return last;
  }
  return last;
}

absl::StatusOr<v1::PushVersionResponse> ServingClient::Push(const std::string& dir,
                                                                     const std::string& model,
                                                                     int64_t version,
                                                                     size_t chunk_bytes) {
  namespace fs = std::filesystem;
  std::error_code error;
  std::vector<std::string> names;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    if (it->is_regular_file()) names.push_back(it->path().filename().string());
  }
  if (error) return absl::NotFoundError(absl::StrCat(dir, ": ", error.message()));
  if (names.empty()) return absl::InvalidArgumentError(absl::StrCat(dir, " holds no files"));
  std::sort(names.begin(), names.end());

  v1::PushVersionRequest header;
  header.mutable_header()->set_model(model);
  header.mutable_header()->set_version(version);
  for (const std::string& name : names) {
    const std::string path = dir + "/" + name;
    absl::StatusOr<std::string> digest = Sha256FileHex(path);
    if (!digest.ok()) return digest.status();
    v1::PushFile* file = header.mutable_header()->add_files();
    file->set_name(name);
    file->set_size(fs::file_size(path, error));
    if (error) return absl::InternalError(absl::StrCat(path, ": ", error.message()));
    file->set_sha256(*digest);
  }

  grpc::ClientContext context;
  // A push includes loading and warming the model: allow more than a classification.
  context.set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout * 10));
  if (!options_.token.empty()) context.AddMetadata("authorization", "Bearer " + options_.token);
  v1::PushVersionResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::PushVersionRequest>> writer =
      Next().repository->PushVersion(&context, &response);
  bool streaming = writer->Write(header);
  std::vector<char> buffer(chunk_bytes);
  for (const std::string& name : names) {
    if (!streaming) break;
    const std::string path = dir + "/" + name;
    std::FILE* in = std::fopen(path.c_str(), "rb");
    if (in == nullptr) {
      context.TryCancel();
      return absl::NotFoundError(absl::StrCat("cannot open ", path));
    }
    uint64_t offset = 0;
    size_t n;
    while (streaming && (n = std::fread(buffer.data(), 1, buffer.size(), in)) > 0) {
      v1::PushVersionRequest chunk;
      chunk.mutable_chunk()->set_name(name);
      chunk.mutable_chunk()->set_offset(offset);
      chunk.mutable_chunk()->set_data(buffer.data(), n);
      offset += n;
      streaming = writer->Write(chunk);
    }
    std::fclose(in);
  }
  // A failed Write means the server already answered (e.g. UNAUTHENTICATED): Finish reports it.
  writer->WritesDone();
  absl::Status status = FromGrpcStatus(writer->Finish());
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::ListVersionsResponse> ServingClient::ListVersions(
    const std::string& model) {
  v1::ListVersionsRequest request;
  request.set_model(model);
  grpc::ClientContext context;
  Prepare(&context, /*authenticated=*/true);
  v1::ListVersionsResponse response;
  absl::Status status = FromGrpcStatus(Next().repository->ListVersions(&context, request, &response));
  if (!status.ok()) return status;
  return response;
}

}  // namespace murmur::serving
