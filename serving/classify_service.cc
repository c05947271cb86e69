#include "serving/classify_service.h"

#include <deque>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "base/grpc_status.h"
#include "serving/bearer_token.h"
#include "serving/rpc_call.h"

namespace murmur::serving {
namespace {

ClassifyCall ToCall(const v1::ClassifyRequest& request, absl::Time deadline,
                    std::shared_ptr<const std::atomic<bool>> cancelled) {
  ClassifyCall call;
  call.model = request.model();
  call.version = request.version();
  call.texts.assign(request.texts().begin(), request.texts().end());
  call.deadline = deadline;
  call.cancelled = std::move(cancelled);
  return call;
}

// One ClassifyStream: reads requests as they come, runs each independently, and writes the
// responses as they complete (one write in flight at a time, as gRPC requires). Finishes once the
// client has half-closed and every response is written. Owns itself (deleted in OnDone, which
// gRPC calls only after Finish; Finish waits for all requests, so no callback outlives it).
class ClassifyStreamReactor
    : public grpc::ServerBidiReactor<v1::ClassifyRequest, v1::ClassifyResponse> {
 public:
  ClassifyStreamReactor(grpc::CallbackServerContext* context, const ClassifyRunner* runner,
                        ServingMetrics* metrics, const absl::Status& auth)
      : runner_(runner), metrics_(metrics), deadline_(DeadlineOf(*context)) {
    if (!auth.ok()) {
      Finish(ToGrpcStatus(auth));
      return;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      bool finish;
      {
        absl::MutexLock lock(&mu_);
        reads_done_ = true;
        finish = ShouldFinish();
      }
      if (finish) Finish(grpc::Status::OK);
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      ++pending_;
    }
    const absl::Time start = absl::Now();
    ClassifyCall call = ToCall(request_, deadline_, cancelled_);
    std::string id = request_.id();
    // Next read before the work: requests on one stream are batched together.
    StartRead(&request_);
    runner_->Classify(std::move(call), [this, id = std::move(id),
                                        start](absl::StatusOr<ClassifyOutcome> outcome) {
      v1::ClassifyResponse response;
      response.set_id(id);
      if (outcome.ok()) {
        FillClassifyResponse(*outcome, &response);
      } else {
        response.mutable_error()->set_code(static_cast<int>(outcome.status().code()));
        response.mutable_error()->set_message(std::string(outcome.status().message()));
      }
      if (metrics_ != nullptr) {
        metrics_->RecordRequest("ClassifyStream", outcome.status().code(), absl::Now() - start);
      }
      outcome = absl::CancelledError("");  // release the version before queueing the write
      Write(std::move(response));
    });
  }

  void OnWriteDone(bool ok) override {
    const v1::ClassifyResponse* next = nullptr;
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      responses_.pop_front();
      --pending_;
      if (!ok) write_failed_ = true;  // client gone: drain without writing
      while (write_failed_ && !responses_.empty()) {
        responses_.pop_front();
        --pending_;
      }
      if (!responses_.empty()) {
        next = &responses_.front();
      } else {
        writing_ = false;
        finish = ShouldFinish();
      }
    }
    // gRPC calls outside our lock: a reaction may run inline on this thread.
    if (next != nullptr) StartWrite(next);
    if (finish) Finish(grpc::Status::OK);
  }

  void OnCancel() override { cancelled_->store(true); }
  void OnDone() override { delete this; }

 private:
  void Write(v1::ClassifyResponse response) {
    const v1::ClassifyResponse* first = nullptr;
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      if (write_failed_) {
        --pending_;
        finish = ShouldFinish();
      } else {
        // deque::push_back keeps references to the element being written valid.
        responses_.push_back(std::move(response));
        if (!writing_) {
          writing_ = true;
          first = &responses_.front();
        }
      }
    }
    if (first != nullptr) StartWrite(first);
    if (finish) Finish(grpc::Status::OK);
  }

  // True exactly once: when the client has half-closed and every response is written.
  bool ShouldFinish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (reads_done_ && pending_ == 0 && !writing_ && !finished_) {
      finished_ = true;
      return true;
    }
    return false;
  }

  const ClassifyRunner* const runner_;
  ServingMetrics* const metrics_;
  const absl::Time deadline_;
  const std::shared_ptr<std::atomic<bool>> cancelled_ = std::make_shared<std::atomic<bool>>(false);
  v1::ClassifyRequest request_;  // owned by the read in flight

  absl::Mutex mu_;
  std::deque<v1::ClassifyResponse> responses_ ABSL_GUARDED_BY(mu_);  // front: being written
  int pending_ ABSL_GUARDED_BY(mu_) = 0;  // requests read whose response is not yet written
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool write_failed_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

void FillClassifyResponse(const ClassifyOutcome& outcome, v1::ClassifyResponse* response) {
  response->set_model(outcome.served->model());
  response->set_version(outcome.served->version());
  for (const model::Prediction& prediction : outcome.predictions) {
    v1::Classification* result = response->add_results();
    result->set_label_id(prediction.label_id);
    result->set_label(prediction.label);
    result->set_score(prediction.score);
    result->mutable_probabilities()->Add(prediction.probabilities.begin(),
                                         prediction.probabilities.end());
  }
}

grpc::ServerUnaryReactor* ClassifyServiceImpl::Classify(grpc::CallbackServerContext* context,
                                                        const v1::ClassifyRequest* request,
                                                        v1::ClassifyResponse* response) {
  auto* call = new UnaryCall(context, metrics_, "Classify");
  if (absl::Status auth =
          CheckBearerToken(context->client_metadata(), inference_token_, "inference");
      !auth.ok()) {
    call->Complete(auth);
    return call;
  }
  response->set_id(request->id());
  runner_->Classify(ToCall(*request, call->deadline(), call->cancelled()),
                    [call, response](absl::StatusOr<ClassifyOutcome> outcome) {
                      if (outcome.ok()) FillClassifyResponse(*outcome, response);
                      const absl::Status status = outcome.status();
                      outcome = absl::CancelledError("");  // release the version first
                      call->Complete(status);
                    });
  return call;
}

grpc::ServerBidiReactor<v1::ClassifyRequest, v1::ClassifyResponse>*
ClassifyServiceImpl::ClassifyStream(grpc::CallbackServerContext* context) {
  return new ClassifyStreamReactor(
      context, runner_, metrics_,
      CheckBearerToken(context->client_metadata(), inference_token_, "inference"));
}

}  // namespace murmur::serving
