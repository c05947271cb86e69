#include "serving/repository_service.h"

#include <atomic>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/grpc_status.h"
#include "serving/bearer_token.h"
#include "serving/rpc_call.h"
#include "serving/version_upload.h"

namespace murmur::serving {
namespace {

v1::VersionState ToProto(VersionState state) {
  switch (state) {
    case VersionState::kOnDisk:
      return v1::VERSION_ON_DISK;
    case VersionState::kLoading:
      return v1::VERSION_LOADING;
    case VersionState::kReady:
      return v1::VERSION_READY;
    case VersionState::kUnloading:
      return v1::VERSION_UNLOADING;
    case VersionState::kFailed:
      return v1::VERSION_FAILED;
  }
  return v1::VERSION_STATE_UNSPECIFIED;
}

void ToProto(const VersionStatus& status, v1::VersionStatus* out) {
  out->set_model(status.model);
  out->set_version(status.version);
  out->set_state(ToProto(status.state));
  out->set_reason(status.reason);
  out->set_pinned(status.pinned.value_or(false));
}

// One PushVersion stream. Owns itself (deleted in OnDone). Reads are strictly sequential; the
// commit runs on the repository's worker.
class PushReactor : public grpc::ServerReadReactor<v1::PushVersionRequest> {
 public:
  PushReactor(ModelRepository* repository, ServingMetrics* metrics,
              v1::PushVersionResponse* response, absl::Status auth)
      : repository_(repository), metrics_(metrics), response_(response), start_(absl::Now()) {
    if (!auth.ok()) {
      Complete(auth);
      return;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      if (cancelled_.load()) {
        Complete(absl::CancelledError("push cancelled by the client"));
      } else if (upload_ == nullptr) {
        Complete(absl::InvalidArgumentError("push stream ended before its header"));
      } else {
        repository_->RunInBackground([this] {
          absl::StatusOr<VersionStatus> status = upload_->Commit();
          upload_.reset();
          if (status.ok()) {
            response_->set_model(status->model);
            response_->set_version(status->version);
            response_->set_state(ToProto(status->state));
          }
          Complete(status.status());
        });
      }
      return;
    }
    absl::Status status = Handle();
    if (!status.ok()) {
      upload_.reset();  // removes what was staged
      Complete(status);
      return;
    }
    StartRead(&request_);
  }

  void OnCancel() override { cancelled_.store(true); }
  void OnDone() override { delete this; }

 private:
  absl::Status Handle() {
    if (request_.has_header()) {
      if (upload_ != nullptr) return absl::InvalidArgumentError("second push header");
      const v1::PushHeader& header = request_.header();
      std::vector<UploadFile> files;
      for (const v1::PushFile& file : header.files()) {
        files.push_back(UploadFile{file.name(), file.size(), file.sha256()});
      }
      absl::StatusOr<std::unique_ptr<VersionUpload>> upload =
          VersionUpload::Begin(repository_, header.model(), header.version(), std::move(files));
      if (!upload.ok()) return upload.status();
      upload_ = std::move(*upload);
      return absl::OkStatus();
    }
    if (request_.has_chunk()) {
      if (upload_ == nullptr) return absl::InvalidArgumentError("push chunk before the header");
      const v1::PushChunk& chunk = request_.chunk();
      return upload_->Write(chunk.name(), chunk.offset(), chunk.data());
    }
    return absl::InvalidArgumentError("push message with neither header nor chunk");
  }

  void Complete(const absl::Status& status) {
    if (metrics_ != nullptr) {
      metrics_->RecordRequest("PushVersion", status.code(), absl::Now() - start_);
    }
    Finish(ToGrpcStatus(status));
  }

  ModelRepository* const repository_;
  ServingMetrics* const metrics_;
  v1::PushVersionResponse* const response_;
  const absl::Time start_;
  v1::PushVersionRequest request_;
  std::unique_ptr<VersionUpload> upload_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace

absl::Status RepositoryServiceImpl::Authenticate(
    const grpc::CallbackServerContext& context) const {
  return CheckBearerToken(context.client_metadata(), auth_token_, "repository management");
}

grpc::ServerReadReactor<v1::PushVersionRequest>* RepositoryServiceImpl::PushVersion(
    grpc::CallbackServerContext* context, v1::PushVersionResponse* response) {
  return new PushReactor(repository_, metrics_, response, Authenticate(*context));
}

grpc::ServerUnaryReactor* RepositoryServiceImpl::ListVersions(
    grpc::CallbackServerContext* context, const v1::ListVersionsRequest* request,
    v1::ListVersionsResponse* response) {
  auto* call = new UnaryCall(context, metrics_, "ListVersions");
  if (absl::Status auth = Authenticate(*context); !auth.ok()) {
    call->Complete(auth);
    return call;
  }
  for (const VersionStatus& status : repository_->List(request->model())) {
    ToProto(status, response->add_versions());
  }
  call->Complete(absl::OkStatus());
  return call;
}

grpc::ServerUnaryReactor* RepositoryServiceImpl::LoadVersion(
    grpc::CallbackServerContext* context, const v1::LoadVersionRequest* request,
    v1::LoadVersionResponse* response) {
  auto* call = new UnaryCall(context, metrics_, "LoadVersion");
  if (absl::Status auth = Authenticate(*context); !auth.ok()) {
    call->Complete(auth);
    return call;
  }
  repository_->RunInBackground([this, call, request, response] {
    absl::StatusOr<VersionStatus> status =
        repository_->Load(request->model(), request->version());
    if (status.ok()) ToProto(*status, response->mutable_status());
    call->Complete(status.status());
  });
  return call;
}

grpc::ServerUnaryReactor* RepositoryServiceImpl::UnloadVersion(
    grpc::CallbackServerContext* context, const v1::UnloadVersionRequest* request,
    v1::UnloadVersionResponse* response) {
  auto* call = new UnaryCall(context, metrics_, "UnloadVersion");
  if (absl::Status auth = Authenticate(*context); !auth.ok()) {
    call->Complete(auth);
    return call;
  }
  repository_->RunInBackground([this, call, request, response] {
    absl::StatusOr<VersionStatus> status =
        repository_->Unload(request->model(), request->version());
    if (status.ok()) ToProto(*status, response->mutable_status());
    call->Complete(status.status());
  });
  return call;
}

}  // namespace murmur::serving
