// murmur train: a whole training job on this machine, like `torchrun --standalone`: a
// coordinator and N worker processes on 127.0.0.1, progress on the console, checkpoints and
// logs under --out, and a final `samples_per_s=<number>` line for the timed steps.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/file.h"
#include "base/flags.h"
#include "base/subprocess.h"
#include "client/commands.h"
#include "client/job_format.h"
#include "client/local_binaries.h"
#include "client/training_curve.h"
#include "proto/coordinator.grpc.pb.h"
#include "proto/job_state_names.h"
#include "proto/objectives.h"

namespace murmur::client {
namespace {

std::atomic<bool> interrupted{false};
void OnSignal(int) { interrupted = true; }

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

int TrainCommand(const CommandArgs& args) {
  FlagParser flags("murmur train");
  std::string data, vocab, preset = "small", out, init_dir, objective = "classification";
  int workers = 2, batch = 32, epochs = 1, max_len = 64, threads = 0, accumulation = 1,
      max_eval_samples = 0;
  int64_t max_steps = 0, checkpoint_every = 0;
  double lr = 0, dropout = -1, warmup_ratio = -1, weight_decay = -1, token_dropout = 0,
         mask_probability = 0, label_smoothing = 0;
  int64_t seed = 42;
  bool bf16 = false, skip_eval = false;
  flags.String("data", &data, "Sentiment140 CSV, or a directory with negative.txt/positive.txt",
               /*required=*/true);
  flags.String("vocab", &vocab, "WordPiece vocab.txt", /*required=*/true);
  flags.String("preset", &preset, "model preset: tiny, small, base");
  flags.String("init", &init_dir, "Hugging Face-layout directory to initialise from");
  flags.String("objective", &objective,
               "classification, or a pretraining of the encoder on the training texts: "
               "masked_lm (BERT's) or replaced_token_detection (ELECTRA's); fine-tune from "
               "its best checkpoint with --init");
  flags.Int("local-workers", &workers, "worker processes");
  flags.Int("batch-per-worker", &batch, "samples per worker per micro-batch");
  flags.Int("gradient-accumulation", &accumulation, "micro-batches per optimizer step");
  flags.Int("max-steps", &max_steps, "stop after this many optimizer steps (0: all epochs)");
  flags.Int("epochs", &epochs, "passes over the training split");
  flags.Int("max-len", &max_len, "tokens per text");
  flags.Double("lr", &lr, "peak learning rate (0: the preset's default)");
  flags.Double("dropout", &dropout, "dropout override (negative: the preset's)");
  flags.Double("warmup-ratio", &warmup_ratio,
               "fraction of the steps spent warming up (negative: the job default, 0.06)");
  flags.Double("weight-decay", &weight_decay, "AdamW weight decay (negative: the job default, 0.01)");
  flags.Double("token-dropout", &token_dropout,
               "probability of masking each training token (word dropout)");
  flags.Double("mask-probability", &mask_probability,
               "pretraining: share of the tokens chosen for prediction (0: the default, 0.15)");
  flags.Double("label-smoothing", &label_smoothing,
               "classification: share of the target spread over all classes (0: off)");
  flags.Int("max-eval-samples", &max_eval_samples,
            "evaluate on at most this many validation texts, spread over the split (0: all)");
  flags.Int("seed", &seed, "seed");
  flags.Int("threads-per-worker", &threads, "intra-op threads per worker (0: cores / workers)");
  flags.Int("checkpoint-every", &checkpoint_every, "also checkpoint every N steps");
  flags.Bool("bf16", &bf16, "bf16 autocast");
  std::string backend = "gloo";
  flags.String("backend", &backend,
               "collective backend: gloo (CPU workers) or nccl (worker i on GPU i; needs the "
               "CUDA build of murmur-worker)");
  flags.Bool("skip-eval", &skip_eval, "no evaluation at epoch ends");
  std::string best_metric = "accuracy";
  flags.String("best-metric", &best_metric,
               "what makes a checkpoint the best: accuracy, f1, loss (pretraining: "
               "masked_token_accuracy or loss)");
  int early_stopping_patience = 0, keep_checkpoints = 0, max_restarts = 3;
  flags.Int("early-stopping-patience", &early_stopping_patience,
            "stop after this many evaluations without improving --best-metric (0: never)");
  flags.Int("keep-checkpoints", &keep_checkpoints,
            "keep only this many checkpoints besides the best (0: all)");
  flags.Int("max-restarts", &max_restarts,
            "a worker whose training fails this many times in a row without progress fails "
            "the job at the next failure (collective failures regroup without limit)");
  std::string report_to = "tensorboard";
  flags.String("report-to", &report_to,
               "training curves: tensorboard (event files in OUT/tensorboard) or none");
  int dashboard_port = 0;
  flags.Int("dashboard-port", &dashboard_port,
            "the coordinator's dashboard: the job live in the browser (0: pick a free port; -1: "
            "off)");
  flags.String("out", &out, "run directory (default run/train-<time>)");
  std::vector<std::string> publish_to;
  flags.Repeated("publish-to", &publish_to,
                 "serving replica (host:port) that receives each new best checkpoint");
  if (auto exit_code = flags.ParseOrExitCode(args)) return *exit_code;
  if (workers < 1) {
    std::cerr << "murmur train: --local-workers must be at least 1\n";
    return 2;
  }
  if (out.empty()) out = absl::StrCat("run/train-", absl::FormatTime("%Y%m%d-%H%M%S", absl::Now(), absl::LocalTimeZone()));
  if (auto s = MakeDirectories(out + "/logs"); !s.ok()) {
    std::cerr << "murmur train: " << s.message() << "\n";
    return 1;
  }
  auto binaries = FindLocalBinaries();
  if (!binaries.ok()) {
    std::cerr << "murmur train: " << binaries.status().message() << "\n";
    return 1;
  }
  if (threads == 0) {
    threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / workers);
  }
  std::string spec = absl::StrCat(
      "{\n  \"corpus_path\": ", Quote(AbsolutePath(data)), ",\n  \"vocab_path\": ",
      Quote(AbsolutePath(vocab)), ",\n  \"model_preset\": ", Quote(preset),
      ",\n  \"objective\": ", Quote(objective), ",\n  \"backend\": ", Quote(backend),
      ",\n  \"report_to\": ", Quote(report_to), ",\n  \"best_metric\": ", Quote(best_metric),
      ",\n  \"early_stopping_patience\": ", early_stopping_patience,
      ",\n  \"keep_checkpoints\": ", keep_checkpoints, ",\n  \"max_restarts\": ", max_restarts,
      ",\n  \"batch_per_worker\": ", batch, ",\n  \"gradient_accumulation\": ", accumulation,
      ",\n  \"epochs\": ", epochs, ",\n  \"max_steps\": ", max_steps, ",\n  \"max_length\": ",
      max_len, ",\n  \"seed\": ", seed, ",\n  \"bf16\": ", bf16 ? "true" : "false",
      ",\n  \"min_workers\": 1,\n  \"max_workers\": ", std::max(workers, 64),
      ",\n  \"threads_per_worker\": ", threads, ",\n  \"skip_evaluation\": ",
      skip_eval ? "true" : "false", ",\n  \"checkpoint_every_steps\": ", checkpoint_every);
  if (lr > 0) absl::StrAppend(&spec, ",\n  \"learning_rate\": ", lr);
  if (dropout >= 0) absl::StrAppend(&spec, ",\n  \"dropout\": ", dropout);
  if (warmup_ratio >= 0) absl::StrAppend(&spec, ",\n  \"warmup_ratio\": ", warmup_ratio);
  if (weight_decay >= 0) absl::StrAppend(&spec, ",\n  \"weight_decay\": ", weight_decay);
  if (token_dropout > 0) absl::StrAppend(&spec, ",\n  \"token_dropout\": ", token_dropout);
  if (mask_probability > 0) {
    absl::StrAppend(&spec, ",\n  \"mask_probability\": ", mask_probability);
  }
  if (max_eval_samples > 0) {
    absl::StrAppend(&spec, ",\n  \"max_eval_samples\": ", max_eval_samples);
  }
  if (label_smoothing > 0) {
    absl::StrAppend(&spec, ",\n  \"label_smoothing\": ", label_smoothing);
  }
  if (!init_dir.empty()) absl::StrAppend(&spec, ",\n  \"init_dir\": ", Quote(AbsolutePath(init_dir)));
  absl::StrAppend(&spec, "\n}\n");
  const std::string spec_path = out + "/job.json";
  if (auto s = WriteFileAtomically(spec_path, spec); !s.ok()) {
    std::cerr << "murmur train: " << s.message() << "\n";
    return 1;
  }

