// Exercises the generated gRPC code end to end: a real server on a loopback port, a real channel.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "proto/build_info.grpc.pb.h"

namespace murmur {
namespace {

class BuildInfoServiceImpl final : public v1::BuildInfoService::CallbackService {
  grpc::ServerUnaryReactor* GetBuildInfo(grpc::CallbackServerContext* context,
                                         const v1::GetBuildInfoRequest*,
                                         v1::BuildInfo* reply) override {
    reply->set_component("test");
    reply->set_version("1.2.3");
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

TEST(BuildInfoGrpcTest, RoundTripOverLoopback) {
  BuildInfoServiceImpl service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  ASSERT_GT(port, 0);

  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::BuildInfoService::NewStub(channel);
  grpc::ClientContext context;
  v1::BuildInfo reply;
  grpc::Status status = stub->GetBuildInfo(&context, v1::GetBuildInfoRequest(), &reply);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(reply.component(), "test");
  EXPECT_EQ(reply.version(), "1.2.3");
  server->Shutdown();
}

TEST(BuildInfoGrpcTest, UnimplementedMethodOnOtherServiceFails) {
  // A server without the service: the stub must see UNIMPLEMENTED, not hang or crash.
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto stub = v1::BuildInfoService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  v1::BuildInfo reply;
  grpc::Status status = stub->GetBuildInfo(&context, v1::GetBuildInfoRequest(), &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  server->Shutdown();
}

}  // namespace
}  // namespace murmur
