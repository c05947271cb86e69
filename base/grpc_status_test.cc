#include "base/grpc_status.h"

#include <gtest/gtest.h>

namespace murmur {
namespace {

TEST(GrpcStatusTest, CodesAndMessagesRoundTrip) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  for (absl::Status status :
       {absl::InvalidArgumentError("bad text"), absl::UnavailableError("retry"),
        absl::ResourceExhaustedError("queue full"), absl::UnauthenticatedError("token"),
        absl::FailedPreconditionError("stale"), absl::NotFoundError("who")}) {
    grpc::Status wire = ToGrpcStatus(status);
    EXPECT_EQ(static_cast<int>(wire.error_code()), static_cast<int>(status.code()));
    EXPECT_EQ(wire.error_message(), std::string(status.message()));
    EXPECT_EQ(FromGrpcStatus(wire), status);
  }
  EXPECT_EQ(ToGrpcStatus(absl::InvalidArgumentError("x")).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace murmur
