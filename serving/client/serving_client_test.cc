// The client library against a real murmur-serve (FakeServable models) on loopback ports:
// classify, publish (push) with hot swap under load, rejected pushes, auth, several targets.
#include "serving/client/serving_client.h"

#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/file.h"
#include "base/test_util.h"
#include "gtest/gtest.h"
#include "serving/fake_servable.h"
#include "serving/metrics.h"
#include "serving/server.h"

namespace murmur::serving {
namespace {


class ServingClientTest : public ::testing::Test {
 protected:
  std::unique_ptr<Server> StartServer(const std::string& name,
                                               Server::Options options = {}) {
    const std::string root = absl::StrCat(testing::TempDir(), "/", name, "_",
                                          ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root);
    FakeServableLoader::WriteVersion(root + "/sentiment/1", 0.0f);
    options.host = "127.0.0.1";
    options.port = 0;
    options.repository.root = root;
    options.repository.poll = false;
    return Server::Create(options, &loader_).value();
  }

  std::unique_ptr<ServingClient> Connect(const std::vector<int>& ports, std::string token = "") {
    ServingClient::Options options;
    for (int port : ports) options.targets.push_back(absl::StrCat("127.0.0.1:", port));
    options.token = std::move(token);
    return ServingClient::Create(options).value();
  }

  // A checkpoint directory the fake loader accepts (or not).
  std::string WriteCheckpoint(const std::string& name, const std::string& contents) {
    const std::string dir = absl::StrCat(testing::TempDir(), "/ckpt_", name);
    std::filesystem::remove_all(dir);
    EXPECT_TRUE(MakeDirectories(dir).ok());
    EXPECT_TRUE(WriteFileAtomically(dir + "/" + FakeServableLoader::kFile, contents).ok());
    EXPECT_TRUE(WriteFileAtomically(dir + "/notes.txt", std::string(3000, 'n')).ok());
    return dir;
  }

