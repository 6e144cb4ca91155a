"""A real OTLP receiver on loopback, for tests: OTLP/HTTP (protobuf) and OTLP/gRPC, built from
`opentelemetry-proto`'s messages and services and `grpcio`. It keeps every span and metric data
point it receives, decoded into plain Python values."""

from __future__ import annotations

import gzip
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


def _value(any_value):
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return tuple(_value(v) for v in any_value.array_value.values)
    return getattr(any_value, kind) if kind else None


def _attributes(key_values) -> dict:
    return {kv.key: _value(kv.value) for kv in key_values}


class OtlpReceiver:
    def __init__(self):
        self.spans: list[dict] = []  # {"name", "kind", "trace_id" (hex), "attributes", "status"}
        self.points: list[dict] = []  # histogram points: {"metric", "unit", "attributes", "count", "sum"}
        self.requests = {"http": 0, "grpc": 0}
        self._lock = threading.Lock()

    # -- what arrived --
    def add_traces(self, request, transport: str) -> None:
        with self._lock:
            self.requests[transport] += 1
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.spans.append({"name": span.name, "kind": span.kind, "status": span.status.code,
                                           "trace_id": span.trace_id.hex(),
                                           "attributes": _attributes(span.attributes)})

    def add_metrics(self, request, transport: str) -> None:
        with self._lock:
            self.requests[transport] += 1
            for resource_metrics in request.resource_metrics:
                for scope_metrics in resource_metrics.scope_metrics:
                    for metric in scope_metrics.metrics:
                        if metric.WhichOneof("data") != "histogram":
                            continue
                        for point in metric.histogram.data_points:
                            self.points.append({"metric": metric.name, "unit": metric.unit, "count": point.count,
                                                "sum": point.sum, "attributes": _attributes(point.attributes)})

    def latest_points(self, metric: str) -> list[dict]:
        """The last point of each attribute set (cumulative temporality: the last one is the total)."""
        latest = {}
        for point in self.points:
            if point["metric"] == metric:
                latest[tuple(sorted(point["attributes"].items()))] = point
        return list(latest.values())

    # -- servers --
    def start(self) -> OtlpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path == "/v1/traces":
                    receiver.add_traces(trace_service_pb2.ExportTraceServiceRequest.FromString(body), "http")
                    answer = trace_service_pb2.ExportTraceServiceResponse()
                elif self.path == "/v1/metrics":
                    receiver.add_metrics(metrics_service_pb2.ExportMetricsServiceRequest.FromString(body), "http")
                    answer = metrics_service_pb2.ExportMetricsServiceResponse()
                else:  # logs and anything else: accepted and ignored
                    answer = trace_service_pb2.ExportTraceServiceResponse()
                data = answer.SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Traces(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request, context):
                receiver.add_traces(request, "grpc")
                return trace_service_pb2.ExportTraceServiceResponse()

        class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
            def Export(self, request, context):
                receiver.add_metrics(request, "grpc")
                return metrics_service_pb2.ExportMetricsServiceResponse()

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self._grpc = grpc.server(ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), self._grpc)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), self._grpc)
        self.grpc_port = self._grpc.add_insecure_port("127.0.0.1:0")
        self._grpc.start()
        self.http_port = self._http.server_address[1]
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._grpc.stop(grace=None)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
