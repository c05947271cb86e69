#include "serving/classify_runner.h"

#include <utility>

#include "serving/dynamic_batcher.h"

namespace murmur::serving {

void ClassifyRunner::Classify(ClassifyCall call, Done done) const {
  if (absl::Status status = ValidateTexts(call.texts, limits_); !status.ok()) {
    done(status);
    return;
  }
  if (absl::Now() >= call.deadline) {
    done(absl::DeadlineExceededError("deadline passed before the request was queued"));
    return;
  }
  absl::StatusOr<std::shared_ptr<const ServedVersion>> served =
      repository_->Get(call.model, call.version);
  if (!served.ok()) {
    done(served.status());
    return;
  }
  auto request = std::make_shared<PendingRequest>();
  request->sequences.resize(call.texts.size());
  for (size_t i = 0; i < call.texts.size(); ++i) {
    (*served)->servable().Tokenize(call.texts[i], &request->sequences[i]);
  }
  request->deadline = call.deadline;
  request->cancelled = std::move(call.cancelled);
  // The request holds the version until its callback has run, so the version cannot be unloaded
  // under it; the callback then hands the handle on to the outcome.
  std::shared_ptr<const ServedVersion> handle = *served;
  auto shared_done = std::make_shared<Done>(std::move(done));
  request->done = [handle,
                   shared_done](absl::StatusOr<std::vector<model::Prediction>> predictions) {
    if (!predictions.ok()) {
      (*shared_done)(predictions.status());
      return;
    }
    (*shared_done)(ClassifyOutcome{handle, std::move(*predictions)});
  };
  DynamicBatcher& batcher = (*served)->batcher();
  if (absl::Status status = batcher.Submit(request); !status.ok()) {
    request->done = nullptr;
    (*shared_done)(status);
  }
}

}  // namespace murmur::serving
