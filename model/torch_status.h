// The one place where libtorch's exceptions become absl::Status (across murmur's module
// boundaries errors are values, not exceptions). Every call into libtorch that can throw from murmur's model code goes through
// TorchCall, so no c10::Error escapes a model/ API.
//
// Stateless; thread-safe.
#ifndef MURMUR_MODEL_TORCH_STATUS_H_
#define MURMUR_MODEL_TORCH_STATUS_H_

#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "c10/util/Exception.h"

namespace murmur::model {

// Maps an exception to a status: c10's Index/Value/TypeError -> INVALID_ARGUMENT, out of memory
// -> RESOURCE_EXHAUSTED, anything else -> INTERNAL. `context` says what was being done.
inline absl::Status TorchExceptionToStatus(std::string_view context, std::exception_ptr e) {
  std::string prefix = std::string(context) + ": ";
  try {
    std::rethrow_exception(e);
  } catch (const c10::OutOfMemoryError& error) {
    return absl::ResourceExhaustedError(prefix + error.what_without_backtrace());
  } catch (const c10::IndexError& error) {
    return absl::InvalidArgumentError(prefix + error.what_without_backtrace());
  } catch (const c10::ValueError& error) {
    return absl::InvalidArgumentError(prefix + error.what_without_backtrace());
  } catch (const c10::TypeError& error) {
    return absl::InvalidArgumentError(prefix + error.what_without_backtrace());
  } catch (const c10::Error& error) {
    return absl::InternalError(prefix + error.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(prefix + "out of memory");
  } catch (const std::exception& error) {
    return absl::InternalError(prefix + error.what());
  } catch (...) {
    return absl::InternalError(prefix + "unknown exception");
  }
}

// Runs `f` and turns any exception into a status. `f` returns absl::Status, absl::StatusOr<T>
// or a plain T (wrapped into StatusOr<T>).
template <typename F>
auto TorchCall(std::string_view context, F&& f) {
  using R = std::invoke_result_t<F>;
  if constexpr (std::is_same_v<R, absl::Status>) {
    try {
      return std::forward<F>(f)();
    } catch (...) {
      return TorchExceptionToStatus(context, std::current_exception());
    }
  } else if constexpr (std::is_void_v<R>) {
    try {
      std::forward<F>(f)();
      return absl::OkStatus();
    } catch (...) {
      return TorchExceptionToStatus(context, std::current_exception());
    }
  } else {
    using Result = std::conditional_t<std::is_convertible_v<absl::Status, R> &&
                                          !std::is_same_v<R, absl::Status>,
                                      R, absl::StatusOr<R>>;
    try {
      return Result(std::forward<F>(f)());
    } catch (...) {
      return Result(TorchExceptionToStatus(context, std::current_exception()));
    }
  }
}

}  // namespace murmur::model

#endif  // MURMUR_MODEL_TORCH_STATUS_H_