  struct sigaction action = {};
  action.sa_handler = OnSignal;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  std::remove((out + "/port").c_str());
  std::remove((out + "/http_port").c_str());
  std::vector<std::string> coordinator_args = {binaries->coordinator, "--spec", spec_path,
                                               "--journal-dir", out, "--port", "0",
                                               "--http-port", absl::StrCat(dashboard_port)};
  for (const std::string& target : publish_to) {
    coordinator_args.push_back("--publish-to");
    coordinator_args.push_back(target);
  }
  auto coordinator = Subprocess::Start(coordinator_args, out + "/logs/coordinator.log");
  if (!coordinator.ok()) {
    std::cerr << "murmur train: " << coordinator.status().message() << "\n";
    return 1;
  }
  auto port = WaitForPortFile(**coordinator, out + "/port", absl::Seconds(300), &interrupted);
  if (!port.ok()) {
    std::cerr << "murmur train: coordinator did not start: " << port.status().message()
              << " (see " << out << "/logs/coordinator.log)\n";
    return 1;
  }
  const std::string address = absl::StrCat("127.0.0.1:", *port);
  std::cout << "coordinator on " << address << "; " << workers << " workers; logs in " << out
            << "/logs\n";
  // The coordinator wrote http_port before port.
  if (auto http_port = ReadFile(out + "/http_port"); http_port.ok()) {
    std::cout << "dashboard: http://127.0.0.1:" << absl::StripAsciiWhitespace(*http_port) << "/\n";
  }
  if (report_to == "tensorboard") {
    std::cout << "training curves: tensorboard --logdir " << out << "/tensorboard\n";
  }