  FakeServableLoader loader_;
};

TEST_F(ServingClientTest, ClassifyReturnsResultsAndVersion) {
  auto server = StartServer("a");
  auto client = Connect({server->port()});
  absl::StatusOr<v1::ClassifyResponse> response = client->Classify({"hi", "there you"});
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->version(), 1);
  EXPECT_EQ(response->results_size(), 2);
  EXPECT_EQ(client->Classify({}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ServingClientTest, HotSwapUnderLoadFailsNoRequestAndSwitchesOnPush) {
  auto server = StartServer("swap");
  auto client = Connect({server->port()});
  std::atomic<bool> stop{false}, pushed{false};
  std::atomic<int> failures{0}, old_after_push{0}, new_version{0}, total{0};
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t) {
    load.emplace_back([&, t] {
      int i = 0;
      while (!stop) {
        const bool after_push = pushed.load();
        auto response = client->Classify({absl::StrCat("load ", t, " request ", i++)});
        ++total;
        if (!response.ok()) {
          ++failures;
          ADD_FAILURE() << response.status();
        } else if (response->version() == 2) {
          ++new_version;
        } else if (after_push) {
          ++old_after_push;
        }
      }
    });
  }
  // Non-fatal checks until the load threads are joined (a fatal one would leave them running).
  EXPECT_TRUE(testing::WaitUntil([&] { return total >= 50; })) << "no traffic before the push";
  absl::StatusOr<v1::PushVersionResponse> push =
      client->Push(WriteCheckpoint("v2", "0.2"), "", 0, /*chunk_bytes=*/1000);
  pushed = true;
  EXPECT_TRUE(push.ok()) << push.status();
  if (push.ok()) {
    EXPECT_EQ(push->version(), 2);
    EXPECT_EQ(push->state(), v1::VERSION_READY);
  }
  const int at_push = total;
  EXPECT_TRUE(testing::WaitUntil([&] { return total >= at_push + 50; }))
      << "no traffic after the push";
  stop = true;
  for (auto& t : load) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(old_after_push.load(), 0) << "requests sent after the push completed use version 2";
  EXPECT_GT(new_version.load(), 0);
  EXPECT_EQ(server->repository().ReadyVersions(""), (std::vector<int64_t>{2}));
}

TEST_F(ServingClientTest, CorruptPushIsRejectedAndOldVersionKeepsAnswering) {
  auto server = StartServer("corrupt");
  auto client = Connect({server->port()});
  absl::StatusOr<v1::PushVersionResponse> push =
      client->Push(WriteCheckpoint("bad", "not a model"));
  EXPECT_EQ(push.status().code(), absl::StatusCode::kFailedPrecondition) << push.status();
  EXPECT_NE(push.status().message().find("rejected"), absl::string_view::npos);
  auto response = client->Classify({"still there?"});
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->version(), 1);
  EXPECT_EQ(client->Push("/nonexistent/dir").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ServingClientTest, PushAndListNeedTheToken) {
  Server::Options options;
  options.auth_token = "t0ken";
  auto server = StartServer("auth", options);
  auto anonymous = Connect({server->port()});
  EXPECT_EQ(anonymous->Push(WriteCheckpoint("v2a", "0.1")).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(anonymous->ListVersions().status().code(), absl::StatusCode::kUnauthenticated);
  auto wrong = Connect({server->port()}, "nope");
  EXPECT_EQ(wrong->ListVersions().status().code(), absl::StatusCode::kUnauthenticated);
  auto admin = Connect({server->port()}, "t0ken");
  ASSERT_TRUE(admin->Push(WriteCheckpoint("v2b", "0.1")).ok());
  absl::StatusOr<v1::ListVersionsResponse> list = admin->ListVersions();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->versions_size(), 2);
  EXPECT_EQ(list->versions(0).state(), v1::VERSION_ON_DISK) << "version 1, unloaded by the policy";
  EXPECT_EQ(list->versions(1).version(), 2);
  EXPECT_EQ(list->versions(1).state(), v1::VERSION_READY);
}

TEST_F(ServingClientTest, SpreadsOverTargetsAndRetriesUnavailable) {
  auto first = StartServer("first");
  auto second = StartServer("second");
  auto client = Connect({first->port(), second->port()});
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(client->Classify({"x"}).ok());
  // Both servers answered.
  EXPECT_NE(first->metrics().Text().find("murmur_requests_total{code=\"OK\",method=\"Classify\"} 5"),
            std::string::npos);
  // One replica goes away: the retries land on the other.
  first->Shutdown(absl::ZeroDuration());
  for (int i = 0; i < 6; ++i) {
    absl::StatusOr<v1::ClassifyResponse> response = client->Classify({"y"});
    EXPECT_TRUE(response.ok()) << response.status();
  }
}

// A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl.
struct Pki {
  std::string ca, server_cert, server_key, client_cert, client_key;
};

Pki MakePki(const std::string& dir) {
  std::filesystem::remove_all(dir);
  EXPECT_TRUE(MakeDirectories(dir).ok());
  const std::string script = absl::StrCat(
      "set -e; cd ", dir, "; exec >/dev/null 2>&1;",
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 "
      "  -subj /CN=murmur-test-ca;",
      "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost' > san.ext;",
      "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost;",
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
      "  -extfile san.ext -out server.pem;",
      "openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=client;",
      "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
      "  -out client.pem");
  EXPECT_EQ(testing::RunShell(script), 0) << "openssl failed";
  auto read = [&](const char* name) { return ReadFile(dir + "/" + name).value_or(""); };
  return Pki{read("ca.pem"), read("server.pem"), read("server.key"), read("client.pem"),
             read("client.key")};
}

TEST_F(ServingClientTest, MutualTlsNeedsAClientCertificate) {
  const Pki pki = MakePki(testing::TempDir() + "/pki");
  Server::Options options;
  options.tls_cert_pem = pki.server_cert;
  options.tls_key_pem = pki.server_key;
  options.tls_client_ca_pem = pki.ca;
  auto server = StartServer("tls", options);
  ServingClient::Options client_options;
  client_options.targets = {absl::StrCat("127.0.0.1:", server->port())};
  client_options.max_attempts = 1;
  client_options.timeout = absl::Seconds(5);

  auto plaintext = ServingClient::Create(client_options).value();
  EXPECT_FALSE(plaintext->Classify({"x"}).ok());

  client_options.tls = true;
  client_options.tls_root_ca_pem = pki.ca;
  auto no_client_cert = ServingClient::Create(client_options).value();
  EXPECT_FALSE(no_client_cert->Classify({"x"}).ok());

  client_options.tls_client_cert_pem = pki.client_cert;
  client_options.tls_client_key_pem = pki.client_key;
  auto mutual = ServingClient::Create(client_options).value();
  absl::StatusOr<v1::ClassifyResponse> response = mutual->Classify({"over tls"});
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->results_size(), 1);
}

TEST_F(ServingClientTest, ServerSideTlsWithoutClientCertificates) {
  const Pki pki = MakePki(testing::TempDir() + "/pki_server_only");
  Server::Options options;
  options.tls_cert_pem = pki.server_cert;
  options.tls_key_pem = pki.server_key;
  auto server = StartServer("tls_only", options);
  ServingClient::Options client_options;
  client_options.targets = {absl::StrCat("127.0.0.1:", server->port())};
  client_options.tls = true;
  client_options.tls_root_ca_pem = pki.ca;
  auto client = ServingClient::Create(client_options).value();
  absl::StatusOr<v1::ClassifyResponse> response = client->Classify({"over tls"});
  ASSERT_TRUE(response.ok()) << response.status();
}

}  // namespace
}  // namespace murmur::serving
