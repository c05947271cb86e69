#include "worker/coordinator_store.h"

#include <c10/util/Exception.h>

namespace murmur::worker {
namespace {

// Each RPC may take as long as the wait it asks for, plus a margin for the network.
std::chrono::system_clock::time_point Deadline(std::chrono::milliseconds wait) {
  return std::chrono::system_clock::now() + wait + std::chrono::seconds(5);
}

}  // namespace

CoordinatorStore::CoordinatorStore(std::shared_ptr<grpc::Channel> channel,
                                   std::chrono::milliseconds timeout)
    : c10d::Store(timeout), channel_(channel), stub_(v1::WorkerCoordination::NewStub(channel)) {}

#if TORCH_VERSION_MAJOR >= 2
c10::intrusive_ptr<c10d::Store> CoordinatorStore::clone() {
  return c10::make_intrusive<CoordinatorStore>(
      channel_, std::chrono::duration_cast<std::chrono::milliseconds>(timeout_));
}
#endif

void CoordinatorStore::Fail(const char* what, const grpc::Status& status) {
  TORCH_CHECK(false, "coordinator store ", what, " failed: ", status.error_message(), " (code ",
              static_cast<int>(status.error_code()), ")");
  std::abort();  // unreachable: TORCH_CHECK(false) throws
}

void CoordinatorStore::set(const std::string& key, const std::vector<uint8_t>& value) {
  v1::StoreSetRequest request;
  request.set_key(key);
  request.set_value(std::string(value.begin(), value.end()));
  v1::StoreSetResponse response;
  grpc::ClientContext context;
  context.set_deadline(Deadline(std::chrono::milliseconds(0)));
  grpc::Status status = stub_->StoreSet(&context, request, &response);
  if (!status.ok()) Fail("set", status);
}

std::vector<uint8_t> CoordinatorStore::Get(const std::vector<std::string>& keys,
                                           std::chrono::milliseconds timeout, bool wait_only) {
  v1::StoreGetRequest request;
  for (const std::string& key : keys) request.add_keys(key);
  request.set_timeout_ms(static_cast<int32_t>(timeout.count()));
  request.set_wait_only(wait_only);
  v1::StoreGetResponse response;
  grpc::ClientContext context;
  context.set_deadline(Deadline(timeout));
  grpc::Status status = stub_->StoreGet(&context, request, &response);
  if (!status.ok()) Fail(wait_only ? "wait" : "get", status);
  const std::string& value = response.value();
  return std::vector<uint8_t>(value.begin(), value.end());
}

std::vector<uint8_t> CoordinatorStore::get(const std::string& key) {
  return Get({key}, timeout_, /*wait_only=*/false);
}

void CoordinatorStore::wait(const std::vector<std::string>& keys) {
  Get(keys, timeout_, /*wait_only=*/true);
}

void CoordinatorStore::wait(const std::vector<std::string>& keys,
                            const std::chrono::milliseconds& timeout) {
  Get(keys, timeout, /*wait_only=*/true);
}

int64_t CoordinatorStore::add(const std::string& key, int64_t value) {
  v1::StoreAddRequest request;
  request.set_key(key);
  request.set_delta(value);
  v1::StoreAddResponse response;
  grpc::ClientContext context;
  context.set_deadline(Deadline(std::chrono::milliseconds(0)));
  grpc::Status status = stub_->StoreAdd(&context, request, &response);
  if (!status.ok()) Fail("add", status);
  return response.value();
}

bool CoordinatorStore::deleteKey(const std::string& key) {
  v1::StoreDeleteRequest request;
  request.set_key(key);
  v1::StoreDeleteResponse response;
  grpc::ClientContext context;
  context.set_deadline(Deadline(std::chrono::milliseconds(0)));
  grpc::Status status = stub_->StoreDelete(&context, request, &response);
  if (!status.ok()) Fail("delete", status);
  return response.deleted();
}

bool CoordinatorStore::check(const std::vector<std::string>& keys) {
  v1::StoreCheckRequest request;
  for (const std::string& key : keys) request.add_keys(key);
  v1::StoreCheckResponse response;
  grpc::ClientContext context;
  context.set_deadline(Deadline(std::chrono::milliseconds(0)));
  grpc::Status status = stub_->StoreCheck(&context, request, &response);
  if (!status.ok()) Fail("check", status);
  return response.all_present();
}

int64_t CoordinatorStore::getNumKeys() {
  v1::StoreCheckRequest request;
  v1::StoreCheckResponse response;
  grpc::ClientContext context;
  context.set_deadline(Deadline(std::chrono::milliseconds(0)));
  grpc::Status status = stub_->StoreCheck(&context, request, &response);
  if (!status.ok()) Fail("num_keys", status);
  return response.num_keys();
}

}  // namespace murmur::worker