  std::vector<std::unique_ptr<Subprocess>> children;
  for (int i = 0; i < workers; ++i) {
    std::vector<std::string> worker_args = {
        binaries->worker, "--coordinator", address, "--name", absl::StrCat("worker-", i),
        "--cache-dir", out + "/cache", "--summary", absl::StrCat(out, "/summary-", i, ".json"),
        "--threads", absl::StrCat(threads)};
    if (backend == "nccl") {
      // One GPU per worker, as torchrun's LOCAL_RANK: NCCL allows one rank per GPU.
      worker_args.push_back("--cuda-device");
      worker_args.push_back(absl::StrCat(i));
    }
    auto worker = Subprocess::Start(worker_args, absl::StrCat(out, "/logs/worker-", i, ".log"));
    if (!worker.ok()) {
      std::cerr << "murmur train: " << worker.status().message() << "\n";
      return 1;
    }
    children.push_back(*std::move(worker));
  }

  auto control = v1::JobControl::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  auto last_print = std::chrono::steady_clock::now();
  auto last_poll = last_print;
  int failures = 0;
  // Metrics for the run directory: one JSON line per poll, and the curves (rewritten while the
  // job runs, whenever an evaluation arrives or every 30 s, and at the end).
  std::string metrics;
  TrainingCurves curves;
  curves.masked_lm = IsPretrainingObjective(objective);
  int64_t last_step = -1;
  int last_evaluations = -1;
  auto last_curve = std::chrono::steady_clock::now();
  auto write_curves = [&](const v1::JobStatus& status) {
    curves.validation_loss.clear();
    curves.accuracy.clear();
    curves.epoch_ends.clear();
    std::map<int, int64_t> epoch_end;  // epoch -> its last evaluation's step
    for (const auto& eval : status.evaluations()) {
      curves.validation_loss.push_back({static_cast<double>(eval.global_step()), eval.loss()});
      curves.accuracy.push_back({static_cast<double>(eval.global_step()), eval.accuracy()});
      epoch_end[eval.epoch()] = std::max(epoch_end[eval.epoch()], eval.global_step());
    }
    for (const auto& epoch : status.accounting()) {
      if (epoch.complete() && epoch_end.count(epoch.epoch()) > 0) {
        curves.epoch_ends.push_back(static_cast<double>(epoch_end[epoch.epoch()]));
      }
    }
    WriteFileAtomically(out + "/training_curve.svg", TrainingCurveSvg(curves)).IgnoreError();
    last_curve = std::chrono::steady_clock::now();
    last_evaluations = status.evaluations_size();
  };
  while (!interrupted) {
    bool running = false;
    for (auto& child : children) {
      if (!child->Poll().has_value()) running = true;
    }
    if (!running) break;
    // Polled every second (the loss curve's resolution), printed every 5 s.
    if (std::chrono::steady_clock::now() - last_poll > std::chrono::seconds(1)) {
      last_poll = std::chrono::steady_clock::now();
      v1::JobStatus status;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      if (control->GetStatus(&context, v1::GetStatusRequest(), &status).ok()) {
        if (std::chrono::steady_clock::now() - last_print > std::chrono::seconds(5)) {
          last_print = std::chrono::steady_clock::now();
          std::cout << FormatProgress(status) << std::endl;
        }
        if (status.global_step() > last_step && status.global_step() > 0) {
          last_step = status.global_step();
          curves.train_loss.push_back({static_cast<double>(status.global_step()), status.loss()});
          absl::StrAppend(&metrics, absl::StrFormat(
              "{\"step\": %d, \"epoch\": %d, \"loss\": %.6f, \"samples_per_s\": %.2f, "
              "\"workers\": %d}\n", status.global_step(), status.epoch(), status.loss(),
              status.samples_per_second(), status.workers_size()));
          WriteFileAtomically(out + "/metrics.jsonl", metrics).IgnoreError();
        }
        if (status.evaluations_size() != last_evaluations ||
            std::chrono::steady_clock::now() - last_curve > std::chrono::seconds(30)) {
          write_curves(status);
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  for (auto& child : children) {
    int code = interrupted ? child->Stop() : child->Wait();
    if (code != 0) ++failures;
  }
  v1::JobStatus final_status;
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    control->GetStatus(&context, v1::GetStatusRequest(), &final_status);
  }
  // Stopping the coordinator lets it publish the best checkpoint one last time; give it time.
  (*coordinator)->Stop(std::chrono::minutes(5));
  for (const auto& eval : final_status.evaluations()) {
    absl::StrAppend(&metrics, absl::StrFormat(
        "{\"evaluation\": true, \"epoch\": %d, \"step\": %d, \"accuracy\": %.6f, "
        "\"loss\": %.6f}\n", eval.epoch(), eval.global_step(), eval.accuracy(), eval.loss()));
  }
  WriteFileAtomically(out + "/metrics.jsonl", metrics).IgnoreError();
  if (final_status.global_step() > last_step && final_status.global_step() > 0) {
    curves.train_loss.push_back(
        {static_cast<double>(final_status.global_step()), final_status.loss()});
  }
  write_curves(final_status);
  if (interrupted) {
    std::cerr << "murmur train: interrupted; every process stopped\n";
    return 130;
  }
  std::cout << FormatFinalReport(final_status);
  double samples_per_s = ReadSamplesPerSecond(out, workers);
  if (final_status.state() != v1::JOB_FINISHED || failures == workers || samples_per_s <= 0) {
    std::cerr << "murmur train: the job did not finish (state "
              << StateName(final_status.state()) << ", "
              << failures << " workers failed; see " << out << "/logs)\n";
    if (final_status.state() == v1::JOB_FAILED) {
      std::cerr << "murmur train: " << final_status.message() << "\n";
    }
    return 1;
  }
  std::cout << absl::StrFormat("samples_per_s=%.1f\n", samples_per_s);
  return 0;
}

}  // namespace murmur::client
