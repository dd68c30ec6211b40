// Sends logs and metrics to FlowGuard with the OpenTelemetry JS SDK:
// logs over OTLP/HTTP protobuf and OTLP/HTTP JSON (gzip), metrics over
// OTLP/HTTP protobuf. Usage: node send.mjs BASE_URL SERVICE COUNT
import { SeverityNumber } from "@opentelemetry/api-logs";
import { OTLPLogExporter as JsonLogExporter } from "@opentelemetry/exporter-logs-otlp-http";
import { OTLPLogExporter as ProtoLogExporter } from "@opentelemetry/exporter-logs-otlp-proto";
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchLogRecordProcessor, LoggerProvider } from "@opentelemetry/sdk-logs";
import { MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";

const [base, service, countText] = process.argv.slice(2);
const count = Number(countText);
const resource = resourceFromAttributes({ "service.name": service, "host.name": "node-host" });

async function sendLogs(exporter, transport) {
  const provider = new LoggerProvider({
    resource,
    processors: [new BatchLogRecordProcessor({ exporter, maxExportBatchSize: 50 })],
  });
  const logger = provider.getLogger("node.scope", "2.0.0");
  for (let i = 0; i < count; i++) {
    logger.emit({
      severityNumber: i % 5 === 0 ? SeverityNumber.WARN : SeverityNumber.INFO,
      severityText: i % 5 === 0 ? "WARN" : "INFO",
      body: `${transport} record ${i}`,
      attributes: { "record.index": i, transport, ratio: i / 2 },
    });
  }
  await provider.forceFlush();
  await provider.shutdown();
}

async function sendMetrics() {
  const reader = new PeriodicExportingMetricReader({
    exporter: new OTLPMetricExporter({ url: `${base}/v1/metrics` }),
    exportIntervalMillis: 3_600_000,
  });
  const provider = new MeterProvider({ resource, readers: [reader] });
  const meter = provider.getMeter("node.metrics", "2.0.0");
  const requests = meter.createCounter("node.requests");
  const latency = meter.createHistogram("node.latency", { unit: "ms" });
  for (let i = 0; i < count; i++) {
    requests.add(1, { route: i % 2 ? "/a" : "/b" });
    latency.record(i);
  }
  await provider.forceFlush();
  await provider.shutdown();
}

await sendLogs(new ProtoLogExporter({ url: `${base}/v1/logs` }), "proto");
await sendLogs(new JsonLogExporter({ url: `${base}/v1/logs`, compression: "gzip" }), "json");
await sendMetrics();
console.log("sent");
