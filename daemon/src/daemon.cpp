#include "mgit/daemon/daemon.hpp"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "audit_events.hpp"
#include "audit_kafka_sink.hpp"
#include "config_reload.hpp"
#include "host_name.hpp"
#include "http_routes.hpp"
#include "mgit/audit/audit_log.hpp"
#include "mgit/audit/file_sink.hpp"
#include "mgit/daemon/embedded_broker.hpp"
#include "mgit/daemon/http_server.hpp"
#include "mgit/daemon/pipeline.hpp"
#include "mgit/daemon/pipeline_settings.hpp"
#include "mgit/isolation/worker_pool.hpp"
#include "mgit/observability/log.hpp"
#include "mgit/security/credential_check.hpp"
#include "mgit/security/credentials.hpp"
#include "mgit/transport/kafka_admin.hpp"
#include "mgit/webhooks/spool.hpp"
#include "webhook_listener.hpp"
#include "webhook_relay.hpp"
#include "worker_mode.hpp"
#include "workspace_probe.hpp"

// The process bootstrap: startup checks, the objects that live as long as the process,
// signals (SIGTERM/SIGINT drain, SIGHUP reload) and the heartbeat. Everything after startup
// runs on the one io_context thread.
namespace mgit::daemon {

namespace asio = boost::asio;
using observability::LogLevel;

namespace {

transport::KafkaSettings client_settings(const Config& config) {
  return transport::KafkaSettings{config.brokers, kafka_settings(config)};
}

/// Credential files written before `hosts=` was required still load, so an upgrade does not
/// crash-loop; each problem is said once here, and jobs naming such a file are refused.
void report_credentials(const std::string& directory, observability::Metrics& metrics) {
  const auto report = security::check_credentials_directory(directory);
  for (const auto& problem : report.problems) {
    observability::log(LogLevel::kWarn, "credential file has a problem",
                       {{"file", problem.file}, {"problem", problem.message}});
  }
  metrics.set_credentials_without_hosts(report.without_hosts.size());
}

int startup_failure(const std::string& message) {
  observability::log(LogLevel::kError, message);
  std::cerr << "mgitd: " << message << "\n";
  return 1;
}

/// Why `git_ca_file` cannot serve, empty when it can. Checked here because the workers load
/// it only when they start, where a bad file would fail every https job instead of startup.
std::string git_ca_file_problem(const std::string& path) {
  if (path.empty()) return {};
  std::error_code error;
  if (!std::filesystem::exists(path, error)) return "git_ca_file " + path + " does not exist";
  if (std::filesystem::is_directory(path, error)) {
    return "git_ca_file " + path + " is a directory, not a PEM file";
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return "git_ca_file " + path + " cannot be read";
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (text.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return "git_ca_file " + path + " holds no PEM certificate (-----BEGIN CERTIFICATE-----)";
  }
  return {};
}

}  // namespace

int run_daemon(const Config& config, const ConfigReloader& reload) {
  return run_daemon(
      config,
      [](const Config& effective, security::CredentialStore& credentials,
         observability::Metrics& metrics) -> std::unique_ptr<execution::Executor> {
        auto pool = std::make_unique<isolation::WorkerPool>(
            worker_pool_settings(effective, credentials, metrics));
        // Before intake starts: a fresh daemon's first jobs would otherwise each wait for a
        // worker process to start (docs/performance.md, "Latency").
        pool->start_workers(static_cast<std::size_t>(std::max(1, effective.workers)));
        return pool;
      },
      reload);
}

int run_daemon(const Config& input, const ExecutorFactory& make_executor,
               const ConfigReloader& reload) {
  // SIGHUP's default action is to terminate: ignore it while starting and stopping; while
  // running, the signal set below turns it into a reload.
  std::signal(SIGHUP, SIG_IGN);
  Config config = input;
  // Buffered: the event loop logs several lines per job and must not pay a write(2) for each.
  observability::init_logging(
      observability::parse_log_level(config.log_level).value_or(LogLevel::kInfo),
      observability::LogOutput::kBuffered);

  std::unique_ptr<EmbeddedBroker> embedded;
  if (config.embedded_broker) {
    embedded = std::make_unique<EmbeddedBroker>(
        std::vector<std::string>{config.jobs_topic, config.results_topic, config.dlq_topic,
                                 config.audit_topic},
        4);
    config.brokers = embedded->bootstrap_servers();
    std::cerr << "mgitd: embedded broker listening on " << config.brokers << "\n";
    observability::log(LogLevel::kWarn, "embedded broker started (not for production)",
                       {{"bootstrap_servers", config.brokers}});
  }
  const auto startup_config = describe_config(config);
  observability::log(LogLevel::kInfo, "mgitd starting",
                     {{"version", MGITD_VERSION},
                      {"revision", MGITD_REVISION},
                      {"config", observability::RawJson{startup_config}}});

  if (auto problem = git_ca_file_problem(config.git_ca_file); !problem.empty()) {
    return startup_failure(problem);
  }
  const auto settings = client_settings(config);
  auto probe = transport::ClusterProbe::create(settings);
  if (!probe) return startup_failure(probe.error().message);
  if (auto reached =
          probe->wait_for_broker(std::chrono::seconds(config.startup_broker_timeout_seconds));
      !reached) {
    return startup_failure(reached.error().message);
  }
  std::vector<std::string> topics = {config.jobs_topic, config.results_topic, config.dlq_topic};
  if (config.audit_sink == "kafka") topics.push_back(config.audit_topic);
  auto described = probe->describe(topics, std::chrono::seconds(10));
  if (!described) return startup_failure("cannot describe topics: " + described.error().message);
  for (const auto& topic : topics) {
    if (!described->contains(topic)) {
      return startup_failure("topic '" + topic +
                             "' does not exist; create the topics with `mgitctl topics create`");
    }
  }

  std::error_code fs_error;
  std::filesystem::create_directories(config.workspace, fs_error);
  if (fs_error) {
    return startup_failure("cannot create workspace " + config.workspace + ": " +
                           fs_error.message());
  }
  std::unique_ptr<audit::FileSink> audit_file;
  if (config.audit_sink == "file") {
    auto opened = audit::FileSink::open(config.audit_file);
    if (!opened) return startup_failure(opened.error());
    audit_file = std::move(*opened);
  }
  observability::Metrics metrics(observability::BuildInfo{MGITD_VERSION, MGITD_REVISION});
  security::CredentialStore credentials(config.credentials_dir);
  report_credentials(config.credentials_dir, metrics);
  const auto executor = make_executor(config, credentials, metrics);
  observability::HealthSettings health_settings;
  health_settings.broker_unready_grace = std::chrono::seconds(config.broker_unready_grace_seconds);
  health_settings.stuck_grace = std::chrono::seconds(config.stuck_grace_seconds);
  health_settings.min_free_disk_percent = config.min_free_disk_percent;
  observability::HealthMonitor health(health_settings, std::chrono::steady_clock::now());
  WorkspaceProbe workspace_probe(config.workspace, health, std::chrono::seconds(5));

  std::unique_ptr<observability::SpanSink> spans;
  if (config.otlp_endpoint.empty()) {
    spans = std::make_unique<observability::NullSpanSink>();
  } else {
    observability::OtlpExporterSettings exporter_settings;
    exporter_settings.endpoint = config.otlp_endpoint;
    auto exporter = observability::OtlpHttpExporter::create(
        exporter_settings, observability::TraceResource{"mgitd", MGITD_VERSION, host_name()},
        &metrics);
    if (!exporter) return startup_failure(exporter.error());
    spans = std::move(*exporter);
  }

  // Health and metrics answer from the first moment, so a probe sees "starting", not
  // "connection refused".
  HttpServerSettings http_settings;
  http_settings.listen = config.http_listen;
  auto http = HttpServer::start(http_settings, make_routes(metrics, health));
  if (!http) return startup_failure(http.error());
  observability::log(LogLevel::kInfo, "http listening",
                     {{"listen", config.http_listen}, {"port", (*http)->port()}});

  asio::io_context io;
  auto producer = transport::RecordProducer::create(io, transport::ProducerSettings{settings});
  if (!producer) return startup_failure(producer.error().message);
  // Looked up while the consumer joins its group: a fresh daemon's first result would
  // otherwise wait for the results topic's metadata.
  std::vector<std::string> answer_topics{config.results_topic, config.dlq_topic};
  if (config.audit_sink == "kafka") answer_topics.push_back(config.audit_topic);
  (*producer)->prepare_topics(answer_topics);
  KafkaAuditSink audit_topic(**producer, config.audit_topic);
  audit::AuditLogSettings audit_settings;
  // Intake is held at half the buffer, and the jobs already taken in (at most max_in_flight)
  // still answer with up to three events each: below 6 x max_in_flight an event could be
  // dropped, which is acting unaudited. Raised, never refused, so no setting crash-loops.
  audit_settings.capacity = std::max(static_cast<std::size_t>(config.audit_buffer_events),
                                     static_cast<std::size_t>(config.max_in_flight) * 6);
  audit_settings.ack_timeout = std::chrono::seconds(config.audit_ack_timeout_seconds);
  audit_settings.on_recorded = [&metrics](std::string_view event) { metrics.audit_event(event); };
  audit_settings.on_dropped = [&metrics] {
    metrics.audit_dropped();
    observability::log(LogLevel::kError, "audit event dropped: the audit buffer is full");
  };
  audit::AuditLog audit_log(audit_file ? static_cast<audit::AuditSink&>(*audit_file)
                                       : static_cast<audit::AuditSink&>(audit_topic),
                            std::move(audit_settings));
  audit_log.record(config_event(audit::kConfigLoaded, startup_config, false));
  int exit_code = 0;
  {
    Pipeline pipeline(io, pipeline_settings(config), *executor, **producer,
                      PipelineTelemetry{&metrics, spans.get(), &health, nullptr, &audit_log});
    transport::ConsumerSettings consumer_settings;
    // Lag and broker state for /metrics and readiness.
    consumer_settings.statistics_interval = std::chrono::seconds(1);
    consumer_settings.kafka = settings;
    consumer_settings.group_id = config.group_id;
    consumer_settings.group_instance_id = config.group_instance_id;
    consumer_settings.topic = config.jobs_topic;
    auto consumer = transport::IntakeConsumer::create(io, consumer_settings, pipeline);
    if (!consumer) return startup_failure(consumer.error().message);
    pipeline.attach(**consumer);
    if (auto started = (*consumer)->start(); !started) {
      return startup_failure(started.error().message);
    }

    // Webhooks after intake started: a job they enqueue is consumed like any other. Destroyed
    // before the pipeline (reverse order): the listener first, so nothing is answered by a
    // relay that is gone.
    std::unique_ptr<WebhookRelay> webhook_relay;
    std::unique_ptr<HttpServer> webhook_listener;
    if (config.webhook_listen.empty() && config.webhook_spool_dir.empty()) {
      // Records a webhook was answered 202 for, left when webhooks were turned off.
      std::error_code ignored;
      const auto spool_dir = std::filesystem::path(config.workspace) / ".mgitd" / "webhook-spool";
      if (std::filesystem::is_directory(spool_dir, ignored) &&
          !std::filesystem::is_empty(spool_dir, ignored)) {
        observability::log(LogLevel::kWarn,
                           "the webhook spool holds records but webhooks are off: they are not "
                           "replayed until webhook_listen is set again",
                           {{"spool", spool_dir.string()}});
      }
    }
    if (!config.webhook_listen.empty()) {
      auto spool = webhooks::Spool::open(config.webhook_spool_dir.empty()
                                             ? std::filesystem::path(config.workspace) / ".mgitd" /
                                                   "webhook-spool"
                                             : std::filesystem::path(config.webhook_spool_dir));
      if (!spool) return startup_failure(spool.error());
      WebhookRelaySettings relay_settings;
      relay_settings.jobs_topic = config.jobs_topic;
      relay_settings.ack_timeout = std::chrono::milliseconds(config.webhook_ack_timeout_ms);
      relay_settings.on_spool_size = [&metrics](std::size_t count) {
        metrics.set_webhook_spooled(count);
      };
      webhook_relay = std::make_unique<WebhookRelay>(io, **producer, std::move(*spool),
                                                     std::move(relay_settings));
      auto listener = start_webhook_listener(
          config, WebhookListenerParts{io, *webhook_relay, audit_log, metrics, *spans});
      if (!listener) return startup_failure(listener.error());
      webhook_listener = std::move(*listener);
      webhook_relay->start();
      observability::log(LogLevel::kInfo, "webhooks listening",
                         {{"listen", config.webhook_listen}, {"port", webhook_listener->port()}});
    }

    asio::signal_set signals(io, SIGTERM, SIGINT);
    signals.async_wait([&](const boost::system::error_code& ec, int signal_number) {
      if (ec) return;
      observability::log(LogLevel::kInfo, "signal received", {{"signal", signal_number}});
      pipeline.begin_shutdown([&] {
        const auto finish = [&] {
          // Delivery reports of the last results must be served before we stop the loop.
          const auto left = (*producer)->flush(std::chrono::seconds(10));
          if (left > 0) exit_code = 1;
          io.stop();
        };
        const auto stop = [&, finish] {
          if (!webhook_listener) return finish();
          // Webhooks answered from the spool must reach their senders before the listener
          // goes: no request handed over is left without an answer. The wait runs on this
          // loop, so a request read meanwhile on a kept-alive connection is still spooled and
          // answered by the relay.
          webhook_listener->stop_accepting();
          drain_webhook_listener(io, *webhook_listener,
                                 std::chrono::steady_clock::now() + kWebhookDrain, finish);
        };
        // Webhooks still waiting for the broker are answered from the spool (replayed at the
        // next start); so are any that arrive until the listener closes.
        if (webhook_relay) {
          webhook_relay->shut_down(stop);
        } else {
          stop();
        }
      });
      // A second signal is the operator insisting: stop now.
      signals.async_wait([&](const boost::system::error_code& again, int) {
        if (!again) {
          // Running libgit2 calls cannot be interrupted and waiting for them is what the
          // operator refuses: exit now. Nothing unanswered was committed, so it is redelivered.
          observability::log(LogLevel::kWarn, "second signal: exiting without drain");
          std::_Exit(1);
        }
      });
    });
    health.set_started(true);
    // The heartbeat: gauges, the liveness proof of this loop, and health transitions.
    asio::steady_timer heartbeat(io);
    std::function<void()> beat = [&] {
      pipeline.tick();
      const auto now = std::chrono::steady_clock::now();
      health.log_transitions(now);
      metrics.set_health(health.readiness(now).ok, health.liveness(now).ok);
      heartbeat.expires_after(std::chrono::seconds(1));
      heartbeat.async_wait([&](const boost::system::error_code& ec) {
        if (!ec) beat();
      });
    };
    beat();

    asio::signal_set hangups(io, SIGHUP);
    std::function<void()> wait_hangup = [&] {
      hangups.async_wait([&](const boost::system::error_code& ec, int) {
        if (ec) return;
        reload_config(input, reload, audit_log);
        wait_hangup();
      });
    };
    wait_hangup();

    observability::log(
        LogLevel::kInfo, "mgitd started",
        {{"brokers", config.brokers}, {"group_id", config.group_id}, {"workers", config.workers}});
    io.run();
    (*consumer)->close();
  }
  std::signal(SIGHUP, SIG_IGN);  // the signal set restored the default when it went away
  observability::log(LogLevel::kInfo, "mgitd stopped", {{"exit_code", exit_code}});
  observability::flush_logs();
  return exit_code;
}

}  // namespace mgit::daemon
